"""Publishing one task message with the least work: kombu's ``Producer.publish``, unrolled.

Private helper of :mod:`celery.app.amqp`.  :func:`publish` does what
``Producer.publish(body, ..., retry=False, declare=None)`` does for a plain
kombu producer -- serialize, compress, resolve exchange and delivery mode,
``channel.prepare_message``, ``channel.basic_publish`` -- in one function
and with the same result on the wire.  :func:`can_publish` says when that
holds: kombu's own ``publish``, no exchange of the producer's to declare,
no publish batch open, and properties that need none of kombu's special
cases, and kombu and py-amqp are the code this was checked against
(:mod:`celery.utils._pins`).  Retrying and declaring stay kombu's (the
caller falls back).

On py-amqp channels the message is a :class:`Message`, whose header frame
is encoded here (:func:`encode_properties`) byte for byte as py-amqp would:
py-amqp's generic encoder is about a third of the cost of a task call.
Anything the fast encoder does not know (other types, out-of-range values)
goes to py-amqp's, which also raises its errors.  Thread safety: no state.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from struct import Struct
from typing import Any

import amqp
from kombu import Exchange, Producer
from kombu.compression import compress
from kombu.entity import maybe_delivery_mode
from kombu.serialization import dumps
from kombu.transport import pyamqp

from celery.utils import _pins

__all__ = ('Message', 'encode_properties', 'can_publish', 'publish', 'BASIC_PROPERTIES')

#: The basic properties in header-frame order, as py-amqp's ``Message`` lists them.
BASIC_PROPERTIES = (
    ('content_type', 's'), ('content_encoding', 's'), ('application_headers', 'F'),
    ('delivery_mode', 'o'), ('priority', 'o'), ('correlation_id', 's'),
    ('reply_to', 's'), ('expiration', 's'), ('message_id', 's'), ('timestamp', 'L'),
    ('type', 's'), ('user_id', 's'), ('app_id', 's'), ('cluster_id', 's'),
)
_FLAGGED = tuple((1 << (15 - i), key, kind) for i, (key, kind) in enumerate(BASIC_PROPERTIES))

_u8 = Struct('B').pack
_u16 = Struct('>H').pack
_u32 = Struct('>I').pack
_u64 = Struct('>Q').pack
_int32 = Struct('>ci').pack
_longstr = Struct('>cI').pack
_int64 = Struct('>cq').pack
_double = Struct('>cd').pack
_decimal = Struct('>cBi').pack
_timestamp = Struct('>cQ').pack
_INT32_MAX = 2147483647


def _shortstr(value: Any) -> bytes:
    value = value or ''
    if isinstance(value, str):
        value = value.encode('utf-8', 'surrogatepass')
    return _u8(len(value)) + value


_KEYS: dict = {}  # table key -> its encoding (length byte and UTF-8), for the usual few
_MAX_KEYS = 1024


def _key(key: Any) -> bytes:
    data = key.encode('utf-8', 'surrogatepass') if isinstance(key, str) else key
    encoded = _u8(len(data)) + data
    if len(_KEYS) < _MAX_KEYS:
        _KEYS[key] = encoded
    return encoded


def _table(table: Mapping) -> bytes:
    parts: list = []
    add = parts.append
    keys = _KEYS
    for key, value in table.items():
        try:
            add(keys[key])
        except KeyError:
            add(_key(key))
        kind = type(value)  # the usual header values inline, the rest in _item
        if kind is str:
            data = value.encode('utf-8', 'surrogatepass')
            add(_longstr(b'S', len(data)))
            add(data)
        elif value is None:
            add(b'V')
        elif kind is bool:
            add(b't\x01' if value else b't\x00')
        else:
            _item(value, parts)
    data = b''.join(parts)
    return _u32(len(data)) + data


def _array(values: Any) -> bytes:
    parts: list = []
    for value in values:
        _item(value, parts)
    data = b''.join(parts)
    return _u32(len(data)) + data


def _item(value: Any, parts: list) -> None:
    """Append one table/array value: exact common types first, then py-amqp's order."""
    kind = type(value)
    if kind is str:
        data = value.encode('utf-8', 'surrogatepass')
        parts += (b'S', _u32(len(data)), data)
    elif value is None:
        parts.append(b'V')
    elif kind is bool:
        parts.append(b't\x01' if value else b't\x00')
    elif kind is int:
        parts.append(_int32(b'I', value) if -_INT32_MAX <= value <= _INT32_MAX
                     else _int64(b'L', value))
    elif kind is dict:
        parts += (b'F', _table(value))
    elif kind is list or kind is tuple:
        parts += (b'A', _array(value))
    else:
        _other_item(value, parts)


def _other_item(value: Any, parts: list) -> None:
    # Subclasses and rarer types, tested in the order py-amqp tests them.
    if isinstance(value, (str, bytes)):
        if isinstance(value, str):
            value = value.encode('utf-8', 'surrogatepass')
        parts += (b'S', _u32(len(value)), bytes(value))
    elif isinstance(value, bool):
        parts.append(b't\x01' if value else b't\x00')
    elif isinstance(value, float):
        parts.append(_double(b'd', value))
    elif isinstance(value, int):
        parts.append(_int32(b'I', value) if -_INT32_MAX <= value <= _INT32_MAX
                     else _int64(b'L', value))
    elif isinstance(value, Decimal):
        sign, digits, exponent = value.as_tuple()
        number = 0
        for digit in digits:
            number = number * 10 + digit
        parts.append(_decimal(b'D', -exponent, -number if sign else number))
    elif isinstance(value, datetime):
        import calendar
        parts.append(_timestamp(b'T', int(calendar.timegm(value.utctimetuple()))))
    elif isinstance(value, dict):
        parts += (b'F', _table(value))
    elif isinstance(value, (list, tuple)):
        parts += (b'A', _array(value))
    else:
        raise ValueError(f'cannot encode {type(value)!r} in an AMQP table')


def encode_properties(properties: Mapping) -> bytes:
    """The property flags and list of a basic header frame, as py-amqp encodes them.

    Raises on what py-amqp would not encode either (callers fall back to
    py-amqp's encoder for its error).
    """
    flags = 0
    parts = [b'']
    add = parts.append
    get = properties.get
    for bit, key, kind in _FLAGGED:
        value = get(key)
        if value is None:
            continue
        flags |= bit
        if kind == 's':
            add(_shortstr(value))
        elif kind == 'F':
            add(_table(value or {}))
        elif kind == 'o':
            add(_u8(value))
        else:  # 'L': timestamp
            add(_u64(value))
    parts[0] = _u16(flags)
    return b''.join(parts)


class Message(amqp.Message):
    """py-amqp's message, with its header frame encoded by :func:`encode_properties`."""

    __slots__ = ()

    def _serialize_properties(self) -> bytes:
        try:
            return encode_properties(self.properties)
        except Exception:  # py-amqp's encoder raises its own error (or copes)
            return super()._serialize_properties()


_STOCK_PUBLISH = Producer.publish
_PYAMQP_PREPARE = pyamqp.Channel.prepare_message

#: Properties with which ``Producer.publish`` sends the body as it is (not serialized).
_SPECIAL = frozenset(('content_type', 'content_encoding'))


def can_publish(producer: Any, properties: Mapping) -> bool:
    """True if :func:`publish` puts on the wire what ``producer.publish`` would."""
    if (not _pins.verified('publish')
            or getattr(type(producer), 'publish', None) is not _STOCK_PUBLISH
            or 'publish' in producer.__dict__
            or (producer.auto_declare and producer.exchange.name)):
        return False
    batch = getattr(producer, '_batch_local', None)
    if batch is not None and getattr(batch, 'current', None) is not None:
        return False  # an open ``producer.batch()``: kombu's path buffers it
    if properties and (not _SPECIAL.isdisjoint(properties)
                       or not isinstance(properties.get('reply_to', ''), str)):
        return False  # a body sent as it is, or a reply_to Queue: kombu's path
    return True


def publish(producer: Producer, body: Any, exchange: Any, routing_key: str | None,
            serializer: str | None, compression: str | None, delivery_mode: Any,
            headers: dict | None, timeout: float | None, confirm_timeout: float | None,
            properties: Mapping) -> Any:
    """``producer.publish(body, ..., retry=False, declare=None, **properties)``, unrolled.

    Only when :func:`can_publish` says so. ``headers`` gets ``compression``
    added when compressing, as kombu does; ``properties`` is not changed.
    """
    props = dict(properties)
    mandatory = props.pop('mandatory', False)
    immediate = props.pop('immediate', False)
    priority = props.pop('priority', 0)
    expiration = props.pop('expiration', None)
    if routing_key is None:
        routing_key = producer.routing_key
    if compression is None:
        compression = producer.compression
    exchange = exchange or producer.exchange
    if isinstance(exchange, Exchange):
        props['delivery_mode'] = maybe_delivery_mode(delivery_mode or exchange.delivery_mode)
        exchange = exchange.name
    else:
        props['delivery_mode'] = maybe_delivery_mode(
            delivery_mode or producer.exchange.delivery_mode)
    if expiration is not None:
        props['expiration'] = str(int(expiration * 1000))
    if headers is None:
        headers = {}
    content_type, content_encoding, body = dumps(body, serializer=serializer or producer.serializer)
    if compression:
        body, headers['compression'] = compress(body, compression)

    channel = producer.channel
    if type(channel).prepare_message is _PYAMQP_PREPARE:
        message = Message(body, priority=priority, content_type=content_type,
                          content_encoding=content_encoding, application_headers=headers,
                          **props)
    else:
        message = channel.prepare_message(body, priority, content_type, content_encoding,
                                          headers, props)
    return channel.basic_publish(message, exchange=exchange, routing_key=routing_key,
                                 mandatory=mandatory, immediate=immediate, timeout=timeout,
                                 confirm_timeout=confirm_timeout)

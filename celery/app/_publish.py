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
goes to py-amqp's, which also raises its errors.  On a plain py-amqp
channel (no publisher confirms) the basic.publish method goes out through
:func:`basic_publish`, and kombu's JSON serializer runs through
:func:`serialize`; both are pinned (groups ``publish-method`` and
``publish-json``).  Thread safety: the only state is bounded caches of
encoded strings (dict inserts, safe under the GIL) and a stateless encoder.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from select import select
from socket import timeout as SocketTimeout
from struct import Struct
from typing import Any

import amqp
from amqp import spec
from amqp.exceptions import RecoverableConnectionError
from amqp.serialization import dumps as amqp_dumps
from amqp.transport import TCPTransport
from kombu import Exchange, Producer
from kombu.compression import compress
from kombu.entity import maybe_delivery_mode
from kombu.serialization import dumps, registry
from kombu.transport import pyamqp
from kombu.utils import json as kombu_json
from vine import promise

from celery.utils import _pins

__all__ = ('Message', 'encode_properties', 'can_publish', 'publish', 'basic_publish',
           'publish_arguments', 'serialize', 'BASIC_PROPERTIES')

#: The basic properties in header-frame order, as py-amqp's ``Message`` lists them.
BASIC_PROPERTIES = (
    ('content_type', 's'), ('content_encoding', 's'), ('application_headers', 'F'),
    ('delivery_mode', 'o'), ('priority', 'o'), ('correlation_id', 's'),
    ('reply_to', 's'), ('expiration', 's'), ('message_id', 's'), ('timestamp', 'L'),
    ('type', 's'), ('user_id', 's'), ('app_id', 's'), ('cluster_id', 's'),
)
#: Properties whose values repeat, encoded through a cache (kind 'n').
_REPEATING = frozenset(('content_type', 'content_encoding', 'reply_to', 'type',
                        'user_id', 'app_id', 'cluster_id'))
_FLAGGED = tuple((1 << (15 - i), key, 'n' if key in _REPEATING else kind)
                 for i, (key, kind) in enumerate(BASIC_PROPERTIES))

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


_NAMES: dict = {}  # str -> its short-string encoding, for those that repeat (keys, types...)
_MAX_NAMES = 1024


def _name(value: Any) -> bytes:
    """:func:`_shortstr` for a value that repeats from message to message."""
    if type(value) is not str:
        return _shortstr(value)
    encoded = _NAMES.get(value)
    if encoded is None:
        encoded = _shortstr(value)
        if len(_NAMES) < _MAX_NAMES:
            _NAMES[value] = encoded
    return encoded


def _key(key: Any) -> bytes:
    """A table key: a str (cached, as :func:`_name`) or bytes."""
    return _name(key) if type(key) is str else _u8(len(key)) + key


def _table(table: Mapping) -> bytes:
    parts: list = []
    add = parts.append
    names = _NAMES
    for key, value in table.items():
        try:
            add(names[key])
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
        if kind == 'n':
            add(_name(value))
        elif kind == 's':
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
_PYAMQP_BASIC_PUBLISH = amqp.Channel._basic_publish
_BASIC_PUBLISH = spec.Basic.Publish
_BITS = (b'\x00', b'\x01', b'\x02', b'\x03')  # mandatory (bit 0), immediate (bit 1)


def publish_arguments(exchange: Any, routing_key: Any, mandatory: Any, immediate: Any) -> bytes:
    """basic.publish's arguments, as py-amqp's ``dumps('Bssbb', (0, ...))`` writes them."""
    try:
        return b''.join((b'\x00\x00', _name(exchange), _name(routing_key),
                         _BITS[(1 if mandatory else 0) | (2 if immediate else 0)]))
    except Exception:  # py-amqp's encoder, for its error
        return amqp_dumps('Bssbb', (0, exchange, routing_key, mandatory, immediate))


def _nothing_to_read(connection: Any) -> bool:
    """True only when ``connection.drain_events(timeout=0)`` would find no frame.

    That is: a plain TCP socket with nothing buffered and nothing readable
    (a closed peer or an error count as readable).  Anything else (TLS,
    which buffers where ``select`` cannot see, a partial frame already
    read) says False, and the caller drains as py-amqp does.
    """
    transport = connection.transport
    if type(transport) is not TCPTransport or transport._read_buffer:
        return False
    sock = transport.sock
    if sock is None:
        return False
    try:
        return not select((sock,), (), (), 0)[0]
    except (OSError, ValueError):  # closed, or a descriptor select cannot watch
        return False


def basic_publish(channel: Any, message: Any, exchange: Any, routing_key: Any,
                  mandatory: Any, immediate: Any, timeout: float | None) -> promise:
    """py-amqp's ``Channel._basic_publish``, with less work per message.

    Same frames and errors; the method arguments are encoded directly, and
    the check for a ``connection.blocked`` notification drains the
    connection only when a frame may be waiting (py-amqp drains every
    time, which costs a timed-out read when nothing is).  Only for a
    channel whose ``basic_publish`` is py-amqp's plain one (no publisher
    confirms), while the ``publish-method`` pins hold.
    """
    connection = channel.connection
    if not connection:
        raise RecoverableConnectionError('basic_publish: connection closed')
    capabilities = connection.client_properties.get('capabilities', {})
    if capabilities.get('connection.blocked', False) and not _nothing_to_read(connection):
        try:
            connection.drain_events(timeout=0)
        except SocketTimeout:
            pass
    args = publish_arguments(exchange, routing_key, mandatory, immediate)
    transport = channel.connection.transport  # (raises as py-amqp's if a drain closed it)
    try:
        if timeout is None:
            return _send(channel, args, message)
        with transport.having_timeout(timeout):
            return _send(channel, args, message)
    except (SocketTimeout, TimeoutError):
        # A write timeout leaves the socket unusable: a connection error, as py-amqp says.
        raise RecoverableConnectionError('basic_publish: timed out')


def _send(channel: Any, args: bytes, message: Any) -> promise:
    # py-amqp's send_method for a method without reply or callback.
    connection = channel.connection
    if connection is None:
        raise RecoverableConnectionError('connection already closed')
    done = promise()
    try:
        connection.frame_writer(1, channel.channel_id, _BASIC_PUBLISH, args, message)
    except StopIteration:
        raise RecoverableConnectionError('connection already closed')
    done()
    return done


def _plain_pyamqp_publish(channel: Any) -> bool:
    return (type(channel).basic_publish is _PYAMQP_BASIC_PUBLISH
            and 'basic_publish' not in channel.__dict__ and _pins.verified('publish-method'))

#: Properties with which ``Producer.publish`` sends the body as it is (not serialized).
_SPECIAL = frozenset(('content_type', 'content_encoding'))


#: What ``json.dumps(..., cls=kombu's JSONEncoder)`` makes on every call, made once.
_JSON = kombu_json.JSONEncoder()
_KOMBU_JSON_DUMPS = kombu_json.dumps


def serialize(body: Any, serializer: str | None) -> tuple:
    """kombu's ``dumps(body, serializer=serializer)``: content type, encoding, payload.

    kombu's own JSON serializer, which builds a new encoder per call, is
    run with one encoder made once (the same settings, so the same text)
    while the ``publish-json`` pins hold; errors and everything else are
    kombu's.  Thread safe: the encoder keeps no state between calls.
    """
    if serializer == 'json':
        codec = registry._encoders.get('json')
        if (codec is not None and codec[2] is _KOMBU_JSON_DUMPS
                and _pins.verified('publish-json')):
            try:
                return codec[0], codec[1], _JSON.encode(body)
            except Exception:  # kombu's way, for its error
                pass
    return dumps(body, serializer=serializer)


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
    content_type, content_encoding, body = serialize(body, serializer or producer.serializer)
    if compression:
        body, headers['compression'] = compress(body, compression)

    channel = producer.channel
    if type(channel).prepare_message is _PYAMQP_PREPARE:
        message = Message(body, priority=priority, content_type=content_type,
                          content_encoding=content_encoding, application_headers=headers,
                          **props)
        if _plain_pyamqp_publish(channel):
            return basic_publish(channel, message, exchange, routing_key,
                                 mandatory, immediate, timeout)
    else:
        message = channel.prepare_message(body, priority, content_type, content_encoding,
                                          headers, props)
    return channel.basic_publish(message, exchange=exchange, routing_key=routing_key,
                                 mandatory=mandatory, immediate=immediate, timeout=timeout,
                                 confirm_timeout=confirm_timeout)

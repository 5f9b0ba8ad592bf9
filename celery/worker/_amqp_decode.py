"""A faster decoder of the AMQP basic properties (the message headers) for py-amqp.

py-amqp decodes the header table of every delivered message with one
generic function call per value, and a string conversion call per key and
string value; for a Celery task message (some twenty headers) that is a
fifth of the worker's own CPU time with the prefork pool.  The decoder here
gives exactly the same result (the same types, the same fallbacks: a table
key or long string that is not UTF-8 stays ``bytes``; a short string that
is not UTF-8 raises :exc:`UnicodeDecodeError`) with the common value types
handled inline; rare types go to py-amqp's own ``_read_item``.

:func:`install` puts it in py-amqp's table of property decoders, only if
py-amqp is the code this was checked against (:mod:`celery.utils._pins`)
and the table still holds py-amqp's own decoder.
"""
from __future__ import annotations

import struct
from typing import Any

from amqp import serialization

from celery.utils import _pins

__all__ = ('decode_properties_basic', 'install', 'installed')

_read_item = serialization._read_item
_u8 = struct.Struct('>B').unpack_from
_u16 = struct.Struct('>H').unpack_from
_u32 = struct.Struct('>I').unpack_from
_i32 = struct.Struct('>i').unpack_from
_i64 = struct.Struct('>q').unpack_from
_u64 = struct.Struct('>Q').unpack_from
_f64 = struct.Struct('>d').unpack_from

#: The property flags of the short-string properties after the headers, in order.
_SHORT_STRINGS_AFTER = (
    (0x0400, 'correlation_id'), (0x0200, 'reply_to'), (0x0100, 'expiration'),
    (0x0080, 'message_id'),
)
_SHORT_STRINGS_LAST = (
    (0x0020, 'type'), (0x0010, 'user_id'), (0x0008, 'app_id'), (0x0004, 'cluster_id'),
)

#: Table keys seen (raw -> decoded): a message's header names repeat from message to message.
_KEYS: dict = {}
_KEYS_KEPT = 512

#: The py-amqp decoder this one replaces (what :func:`install` expects to find).
ORIGINAL = serialization.decode_properties_basic


def _table(buf: bytes, offset: int, limit: int) -> tuple[dict, int]:
    """Decode the items of a field table from ``offset`` up to ``limit``."""
    table: dict = {}
    keys = _KEYS
    while offset < limit:
        end = offset + 1 + buf[offset]
        raw = buf[offset + 1:end]
        key: Any = keys.get(raw)
        if key is None:
            try:
                key = raw.decode('utf-8', 'surrogatepass')
            except UnicodeDecodeError:
                key = raw
            else:
                if len(keys) < _KEYS_KEPT:
                    keys[raw] = key
        kind = buf[end]
        offset = end + 1
        if kind == 83:  # 'S': long string
            end = offset + 4 + _u32(buf, offset)[0]
            raw = buf[offset + 4:end]
            try:
                value: Any = raw.decode('utf-8', 'surrogatepass')
            except UnicodeDecodeError:
                value = raw
            offset = end
        elif kind == 86:  # 'V': void
            value = None
        elif kind == 73:  # 'I': signed 32-bit
            value = _i32(buf, offset)[0]
            offset += 4
        elif kind == 70:  # 'F': table
            value, offset = _table(buf, offset + 4, offset + 4 + _u32(buf, offset)[0])
        elif kind == 65:  # 'A': array
            value, offset = _array(buf, offset + 4, offset + 4 + _u32(buf, offset)[0])
        elif kind == 116:  # 't': boolean
            value = bool(buf[offset])
            offset += 1
        elif kind == 108 or kind == 76:  # 'l', 'L': signed 64-bit
            value = _i64(buf, offset)[0]
            offset += 8
        else:
            value, offset = _read_item(buf, offset - 1)
        table[key] = value
    return table, offset


def _array(buf: bytes, offset: int, limit: int) -> tuple[list, int]:
    """Decode the items of a field array from ``offset`` up to ``limit``."""
    items: list = []
    append = items.append
    while offset < limit:
        kind = buf[offset]
        if kind == 86:  # 'V'
            append(None)
            offset += 1
        elif kind == 83:  # 'S'
            end = offset + 5 + _u32(buf, offset + 1)[0]
            raw = buf[offset + 5:end]
            try:
                append(raw.decode('utf-8', 'surrogatepass'))
            except UnicodeDecodeError:
                append(raw)
            offset = end
        else:
            value, offset = _read_item(buf, offset)
            append(value)
    return items, offset


def _short_string(buf: bytes, offset: int) -> tuple[str, int]:
    end = offset + 1 + buf[offset]
    return buf[offset + 1:end].decode('utf-8', 'surrogatepass'), end


def decode_properties_basic(buf: Any, offset: int) -> tuple[dict, int]:
    """Decode the basic properties at ``offset``: ``(properties, offset after them)``."""
    if type(buf) is not bytes:  # py-amqp's string rules depend on the type: its own code
        return ORIGINAL(buf, offset)
    properties: dict = {}
    flags = _u16(buf, offset)[0]
    offset += 2
    if flags & 0x8000:
        properties['content_type'], offset = _short_string(buf, offset)
    if flags & 0x4000:
        properties['content_encoding'], offset = _short_string(buf, offset)
    if flags & 0x2000:
        properties['application_headers'], offset = _table(
            buf, offset + 4, offset + 4 + _u32(buf, offset)[0])
    if flags & 0x1000:
        properties['delivery_mode'] = buf[offset]
        offset += 1
    if flags & 0x0800:
        properties['priority'] = buf[offset]
        offset += 1
    if flags & 0x0780:
        for flag, name in _SHORT_STRINGS_AFTER:
            if flags & flag:
                properties[name], offset = _short_string(buf, offset)
    if flags & 0x0040:
        properties['timestamp'] = _u64(buf, offset)[0]
        offset += 8
    if flags & 0x003c:
        for flag, name in _SHORT_STRINGS_LAST:
            if flags & flag:
                properties[name], offset = _short_string(buf, offset)
    return properties, offset


def installed() -> bool:
    """Whether py-amqp decodes basic properties with :func:`decode_properties_basic`."""
    return serialization.PROPERTY_CLASSES.get(60) is decode_properties_basic


def install() -> bool:
    """Make py-amqp use :func:`decode_properties_basic`; False if py-amqp is not as expected."""
    classes = getattr(serialization, 'PROPERTY_CLASSES', None)
    if not isinstance(classes, dict) or not _pins.verified('amqp-read'):
        return False
    current = classes.get(60)  # Basic.CLASS_ID
    if current is decode_properties_basic:
        return True
    if current is not ORIGINAL:
        return False  # someone else's decoder, or a py-amqp we don't know
    classes[60] = decode_properties_basic
    return True

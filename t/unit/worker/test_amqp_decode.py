"""The worker's decoder of AMQP basic properties gives exactly py-amqp's result."""
from __future__ import annotations

import struct
from datetime import datetime
from decimal import Decimal
from typing import Any

import amqp
import pytest
from amqp import serialization

from celery.worker import _amqp_decode
from celery.worker._amqp_decode import decode_properties_basic

def test_installed_over_pyamqps_own_decoder() -> None:
    assert _amqp_decode.ORIGINAL is serialization.decode_properties_basic
    assert serialization.PROPERTY_CLASSES[60] in (
        serialization.decode_properties_basic, decode_properties_basic)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (``1 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            _same(k1, k2) and _same(a[k1], b[k2]) for k1, k2 in zip(a, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _both(raw: Any, offset: int = 0) -> tuple:
    ours = decode_properties_basic(raw, offset)
    theirs = _amqp_decode.ORIGINAL(raw, offset)
    assert _same(ours, theirs), (ours, theirs)
    return ours


def _encoded(**properties: Any) -> bytes:
    return amqp.Message(b'', **properties)._serialize_properties()


CELERY_HEADERS = {
    'lang': 'py', 'task': 'proj.tasks.add', 'id': 'b0d2bb5e-37d5-4f7e-a4c9-6ad1f7e3c2a1',
    'shadow': None, 'eta': None, 'expires': '2030-01-01T00:00:00+00:00', 'group': None,
    'group_index': None, 'retries': 0, 'timelimit': [None, 30.5],
    'root_id': 'b0d2bb5e-37d5-4f7e-a4c9-6ad1f7e3c2a1', 'parent_id': None,
    'argsrepr': '(2, 2)', 'kwargsrepr': '{}', 'origin': 'gen1@host', 'ignore_result': False,
    'replaced_task_nesting': 0, 'stamped_headers': None, 'stamps': {},
}


@pytest.mark.parametrize('properties', [
    {},
    {'content_type': 'application/json', 'content_encoding': 'utf-8',
     'application_headers': CELERY_HEADERS, 'delivery_mode': 2, 'priority': 0,
     'correlation_id': CELERY_HEADERS['id'], 'reply_to': 'a7a9-reply'},
    {'application_headers': {'nested': {'t': True, 'f': False, 'big': 2 ** 40, 'neg': -2 ** 40,
                                        'small': -5, 'float': 1.5, 'list': [1, 'a', None, {}],
                                        'empty': [], 'bytes': b'\xff\x00'}},
     'expiration': '1000', 'message_id': 'm-1', 'timestamp': 1700000000, 'type': 'kind',
     'user_id': 'guest', 'app_id': 'app', 'cluster_id': 'c1'},
    {'application_headers': {'dec': Decimal('3.25'), 'when': datetime(2024, 5, 1, 12, 0, 1),
                             'ünicode kéy': 'välue ✓', 'deep': [[{'a': [None]}]]}},
    {'priority': 9, 'timestamp': 0},
    {'content_type': 'ü', 'type': 'x', 'cluster_id': ''},
])
def test_same_result_as_pyamqp(properties: dict) -> None:
    raw = _encoded(**properties)
    decoded, end = _both(raw)
    assert end == len(raw)
    assert _both(b'junk' + raw, 4)[1] == len(raw) + 4


def _table(*items: bytes) -> bytes:
    body = b''.join(items)
    return struct.pack('>HI', 0x2000, len(body)) + body


def _item(key: bytes, kind: bytes, value: bytes) -> bytes:
    return bytes([len(key)]) + key + kind + value


@pytest.mark.parametrize('item', [
    _item(b'short-int', b's', struct.pack('>h', -3)),
    _item(b'bytes', b'x', struct.pack('>I', 3) + b'a\xffb'),
    _item(b'b', b'b', struct.pack('>b', -1)),
    _item(b'B', b'B', struct.pack('>B', 250)),
    _item(b'U', b'U', struct.pack('>h', -300)),
    _item(b'u', b'u', struct.pack('>H', 60000)),
    _item(b'i', b'i', struct.pack('>I', 4000000000)),
    _item(b'f', b'f', struct.pack('>f', 0.5)),
    _item(b'l', b'l', struct.pack('>q', -1000)),
    _item(b'L', b'L', struct.pack('>q', 2 ** 62)),
    _item(b'T', b'T', struct.pack('>Q', 1700000000)),
    _item(b'D', b'D', struct.pack('>Bi', 2, -12345)),
    _item(b'not-utf8-\xff', b'S', struct.pack('>I', 2) + b'\xfe\xff'),
    _item(b'surrogate', b'S', struct.pack('>I', 3) + '\udc80'.encode('utf-8', 'surrogatepass')),
    _item(b'array', b'A', struct.pack('>I', 11) + b'S' + struct.pack('>I', 2) + b'\xc3\xa9'
          + b'V' + b't\x01' + b'V'),
    _item(b'array-bad-utf8', b'A', struct.pack('>I', 7) + b'S' + struct.pack('>I', 2) + b'\xff\xff'),
])
def test_every_table_type_as_pyamqp(item: bytes) -> None:
    raw = _table(item, _item(b'after', b'V', b''))
    (decoded, end) = _both(raw)
    assert end == len(raw) and 'after' in decoded['application_headers']


def test_unknown_table_type_raises_as_pyamqp() -> None:
    raw = _table(_item(b'k', b'?', b''))
    with pytest.raises(amqp.exceptions.FrameSyntaxError):
        decode_properties_basic(raw, 0)
    with pytest.raises(amqp.exceptions.FrameSyntaxError):
        _amqp_decode.ORIGINAL(raw, 0)


def test_short_string_not_utf8_raises_as_pyamqp() -> None:
    raw = struct.pack('>HB', 0x8000, 2) + b'\xff\xfe'
    with pytest.raises(UnicodeDecodeError):
        decode_properties_basic(raw, 0)
    with pytest.raises(UnicodeDecodeError):
        _amqp_decode.ORIGINAL(raw, 0)


@pytest.mark.parametrize('kind', [memoryview])
def test_other_buffer_types_use_pyamqp(kind: type) -> None:
    raw = kind(_encoded(content_type='a', application_headers={'k': 'v', 'n': None}))
    assert _same(decode_properties_basic(raw, 0), _amqp_decode.ORIGINAL(raw, 0))


@pytest.fixture
def restore_decoder() -> Any:
    classes = serialization.PROPERTY_CLASSES
    saved = classes[60]
    yield classes
    classes[60] = saved


def test_install_replaces_pyamqp_decoder(restore_decoder: dict) -> None:
    restore_decoder[60] = _amqp_decode.ORIGINAL
    assert not _amqp_decode.installed()
    assert _amqp_decode.install()
    assert _amqp_decode.installed()
    assert _amqp_decode.install()  # twice: still ours
    message = amqp.Message(b'')
    message._load_properties(60, _encoded(application_headers={'id': 'x'}), 0)
    assert message.properties == {'application_headers': {'id': 'x'}}


def test_install_leaves_an_unknown_decoder(restore_decoder: dict) -> None:
    def other(buf: Any, offset: int) -> tuple:
        return {}, offset
    restore_decoder[60] = other
    assert not _amqp_decode.install()
    assert restore_decoder[60] is other

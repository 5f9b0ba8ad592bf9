"""Tests for celery.app._publish: the unrolled kombu publish and the AMQP header encoder.

The encoder must give py-amqp's bytes exactly; these tests compare the two
on every property and value type py-amqp knows, and fail loudly if py-amqp
changes the layout we rely on.
"""
from __future__ import annotations

import contextlib
import enum
import socket
import struct
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import amqp
import pytest
from amqp.exceptions import RecoverableConnectionError
from amqp.serialization import GenericContent
from amqp.serialization import dumps as amqp_dumps
from amqp.transport import TCPTransport
from kombu import Exchange, Producer, Queue
from kombu.exceptions import EncodeError
from kombu.serialization import dumps as kombu_dumps
from kombu.serialization import registry

from celery.app import _publish
from celery.app._publish import BASIC_PROPERTIES, Message, can_publish, encode_properties


class Colour(str, enum.Enum):
    RED = 'red'


class Level(enum.IntEnum):
    HIGH = 7


def amqp_bytes(properties: dict) -> bytes:
    """py-amqp's own encoding of ``properties``."""
    return GenericContent._serialize_properties(amqp.Message('', **properties))


HEADERS = {
    'lang': 'py', 'task': 'proj.add', 'id': 'ab-cd', 'shadow': None, 'eta': None,
    'group_index': 3, 'retries': 0, 'timelimit': [None, 1.5], 'root_id': 'é ünïcode ✓',
    'argsrepr': '(1, 2)', 'ignore_result': False, 'yes': True, 'stamps': {'a': ['x', 1]},
    'stamped_headers': None, 'nested': {'deep': {'deeper': (1, 'two', None, {})}},
    'big': 2 ** 40, 'negative': -5, 'edge_low': -2147483647, 'edge_lower': -2147483648,
    'edge_high': 2147483647, 'edge_higher': 2147483648, 'raw': b'\x00\xffbytes',
    'float': 0.1, 'decimal': Decimal('-12.345'), 'when': datetime(2024, 3, 1, 12, 0, 0),
    'aware': datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc),
    'str_subclass': Colour.RED, 'int_subclass': Level.HIGH, 'empty': '', 'list': [],
    b'bytes_key': 1, 'surrogate': '\udcff',
}


@pytest.mark.parametrize('properties', [
    {},
    {'application_headers': {}},
    {'content_type': 'application/json', 'content_encoding': 'utf-8',
     'application_headers': HEADERS, 'delivery_mode': 2, 'priority': 0,
     'correlation_id': 'ab-cd', 'reply_to': ''},
    {'content_type': 'application/x-python-serialize', 'content_encoding': 'binary',
     'application_headers': {'compression': 'application/x-gzip'}, 'delivery_mode': 1,
     'priority': 9, 'correlation_id': 'x', 'reply_to': 'r' * 255, 'expiration': '30000',
     'message_id': 'm', 'timestamp': 1700000000, 'type': 't', 'user_id': 'guest',
     'app_id': 'a', 'cluster_id': 'c'},
    {'correlation_id': b'bytes', 'reply_to': 0, 'priority': True},
], ids=['nothing', 'empty-headers', 'task', 'every-property', 'odd-values'])
def test_encodes_as_py_amqp_does(properties):
    assert encode_properties(properties) == amqp_bytes(properties)
    assert Message('', **properties)._serialize_properties() == amqp_bytes(properties)


def test_py_amqp_layout_is_the_one_encoded():
    # If py-amqp reorders or adds properties the encoder must follow: fail here.
    assert tuple(amqp.Message.PROPERTIES) == BASIC_PROPERTIES
    assert issubclass(Message, amqp.Message)
    assert GenericContent._serialize_properties is not Message._serialize_properties


@pytest.mark.parametrize('properties', [
    {'application_headers': {'bad': object()}},
    {'reply_to': 'r' * 256},
    {'application_headers': {'k' * 256: 1}},
    {'correlation_id': 5},
    {'delivery_mode': 'persistent'},
])
def test_values_py_amqp_rejects_raise_its_error(properties):
    with pytest.raises(Exception) as theirs:
        amqp_bytes(properties)
    with pytest.raises(type(theirs.value)):
        Message('', **properties)._serialize_properties()
    with pytest.raises(Exception):
        encode_properties(properties)


class test_can_publish:

    def test_a_plain_producer(self, app):
        with app.producer_or_acquire() as producer:
            assert can_publish(producer, {'correlation_id': 'x', 'reply_to': ''})

    def test_not_with_a_publish_of_its_own(self, app):
        with app.producer_or_acquire() as producer:
            producer.publish = lambda *a, **kw: None
            try:
                assert not can_publish(producer, {})
            finally:
                del producer.publish

    def test_not_for_a_subclass_publishing_its_own_way(self, app):
        class Mine(Producer):
            def publish(self, *args, **kwargs):  # pragma: no cover - not called
                pass
        with app.connection_for_write() as conn:
            assert not can_publish(Mine(conn), {})

    def test_not_when_the_producer_declares_its_exchange(self, app):
        with app.connection_for_write() as conn:
            assert not can_publish(Producer(conn, exchange=Exchange('x')), {})
            assert can_publish(Producer(conn, exchange=Exchange('x'), auto_declare=False), {})

    @pytest.mark.parametrize('properties', [
        {'content_type': 'text/plain'}, {'content_encoding': 'utf-8'},
        {'reply_to': Queue('replies')},
    ])
    def test_not_for_what_kombu_treats_specially(self, app, properties):
        with app.producer_or_acquire() as producer:
            assert not can_publish(producer, properties)

    def test_not_inside_a_publish_batch(self, app):
        with app.producer_or_acquire() as producer:
            if not hasattr(producer, 'batch'):
                pytest.skip('kombu < 5.7 has no Producer.batch, so there is no batch to respect')
            with producer.batch():
                assert not can_publish(producer, {})
            assert can_publish(producer, {})


class test_publish:

    def _both(self, app, qname, monkeypatch, **options):
        """Send one message through the fast path and one through kombu's; the raw pair."""
        amqp_ = app.amqp
        with app.producer_or_acquire() as producer:
            amqp_.send_task_message(producer, 'n', amqp_.create_task_message('t0', 'n'))
            producer.channel.queue_purge(qname)
            amqp_.send_task_message(producer, 'n', amqp_.create_task_message('t', 'n'),
                                    **options)
            with monkeypatch.context() as patch:
                patch.setattr(_publish, 'can_publish', lambda *a: False)
                amqp_.send_task_message(producer, 'n', amqp_.create_task_message('t', 'n'),
                                        **options)
            channel = producer.channel
            raw = [channel._get(qname) for _ in range(2)]
        for message in raw:  # unique per publish
            message['properties'].pop('delivery_tag')
        return raw

    @pytest.mark.parametrize('options', [
        {},
        {'priority': 5, 'expiration': 12.5, 'compression': 'zlib', 'serializer': 'pickle',
         'delivery_mode': 'transient', 'headers': {'extra': 1}, 'app_id': 'me'},
        {'mandatory': True, 'immediate': False, 'reply_to': 'replies', 'timeout': 5},
        {'priority': None, 'mandatory': None, 'immediate': None, 'delivery_mode': None},
    ], ids=['defaults', 'options', 'publish-arguments', 'none-values'])
    def test_same_message_as_kombus_publish(self, app, qname, monkeypatch, options):
        fast, stock = self._both(app, qname, monkeypatch, **options)
        assert fast == stock
        assert list(fast['properties']) == list(stock['properties'])  # same JSON order

    def test_the_producers_exchange_stands_for_an_empty_one(self, app, qname):
        # kombu publishes to the producer's exchange when given '' (falsy)
        seen = []
        with app.connection_for_write() as conn:
            producer = Producer(conn, exchange=Exchange('ex', delivery_mode=1),
                                auto_declare=False, routing_key='rk')
            producer.channel.basic_publish = lambda message, **kw: seen.append((message, kw))
            _publish.publish(producer, [1], '', None, 'json', None, None, None, None, None, {})
        message, kw = seen[0]
        assert kw['exchange'] == 'ex' and kw['routing_key'] == 'rk'
        assert message['properties']['delivery_mode'] == 1


class test_send_task_named_options:
    """``send_task`` names the usual publish options (faster binding); they
    must reach routing and publishing exactly as they would in ``**options``."""

    def _routed(self, app, **options):
        seen = []
        real = app.amqp.router.route

        def route(opts, *args, **kwargs):
            seen.append(dict(opts))
            return real(opts, *args, **kwargs)
        app.amqp.router.route = route
        app.send_task('proj.add', (1, 1), ignore_result=True, **options)
        return seen[0]

    def test_absent_options_stay_absent(self, app, qname):
        assert self._routed(app) == {}

    def test_given_options_arrive_first_then_the_others(self, app, qname):
        seen = self._routed(app, app_id='me', priority=None, mandatory=True,
                            serializer='json')
        assert seen == {'priority': None, 'serializer': 'json', 'mandatory': True,
                        'app_id': 'me'}
        assert list(seen)[-1] == 'app_id'

    def test_an_explicit_none_priority_still_blocks_inheriting_it(self, app, qname):
        # Celery's quirk: a present ``priority`` (even None) is not replaced
        # by the parent's with task_inherit_parent_priority.
        app.conf.task_inherit_parent_priority = True
        assert 'priority' in self._routed(app, priority=None)


class _Transport:
    """Enough of py-amqp's transport for a publish: a timeout context, no reads."""

    def __init__(self) -> None:
        self.timeouts: list = []

    @contextlib.contextmanager
    def having_timeout(self, timeout):
        self.timeouts.append(timeout)
        yield None


class _Connection:
    """Records the frames py-amqp's (or our) basic.publish hands to the frame writer."""

    def __init__(self, blocked: bool = True) -> None:
        self.client_properties = {'capabilities': {'connection.blocked': blocked}}
        self.transport = _Transport()
        self.frames: list = []
        self.drains: list = []

    def frame_writer(self, *frame):
        self.frames.append(frame)

    def drain_events(self, timeout=None):
        self.drains.append(timeout)
        raise socket.timeout()


def _channel(connection) -> amqp.Channel:
    channel = object.__new__(amqp.Channel)
    channel.connection = connection
    channel.channel_id = 3
    return channel


class test_basic_publish:
    """Our ``basic_publish`` hands py-amqp's frame writer what py-amqp's would."""

    @pytest.mark.parametrize('exchange,routing_key,mandatory,immediate', [
        ('', 'celery', False, False),
        ('ex', 'rk.é', True, False),
        (None, None, None, True),
        (b'bx', b'brk', 1, 1),
        ('e' * 255, '', True, True),
    ])
    def test_same_frame_as_py_amqp(self, exchange, routing_key, mandatory, immediate):
        ours, theirs = _Connection(blocked=False), _Connection(blocked=False)
        message = amqp.Message(b'body', content_type='application/json')
        _publish.basic_publish(_channel(ours), message, exchange, routing_key,
                               mandatory, immediate, None)
        _channel(theirs)._basic_publish(message, exchange=exchange, routing_key=routing_key,
                                        mandatory=mandatory, immediate=immediate)
        assert ours.frames == theirs.frames
        assert ours.frames[0][3] == amqp_dumps(
            'Bssbb', (0, exchange, routing_key, mandatory, immediate))

    def test_arguments_py_amqp_rejects_raise_its_error(self):
        with pytest.raises(struct.error):
            amqp_dumps('Bssbb', (0, 'e' * 256, '', False, False))
        with pytest.raises(struct.error):
            _publish.publish_arguments('e' * 256, '', False, False)

    def test_timeout_as_py_amqp(self):
        ours, theirs = _Connection(blocked=False), _Connection(blocked=False)
        message = amqp.Message(b'')
        _publish.basic_publish(_channel(ours), message, '', 'rk', False, False, 5)
        _channel(theirs)._basic_publish(message, routing_key='rk', timeout=5)
        assert ours.transport.timeouts == theirs.transport.timeouts == [5]
        assert ours.frames == theirs.frames

    def test_write_timeout_is_a_connection_error(self):
        connection = _Connection(blocked=False)

        def write(*frame):
            raise socket.timeout()
        connection.frame_writer = write
        with pytest.raises(RecoverableConnectionError, match='timed out'):
            _publish.basic_publish(_channel(connection), amqp.Message(b''), '', 'rk',
                                   False, False, None)

    def test_closed_connection(self):
        with pytest.raises(RecoverableConnectionError, match='connection closed'):
            _publish.basic_publish(_channel(None), amqp.Message(b''), '', 'rk',
                                   False, False, None)

    def test_drains_when_a_frame_may_wait(self, monkeypatch):
        # Given: a broker that announced connection.blocked
        connection = _Connection(blocked=True)
        monkeypatch.setattr(_publish, '_nothing_to_read', lambda conn: False)
        _publish.basic_publish(_channel(connection), amqp.Message(b''), '', 'rk',
                               False, False, None)
        # Then: py-amqp's drain (timeout 0) runs before the publish, its timeout swallowed
        assert connection.drains == [0]
        assert len(connection.frames) == 1

    def test_no_drain_when_nothing_to_read_or_not_announced(self, monkeypatch):
        monkeypatch.setattr(_publish, '_nothing_to_read', lambda conn: True)
        connection = _Connection(blocked=True)
        _publish.basic_publish(_channel(connection), amqp.Message(b''), '', 'rk',
                               False, False, None)
        monkeypatch.setattr(_publish, '_nothing_to_read', lambda conn: False)
        unannounced = _Connection(blocked=False)
        _publish.basic_publish(_channel(unannounced), amqp.Message(b''), '', 'rk',
                               False, False, None)
        assert connection.drains == unannounced.drains == []

    def test_confirm_mode_is_py_amqps(self):
        channel = _channel(_Connection())
        assert _publish._plain_pyamqp_publish(channel)
        channel.basic_publish = channel.basic_publish_confirm  # what confirm_publish does
        assert not _publish._plain_pyamqp_publish(channel)


class test_nothing_to_read:
    """``_nothing_to_read`` is True only when a zero-timeout drain would read nothing."""

    @pytest.fixture
    def transport(self):
        ours, peer = socket.socketpair()
        transport = object.__new__(TCPTransport)
        transport.sock = ours
        transport._read_buffer = b''
        yield transport, peer
        ours.close()
        peer.close()

    def _conn(self, transport):
        return type('Conn', (), {'transport': transport})()

    def test_idle_socket(self, transport):
        transport, peer = transport
        assert _publish._nothing_to_read(self._conn(transport))

    def test_a_waiting_byte(self, transport):
        transport, peer = transport
        peer.sendall(b'\x01')
        assert not _publish._nothing_to_read(self._conn(transport))

    def test_peer_closed(self, transport):
        transport, peer = transport
        peer.close()
        assert not _publish._nothing_to_read(self._conn(transport))

    def test_partial_frame_buffered(self, transport):
        transport, peer = transport
        transport._read_buffer = b'\x01\x00'
        assert not _publish._nothing_to_read(self._conn(transport))

    def test_no_socket_or_other_transport(self, transport):
        transport, peer = transport
        transport.sock = None
        assert not _publish._nothing_to_read(self._conn(transport))
        assert not _publish._nothing_to_read(self._conn(object()))


class test_serialize:
    """``serialize`` gives what kombu's ``dumps`` gives, byte for byte, errors included."""

    class Reduced:
        def __json__(self):
            return {'reduced': True}

    @pytest.mark.parametrize('body', [
        ((1, 2), {'k': 'é\u2028', 'n': None}, {'callbacks': None, 'chord': None}),
        [1.5, float('inf'), 2 ** 70, True, '\ud800'],
        {'when': datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
         'id': uuid.UUID(int=7), 'amount': Decimal('1.10'), 'raw': b'\xff\x00'},
        {'obj': Reduced()},
        'just text',
        None,
    ])
    @pytest.mark.parametrize('serializer', ['json', 'pickle', None])
    def test_same_as_kombu(self, body, serializer):
        assert _publish.serialize(body, serializer) == kombu_dumps(body, serializer=serializer)

    def test_unserializable_raises_kombus_error(self):
        with pytest.raises(EncodeError) as ours:
            _publish.serialize({'x': object()}, 'json')
        with pytest.raises(EncodeError) as theirs:
            kombu_dumps({'x': object()}, serializer='json')
        assert str(ours.value) == str(theirs.value)

    def test_a_replaced_json_serializer_is_used(self, monkeypatch):
        monkeypatch.setitem(registry._encoders, 'json',
                            registry._encoders['json']._replace(encoder=lambda body: 'mine'))
        assert _publish.serialize([1], 'json') == ('application/json', 'utf-8', 'mine')


def test_repeating_short_strings_are_cached_within_a_bound(monkeypatch):
    monkeypatch.setattr(_publish, '_NAMES', {})
    monkeypatch.setattr(_publish, '_MAX_NAMES', 2)
    for value in ('application/json', 'rk', 'third', 'rk'):
        assert _publish._name(value) == amqp_dumps('s', (value,))
    assert list(_publish._NAMES) == ['application/json', 'rk']
    assert _publish._name(None) == _publish._name(b'') == b'\x00'

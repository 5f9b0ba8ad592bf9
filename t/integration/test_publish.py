"""Publishing task messages through real brokers, read back raw with kombu.

Each test sends through ``app.amqp`` (the path ``app.send_task`` takes) or
``app.send_task`` itself, then takes the message off the queue with plain
kombu and checks every header, property and body field against the
protocol (``internals/protocol``). Brokers: RabbitMQ, Redis, and the
embedded filesystem and SQLAlchemy (SQLite) transports. Queue names are
unique per test, and queues are deleted afterwards.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import datetime, timezone

import pytest
from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError

from celery import Celery
from celery.app.amqp import hybrid_to_proto2

pytestmark = [
    pytest.mark.integration,
    # kombu's SQLAlchemy transport still uses an option SQLAlchemy 2.1 deprecates.
    pytest.mark.filterwarnings('ignore:The ``noload`` loader strategy:DeprecationWarning'),
]

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
BROKERS = ['redis', 'amqp', 'filesystem', 'sqlalchemy']


@pytest.fixture(params=BROKERS)
def broker(request, tmp_path):
    """``(url, transport_options)`` of one broker."""
    if request.param == 'redis':
        return request.getfixturevalue('redis_url'), {}
    if request.param == 'amqp':
        return request.getfixturevalue('amqp_url'), {}
    if request.param == 'filesystem':
        folder = tmp_path / 'broker'
        folder.mkdir()
        return 'filesystem://', {'data_folder_in': str(folder),
                                 'data_folder_out': str(folder),
                                 'control_folder': str(tmp_path / 'control')}
    return f'sqla+sqlite:///{tmp_path / "broker.db"}', {}


@pytest.fixture
def qname():
    return f'publish.{uuid.uuid4().hex}'


@pytest.fixture
def app(broker, qname):
    url, transport_options = broker
    test_app = Celery('proj', broker=url, set_as_current=False, fixups=[])
    test_app.conf.broker_transport_options = transport_options
    test_app.conf.task_default_queue = qname
    test_app.conf.task_publish_retry_policy = {
        'max_retries': 2, 'interval_start': 0, 'interval_step': 0.1, 'interval_max': 0.2}
    yield test_app
    test_app.close()


@pytest.fixture
def reader(broker, qname):
    """Take raw messages off queues with plain kombu; delete the queues afterwards."""
    url, transport_options = broker
    conn = Connection(url, transport_options=transport_options)
    used = set()

    def read(name=qname, accept=('json',), timeout=10.0):
        used.add(name)
        queue = Queue(name, Exchange(name), name)(conn.default_channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = queue.get(no_ack=True, accept=list(accept))
            if message is not None:
                return message
            time.sleep(0.05)  # poll interval, bounded by the deadline
        raise AssertionError(f'no message on {name} after {timeout}s')

    yield read
    for name in used:
        try:
            Queue(name, Exchange(name), name)(conn.default_channel).delete()
        except Exception:  # best effort: the broker may not support delete
            pass
    conn.close()


def send(app, name='proj.add', args=(2, 2), kwargs=None, task_id=None, message_kw=None,
         **options):
    """Publish like ``app.send_task``: route, build, send."""
    amqp = app.amqp
    task_id = task_id or str(uuid.uuid4())
    message = amqp.create_task_message(task_id, name, args, kwargs, **(message_kw or {}))
    options = amqp.router.route(options, name, args, kwargs, None)
    with app.producer_or_acquire() as producer:
        amqp.send_task_message(producer, name, message, **options)
    return task_id


def test_every_field_of_a_protocol_2_message(app, reader, qname):
    # Given a call using every message field
    task_id = send(
        app, 'proj.add', (2, 'x'), {'y': [1, 2]}, task_id='tid-1',
        message_kw={
            'countdown': 30, 'expires': 90, 'now': NOW, 'group_id': 'g1', 'group_index': 3,
            'retries': 2, 'chord': {'task': 'proj.body'}, 'callbacks': [{'task': 'proj.cb'}],
            'errbacks': [{'task': 'proj.err'}], 'reply_to': 'reply.queue', 'time_limit': 10,
            'soft_time_limit': 5, 'root_id': 'root', 'parent_id': 'parent', 'shadow': 'alias',
            'chain': [{'task': 'proj.next'}], 'origin': 'me@host', 'ignore_result': True,
            'replaced_task_nesting': 1, 'stamped_headers': ['color'], 'color': 'blue',
        },
        priority=4, headers={'x-trace': 'abc'},
    )

    # When it is read back raw
    m = reader()

    # Then the headers are the protocol's, with our values
    assert m.headers == {
        'lang': 'py', 'task': 'proj.add', 'id': task_id, 'shadow': 'alias',
        'eta': '2024-03-01T12:00:30+00:00', 'expires': '2024-03-01T12:01:30+00:00',
        'group': 'g1', 'group_index': 3, 'retries': 2, 'timelimit': [10, 5],
        'root_id': 'root', 'parent_id': 'parent', 'argsrepr': "(2, 'x')",
        'kwargsrepr': "{'y': [1, 2]}", 'origin': 'me@host', 'ignore_result': True,
        'replaced_task_nesting': 1, 'stamped_headers': ['color'], 'stamps': {'color': 'blue'},
        'x-trace': 'abc',
    }
    # And the properties
    assert m.properties['correlation_id'] == task_id
    assert m.properties['reply_to'] == 'reply.queue'
    assert m.properties['delivery_mode'] == 2
    assert m.properties['priority'] == 4
    assert m.content_type == 'application/json'
    assert m.content_encoding == 'utf-8'
    # And the body is (args, kwargs, embed)
    assert m.decode() == [[2, 'x'], {'y': [1, 2]}, {
        'callbacks': [{'task': 'proj.cb'}], 'errbacks': [{'task': 'proj.err'}],
        'chain': [{'task': 'proj.next'}], 'chord': {'task': 'proj.body'}}]
    assert m.delivery_info['routing_key'] == qname
    # And our reader turns it into the request shape
    (args, kwargs, embed), headers, decoded, utc = hybrid_to_proto2(m, m.decode())
    assert (list(args), kwargs) == ([2, 'x'], {'y': [1, 2]})
    assert headers['id'] == task_id and decoded and utc


def test_minimal_message_defaults(app, reader):
    task_id = send(app, 'proj.ping', ())
    m = reader()
    h = m.headers
    assert h['id'] == h['root_id'] == task_id
    assert h['eta'] is None and h['expires'] is None and h['shadow'] is None
    assert h['group'] is None and h['parent_id'] is None
    assert h['retries'] == 0 and h['timelimit'] == [None, None]
    assert h['argsrepr'] == '()' and h['kwargsrepr'] == '{}'
    name, _, host = h['origin'].partition('@')
    assert name == f'gen{os.getpid()}' and host == socket.gethostname()
    assert m.properties['reply_to'] == ''
    assert m.decode() == [[], {}, {'callbacks': None, 'errbacks': None,
                                   'chain': None, 'chord': None}]


def test_protocol_1_message(app, reader):
    app.conf.task_protocol = 1
    task_id = send(app, 'proj.add', (1, 2), {'k': 'v'},
                   message_kw={'countdown': 5, 'now': NOW, 'group_id': 'g'})
    m = reader()
    assert m.headers in ({}, None)
    assert m.decode() == {
        'task': 'proj.add', 'id': task_id, 'args': [1, 2], 'kwargs': {'k': 'v'},
        'group': 'g', 'group_index': None, 'retries': 0,
        'eta': '2024-03-01T12:00:05+00:00', 'expires': None, 'utc': True,
        'callbacks': None, 'errbacks': None, 'timelimit': [None, None],
        'taskset': 'g', 'chord': None,
    }
    (args, kwargs, _), headers, _, _ = hybrid_to_proto2(m, m.decode())
    assert headers['task'] == 'proj.add' and headers['group'] == 'g'


def test_transient_pickle_and_compressed(app, reader):
    send(app, args=({1, 2},), serializer='pickle', compression='zlib',
         delivery_mode='transient')
    m = reader(accept=('pickle',))
    assert m.content_type == 'application/x-python-serialize'
    assert m.headers['compression'] == 'application/x-gzip'
    assert m.properties['delivery_mode'] == 1
    assert m.decode()[0] == ({1, 2},)


def test_route_to_another_queue(app, reader, qname):
    other = qname + '.other'
    app.conf.task_routes = {'proj.special': {'queue': other}}
    send(app, 'proj.special')
    assert reader(other).headers['task'] == 'proj.special'


def test_send_task(app, reader, qname):
    # Through the app's own send_task (result not stored).
    result = app.send_task('proj.add', (2, 2), countdown=10, ignore_result=True)
    m = reader()
    assert m.headers['id'] == result.id
    assert m.headers['task'] == 'proj.add'
    assert m.headers['eta'] is not None
    assert m.properties['correlation_id'] == result.id


@pytest.mark.parametrize('scheme', ['amqp', 'redis'])
def test_unreachable_broker_raises_operational_error(scheme):
    # Given a broker URL nobody listens on
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    app = Celery('proj', broker=f'{scheme}://127.0.0.1:{port}//', set_as_current=False,
                 fixups=[])
    app.conf.broker_connection_timeout = 1
    app.conf.task_publish_retry_policy = {
        'max_retries': 1, 'interval_start': 0, 'interval_step': 0.1, 'interval_max': 0.1}
    started = time.monotonic()
    # Then publishing fails with kombu's OperationalError once the policy is spent
    with pytest.raises(OperationalError):
        send(app)
    assert time.monotonic() - started < 15
    app.close()


@pytest.fixture
def rabbit_app(amqp_url, qname):
    test_app = Celery('proj', broker=amqp_url, set_as_current=False, fixups=[])
    test_app.conf.task_default_queue = qname
    yield test_app
    with test_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(qname)
    test_app.close()


def test_rabbitmq_priority_queue(rabbit_app, qname, amqp_url):
    # Given queues declared with task_queue_max_priority
    rabbit_app.conf.task_queue_max_priority = 10
    send(rabbit_app, 'proj.low', priority=1)
    send(rabbit_app, 'proj.high', priority=9)
    # Then RabbitMQ hands out the higher priority first
    with Connection(amqp_url) as conn:
        queue = Queue(qname, Exchange(qname), qname,
                      queue_arguments={'x-max-priority': 10})(conn.default_channel)
        first = queue.get(no_ack=True, accept=['json'])
        second = queue.get(no_ack=True, accept=['json'])
    assert [first.headers['task'], second.headers['task']] == ['proj.high', 'proj.low']
    assert first.properties['priority'] == 9


def test_rabbitmq_quorum_default_queue(rabbit_app, qname, amqp_url):
    # Given a quorum default queue (and a max priority that it must not get)
    rabbit_app.conf.task_default_queue_type = 'quorum'
    rabbit_app.conf.task_queue_max_priority = 10
    rabbit_app.conf.broker_transport_options = {'confirm_publish': True}
    send(rabbit_app, 'proj.add')
    with Connection(amqp_url) as conn:
        # Then it was declared as a quorum queue: a classic redeclare is refused
        with pytest.raises(Exception, match='(?i)inequivalent arg'):
            conn.default_channel.queue_declare(qname, durable=True, auto_delete=False,
                                               arguments={'x-queue-type': 'classic'})
    with Connection(amqp_url) as conn:
        queue = Queue(qname, Exchange(qname), qname,
                      queue_arguments={'x-queue-type': 'quorum'})(conn.default_channel)
        deadline = time.monotonic() + 10
        message = None
        while message is None and time.monotonic() < deadline:
            message = queue.get(no_ack=True, accept=['json'])
    assert message is not None and message.headers['task'] == 'proj.add'

"""Tests for celery.events.receiver.EventReceiver: round trips and the
local adjustments made to each event."""
from __future__ import annotations

import socket
import uuid

import pytest
from kombu import Exchange, Queue

from celery.events import EventDispatcher, EventReceiver
from celery.exceptions import ImproperlyConfigured


@pytest.fixture
def dispatcher(ev_app, conn):
    return EventDispatcher(conn, hostname='w1@h', app=ev_app)


def ready(recv, conn):
    """Declare the receiver's queue so that events sent now are kept."""
    recv.queue(conn.default_channel).declare()
    return recv


def test_round_trip_calls_handlers_by_type(ev_app, conn, dispatcher):
    received, others = [], []
    recv = ready(EventReceiver(conn, app=ev_app, handlers={
        'task-received': received.append, '*': others.append}), conn)
    dispatcher.send('task-received', uuid='id1', name='tasks.add')
    dispatcher.send('worker-heartbeat', active=0)
    recv.capture(limit=2, timeout=5, wakeup=False)
    assert [(e['type'], e['uuid']) for e in received] == [('task-received', 'id1')]
    assert [e['type'] for e in others] == ['worker-heartbeat']
    assert others[0]['hostname'] == 'w1@h'
    assert 'local_received' in others[0]


def test_batched_events_are_split(ev_app, conn):
    seen = []
    recv = ready(EventReceiver(conn, app=ev_app, handlers={'*': seen.append}), conn)
    d = EventDispatcher(conn, app=ev_app, buffer_group=['task'], buffer_limit=2)
    d.send('task-received', uuid='a')
    d.send('task-started', uuid='a')
    recv.capture(limit=1, timeout=5, wakeup=False)
    assert [e['type'] for e in seen] == ['task-received', 'task-started']


def test_routing_key_selects_events(ev_app, conn, dispatcher):
    seen = []
    recv = ready(EventReceiver(conn, app=ev_app, routing_key='worker.#',
                               handlers={'*': seen.append}), conn)
    dispatcher.send('task-received', uuid='a')
    dispatcher.send('worker-online')
    recv.capture(limit=1, timeout=5, wakeup=False)
    assert [e['type'] for e in seen] == ['worker-online']


def test_itercapture_yields_per_message(ev_app, conn, dispatcher):
    seen = []
    recv = ready(EventReceiver(conn, app=ev_app, handlers={'*': seen.append}), conn)
    dispatcher.send('worker-online')
    it = recv.itercapture(limit=None, timeout=5, wakeup=False)
    next(it)
    assert len(seen) == 1
    it.close()


def test_capture_timeout_raises(ev_app, conn):
    recv = EventReceiver(conn, app=ev_app)
    with pytest.raises(socket.timeout):
        recv.capture(limit=None, timeout=0.5, wakeup=False)


def test_wakeup_asks_workers_for_a_heartbeat(ev_app, conn, dispatcher):
    control = Queue(f'spy-{uuid.uuid4().hex[:8]}',
                    Exchange(f'{ev_app.conf.control_exchange}.pidbox', 'fanout',
                             durable=False))(conn.default_channel)
    control.declare()
    recv = ready(EventReceiver(conn, app=ev_app, handlers={}), conn)
    dispatcher.send('worker-online')
    recv.capture(limit=1, timeout=5, wakeup=True)
    body = control.get(no_ack=True, accept=['json']).payload
    assert (body['method'], body['arguments'], body['destination']) == ('heartbeat', {}, None)


def test_process_without_handler_is_a_no_op(ev_app, conn):
    EventReceiver(conn, app=ev_app).process('task-sent', {'type': 'task-sent'})


def test_queue_settings(ev_app, conn):
    ev_app.conf.update(event_queue_prefix='myev', event_queue_ttl=3.0,
                       event_queue_expires=30.0)
    recv = EventReceiver(conn, app=ev_app, node_id='n1')
    queue = recv.queue
    assert queue.name == 'myev.n1'
    assert queue.exchange.name == ev_app.conf.event_exchange
    assert queue.exchange.type == 'topic'
    assert queue.routing_key == '#'
    assert (queue.message_ttl, queue.expires) == (3.0, 30.0)
    assert (queue.auto_delete, queue.durable, queue.exclusive) == (True, False, False)
    assert recv.accept == {'json'}
    assert recv.connection is conn


def test_queue_arguments_override_settings(ev_app, conn):
    recv = EventReceiver(conn, app=ev_app, queue_prefix='p', queue_ttl=1.0,
                         queue_expires=2.0, queue_durable=True, accept=['pickle'])
    assert recv.queue.name.startswith('p.')
    assert (recv.queue.message_ttl, recv.queue.expires) == (1.0, 2.0)
    assert (recv.queue.durable, recv.queue.auto_delete) == (True, False)
    assert recv.accept == ['pickle']


def test_exclusive_and_durable_queue_refused(ev_app, conn):
    with pytest.raises(ImproperlyConfigured):
        EventReceiver(conn, app=ev_app, queue_exclusive=True, queue_durable=True)


# -- event_from_message --------------------------------------------------------------


@pytest.fixture
def recv(ev_app, conn):
    return EventReceiver(conn, app=ev_app)


def test_clock_is_synchronised(ev_app, recv):
    ev_app.clock.value = 3
    type, event = recv.event_from_message({'type': 'worker-online', 'clock': 40})
    assert type == 'worker-online'
    assert event['clock'] == 40
    assert ev_app.clock.value == 41


def test_missing_clock_takes_the_local_one(ev_app, recv):
    ev_app.clock.value = 7
    _, event = recv.event_from_message({'type': 'worker-online'})
    assert event['clock'] == 8


def test_task_sent_clock_is_not_trusted(ev_app, recv):
    ev_app.clock.value = 10
    _, event = recv.event_from_message({'type': 'task-sent', 'clock': 999})
    assert event['clock'] == 9
    assert ev_app.clock.value == 11


def test_timestamp_is_moved_to_local_time(recv):
    from celery.utils.time import utcoffset
    _, event = recv.event_from_message(
        {'type': 'worker-online', 'timestamp': 10000.0, 'utcoffset': utcoffset() + 2})
    assert event['timestamp'] == 10000.0 - 2 * 3600


def test_timestamp_adjustment_uses_our_offset(recv):
    _, event = recv.event_from_message(
        {'type': 'worker-online', 'timestamp': 100.0, 'utcoffset': 5},
        adjust_timestamp=lambda ts, offset: ts - (offset - 2) * 3600)
    assert event['timestamp'] == 100.0 - 3 * 3600


def test_no_localize(recv):
    _, event = recv.event_from_message(
        {'type': 'worker-online', 'timestamp': 100.0, 'utcoffset': 5}, localize=False,
        now=lambda: 123.0)
    assert (event['timestamp'], event['local_received']) == (100.0, 123.0)

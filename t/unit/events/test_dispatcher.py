"""Tests for celery.events.dispatcher.EventDispatcher: what goes on the wire."""
from __future__ import annotations

import os
import uuid

import pytest
from kombu import Queue

from celery.events import EventDispatcher
from celery.events.event import get_exchange


class Spy:
    """A queue bound to the events exchange, to read what was sent."""

    def __init__(self, app, conn, routing_key='#'):
        exchange = get_exchange(conn, name=app.conf.event_exchange)
        self.queue = Queue(f'spy-{uuid.uuid4().hex[:8]}', exchange, routing_key)(
            conn.default_channel)
        self.queue.declare()

    def take(self):
        return self.queue.get(no_ack=True, accept=['json'])

    def all(self):
        messages = []
        while (message := self.take()) is not None:
            messages.append(message)
        return messages


@pytest.fixture
def spy(ev_app, conn):
    return Spy(ev_app, conn)


@pytest.fixture
def dispatcher(ev_app, conn):
    with EventDispatcher(conn, hostname='w1@h', app=ev_app) as d:
        yield d


def test_send_publishes_event_with_standard_fields(ev_app, dispatcher, spy):
    before = ev_app.clock.value
    dispatcher.send('task-succeeded', uuid='id1', result='4', runtime=0.5)
    message = spy.take()
    event = message.payload
    assert message.delivery_info['routing_key'] == 'task.succeeded'
    assert message.delivery_info['exchange'] == ev_app.conf.event_exchange
    assert message.headers == {'hostname': 'w1@h'}
    assert message.content_type == 'application/json'
    assert event['type'] == 'task-succeeded'
    assert (event['uuid'], event['result'], event['runtime']) == ('id1', '4', 0.5)
    assert event['hostname'] == 'w1@h'
    assert event['pid'] == os.getpid()
    assert event['clock'] == before + 1
    assert isinstance(event['utcoffset'], (int, float))
    assert isinstance(event['timestamp'], float)
    assert message.properties.get('delivery_mode') == 1


def test_clock_advances_per_event(dispatcher, spy):
    dispatcher.send('worker-heartbeat')
    dispatcher.send('worker-heartbeat')
    first, second = (m.payload['clock'] for m in spy.all())
    assert second == first + 1


def test_blind_events_carry_no_clock(ev_app, dispatcher, spy):
    before = ev_app.clock.value
    dispatcher.send('worker-heartbeat', blind=True)
    assert spy.take().payload['clock'] is None
    assert ev_app.clock.value == before


def test_disabled_dispatcher_sends_nothing(ev_app, conn, spy):
    d = EventDispatcher(conn, hostname='w1@h', app=ev_app, enabled=False)
    d.send('task-received', uuid='x')
    assert spy.take() is None
    assert d.producer is None


def test_enable_and_disable_call_callbacks(ev_app, conn, spy):
    calls = []
    d = EventDispatcher(conn, app=ev_app, enabled=False)
    d.on_enabled.add(lambda: calls.append('on'))
    d.on_disabled.add(lambda: calls.append('off'))
    d.enable()
    d.send('worker-online')
    d.disable()
    d.disable()  # already disabled: no second callback
    d.send('worker-offline')
    assert calls == ['on', 'off']
    assert [m.payload['type'] for m in spy.all()] == ['worker-online']


def test_groups_filter_events(ev_app, conn, spy):
    d = EventDispatcher(conn, app=ev_app, groups=['worker'])
    d.send('task-received', uuid='x')
    d.send('worker-heartbeat')
    assert [m.payload['type'] for m in spy.all()] == ['worker-heartbeat']


def test_default_hostname_and_serializer(ev_app, conn):
    d = EventDispatcher(conn, app=ev_app)
    assert d.hostname.startswith(f'gen{os.getpid()}@')
    assert d.serializer == ev_app.conf.event_serializer == 'json'
    assert d.exchange.name == ev_app.conf.event_exchange
    assert d.publisher is d.producer


def test_channel_given_instead_of_connection(ev_app, conn, spy):
    d = EventDispatcher(channel=conn.default_channel, app=ev_app)
    assert d.connection is conn
    d.send('worker-online')
    assert spy.take().payload['type'] == 'worker-online'


def test_sql_transport_disables_events(ev_app, conn, monkeypatch):
    monkeypatch.setattr(EventDispatcher, 'DISABLED_TRANSPORTS', {'memory'})
    assert EventDispatcher(conn, app=ev_app).enabled is False


def test_buffer_group_batches_events(ev_app, conn, spy):
    buffered = []
    d = EventDispatcher(conn, app=ev_app, buffer_group=['task'], buffer_limit=3,
                        on_send_buffered=lambda: buffered.append(1))
    d.send('task-received', uuid='a')
    d.send('task-started', uuid='a')
    assert spy.take() is None
    assert len(buffered) == 2
    d.send('task-succeeded', uuid='a')  # reaches the limit: flushed
    message = spy.take()
    assert message.delivery_info['routing_key'] == 'task.multi'
    assert [e['type'] for e in message.payload] == [
        'task-received', 'task-started', 'task-succeeded']
    clocks = [e['clock'] for e in message.payload]
    assert clocks == sorted(clocks) and len(set(clocks)) == 3
    d.send('worker-heartbeat')  # other groups are not buffered
    assert spy.take().payload['type'] == 'worker-heartbeat'


def test_flush_sends_partial_group_buffer(ev_app, conn, spy):
    d = EventDispatcher(conn, app=ev_app, buffer_group=['task'])
    d.send('task-received', uuid='a')
    d.flush()
    assert [e['uuid'] for e in spy.take().payload] == ['a']
    d.flush()
    assert spy.take() is None


class FailingProducer:
    def __init__(self):
        self.calls = 0

    def publish(self, *args, **kwargs):
        self.calls += 1
        raise ConnectionError('broker away')


def test_buffer_while_offline_keeps_failed_events(ev_app, conn, spy):
    d = EventDispatcher(conn, app=ev_app)
    real, d.producer = d.producer, FailingProducer()
    d.send('task-received', uuid='a')
    d.send('task-started', uuid='a')
    assert len(d._outbound_buffer) == 2
    d.producer = real
    d.flush()
    assert [m.payload['type'] for m in spy.all()] == ['task-received', 'task-started']
    assert not d._outbound_buffer


def test_flush_rebuffers_what_fails_again(ev_app, conn):
    d = EventDispatcher(conn, app=ev_app)
    d.producer = FailingProducer()
    d.send('task-received', uuid='a')
    d.flush()
    assert len(d._outbound_buffer) == 1


def test_without_buffering_errors_propagate(ev_app, conn):
    d = EventDispatcher(conn, app=ev_app, buffer_while_offline=False)
    d.producer = FailingProducer()
    with pytest.raises(ConnectionError):
        d.send('task-received', uuid='a')


def test_closed_dispatcher_buffers(ev_app, conn):
    d = EventDispatcher(conn, app=ev_app)
    d.close()
    assert d.producer is None
    d.send('worker-online')
    assert len(d._outbound_buffer) == 1


def test_extend_buffer(ev_app, conn):
    a = EventDispatcher(conn, app=ev_app)
    b = EventDispatcher(conn, app=ev_app)
    b.producer = FailingProducer()
    b.send('worker-online')
    a.extend_buffer(b)
    assert len(a._outbound_buffer) == 1


def test_publish_with_explicit_producer(ev_app, dispatcher, spy):
    dispatcher.publish('worker-custom', {'x': 1}, dispatcher.producer, retry=True)
    event = spy.take().payload
    assert (event['type'], event['x'], event['hostname']) == ('worker-custom', 1, 'w1@h')


def test_custom_event_factory_and_utcoffset(dispatcher, spy):
    dispatcher.send('worker-online', utcoffset=lambda: -3,
                    Event=lambda type, **fields: dict(fields, type=type, timestamp=5.0))
    event = spy.take().payload
    assert (event['utcoffset'], event['timestamp']) == (-3, 5.0)

"""Tests for celery.events.event: building events and the events exchange."""
from __future__ import annotations

from types import SimpleNamespace

from celery.events import Event, event_exchange, get_exchange, group_from
from celery.events.event import routing_key_for


def fake_conn(driver_type: str) -> SimpleNamespace:
    return SimpleNamespace(transport=SimpleNamespace(driver_type=driver_type))


def test_event_sets_type_and_timestamp():
    event = Event('task-received', uuid='id1', __now__=lambda: 42.0)
    assert event == {'type': 'task-received', 'uuid': 'id1', 'timestamp': 42.0}


def test_event_keeps_a_given_timestamp():
    assert Event('worker-online', timestamp=1.5)['timestamp'] == 1.5


def test_event_merges_fields_mapping_and_keywords():
    fields = {'uuid': 'id1', 'type': 'ignored'}
    event = Event('task-started', fields, pid=7, __now__=lambda: 1.0)
    assert event == {'uuid': 'id1', 'pid': 7, 'type': 'task-started', 'timestamp': 1.0}
    assert fields == {'uuid': 'id1', 'type': 'ignored'}  # not modified


def test_group_from():
    assert group_from('task-sent') == 'task'
    assert group_from('worker-heartbeat') == 'worker'
    assert group_from('custom') == 'custom'


def test_routing_keys_use_dots():
    assert routing_key_for('task-succeeded') == 'task.succeeded'
    assert routing_key_for('worker-heartbeat') == 'worker.heartbeat'


def test_event_exchange_matches_celery():
    assert (event_exchange.name, event_exchange.type) == ('celeryev', 'topic')
    assert event_exchange.durable is True and event_exchange.auto_delete is False


def test_get_exchange_is_topic_except_on_redis():
    assert get_exchange(fake_conn('amqp')).type == 'topic'
    assert get_exchange(fake_conn('memory')).type == 'topic'
    assert get_exchange(fake_conn('redis')).type == 'fanout'
    assert event_exchange.type == 'topic'  # the shared one is left alone


def test_get_exchange_name():
    exchange = get_exchange(fake_conn('amqp'), name='myev')
    assert exchange.name == 'myev'
    assert event_exchange.name == 'celeryev'

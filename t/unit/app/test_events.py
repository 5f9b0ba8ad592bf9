"""Tests for celery.app.events.Events: the event classes bound to an app."""
from __future__ import annotations

import uuid

from kombu import Queue

from celery.app.events import Events
from celery.events import EventDispatcher, EventReceiver
from celery.events.event import get_exchange
from celery.events.state import State


def test_classes_are_bound_to_the_app(app):
    events = app.events
    assert isinstance(events, Events)
    for attr, base in (('Dispatcher', EventDispatcher), ('Receiver', EventReceiver),
                       ('State', State)):
        cls = getattr(events, attr)
        assert issubclass(cls, base) and cls.app is app
        assert getattr(events, attr) is cls  # made once


def test_bound_classes_use_the_app(app):
    with app.connection_for_write() as conn:
        assert app.events.Dispatcher(conn).app is app
        assert app.events.Receiver(conn).app is app


def test_custom_classes(app):
    class MyState(State):
        pass

    class MyEvents(Events):
        state_cls = MyState
    assert issubclass(MyEvents(app).State, MyState)


def test_default_dispatcher_sends_on_a_pooled_producer(app):
    app.conf.event_exchange = f'ev-{uuid.uuid4().hex[:8]}'
    with app.connection_for_write() as conn:
        spy = Queue(f'spy-{uuid.uuid4().hex[:8]}',
                    get_exchange(conn, app.conf.event_exchange), '#')(conn.default_channel)
        spy.declare()
        with app.events.default_dispatcher(hostname='w1@h') as dispatcher:
            assert dispatcher.enabled and dispatcher.app is app
            assert dispatcher.buffer_while_offline is False
            dispatcher.send('worker-online')
        assert dispatcher.producer is None  # closed on exit
        event = spy.get(no_ack=True, accept=['json']).payload
    assert (event['type'], event['hostname']) == ('worker-online', 'w1@h')


def test_disabled_default_dispatcher(app):
    with app.events.default_dispatcher(enabled=False) as dispatcher:
        assert dispatcher.enabled is False

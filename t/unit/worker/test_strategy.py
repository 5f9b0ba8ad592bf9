"""The task strategy: what happens to a received task message."""
from __future__ import annotations

import logging
from typing import Any, Callable

from celery.worker import state
from celery.worker.strategy import Strategy


class FakeQos:
    def __init__(self) -> None:
        self.increments = 0

    def increment_eventually(self) -> None:
        self.increments += 1


class FakeTimer:
    def __init__(self) -> None:
        self.calls: list = []

    def call_after(self, delay: float, fun: Callable, args: tuple = (), **kw: Any) -> None:
        self.calls.append((delay, fun, args))


class FakeConsumer:
    hostname = 'unit@host'
    connection_errors = ()
    event_dispatcher = None
    disable_rate_limits = True
    acker = None

    def __init__(self) -> None:
        self.timer = FakeTimer()
        self.qos = FakeQos()
        self.task_buckets: dict = {}
        self.handled: list = []

    def on_task_request(self, req: Any) -> None:
        self.handled.append(req)

    def apply_eta_task(self, req: Any) -> None:
        state.task_reserved(req)
        self.on_task_request(req)


def test_eta_request_is_reserved_only_when_it_comes_due(app: Any, make_message: Any) -> None:
    @app.task(shared=False, name='unit.later')
    def later() -> None:
        pass

    consumer = FakeConsumer()
    strategy = Strategy(later, app, consumer)
    # When a message with an ETA is received
    strategy(make_message('unit.later', countdown=60), None, None, None)
    # Then it waits on the timer, with the prefetch raised, but is not reserved yet
    [(delay, fun, (req,))] = consumer.timer.calls
    assert 50 < delay <= 60
    assert consumer.qos.increments == 1
    assert req not in state.reserved_requests
    assert consumer.handled == []
    # and once due it is reserved and handled
    fun(req)
    assert req in state.reserved_requests
    assert consumer.handled == [req]


def test_request_without_eta_is_reserved_at_once(app: Any, make_message: Any) -> None:
    @app.task(shared=False, name='unit.now')
    def now() -> None:
        pass

    consumer = FakeConsumer()
    Strategy(now, app, consumer)(make_message('unit.now'), None, None, None)
    [req] = consumer.handled
    assert req in state.reserved_requests
    assert consumer.timer.calls == []


def test_received_line_is_logged_at_info(app: Any, make_message: Any, caplog: Any) -> None:
    @app.task(shared=False, name='unit.logged')
    def logged() -> None:
        pass

    caplog.set_level(logging.INFO, logger='celery.worker.strategy')
    message = make_message('unit.logged')
    Strategy(logged, app, FakeConsumer())(message, None, None, None)
    task_id = message.headers['id']
    assert f'Task unit.logged[{task_id}] received' in caplog.messages


def test_nothing_is_logged_below_info(app: Any, make_message: Any, caplog: Any) -> None:
    @app.task(shared=False, name='unit.quiet')
    def quiet() -> None:
        pass

    caplog.set_level(logging.WARNING, logger='celery.worker.strategy')
    Strategy(quiet, app, FakeConsumer())(make_message('unit.quiet'), None, None, None)
    assert not [m for m in caplog.messages if 'received' in m]

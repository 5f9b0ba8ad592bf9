"""Consumer steps: mingle replies, QoS flavour, rate-limit buckets, connection retries."""
from __future__ import annotations

import time
from typing import Any

from kombu import Queue

from celery.worker import state
from celery.worker.consumer.mingle import Mingle
from celery.worker.consumer.tasks import Tasks


class Controller:
    state = state


class C:
    """The attributes of a consumer the steps use."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.hostname = 'me@host'
        self.controller = Controller()


class Msg:
    def __init__(self, ticket: str, clock: int = 0) -> None:
        self.headers = {'ticket': ticket, 'clock': clock}


def test_mingle_merges_replies_of_its_own_hello(app: Any) -> None:
    c = C(app)
    mingle = Mingle.__new__(Mingle)
    mingle._synced = []
    before = app.clock.value
    # a reply to our ticket: merged
    mingle.on_reply(c, 't1', {'other@host': {'revoked': {'x': (time.time(), 'x')}, 'clock': 100}},
                    Msg('t1', clock=50))
    assert 'x' in state.revoked
    assert app.clock.value > before and app.clock.value >= 100
    # our own answer and other tickets: ignored
    mingle.on_reply(c, 't1', {'me@host': {'revoked': {'y': (1.0, 'y')}}}, Msg('t1'))
    mingle.on_reply(c, 't1', {'third@host': {'revoked': {'z': (1.0, 'z')}}}, Msg('t2'))
    assert 'y' not in state.revoked and 'z' not in state.revoked
    assert mingle._synced == ['other@host']


def test_mingle_survives_a_bad_reply(app: Any, caplog: Any) -> None:
    c = C(app)
    mingle = Mingle.__new__(Mingle)
    mingle._synced = []
    mingle.on_reply(c, 't', {'bad@host': {'revoked': 42}}, Msg('t'))
    assert 'mingle: sync with bad@host failed' in caplog.text


def test_mingle_only_for_transports_with_broadcast(app: Any) -> None:
    assert not Mingle(C(app)).enabled  # memory transport
    assert not Mingle(C(app), without_mingle=True).enabled


def test_qos_is_global_unless_quorum_queues(app: Any) -> None:
    class Conn:
        qos_semantics_matches_spec = False

    c = C(app)
    c.connection = Conn()
    assert Tasks.qos_global(c) is True


def test_quorum_queues_turn_global_qos_off(app: Any) -> None:
    class Conn:
        qos_semantics_matches_spec = False

    app.conf.task_queues = [Queue('q', queue_arguments={'x-queue-type': 'quorum'})]
    c = C(app)
    c.connection = Conn()
    assert Tasks.qos_global(c) is False


def test_rate_limit_buckets(app: Any) -> None:
    from celery.worker.consumer.consumer import Consumer

    @app.task(shared=False, rate_limit='10/s')
    def limited() -> None:
        pass

    @app.task(shared=False)
    def free() -> None:
        pass

    consumer = Consumer.__new__(Consumer)
    consumer.app = app
    from collections import defaultdict
    consumer.task_buckets = defaultdict(lambda: None)
    consumer.reset_rate_limits()
    assert consumer.task_buckets[limited.name].fill_rate == 10
    assert consumer.task_buckets[free.name] is None

"""The task strategy: what happens to a received task message."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Callable, Iterator

from kombu.message import Message

from celery.worker import state
from celery.worker.consumer.tasks import keep_unacked_visible, refresh_unacked
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


# -- a message delivered again while this worker holds it (Redis visibility timeout) -----

def _delivered_again(message: Any, **changes: Any) -> Message:
    """The same delivery restored by the broker: same tag and channel, marked redelivered."""
    return Message(body=message.body, channel=changes.get('channel', message.channel),
                   delivery_tag=changes.get('delivery_tag', message.delivery_tag),
                   content_type=message.content_type,
                   content_encoding=message.content_encoding,
                   headers=dict(message.headers), properties=dict(message.properties),
                   delivery_info=dict(message.delivery_info, redelivered=True))


def test_eta_task_delivered_again_is_not_scheduled_twice(app: Any, make_message: Any,
                                                         caplog: Any) -> None:
    @app.task(shared=False, name='unit.eta_again')
    def eta_again() -> None:
        pass

    consumer = FakeConsumer()
    strategy = Strategy(eta_again, app, consumer)
    # Given an ETA task held on the timer
    message = make_message('unit.eta_again', countdown=60)
    strategy(message, None, None, None)
    [(_, fun, (req,))] = consumer.timer.calls
    # When the broker delivers it again (its visibility timeout passed)
    strategy(_delivered_again(message), None, None, None)
    # Then it is not scheduled a second time, nor is the prefetch raised again
    assert len(consumer.timer.calls) == 1
    assert consumer.qos.increments == 1
    assert 'delivered again' in caplog.text and req.id in caplog.text
    # and the held request runs once when due
    fun(req)
    assert consumer.handled == [req]


def test_reserved_late_ack_task_delivered_again_is_dropped(app: Any,
                                                          make_message: Any) -> None:
    @app.task(shared=False, name='unit.late_again', acks_late=True)
    def late_again() -> None:
        pass

    consumer = FakeConsumer()
    strategy = Strategy(late_again, app, consumer)
    message = make_message('unit.late_again')
    strategy(message, None, None, None)
    [req] = consumer.handled
    strategy(_delivered_again(message), None, None, None)
    assert consumer.handled == [req]
    # once it is settled, a new delivery of that tag is a message to run again
    req.acknowledge()
    state.task_ready(req)
    strategy(_delivered_again(message), None, None, None)
    assert len(consumer.handled) == 2


def test_another_delivery_of_the_same_task_id_is_run(app: Any, make_message: Any) -> None:
    @app.task(shared=False, name='unit.same_id')
    def same_id() -> None:
        pass

    consumer = FakeConsumer()
    strategy = Strategy(same_id, app, consumer)
    message = make_message('unit.same_id', countdown=60)
    strategy(message, None, None, None)
    # another delivery tag, or another channel (a new connection): not the held delivery
    strategy(_delivered_again(message, delivery_tag=message.delivery_tag + 10_000),
             None, None, None)
    strategy(_delivered_again(message, channel=object()), None, None, None)
    assert len(consumer.timer.calls) == 3


# -- keeping held Redis messages visible -----------------------------------------------

class FakeRedisQos:
    """The parts of kombu's Redis QoS that the refresh uses."""

    unacked_index_key = 'unacked_index'

    def __init__(self, delivered: list, dirty: set) -> None:
        self._delivered = dict.fromkeys(delivered)
        self._dirty = dirty
        self.sent: list = []

    @contextmanager
    def pipe_or_acquire(self) -> Iterator[Any]:
        qos = self

        class Pipe:
            def zadd(self, key: str, mapping: dict, **options: Any) -> Pipe:
                qos.sent.append((key, mapping, options))
                return self

            def execute(self) -> None:
                pass
        yield Pipe()


def test_refresh_stamps_the_unacked_deliveries_only() -> None:
    qos = FakeRedisQos(['a', 'b', 'c'], dirty={'b'})
    before = time.time()
    assert refresh_unacked(qos) == 2
    [(key, mapping, options)] = qos.sent
    assert key == 'unacked_index' and sorted(mapping) == ['a', 'c']
    assert all(stamp >= before for stamp in mapping.values())
    assert options == {'xx': True}  # an acked or restored message is not brought back
    assert refresh_unacked(FakeRedisQos([], set())) == 0


def test_refresh_is_set_up_on_redis_only() -> None:
    class Timer:
        def __init__(self) -> None:
            self.calls: list = []

        def call_repeatedly(self, secs: float, fun: Callable, args: tuple = (),
                            **kw: Any) -> str:
            self.calls.append((secs, fun, args))
            return 'tref'

    def consumer(driver_type: str) -> Any:
        channel = SimpleNamespace(qos=FakeRedisQos([], set()), visibility_timeout=2)
        return SimpleNamespace(
            timer=Timer(), task_consumer=SimpleNamespace(channel=channel),
            connection=SimpleNamespace(transport=SimpleNamespace(driver_type=driver_type)))

    redis = consumer('redis')
    assert keep_unacked_visible(redis) == 'tref'
    [(secs, fun, (qos,))] = redis.timer.calls
    assert secs == 0.5 and fun is refresh_unacked
    assert qos is redis.task_consumer.channel.qos
    amqp = consumer('amqp')
    assert keep_unacked_visible(amqp) is None and amqp.timer.calls == []

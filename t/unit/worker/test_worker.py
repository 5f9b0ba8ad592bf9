"""A whole worker in-process on the memory transport: consuming, bad input, ETA, shutdown."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

import pytest

from celery import bootsteps, signals, states
from celery._state import _set_task_join_will_block
from celery.worker import WorkController, state
from t.waiting import wait_for


class Running:
    """A worker started in a thread; ``stop()`` (warm) or ``terminate()`` (cold)."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.ready = threading.Event()
        options.setdefault('pool_cls', 'solo')
        options.setdefault('concurrency', 1)
        self.worker = WorkController(
            app=app, hostname='unit@host', without_mingle=True, without_gossip=True,
            without_heartbeat=True, ready_callback=lambda c: self.ready.set(), **options)
        self.thread = threading.Thread(target=self.worker.start, daemon=True)

    def start(self) -> Running:
        self.thread.start()
        assert self.ready.wait(10), 'worker did not start'
        _set_task_join_will_block(False)
        return self

    def stop(self, how: str = 'should_stop') -> None:
        setattr(state, how, 0)
        self.worker.wakeup()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def worker_app(app: Any) -> Any:
    app.conf.broker_transport_options = {'polling_interval': 0.01}
    app.conf.task_default_queue = f'unit-{id(app)}'
    return app


@pytest.fixture
def start(worker_app: Any) -> Iterator[Callable[..., Running]]:
    running: list = []

    def starter(**options: Any) -> Running:
        r = Running(worker_app, **options).start()
        running.append(r)
        return r

    yield starter
    for r in running:
        if r.thread.is_alive():
            r.stop('should_terminate')
    state.should_stop = state.should_terminate = None


def publish(app: Any, body: Any, headers: dict | None = None, serializer: str = 'json',
            **kwargs: Any) -> None:
    with app.producer_or_acquire() as producer:
        producer.publish(body, routing_key=app.conf.task_default_queue,
                         serializer=serializer, headers=headers or {}, **kwargs)


def test_runs_tasks_and_stores_results(worker_app: Any, start: Any) -> None:
    @worker_app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    start()
    assert add.delay(2, 3).get(timeout=10) == 5
    assert [add.delay(i, i).get(timeout=10) for i in range(5)] == [0, 2, 4, 6, 8]
    assert state.total_count[add.name] == 6


def test_threads_pool_and_task_failures(worker_app: Any, start: Any) -> None:
    @worker_app.task(shared=False)
    def fail() -> None:
        raise ValueError('expected failure')

    start(pool_cls='threads', concurrency=2)
    result = fail.delay()
    with pytest.raises(ValueError):
        result.get(timeout=10)
    assert result.state == states.FAILURE


def test_unknown_invalid_and_forbidden_messages(worker_app: Any, start: Any,
                                                caplog: Any) -> None:
    @worker_app.task(shared=False, name='unit.add')
    def add(x: int, y: int) -> int:
        return x + y

    start()
    publish(worker_app, [[], {}, {}], {'task': 'unit.nope', 'id': 'u1', 'lang': 'py'})
    publish(worker_app, [[1, 2], {}, {}], {'task': 'unit.add', 'id': 'u2', 'lang': 'py'},
            serializer='pickle')
    publish(worker_app, {'no': 'task'})
    publish(worker_app, [[1, 2], {}, {}], {'task': 'unit.add', 'id': 'u3', 'lang': 'py',
                                           'eta': 'garbage'})
    assert add.delay(1, 1).get(timeout=10) == 2
    wait_for(lambda: 'Received invalid task message: invalid ETA' in caplog.text)
    assert "Received unregistered task of type 'unit.nope'" in caplog.text
    assert 'Refusing to deserialize untrusted content of type pickle' in caplog.text
    assert 'Received and deleted unknown message' in caplog.text
    assert worker_app.AsyncResult('u1').state == states.FAILURE


def test_protocol_1_messages_run(worker_app: Any, start: Any) -> None:
    @worker_app.task(shared=False, name='unit.mul')
    def mul(x: int, y: int) -> int:
        return x * y

    start()
    publish(worker_app, {'task': 'unit.mul', 'id': 'p1', 'args': [6, 7], 'kwargs': {}})
    assert worker_app.AsyncResult('p1').get(timeout=10) == 42


def test_eta_tasks_wait_and_raise_the_prefetch_meanwhile(worker_app: Any, start: Any) -> None:
    @worker_app.task(shared=False)
    def when() -> float:
        return time.time()

    running = start()
    sent = time.time()
    result = when.apply_async(countdown=0.5)
    consumer = running.worker.consumer
    wait_for(lambda: consumer.qos.value > consumer.initial_prefetch_count)
    assert result.get(timeout=10) >= sent + 0.5 - 0.01
    wait_for(lambda: consumer.qos.value == consumer.initial_prefetch_count)


def test_rate_limits(worker_app: Any, start: Any) -> None:
    @worker_app.task(shared=False, rate_limit='20/s')
    def stamp() -> float:
        return time.time()

    start()
    times = sorted(r.get(timeout=10) for r in [stamp.delay() for _ in range(5)])
    assert times[-1] - times[0] >= 0.15


def test_revoked_tasks_do_not_run(worker_app: Any, start: Any) -> None:
    ran = []

    @worker_app.task(shared=False)
    def mark() -> None:
        ran.append(1)

    start()
    result = mark.apply_async(countdown=0.3)
    state.revoked.add(result.id)
    wait_for(lambda: result.state == states.REVOKED)
    assert ran == []


def test_task_received_signal_and_custom_steps(worker_app: Any, start: Any) -> None:
    seen = []

    class Step(bootsteps.StartStopStep):
        def start(self, parent: Any) -> None:
            seen.append(('start', type(parent).__name__))

        def stop(self, parent: Any) -> None:
            seen.append(('stop', type(parent).__name__))

    worker_app.steps['worker'].add(Step)

    def received(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
        seen.append(('received', request.name))
    signals.task_received.connect(received)

    @worker_app.task(shared=False, name='unit.one')
    def one() -> int:
        return 1
    try:
        running = start()
        assert one.delay().get(timeout=10) == 1
        running.stop()
    finally:
        signals.task_received.disconnect(received)
    assert ('start', 'WorkController') in seen
    assert ('received', 'unit.one') in seen
    assert ('stop', 'WorkController') in seen


def test_warm_shutdown_finishes_the_running_task(worker_app: Any, start: Any) -> None:
    started = threading.Event()

    @worker_app.task(shared=False)
    def slow() -> str:
        started.set()
        time.sleep(0.3)
        return 'finished'

    running = start(pool_cls='threads', concurrency=1)
    result = slow.delay()
    assert started.wait(10)
    running.stop('should_stop')
    assert result.get(timeout=5) == 'finished'


def test_stats_and_repr(worker_app: Any, start: Any) -> None:
    running = start()
    worker = running.worker
    stats = worker.stats()
    assert stats['pool']['max-concurrency'] == 1
    assert stats['prefetch_count'] == worker.consumer.qos.value
    assert repr(worker) == '<Worker: unit@host (running)>'
    assert str(worker) == 'unit@host'


def test_statedb_keeps_revoked_ids(worker_app: Any, tmp_path: Any) -> None:
    db = str(tmp_path / 'state')
    state.revoked.add('gone-1')
    persistence = state.Persistent(state, db, worker_app.clock)
    persistence.save()
    state.reset_state()
    state.Persistent(state, db, worker_app.clock).close()
    assert 'gone-1' in state.revoked


def test_unknown_queue_is_a_clear_error(worker_app: Any) -> None:
    from celery.exceptions import ImproperlyConfigured
    worker_app.conf.task_create_missing_queues = False
    with pytest.raises(ImproperlyConfigured, match='no-such-queue'):
        WorkController(app=worker_app, queues=['no-such-queue'], pool_cls='solo')


# -- cold shutdown: running tasks are cancelled before the pool kills them ---------------

class FakeRequest:
    """A running request as the cold shutdown sees it; ``cancel`` is recorded."""

    def __init__(self, log: list, name: str, acks_late: bool = True,
                 acknowledged: bool = False, cancel_error: Exception | None = None) -> None:
        self.log = log
        self.name = self.id = name
        self.task = type('Task', (), {'acks_late': acks_late})()
        self.acknowledged = acknowledged
        self.cancel_error = cancel_error

    def cancel(self, pool: Any, signal: Any = None) -> None:
        if self.cancel_error is not None:
            raise self.cancel_error
        self.log.append(('cancel', self.name))


@pytest.fixture
def running_requests() -> Iterator[Callable[..., FakeRequest]]:
    """``make(log, name, ...)`` puts a fake request in ``state.active_requests``."""
    made: list = []

    def make(log: list, name: str, **kwargs: Any) -> FakeRequest:
        request = FakeRequest(log, name, **kwargs)
        made.append(request)
        state.active_requests.add(request)
        return request

    yield make
    for request in made:
        state.active_requests.discard(request)


def test_cold_shutdown_cancels_requests_whose_message_is_not_settled(
        running_requests: Any, caplog: Any) -> None:
    from celery.worker.consumer import Consumer
    log: list = []
    running_requests(log, 'late-unacked')
    running_requests(log, 'early', acks_late=False, acknowledged=True)
    running_requests(log, 'late-acked', acknowledged=True)
    running_requests(log, 'broken', cancel_error=OSError('child gone'))
    consumer = type('C', (), {'pool': object()})()
    assert Consumer.cancel_unacked_requests(consumer) == 2
    # the late-acked task already acked is left to the pool; the others are cancelled
    assert sorted(log) == [('cancel', 'early'), ('cancel', 'late-unacked')]
    assert 'Could not cancel broken[broken] at shutdown' in caplog.text
    assert 'cancelled 2 running task(s)' in caplog.text


def test_cold_shutdown_with_a_pool_that_cannot_cancel(running_requests: Any,
                                                      caplog: Any) -> None:
    from celery.worker.consumer import Consumer
    log: list = []
    running_requests(log, 'a', cancel_error=NotImplementedError())
    running_requests(log, 'b', cancel_error=NotImplementedError())
    consumer = type('C', (), {'pool': object()})()
    assert Consumer.cancel_unacked_requests(consumer) == 0
    assert 'Could not cancel' not in caplog.text


def _recording_pool(log: list) -> type:
    from celery.concurrency.solo import TaskPool

    class RecordingPool(TaskPool):
        def on_terminate(self) -> None:
            log.append(('pool', 'terminate'))
            super().on_terminate()

    return RecordingPool


def test_cold_shutdown_cancels_running_tasks_before_terminating_the_pool(
        worker_app: Any, start: Any, running_requests: Any) -> None:
    log: list = []
    running = start(pool_cls=_recording_pool(log))
    running_requests(log, 'late-unacked')
    running.stop('should_terminate')
    assert log == [('cancel', 'late-unacked'), ('pool', 'terminate')]


def test_warm_shutdown_cut_short_cancels_before_terminating_the_pool(
        worker_app: Any, running_requests: Any) -> None:
    from celery.worker.consumer import Consumer
    log: list = []
    running_requests(log, 'late-unacked')

    class Pool:
        def terminate(self) -> None:
            log.append(('pool', 'terminate'))

    worker = WorkController.__new__(WorkController)
    worker.blueprint = type('Blueprint', (), {'shutdown_complete': threading.Event()})()
    worker.pool = Pool()
    worker.consumer = type('C', (), {'pool': worker.pool, 'shutdown': lambda self: None,
                                     'cancel_unacked_requests':
                                     Consumer.cancel_unacked_requests})()
    worker.hub = worker.timer = worker.pidlock = None
    worker._cut_warm_shutdown_short()
    assert log == [('cancel', 'late-unacked'), ('pool', 'terminate')]
    assert worker.blueprint.shutdown_complete.is_set()

"""An embedded worker for tests: :func:`start_worker`.

``with start_worker(app) as worker:`` runs a worker in a thread of the test
process (solo pool by default, no mingle, gossip or heartbeat), waits until
it consumes, checks it answers ``celery.ping``, and shuts it down (cold) on
exit.  The broker must be reachable from this process (``memory://`` works
for the solo and threads pools).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from celery import worker
from celery._state import _set_task_join_will_block
from celery.contrib.testing import tasks as _ping_tasks  # noqa: F401 - registers celery.ping
from celery.result import allow_join_result
from celery.utils.dispatch import Signal
from celery.utils.nodenames import anon_nodename

__all__ = ('TestWorkController', 'start_worker', 'setup_app_for_worker',
           'test_worker_starting', 'test_worker_started', 'test_worker_stopped')

WORKER_LOGLEVEL = 'ERROR'

test_worker_starting = Signal(name='test_worker_starting', providing_args={})
test_worker_started = Signal(name='test_worker_started',
                             providing_args={'worker', 'consumer'})
test_worker_stopped = Signal(name='test_worker_stopped', providing_args={'worker'})


class TestWorkController(worker.WorkController):
    """A worker whose start-up can be waited for (:meth:`ensure_started`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._on_started = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: Any) -> None:
        """Called when the consumer is fully started."""
        self._on_started.set()
        if test_worker_started.receivers:
            test_worker_started.send(sender=self.app, worker=self, consumer=consumer)

    def ensure_started(self, timeout: float | None = None) -> bool:
        """Wait for the worker to consume (it must run in another thread)."""
        return self._on_started.wait(timeout)


@contextmanager
def start_worker(app: Any, concurrency: int = 1, pool: str = 'solo',
                 loglevel: Any = WORKER_LOGLEVEL, logfile: str | None = None,
                 perform_ping_check: bool = True, ping_task_timeout: float = 10.0,
                 shutdown_timeout: float = 10.0, **kwargs: Any) -> Iterator[Any]:
    """Run an embedded worker for the duration of the block; yield it."""
    if test_worker_starting.receivers:
        test_worker_starting.send(sender=app)
    worker = None
    try:
        with _start_worker_thread(app, concurrency=concurrency, pool=pool,
                                  loglevel=loglevel, logfile=logfile,
                                  perform_ping_check=perform_ping_check,
                                  shutdown_timeout=shutdown_timeout, **kwargs) as worker:
            if perform_ping_check:
                from celery.contrib.testing.tasks import ping
                with allow_join_result():
                    assert ping.delay().get(timeout=ping_task_timeout) == 'pong'
            yield worker
    finally:
        if test_worker_stopped.receivers:
            test_worker_stopped.send(sender=app, worker=worker)


@contextmanager
def _start_worker_thread(app: Any, concurrency: int = 1, pool: str = 'solo',
                         loglevel: Any = WORKER_LOGLEVEL, logfile: str | None = None,
                         WorkController: type = TestWorkController,
                         perform_ping_check: bool = True, shutdown_timeout: float = 10.0,
                         **kwargs: Any) -> Iterator[Any]:
    """Start a worker in a thread; yield it; stop it (cold) afterwards."""
    setup_app_for_worker(app, loglevel, logfile)
    if perform_ping_check:
        assert 'celery.ping' in app.tasks
    with app.connection(hostname=os.environ.get('TEST_BROKER')) as conn:
        conn.default_channel.queue_declare  # noqa: B018 - connects (fails early)

    worker = WorkController(
        app=app, concurrency=concurrency,
        hostname=kwargs.pop('hostname', anon_nodename()),
        pool=pool, loglevel=loglevel, logfile=logfile,
        ready_callback=None,
        without_heartbeat=kwargs.pop('without_heartbeat', True),
        without_mingle=True, without_gossip=True, **kwargs)

    thread = threading.Thread(target=worker.start, daemon=True, name='celery-test-worker')
    thread.start()
    if not worker.ensure_started(timeout=max(shutdown_timeout, 10.0) * 3):
        raise RuntimeError('The embedded worker did not start.')
    _set_task_join_will_block(False)
    try:
        yield worker
    finally:
        from celery.worker import state
        state.should_terminate = 0
        worker.wakeup()
        thread.join(shutdown_timeout)
        if thread.is_alive():
            raise RuntimeError(
                'Worker thread failed to exit within the allocated timeout. '
                'Consider raising `shutdown_timeout` if your tasks take longer to execute.')
        state.should_terminate = None


def setup_app_for_worker(app: Any, loglevel: Any, logfile: str | None) -> None:
    """Prepare ``app`` for an embedded worker: finalized, current, logging set up."""
    app.finalize()
    app.set_current()
    app.set_default()
    type(app.log)._setup = False
    app.log.setup(loglevel=loglevel, logfile=logfile)


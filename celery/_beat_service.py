"""The beat service: run a scheduler's tick loop, alone or in a worker.

Public through :mod:`celery.beat` (``Service``, ``EmbeddedService``); kept
apart to keep that module small.  :class:`Service` runs in the thread that
calls :meth:`Service.start`; :func:`EmbeddedService` gives ``worker -B``
a thread or a child process that runs one.
"""
from __future__ import annotations

import signal
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from kombu.utils.imports import symbol_by_name

from celery.utils.log import get_logger
from celery.utils.time import humanize_seconds

if TYPE_CHECKING:  # pragma: no cover
    from celery.beat import Scheduler

__all__ = ('Service', 'EmbeddedService')

logger = get_logger('celery.beat')
debug, info = logger.debug, logger.info


class Service:
    """Run a scheduler's tick loop until stopped (the ``celery beat`` core).

    :meth:`start` blocks; :meth:`stop` may be called from another thread
    or a signal handler and ends the loop without waiting out a sleep.
    """

    #: The scheduler class, or a 'module:Name' string; None means
    #: :class:`celery.beat.PersistentScheduler`.
    scheduler_cls: Any = None

    def __init__(self, app: Any, max_interval: float | None = None,
                 schedule_filename: str | None = None,
                 scheduler_cls: Any = None) -> None:
        self.app = app
        self.max_interval = max_interval or app.conf.beat_max_loop_interval
        self.scheduler_cls = scheduler_cls or self.scheduler_cls
        if self.scheduler_cls is None:
            from celery.beat import PersistentScheduler
            self.scheduler_cls = PersistentScheduler
        self.schedule_filename = (schedule_filename
                                  or app.conf.beat_schedule_filename)
        self._is_shutdown = threading.Event()
        self._is_stopped = threading.Event()

    def __reduce__(self) -> tuple:
        return self.__class__, (self.app, self.max_interval,
                                self.schedule_filename, self.scheduler_cls)

    def start(self, embedded_process: bool = False) -> None:
        """Tick until :meth:`stop`; the schedule is synced on the way out."""
        from celery import signals
        info('beat: Starting...')
        scheduler = self.scheduler
        debug('beat: Ticking with max interval->%s',
              humanize_seconds(scheduler.max_interval))
        signals.beat_init.send(sender=self)
        if embedded_process:
            signals.beat_embedded_init.send(sender=self)
            from celery.platforms import set_process_title
            set_process_title('celery beat')
        try:
            while not self._is_shutdown.is_set():
                interval = scheduler.tick()
                if interval and interval > 0.0:
                    debug('beat: Waking up %s.',
                          humanize_seconds(interval, prefix='in '))
                    self._is_shutdown.wait(interval)
                    if scheduler.should_sync():
                        scheduler._do_sync()
        except (KeyboardInterrupt, SystemExit):
            self._is_shutdown.set()
        finally:
            self.sync()

    def sync(self) -> None:
        try:
            self.scheduler.close()
        finally:
            self._is_stopped.set()

    def stop(self, wait: bool = False) -> None:
        info('beat: Shutting down...')
        self._is_shutdown.set()
        if wait:
            self._is_stopped.wait()

    def get_scheduler(self, lazy: bool = False,
                      extension_namespace: str = 'celery.beat_schedulers'
                      ) -> Scheduler:
        """Build the scheduler; *scheduler_cls* may be a 'module:Name'."""
        from celery.utils.imports import load_extension_class_names
        aliases = dict(load_extension_class_names(extension_namespace))
        cls = symbol_by_name(self.scheduler_cls, aliases=aliases)
        return cls(app=self.app, schedule_filename=self.schedule_filename,
                   max_interval=self.max_interval, lazy=lazy)

    @cached_property
    def scheduler(self) -> Scheduler:
        return self.get_scheduler()


class _Threaded(threading.Thread):
    """Beat in a daemon thread of the worker process."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(name='Beat', daemon=True)
        self.app = app
        self.service = Service(app, **kwargs)

    def run(self) -> None:
        self.app.set_current()
        self.service.start()

    def stop(self) -> None:
        self.service.stop(wait=True)


def _process_class() -> type | None:
    try:
        from billiard.context import Process
    except ImportError:  # pragma: no cover - billiard is a dependency
        return None

    class _Process(Process):
        """Beat in a child process of the worker."""

        def __init__(self, app: Any, **kwargs: Any) -> None:
            super().__init__()
            self.app = app
            self.service = Service(app, **kwargs)
            self.name = 'Beat'

        def run(self) -> None:
            from billiard.common import reset_signals
            reset_signals(full=False)
            # The parent stops us with SIGTERM: leave through the finally
            # clause of Service.start, so the schedule is saved.
            signal.signal(signal.SIGTERM, _raise_system_exit)
            self.app.set_default()
            self.app.set_current()
            self.service.start(embedded_process=True)

        def stop(self) -> None:
            self.service.stop()
            self.terminate()

    _Process.__module__ = 'celery.beat'
    return _Process


def _raise_system_exit(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def EmbeddedService(app: Any, max_interval: float | None = None,
                    **kwargs: Any) -> Any:
    """Return beat to run inside a worker (``worker -B``).

    A child process by default; a thread with ``thread=True``.  The result
    has ``start()`` and ``stop()``.
    """
    Process = None if kwargs.pop('thread', False) else _process_class()
    if Process is None:
        return _Threaded(app, max_interval=max_interval, **kwargs)
    return Process(app, max_interval=max_interval, **kwargs)


Service.__module__ = _Threaded.__module__ = 'celery.beat'
EmbeddedService.__module__ = 'celery.beat'

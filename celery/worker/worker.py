"""The worker: :class:`WorkController`, a blueprint of steps.

The worker blueprint starts the timer, the event loop, the pool, beat
(``-B``), the state database and last the consumer, which runs the event
loop until shutdown.  :class:`~celery.apps.worker.Worker` (``celery
worker``) adds the banner, logging and signal handlers; embed a worker in
your own program with :class:`WorkController` directly (or
:func:`celery.contrib.testing.worker.start_worker`).

Warm shutdown (:meth:`WorkController.stop`): stop consuming, let the pool
finish what it has, close the connection (unacked messages go back to the
broker).  Cold shutdown (:meth:`WorkController.terminate`): cancel the
running tasks (their unacknowledged messages go back to the broker when the
connection closes) and kill the pool now.
"""
from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from typing import Any

from billiard import cpu_count
from kombu.utils.compat import detect_environment

from celery import bootsteps, signals
from celery import concurrency as _concurrency
from celery.bootsteps import RUN, TERMINATE
from celery.exceptions import (ImproperlyConfigured, TaskRevokedError,
                               WorkerTerminate)
from celery.platforms import EX_FAILURE, create_pidlock
from celery.utils.imports import reload_from_cwd
from celery.utils.log import mlevel
from celery.utils.log import worker_logger as logger
from celery.utils.nodenames import default_nodename, worker_direct
from celery.utils.text import str_to_list
from celery.utils.threads import default_socket_timeout
from celery.worker import autoscale, components, state

__all__ = ('WorkController',)

#: Default socket timeout at shutdown.
SHUTDOWN_SOCKET_TIMEOUT = 5.0

SELECT_UNKNOWN_QUEUE = """
Trying to select queue subset of {0!r}, but queue {1} isn't
defined in the `task_queues` setting.

If you want to automatically declare unknown queues you can
enable the `task_create_missing_queues` setting.
"""

DESELECT_UNKNOWN_QUEUE = """
Trying to deselect queue subset of {0!r}, but queue {1} isn't
defined in the `task_queues` setting.
"""


class WorkController:
    """An embeddable worker: consume tasks of ``app`` and run them in a pool.

    Keyword arguments are the options of ``celery worker`` (``concurrency``,
    ``pool_cls``, ``queues``, ``loglevel``, ``task_events``, ...); settings
    supply the defaults.
    """

    app: Any = None
    pidlock: Any = None
    blueprint: bootsteps.Blueprint | None = None
    semaphore: Any = None
    #: The exit code of a requested shutdown.
    exitcode: int | None = None

    # Filled in by the steps:
    timer: Any = None
    hub: Any = None
    pool: Any = None
    beat: Any = None
    consumer: Any = None
    autoscaler: Any = None
    _persistence: Any = None

    class Blueprint(bootsteps.Blueprint):
        """The worker's steps."""

        name = 'Worker'
        default_steps = (components.Hub, components.Pool, components.Beat,
                         components.Timer, components.StateDB, components.Consumer,
                         autoscale.WorkerComponent)

    def __init__(self, app: Any = None, hostname: str | None = None, **kwargs: Any) -> None:
        self.app = app or self.app
        self.hostname = default_nodename(hostname)
        self.startup_time = datetime.now(timezone.utc)
        self.app.loader.init_worker()
        self.on_before_init(**kwargs)
        self.setup_defaults(**kwargs)
        self.on_after_init(**kwargs)
        self.setup_instance(**self.prepare_args(**kwargs))

    def setup_instance(self, queues: Any = None, ready_callback: Any = None,
                       pidfile: str | None = None, include: Any = None,
                       use_eventloop: bool | None = None, exclude_queues: Any = None,
                       **kwargs: Any) -> None:
        self.pidfile = pidfile
        self.setup_queues(queues, exclude_queues)
        self.setup_includes(str_to_list(include))
        if not self.concurrency:
            try:
                self.concurrency = cpu_count()
            except NotImplementedError:
                self.concurrency = 2
        self.loglevel = mlevel(self.loglevel)
        self.ready_callback = ready_callback or self.on_consumer_ready
        # only for its parameters: never connects
        self._conninfo = self.app.connection_for_read()
        self.use_eventloop = (self.should_use_eventloop() if use_eventloop is None
                              else use_eventloop)
        self.options = kwargs
        if signals.worker_init.receivers:
            signals.worker_init.send(sender=self)
        self.pool_cls = _concurrency.get_implementation(self.pool_cls)
        self.steps: list = []
        self.on_init_blueprint()
        self.blueprint = self.Blueprint(
            steps=self.app.steps['worker'],
            on_start=self.on_start,
            on_close=self.on_close,
            on_stopped=self.on_stopped,
        )
        self.blueprint.apply(self, **kwargs)

    # -- hooks for subclasses --------------------------------------------------------------

    def on_init_blueprint(self) -> None:
        pass

    def on_before_init(self, **kwargs: Any) -> None:
        pass

    def on_after_init(self, **kwargs: Any) -> None:
        pass

    def on_start(self) -> None:
        if self.pidfile:
            self.pidlock = create_pidlock(self.pidfile)

    def on_consumer_ready(self, consumer: Any) -> None:
        pass

    def on_close(self) -> None:
        self.app.loader.shutdown_worker()

    def on_stopped(self) -> None:
        if self.timer is not None:
            self.timer.stop()
        if self.consumer is not None:
            self.consumer.shutdown()
        if self.pidlock:
            self.pidlock.release()

    # -- set-up ----------------------------------------------------------------------------

    def setup_queues(self, include: Any, exclude: Any = None) -> None:
        include = str_to_list(include)
        exclude = str_to_list(exclude)
        try:
            self.app.amqp.queues.select(include)
        except KeyError as exc:
            raise ImproperlyConfigured(SELECT_UNKNOWN_QUEUE.strip().format(include, exc))
        try:
            self.app.amqp.queues.deselect(exclude)
        except KeyError as exc:
            raise ImproperlyConfigured(DESELECT_UNKNOWN_QUEUE.strip().format(exclude, exc))
        if self.app.conf.worker_direct:
            self.app.amqp.queues.select_add(worker_direct(self.hostname))

    def setup_includes(self, includes: list) -> None:
        # every task module goes in `include`, so a re-exec imports them all
        prev = tuple(self.app.conf.include or ())
        if includes:
            prev += tuple(includes)
            for module in includes:
                self.app.loader.import_task_module(module)
        self.include = includes
        task_modules = {task.__class__.__module__ for task in self.app.tasks.values()}
        self.app.conf.include = tuple(set(prev) | task_modules)

    def prepare_args(self, **kwargs: Any) -> dict:
        return kwargs

    def setup_defaults(self, concurrency: int | None = None, loglevel: Any = 'WARN',
                       logfile: str | None = None, task_events: bool | None = None,
                       pool: Any = None, consumer_cls: Any = None, timer_cls: Any = None,
                       timer_precision: float | None = None, autoscaler_cls: Any = None,
                       pool_putlocks: bool | None = None, pool_restarts: bool | None = None,
                       optimization: str | None = None, O: str | None = None,
                       statedb: str | None = None, time_limit: float | None = None,
                       soft_time_limit: float | None = None, scheduler: Any = None,
                       pool_cls: Any = None, state_db: str | None = None,
                       task_time_limit: float | None = None,
                       task_soft_time_limit: float | None = None, scheduler_cls: Any = None,
                       schedule_filename: str | None = None,
                       max_tasks_per_child: int | None = None,
                       prefetch_multiplier: int | None = None,
                       disable_rate_limits: bool | None = None,
                       disable_prefetch: bool | None = None,
                       worker_lost_wait: float | None = None,
                       max_memory_per_child: int | None = None, **_kw: Any) -> None:
        either = self.app.either
        self.loglevel = loglevel
        self.logfile = logfile
        self.concurrency = either('worker_concurrency', concurrency)
        self.task_events = either('worker_send_task_events', task_events)
        self.pool_cls = either('worker_pool', pool, pool_cls)
        self.consumer_cls = either('worker_consumer', consumer_cls)
        self.timer_cls = either('worker_timer', timer_cls)
        self.timer_precision = either('worker_timer_precision', timer_precision)
        self.optimization = optimization or O
        self.autoscaler_cls = either('worker_autoscaler', autoscaler_cls)
        self.pool_putlocks = either('worker_pool_putlocks', pool_putlocks)
        self.pool_restarts = either('worker_pool_restarts', pool_restarts)
        self.statedb = either('worker_state_db', statedb, state_db)
        self.schedule_filename = either('beat_schedule_filename', schedule_filename)
        self.scheduler = either('beat_scheduler', scheduler, scheduler_cls)
        self.time_limit = either('task_time_limit', time_limit, task_time_limit)
        self.soft_time_limit = either('task_soft_time_limit', soft_time_limit,
                                      task_soft_time_limit)
        self.max_tasks_per_child = either('worker_max_tasks_per_child', max_tasks_per_child)
        self.max_memory_per_child = either('worker_max_memory_per_child', max_memory_per_child)
        self.prefetch_multiplier = int(either('worker_prefetch_multiplier', prefetch_multiplier))
        self.disable_rate_limits = either('worker_disable_rate_limits', disable_rate_limits)
        self.disable_prefetch = either('worker_disable_prefetch', disable_prefetch)
        self.worker_lost_wait = either('worker_lost_wait', worker_lost_wait)

    def should_use_eventloop(self) -> bool:
        """The worker always runs on an event loop (polling transports included)."""
        return detect_environment() == 'default'

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run until shut down (blocks)."""
        try:
            self.blueprint.start(self)
        except WorkerTerminate:
            self.terminate()
        except Exception as exc:
            logger.critical('Unrecoverable error: %r', exc, exc_info=True)
            self.stop(exitcode=EX_FAILURE)
        except SystemExit as exc:
            self.stop(exitcode=exc.code)
        except KeyboardInterrupt:
            self.stop(exitcode=EX_FAILURE)

    def register_with_event_loop(self, hub: Any) -> None:
        self.blueprint.send_all(self, 'register_with_event_loop', args=(hub,),
                                description='hub.register')

    def _process_task(self, req: Any) -> None:
        """Send a request to the pool (``consumer.on_task_request``)."""
        try:
            req.execute_using_pool(self.pool)
        except TaskRevokedError:
            pass

    process_task = _process_task

    def signal_consumer_close(self) -> None:
        try:
            self.consumer.close()
        except AttributeError:
            pass

    def wakeup(self) -> None:
        """Make the event loop run now (safe in signal handlers)."""
        consumer = self.consumer
        wakeup = getattr(consumer, 'wakeup', None) if consumer is not None else None
        if wakeup is not None:
            wakeup.wake()

    def stop(self, in_sighandler: bool = False, exitcode: int | None = None) -> None:
        """Warm shutdown: finish the running tasks, then exit."""
        if exitcode is not None:
            self.exitcode = exitcode
        if self.blueprint.state == RUN:
            self.signal_consumer_close()
            if not in_sighandler or self.pool.signal_safe:
                try:
                    self._shutdown(warm=True)
                except WorkerTerminate:  # cold shutdown asked for meanwhile
                    self._cut_warm_shutdown_short()
        self._send_worker_shutdown()

    def _cut_warm_shutdown_short(self) -> None:
        """Finish an interrupted warm shutdown the cold way: kill the pool."""
        logger.warning('Cold shutdown: terminating the running tasks.')
        self._cancel_unacked_requests()
        if self.pool is not None:
            self.pool.terminate()
        if self.hub is not None:
            self.hub.close()
        self.on_stopped()
        self.blueprint.state = TERMINATE
        self.blueprint.shutdown_complete.set()

    def _cancel_unacked_requests(self) -> None:
        """Cancel the running tasks before the pool kills them (messages go back)."""
        cancel = getattr(self.consumer, 'cancel_unacked_requests', None)
        if cancel is not None:
            cancel()

    def terminate(self, in_sighandler: bool = False) -> None:
        """Cold shutdown: kill the running tasks and exit."""
        if self.blueprint.state != TERMINATE:
            self.signal_consumer_close()
            if not in_sighandler or self.pool.signal_safe:
                self._shutdown(warm=False)

    def _shutdown(self, warm: bool = True) -> None:
        if self.blueprint is not None:
            with default_socket_timeout(SHUTDOWN_SOCKET_TIMEOUT):
                self.blueprint.stop(self, terminate=not warm)
                self.blueprint.join()

    def _send_worker_shutdown(self) -> None:
        if signals.worker_shutdown.receivers:
            signals.worker_shutdown.send(sender=self)

    def reload(self, modules: Any = None, reload: bool = False, reloader: Any = None) -> None:
        """Import (or re-import) task modules, then rebuild the strategies."""
        list(self._reload_modules(modules, force_reload=reload, reloader=reloader))
        if self.consumer:
            self.consumer.update_strategies()
            self.consumer.reset_rate_limits()
        try:
            self.pool.restart()
        except NotImplementedError:
            pass

    def _reload_modules(self, modules: Any, force_reload: bool = False,
                        reloader: Any = None) -> Any:
        for module in set(modules or ()):
            if module not in sys.modules:
                yield self.app.loader.import_from_cwd(module)
            elif force_reload:
                yield reload_from_cwd(sys.modules[module], reloader)

    # -- describing --------------------------------------------------------------------------

    def info(self) -> dict:
        uptime = datetime.now(timezone.utc) - self.startup_time
        return {'total': dict(self.state.total_count),
                'pid': os.getpid(),
                'clock': str(self.app.clock),
                'uptime': round(uptime.total_seconds())}

    def rusage(self) -> dict:
        try:
            import resource
        except ImportError:  # pragma: no cover
            return {}
        s = resource.getrusage(resource.RUSAGE_SELF)
        return {
            'utime': s.ru_utime, 'stime': s.ru_stime, 'maxrss': s.ru_maxrss,
            'ixrss': s.ru_ixrss, 'idrss': s.ru_idrss, 'isrss': s.ru_isrss,
            'minflt': s.ru_minflt, 'majflt': s.ru_majflt, 'nswap': s.ru_nswap,
            'inblock': s.ru_inblock, 'oublock': s.ru_oublock, 'msgsnd': s.ru_msgsnd,
            'msgrcv': s.ru_msgrcv, 'nsignals': s.ru_nsignals, 'nvcsw': s.ru_nvcsw,
            'nivcsw': s.ru_nivcsw,
        }

    def stats(self) -> dict:
        info = self.info()
        info.update(self.blueprint.info(self))
        if self.consumer is not None:
            info.update(self.consumer.blueprint.info(self.consumer))
        info['rusage'] = self.rusage()
        return info

    @property
    def state(self) -> Any:
        return state

    def __repr__(self) -> str:
        st = self.blueprint.human_state() if self.blueprint else 'INIT'
        return f'<Worker: {self.hostname} ({st})>'

    def __str__(self) -> str:
        return self.hostname

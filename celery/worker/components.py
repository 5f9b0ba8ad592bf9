"""The steps of the worker blueprint: timer, event loop, pool, beat, state db, consumer.

Each step creates one part of the :class:`~celery.worker.WorkController`
(``w.timer``, ``w.hub``, ``w.pool``, ``w.beat``, ``w._persistence``,
``w.consumer``); the controller declares those attributes.
"""
from __future__ import annotations

import atexit
from typing import Any

from kombu.asynchronous import Hub as _Hub
from kombu.asynchronous import get_event_loop, set_event_loop
from kombu.asynchronous.timer import Timer as _Timer

from celery import bootsteps
from celery._state import _set_task_join_will_block
from celery.exceptions import ImproperlyConfigured
from celery.platforms import IS_WINDOWS
from celery.utils.log import get_logger

__all__ = ('Timer', 'Hub', 'Pool', 'Beat', 'StateDB', 'Consumer')

logger = get_logger(__name__)

ERR_B_GREEN = """\
-B option doesn't work with eventlet/gevent pools: \
use standalone beat instead.\
"""

W_POOL_SETTING = """
The worker_pool setting shouldn't be used to select the eventlet/gevent
pools, instead you *must use the -P* argument so that patches are applied
as early as possible.
"""


class Timer(bootsteps.Step):
    """The timer of the event loop (ETA tasks, heartbeats, rate limits)."""

    def create(self, w: Any) -> None:
        w.timer = _Timer(max_interval=10.0, on_error=self.on_timer_error)

    def on_timer_error(self, exc: BaseException) -> bool:
        logger.error('Timer error: %r', exc, exc_info=True)
        return True

    def on_timer_tick(self, delay: float) -> None:
        logger.debug('Timer wake-up! Next ETA %s secs.', delay)


class Hub(bootsteps.StartStopStep):
    """The event loop (a kombu :class:`~kombu.asynchronous.Hub`) of this worker."""

    requires = (Timer,)

    def __init__(self, w: Any, **kwargs: Any) -> None:
        w.hub = None
        super().__init__(w, **kwargs)

    def include_if(self, w: Any) -> bool:
        return w.use_eventloop

    def create(self, w: Any) -> Hub:
        required_hub = getattr(w._conninfo, 'requires_hub', None)
        w.hub = (required_hub or _Hub)(w.timer)
        if get_event_loop() is None:
            set_event_loop(w.hub)
        return self

    def start(self, w: Any) -> None:
        pass

    def stop(self, w: Any) -> None:
        w.hub.close()

    def terminate(self, w: Any) -> None:
        w.hub.close()


class Pool(bootsteps.StartStopStep):
    """The execution pool (``w.pool``), of ``concurrency`` processes/threads.

    ``autoscale`` (``'max,min'``) starts ``min`` processes and lets the
    autoscaler grow to ``max``.
    """

    requires = (Hub,)

    def __init__(self, w: Any, autoscale: Any = None, **kwargs: Any) -> None:
        w.pool = None
        w.max_concurrency = None
        w.min_concurrency = w.concurrency
        self.optimization = w.optimization
        if isinstance(autoscale, str):
            max_c, _, min_c = autoscale.partition(',')
            autoscale = [int(max_c), int(min_c) if min_c else 0]
        w.autoscale = autoscale
        if w.autoscale:
            w.max_concurrency, w.min_concurrency = w.autoscale
        super().__init__(w, **kwargs)

    def close(self, w: Any) -> None:
        if w.pool:
            w.pool.close()

    def terminate(self, w: Any) -> None:
        if w.pool:
            w.pool.terminate()

    def create(self, w: Any) -> Any:
        pool_name = w.app.conf.worker_pool
        if isinstance(pool_name, str) and pool_name in ('eventlet', 'gevent'):
            import warnings
            warnings.warn(UserWarning(W_POOL_SETTING))
        w.process_task = w._process_task
        pool = w.pool = self.instantiate(
            w.pool_cls, w.min_concurrency,
            initargs=(w.app, w.hostname),
            maxtasksperchild=w.max_tasks_per_child,
            max_memory_per_child=w.max_memory_per_child,
            timeout=w.time_limit,
            soft_timeout=w.soft_time_limit,
            putlocks=False,
            lost_worker_timeout=w.worker_lost_wait,
            max_restarts=100 if w.use_eventloop and not IS_WINDOWS else None,
            allow_restart=w.pool_restarts,
            forking_enable=True,
            sched_strategy=self.optimization,
            app=w.app,
        )
        _set_task_join_will_block(pool.task_join_will_block)
        return pool

    def info(self, w: Any) -> dict:
        return {'pool': w.pool.info if w.pool else 'N/A'}

    def register_with_event_loop(self, w: Any, hub: Any) -> None:
        w.pool.register_with_event_loop(hub)


class Beat(bootsteps.StartStopStep):
    """``celery worker -B``: run beat inside the worker."""

    label = 'Beat'
    conditional = True

    def __init__(self, w: Any, beat: bool = False, **kwargs: Any) -> None:
        self.enabled = w.beat = beat
        w.beat = None
        super().__init__(w, beat=beat, **kwargs)

    def create(self, w: Any) -> Any:
        from celery.beat import EmbeddedService
        if w.pool_cls.__module__.endswith(('gevent', 'eventlet')):
            raise ImproperlyConfigured(ERR_B_GREEN)
        b = w.beat = EmbeddedService(w.app, schedule_filename=w.schedule_filename,
                                     scheduler_cls=w.scheduler)
        return b


class StateDB(bootsteps.Step):
    """``--statedb``: keep revoked ids (and the clock) across restarts."""

    def __init__(self, w: Any, **kwargs: Any) -> None:
        self.enabled = bool(w.statedb)
        w._persistence = None
        super().__init__(w, **kwargs)

    def create(self, w: Any) -> None:
        w._persistence = w.state.Persistent(w.state, w.statedb, w.app.clock)
        atexit.register(w._persistence.save)


class Consumer(bootsteps.StartStopStep):
    """The consumer (``w.consumer``): started last, runs until shutdown."""

    last = True

    def create(self, w: Any) -> Any:
        if w.max_concurrency:
            prefetch_count = max(w.max_concurrency, 1) * w.prefetch_multiplier
        else:
            prefetch_count = w.concurrency * w.prefetch_multiplier
        c = w.consumer = self.instantiate(
            w.consumer_cls, w.process_task,
            hostname=w.hostname,
            task_events=w.task_events,
            init_callback=w.ready_callback,
            initial_prefetch_count=prefetch_count,
            pool=w.pool,
            timer=w.timer,
            app=w.app,
            controller=w,
            hub=w.hub,
            worker_options=w.options,
            disable_rate_limits=w.disable_rate_limits,
            prefetch_multiplier=w.prefetch_multiplier,
        )
        return c

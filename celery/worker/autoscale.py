"""Autoscaling: grow the pool when tasks wait, shrink it when idle (``--autoscale``).

The :class:`Autoscaler` checks every second (on the event loop's timer)
how many requests the worker holds, adding processes up to
``max_concurrency`` at once and removing idle ones (one per check, after
``keepalive`` seconds) down to ``min_concurrency``.
"""
from __future__ import annotations

import os
import threading
from time import monotonic, sleep
from typing import Any

from celery import bootsteps
from celery.utils.log import get_logger
from celery.utils.threads import bgThread
from celery.worker.components import Pool
from celery.worker import state

__all__ = ('Autoscaler', 'WorkerComponent')

logger = get_logger(__name__)
debug, info, error = logger.debug, logger.info, logger.error

AUTOSCALE_KEEPALIVE = float(os.environ.get('AUTOSCALE_KEEPALIVE', 30))


class WorkerComponent(bootsteps.StartStopStep):
    """Worker step creating the autoscaler when ``--autoscale`` is given."""

    label = 'Autoscaler'
    conditional = True

    requires = (Pool,)

    def __init__(self, w: Any, **kwargs: Any) -> None:
        self.enabled = bool(w.autoscale)
        w.autoscaler = None
        super().__init__(w, **kwargs)

    def create(self, w: Any) -> Any:
        scaler = w.autoscaler = self.instantiate(
            w.autoscaler_cls, w.pool, w.max_concurrency, w.min_concurrency,
            worker=w, mutex=threading.Lock())
        return scaler if not w.use_eventloop else None

    def register_with_event_loop(self, w: Any, hub: Any) -> None:
        w.consumer.on_task_message.add(w.autoscaler.maybe_scale)
        hub.call_repeatedly(w.autoscaler.keepalive, w.autoscaler.maybe_scale)

    def info(self, w: Any) -> dict:
        """Return `Autoscaler` info."""
        return {'autoscaler': w.autoscaler.info()}


class Autoscaler(bgThread):
    """Grow and shrink the pool between ``min_concurrency`` and ``max_concurrency``."""

    def __init__(self, pool: Any, max_concurrency: int, min_concurrency: int = 0,
                 worker: Any = None, keepalive: float = AUTOSCALE_KEEPALIVE,
                 mutex: Any = None) -> None:
        super().__init__()
        self.pool = pool
        self.mutex = mutex or threading.Lock()
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self.keepalive = keepalive
        self._last_scale_up: float | None = None
        self.worker = worker
        assert self.keepalive, 'cannot scale down too fast.'

    def body(self) -> None:
        with self.mutex:
            self.maybe_scale()
        sleep(1.0)

    def _maybe_scale(self, req: Any = None) -> bool | None:
        procs = self.processes
        cur = min(self.qty, self.max_concurrency)
        if cur > procs:
            self.scale_up(cur - procs)
            return True
        cur = max(self.qty, self.min_concurrency)
        if cur < procs:
            self.scale_down(procs - cur)
            return True
        return None

    def maybe_scale(self, req: Any = None) -> None:
        if self._maybe_scale(req):
            self.pool.maintain_pool()

    def update(self, max: int | None = None, min: int | None = None) -> tuple:
        with self.mutex:
            if max is not None:
                if max < self.processes:
                    self._shrink(self.processes - max)
                self._update_consumer_prefetch_count(max)
                self.max_concurrency = max
            if min is not None:
                if min > self.processes:
                    self._grow(min - self.processes)
                self.min_concurrency = min
            return self.max_concurrency, self.min_concurrency

    def scale_up(self, n: int) -> None:
        self._last_scale_up = monotonic()
        return self._grow(n)

    def scale_down(self, n: int) -> None:
        if self._last_scale_up and (monotonic() - self._last_scale_up > self.keepalive):
            return self._shrink(n)
        return None

    def _grow(self, n: int) -> None:
        info('Scaling up %s processes.', n)
        self.pool.grow(n)

    def _shrink(self, n: int) -> None:
        info('Scaling down %s processes.', n)
        try:
            self.pool.shrink(n)
        except ValueError:
            debug("Autoscaler won't scale down: all processes busy.")
        except Exception as exc:
            error('Autoscaler: scale_down: %r', exc, exc_info=True)

    def _update_consumer_prefetch_count(self, new_max: int) -> None:
        diff = new_max - self.max_concurrency
        if diff and self.worker is not None and self.worker.consumer is not None:
            qos = self.worker.consumer.qos
            if diff > 0:
                qos.increment_eventually(diff * self.worker.consumer.prefetch_multiplier)
            else:
                qos.decrement_eventually(-diff * self.worker.consumer.prefetch_multiplier)

    def info(self) -> dict:
        return {
            'max': self.max_concurrency,
            'min': self.min_concurrency,
            'current': self.processes,
            'qty': self.qty,
        }

    @property
    def qty(self) -> int:
        return len(state.reserved_requests)

    @property
    def processes(self) -> int:
        return self.pool.num_processes

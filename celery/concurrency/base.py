"""The pool interface every execution pool implements.

A pool runs ``target(*args, **kwargs)`` somewhere (a child process, a
thread, inline) and reports back through callbacks: ``accept_callback(pid,
time_accepted)`` when execution starts, ``callback(retval)`` with the
result, ``error_callback(exc_info)`` when the pool itself failed the job and
``timeout_callback(soft, timeout)`` at a time limit.

Callbacks always run in the thread of the worker's event loop: a pool whose
jobs finish elsewhere hands them over with :meth:`BasePool.post`.
"""
from __future__ import annotations

import os
import time
from threading import get_ident
from typing import Any, Callable

from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError

from celery.exceptions import WorkerShutdown, WorkerTerminate, reraise
from celery.utils.log import get_logger

__all__ = ('BasePool', 'apply_target')

logger = get_logger('celery.pool')


def apply_target(target: Callable, args: tuple = (), kwargs: dict | None = None,
                 callback: Callable | None = None,
                 accept_callback: Callable | None = None,
                 pid: int | None = None, getpid: Callable[[], int] = os.getpid,
                 propagate: tuple = (), monotonic: Callable[[], float] = time.monotonic,
                 **_: Any) -> None:
    """Run ``target`` here and now, calling the pool callbacks around it."""
    if accept_callback:
        accept_callback(pid or getpid(), monotonic())
    try:
        ret = target(*args, **(kwargs or {}))
    except propagate:
        raise
    except Exception:
        raise
    except (WorkerShutdown, WorkerTerminate):
        raise
    except BaseException as exc:  # SystemExit, KeyboardInterrupt from the task
        try:
            reraise(WorkerLostError, WorkerLostError(repr(exc)), exc.__traceback__)
        except WorkerLostError:
            if callback:
                callback(ExceptionInfo())
    else:
        if callback:
            callback(ret)


class BasePool:
    """Base class of execution pools; subclasses override the ``on_*`` hooks."""

    RUN = 0x1
    CLOSE = 0x2
    TERMINATE = 0x3

    #: True if the pool's methods may be called from a signal handler.
    signal_safe = True
    #: True for eventlet/gevent pools.
    is_green = False
    #: True if only a limited number of jobs is accepted at a time.
    uses_semaphore = False
    #: True if waiting for a result in a task would block the pool.
    task_join_will_block = True
    #: True if the pool accepts a memoryview as the message body.
    body_can_be_buffer = False
    #: True if tasks run in other processes (set up by the pool for the app).
    in_child_process = False

    _state: int | None = None
    _pool: Any = None
    _loop: Any = None
    _loop_ident: int | None = None

    def __init__(self, limit: int | None = None, putlocks: bool = True,
                 forking_enable: bool = True, callbacks_propagate: tuple = (),
                 app: Any = None, **options: Any) -> None:
        self.limit = limit
        self.putlocks = putlocks
        self.options = options
        self.forking_enable = forking_enable
        self.callbacks_propagate = callbacks_propagate
        self.app = app

    # -- hooks -------------------------------------------------------------

    def on_start(self) -> None:
        pass

    def did_start_ok(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def on_stop(self) -> None:
        pass

    def on_terminate(self) -> None:
        pass

    def on_close(self) -> None:
        pass

    def on_soft_timeout(self, job: Any) -> None:
        pass

    def on_hard_timeout(self, job: Any) -> None:
        pass

    def on_apply(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError('subclass responsibility')

    def maintain_pool(self, *args: Any, **kwargs: Any) -> None:
        pass

    def starts_now(self) -> bool:
        """Return true if a job applied now would start at once (a process is idle)."""
        return False

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        raise NotImplementedError(f'{type(self)} does not implement kill_job')

    def restart(self) -> None:
        raise NotImplementedError(f'{type(self)} does not implement restart')

    def grow(self, n: int = 1) -> None:
        raise NotImplementedError(f'{type(self)} cannot grow')

    def shrink(self, n: int = 1) -> None:
        raise NotImplementedError(f'{type(self)} cannot shrink')

    # -- event loop ----------------------------------------------------------

    def register_with_event_loop(self, loop: Any) -> None:
        """Attach the pool to the worker's event loop (a kombu ``Hub``)."""
        self._loop = loop
        self._loop_ident = get_ident()

    def post(self, fun: Callable, *args: Any) -> None:
        """Run ``fun(*args)`` in the event loop's thread (now, if already there)."""
        loop = self._loop
        if loop is None or get_ident() == self._loop_ident:
            fun(*args)
        else:
            loop.call_soon(fun, *args)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self._does_debug = logger.isEnabledFor(10)
        self.on_start()
        self._state = self.RUN

    def close(self) -> None:
        self._state = self.CLOSE
        self.on_close()

    def stop(self) -> None:
        self.on_stop()
        self._state = self.TERMINATE

    def terminate(self) -> None:
        self._state = self.TERMINATE
        self.on_terminate()

    def apply_async(self, target: Callable, args: tuple | None = None,
                    kwargs: dict | None = None, **options: Any) -> Any:
        """Run ``target(*args, **kwargs)`` in the pool."""
        return self.on_apply(target, args or (), kwargs or {},
                             waitforslot=self.putlocks,
                             callbacks_propagate=self.callbacks_propagate,
                             **options)

    def _get_info(self) -> dict:
        return {
            'implementation': f'{type(self).__module__}:{type(self).__name__}',
            'max-concurrency': self.limit,
        }

    @property
    def info(self) -> dict:
        return self._get_info()

    @property
    def active(self) -> bool:
        return self._state == self.RUN

    @property
    def num_processes(self) -> int | None:
        return self.limit

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: limit={self.limit}>'


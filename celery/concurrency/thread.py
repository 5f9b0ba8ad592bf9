"""The threads pool: tasks run in a :class:`~concurrent.futures.ThreadPoolExecutor`.

Callbacks are handed back to the worker's event loop thread with
:meth:`~celery.concurrency.base.BasePool.post`, so broker operations (acks)
never happen in the executor threads.  No time limits.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Callable

from billiard.einfo import ExceptionInfo

from celery.concurrency.base import BasePool

__all__ = ('TaskPool', 'ApplyResult')


class ApplyResult:
    """Handle on a job submitted to the executor."""

    def __init__(self, future: Any) -> None:
        self.f = future
        self.get = future.result

    def wait(self, timeout: float | None = None) -> None:
        wait([self.f], timeout)


class TaskPool(BasePool):
    """A pool of ``limit`` threads."""

    body_can_be_buffer = True
    signal_safe = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # from 3.9 the executor uses a SimpleQueue; nothing needs tuning.
        self.executor = ThreadPoolExecutor(max_workers=self.limit or os.cpu_count() or 1,
                                           thread_name_prefix='celery-task')

    def on_stop(self) -> None:
        self.executor.shutdown(wait=True)
        super().on_stop()

    def on_terminate(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def on_apply(self, target: Callable, args: tuple | None = None,
                 kwargs: dict | None = None, callback: Callable | None = None,
                 accept_callback: Callable | None = None,
                 error_callback: Callable | None = None, **_: Any) -> ApplyResult:
        future = self.executor.submit(self._run, target, args or (), kwargs or {},
                                      callback, accept_callback, error_callback)
        return ApplyResult(future)

    def _run(self, target: Callable, args: tuple, kwargs: dict,
             callback: Callable | None, accept_callback: Callable | None,
             error_callback: Callable | None) -> Any:
        post = self.post
        if accept_callback:
            post(accept_callback, os.getpid(), time.monotonic())
        try:
            ret = target(*args, **kwargs)
        except BaseException:  # the tracer catches task errors; this is ours
            einfo = ExceptionInfo()
            if error_callback:
                post(error_callback, einfo)
            raise
        if callback:
            post(callback, ret)
        return ret

    def _get_info(self) -> dict:
        info = super()._get_info()
        info.update({
            'max-concurrency': self.limit,
            'threads': len(self.executor._threads),
        })
        return info

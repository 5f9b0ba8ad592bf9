"""Waiting for results that the store pushes to us.

Redis publishes every state change on a channel named after the result key,
the RPC backend sends it to the client's reply queue.  A backend mixing in
:class:`AsyncBackendMixin` owns a :class:`BaseResultConsumer` that receives
those messages; ``AsyncResult.get`` registers the result as *pending* and
drains the consumer until the result's record arrives.

Thread safety: one thread drains at a time (a lock); a thread that finds the
lock taken waits for it and then re-checks its own result, which the other
thread may have filled in.  Fork safety: consumers drop inherited
connections in the child (``os.register_at_fork``).
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from celery import states
from celery.exceptions import TimeoutError
from celery.result import ResultSet

__all__ = ('AsyncBackendMixin', 'BaseResultConsumer', 'MESSAGE_BUFFER_MAX',
           'unawaited_results', 'results_unawaited')

#: How many out-of-band results (ready before anyone asked) are kept.
MESSAGE_BUFFER_MAX = 8192

_consumers: weakref.WeakSet = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for consumer in list(_consumers):
        try:
            consumer.on_after_fork()
        except Exception:  # noqa: BLE001,S110 - never break a fork
            pass


if hasattr(os, 'register_at_fork'):  # pragma: no branch
    os.register_at_fork(after_in_child=_after_fork_in_child)

_sending = threading.local()


@contextmanager
def unawaited_results() -> Iterator[None]:
    """Tasks sent inside this block are not subscribed to when sent.

    For results this client is not about to wait on (a chord's header:
    the client waits on the body).  Waiting on one later still works: it
    subscribes then, and reads the record once to catch up.
    """
    previous = getattr(_sending, 'unawaited', False)
    _sending.unawaited = True
    try:
        yield
    finally:
        _sending.unawaited = previous


def results_unawaited() -> bool:
    """True inside :func:`unawaited_results` (in this thread)."""
    return getattr(_sending, 'unawaited', False)


class _Buffer(OrderedDict):
    """Records that arrived for results nobody waits on yet (bounded)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize
        #: Guards the hand-over between this buffer and the pending results.
        self.lock = threading.RLock()

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


class BaseResultConsumer:
    """Receives pushed result records for one backend.

    Subclasses implement :meth:`start`, :meth:`stop`, :meth:`drain_events`,
    :meth:`consume_from` and :meth:`cancel_for`, and call
    :meth:`on_state_change` with each decoded record.
    """

    def __init__(self, backend: Any, app: Any, accept: Any,
                 pending_results: dict, pending_messages: _Buffer) -> None:
        self.backend = backend
        self.app = app
        self.accept = accept
        self._pending_results = pending_results
        self._pending_messages = pending_messages
        self.on_message: Callable | None = None
        self._drain_lock = threading.Lock()
        _consumers.add(self)

    def start(self, initial_task_id: str, **kwargs: Any) -> None:
        raise NotImplementedError(f'{type(self).__name__} must implement start')

    def stop(self) -> None:
        pass

    def drain_events(self, timeout: float | None = None) -> None:
        raise NotImplementedError(f'{type(self).__name__} must implement drain_events')

    def consume_from(self, task_id: str) -> None:
        raise NotImplementedError(f'{type(self).__name__} must implement consume_from')

    def cancel_for(self, task_id: str) -> None:
        raise NotImplementedError(f'{type(self).__name__} must implement cancel_for')

    def on_after_fork(self) -> None:
        """Forget per-process state inherited from the parent."""
        self._drain_lock = threading.Lock()
        self._pending_messages.lock = threading.RLock()
        self._pending_results.clear()
        self._pending_messages.clear()

    def on_wait_for_pending(self, result: Any, **kwargs: Any) -> None:
        """Called before waiting on ``result`` (catch up on missed messages)."""

    def on_wait_for_pending_many(self, results: Iterable) -> None:
        """:meth:`on_wait_for_pending` for several results (stores may batch it)."""
        for result in results:
            if result._cache is None:
                self.on_wait_for_pending(result)

    def on_out_of_band_result(self, task_id: str, message: Any) -> None:
        self.on_state_change(message.payload, message)

    def on_state_change(self, meta: dict, message: Any) -> None:
        """Deliver a record to its pending result, or buffer it."""
        if self.on_message is not None:
            self.on_message(meta)
        if meta.get('status') in states.READY_STATES:
            task_id = meta.get('task_id')
            with self._pending_messages.lock:
                result = self._pending_results.get(task_id)
                if result is None:
                    self._pending_messages.put(task_id, meta)
                    return
            result._maybe_set_cache(meta)

    def drain_once(self, timeout: float) -> None:
        """Drain for up to ``timeout`` seconds, unless another thread is draining."""
        if self._drain_lock.acquire(timeout=max(timeout, 0)):
            try:
                self.drain_events(timeout=timeout)
            finally:
                self._drain_lock.release()

    def wait_until(self, done: Callable[[], bool], timeout: float | None = None,
                   interval: float = 0.5, on_interval: Callable | None = None) -> None:
        """Drain until ``done()`` is true; :exc:`TimeoutError` after ``timeout``."""
        deadline = None if not timeout else time.monotonic() + timeout
        step = interval if interval and interval > 0 else 0.5
        while not done():
            wait = step
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError('The operation timed out.')
                wait = min(step, remaining)
            self.drain_once(wait)
            if on_interval is not None:
                on_interval()


class AsyncBackendMixin:
    """Backend side of pushed results; needs ``self.result_consumer``."""

    result_consumer: BaseResultConsumer

    def _init_pending(self) -> None:
        self._pending_results: dict = {}
        self._pending_messages = _Buffer(MESSAGE_BUFFER_MAX)

    @property
    def is_async(self) -> bool:
        return True

    def add_pending_result(self, result: Any, weak: bool = False,
                           start_drainer: bool = True) -> Any:
        """Register ``result`` to be filled in when its record arrives."""
        with self._pending_messages.lock:
            buffered = self._pending_messages.pop(result.id, None)
            subscribe = buffered is None and result.id not in self._pending_results
            if subscribe:
                self._pending_results[result.id] = result
        if buffered is not None:
            result._maybe_set_cache(buffered)
        elif subscribe:
            self.result_consumer.consume_from(result.id)
        return result

    def remove_pending_result(self, result: Any) -> Any:
        with self._pending_messages.lock:
            self._pending_results.pop(result.id, None)
        self.on_result_fulfilled(result)
        return result

    def on_result_fulfilled(self, result: Any) -> None:
        self.result_consumer.cancel_for(result.id)

    def wait_for_pending(self, result: Any, timeout: float | None = None,
                         interval: float = 0.5, no_ack: bool = True,
                         on_message: Callable | None = None,
                         on_interval: Callable | None = None,
                         callback: Callable | None = None, propagate: bool = True) -> Any:
        """Wait for ``result``'s record to be pushed; return its value."""
        self._ensure_not_eager()
        consumer = self.result_consumer
        consumer.on_message = on_message
        try:
            if result._cache is None:
                consumer.on_wait_for_pending(result)
            consumer.wait_until(lambda: result._cache is not None, timeout=timeout,
                                interval=interval, on_interval=on_interval)
        finally:
            consumer.on_message = None
        return result.maybe_throw(callback=callback, propagate=propagate)

    def iter_native(self, result: ResultSet, timeout: float | None = None,
                    interval: float = 0.5, no_ack: bool = True,
                    on_message: Callable | None = None,
                    on_interval: Callable | None = None) -> Iterator[tuple]:
        """Yield ``(id, meta)`` for each member of ``result`` as it arrives."""
        self._ensure_not_eager()
        waiting = []
        for node in result.results:
            if isinstance(node, ResultSet):
                yield node.id, node.results
            else:
                self.add_pending_result(node)
                waiting.append(node)
        if not waiting:
            return
        consumer = self.result_consumer
        consumer.on_message = on_message
        try:
            consumer.on_wait_for_pending_many(waiting)
            deadline = None if not timeout else time.monotonic() + timeout
            while waiting:
                ready = [node for node in waiting if node._cache is not None]
                for node in ready:
                    waiting.remove(node)
                    yield node.id, node._cache
                if not waiting:
                    break
                remaining = None
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError('The operation timed out.')
                consumer.wait_until(
                    lambda: any(n._cache is not None for n in waiting),
                    timeout=remaining, interval=interval, on_interval=on_interval)
        finally:
            consumer.on_message = None

"""Helpers for integration tests that drive real workers: wait, join, inspect.

:class:`Manager` wraps an app; its methods poll (with growing intervals and
a bounded number of retries) until workers report the expected state, so
tests never sleep for a fixed time. Remote-control queries need a worker
with the control plane (``celery.worker.control``) enabled.
"""
from __future__ import annotations

import socket
import sys
import time
from collections import defaultdict
from functools import partial
from itertools import count
from typing import Any, Callable, Iterable, Iterator, Sequence, TextIO

from kombu.exceptions import ContentDisallowed
from kombu.utils.functional import retry_over_time

from celery import states
from celery.exceptions import TimeoutError
from celery.utils.text import truncate
from celery.utils.time import humanize_seconds as _humanize_seconds

__all__ = ('Sentinel', 'ManagerMixin', 'Manager', 'humanize_seconds')

E_STILL_WAITING = 'Still waiting for {0}.  Trying again {when}: {exc!r}'

humanize_seconds = partial(_humanize_seconds, microseconds=True)


class Sentinel(Exception):
    """Raised by a poll whose condition does not hold yet."""


class ManagerMixin:
    """Polling, joining and inspection helpers; needs ``self.app``."""

    app: Any

    def _init_manager(self, block_timeout: float = 30 * 60.0, no_join: bool = False,
                      stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = sys.stdout if stdout is None else stdout
        self.stderr = sys.stderr if stderr is None else stderr
        self.connerrors = self.app.connection().connection_errors
        self.block_timeout = block_timeout
        self.no_join = no_join

    def remark(self, s: str, sep: str = '-') -> None:
        """Print a note (``sep`` first) to the manager's stdout."""
        print(f'{sep}{s}', file=self.stdout)

    def warn(self, s: str) -> None:
        """Print a warning to the manager's stderr."""
        print(s, file=self.stderr)

    def missing_results(self, r: Iterable[Any]) -> list[str]:
        """Ids of the results in ``r`` that have not arrived yet."""
        missing = []
        for res in r:
            cache = getattr(res.backend, '_cache', None) or {}
            if res.id not in cache and not res.ready():
                missing.append(res.id)
        return missing

    def wait_for(self, fun: Callable, catch: Any, desc: str = 'thing', args: Sequence = (),
                 kwargs: dict | None = None, errback: Callable | None = None,
                 max_retries: int | None = 10, interval_start: float = 0.1,
                 interval_step: float = 0.5, interval_max: float = 5.0,
                 emit_warning: bool = False, **options: Any) -> Any:
        """Call ``fun`` until it returns without raising one of ``catch``; return its value.

        Gives up (re-raising the last error) after ``max_retries`` retries
        or ``timeout`` seconds (an option).
        """
        def on_error(exc: BaseException, intervals: Iterator[float], retries: int) -> float:
            interval = next(intervals)
            if emit_warning:
                self.warn(E_STILL_WAITING.format(
                    desc, when=humanize_seconds(interval, 'in', ' '), exc=exc))
            if errback:
                errback(exc, interval, retries)
            return interval

        return self.retry_over_time(
            fun, catch, args=args, kwargs=kwargs or {}, errback=on_error,
            max_retries=max_retries, interval_start=interval_start,
            interval_step=interval_step, interval_max=interval_max, **options)

    def ensure_not_for_a_while(self, fun: Callable, catch: Any, desc: str = 'thing',
                               max_retries: int = 20, interval_start: float = 0.1,
                               interval_step: float = 0.02, interval_max: float = 1.0,
                               emit_warning: bool = False, **options: Any) -> None:
        """Check that ``fun`` keeps raising ``catch`` for a while.

        Raises:
            AssertionError: ``fun`` succeeded (the thing happened).
        """
        try:
            self.wait_for(fun, catch, desc=desc, max_retries=max_retries,
                          interval_start=interval_start, interval_step=interval_step,
                          interval_max=interval_max, emit_warning=emit_warning, **options)
        except catch:
            return
        raise AssertionError(f'Should not have happened: {desc}')

    def retry_over_time(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`kombu.utils.functional.retry_over_time` (overridable)."""
        return retry_over_time(*args, **kwargs)

    def join(self, r: Any, propagate: bool = False, max_retries: int | None = 10,
             **kwargs: Any) -> Any:
        """Wait for the result(s) ``r`` and return their values, in order.

        Each attempt waits ``timeout`` seconds (a keyword argument); after
        ``max_retries`` attempts the test fails. Returns None with ``no_join``.
        """
        if self.no_join:
            return None
        from celery.result import ResultSet
        if not isinstance(r, ResultSet):
            r = self.app.ResultSet([r])
        received: dict = {}

        def on_result(task_id: str, value: Any) -> None:
            received[task_id] = value

        for _ in range(max_retries) if max_retries else count():
            received.clear()
            try:
                r.get(callback=on_result, propagate=propagate, **kwargs)
                return [received.get(res.id) for res in r.results]
            except (socket.timeout, TimeoutError) as exc:
                waiting_for = self.missing_results(r)
                self.remark('Still waiting for {}/{}: [{}]: {!r}'.format(
                    len(r) - len(received), len(r),
                    truncate(', '.join(waiting_for)), exc), '!')
            except self.connerrors as exc:
                self.remark(f'join: connection lost: {exc!r}', '!')
        raise AssertionError('Test failed: Missing task results')

    def inspect(self, timeout: float = 3.0) -> Any:
        """An :class:`~celery.app.control.Inspect` of all workers."""
        return self.app.control.inspect(timeout=timeout)

    def query_tasks(self, ids: Sequence[str], timeout: float = 0.5) -> Iterator[tuple]:
        """Yield ``(worker, {task_id: [state, info]})`` for the tasks ``ids``."""
        tasks = self.inspect(timeout).query_task(*ids) or {}
        yield from tasks.items()

    def query_task_states(self, ids: Sequence[str], timeout: float = 0.5) -> dict:
        """Map worker-side states (``reserved``, ``active``...) to sets of task ids."""
        found: dict = defaultdict(set)
        for _hostname, reply in self.query_tasks(ids, timeout=timeout):
            for task_id, (state, _info) in reply.items():
                found[state].add(task_id)
        return found

    def assert_accepted(self, ids: Sequence[str], interval: float = 0.5,
                        desc: str = 'waiting for tasks to be accepted', **policy: Any) -> Any:
        """Wait until a worker is executing or has executed every task of ``ids``."""
        return self.assert_task_worker_state(self.is_accepted, ids, interval=interval,
                                             desc=desc, **policy)

    def assert_received(self, ids: Sequence[str], interval: float = 0.5,
                        desc: str = 'waiting for tasks to be received', **policy: Any) -> Any:
        """Wait until workers have received every task of ``ids``."""
        return self.assert_task_worker_state(self.is_received, ids, interval=interval,
                                             desc=desc, **policy)

    def assert_result_tasks_in_progress_or_completed(
            self, async_results: Sequence[Any], interval: float = 0.5,
            desc: str = 'waiting for tasks to be started or completed', **policy: Any) -> Any:
        """Wait until every result is STARTED or SUCCESS."""
        return self.assert_task_state_from_result(
            self.is_result_task_in_progress, async_results, interval=interval,
            desc=desc, **policy)

    def assert_task_state_from_result(self, fun: Callable, results: Sequence[Any],
                                      interval: float = 0.5, **policy: Any) -> Any:
        return self.wait_for(partial(self.true_or_raise, fun, results, timeout=interval),
                             (Sentinel,), **policy)

    @staticmethod
    def is_result_task_in_progress(results: Sequence[Any], **kwargs: Any) -> bool:
        return all(result.state in (states.STARTED, states.SUCCESS) for result in results)

    def assert_task_worker_state(self, fun: Callable, ids: Sequence[str],
                                 interval: float = 0.5, **policy: Any) -> Any:
        return self.wait_for(partial(self.true_or_raise, fun, ids, timeout=interval),
                             (Sentinel,), **policy)

    def is_received(self, ids: Sequence[str], **kwargs: Any) -> bool:
        """True if every task of ``ids`` is reserved, active or done on a worker."""
        return self._ids_matches_state(['reserved', 'active', 'ready'], ids, **kwargs)

    def is_accepted(self, ids: Sequence[str], **kwargs: Any) -> bool:
        """True if every task of ``ids`` is active or done on a worker."""
        return self._ids_matches_state(['active', 'ready'], ids, **kwargs)

    def _ids_matches_state(self, expected_states: Sequence[str], ids: Sequence[str],
                           timeout: float = 0.5) -> bool:
        found = self.query_task_states(ids, timeout=timeout)
        wanted = set().union(*(found[state] for state in expected_states))
        return all(task_id in wanted for task_id in ids)

    def true_or_raise(self, fun: Callable, *args: Any, **kwargs: Any) -> Any:
        """Return ``fun(*args, **kwargs)`` if true, else raise :exc:`Sentinel`."""
        res = fun(*args, **kwargs)
        if not res:
            raise Sentinel()
        return res

    def wait_until_idle(self, timeout: float | None = None, interval: float = 0.1) -> None:
        """Purge the task queues, then wait until no worker has an active task.

        Gives up with :exc:`AssertionError` after ``timeout`` seconds
        (default: ``block_timeout``).
        """
        control = self.app.control
        deadline = time.monotonic() + (self.block_timeout if timeout is None else timeout)
        with self.app.connection() as connection:
            while control.purge(connection=connection):
                pass
            inspect = control.inspect()
            inspect.connection = connection
            while True:
                try:
                    replies = inspect.active() or {}
                except ContentDisallowed:
                    # Workers answering in a serializer we refuse (auth tests).
                    return
                if not sum(len(tasks or ()) for tasks in replies.values()):
                    return
                if time.monotonic() > deadline:
                    raise AssertionError('Workers still busy: ' + truncate(repr(replies)))
                time.sleep(interval)


class Manager(ManagerMixin):
    """Test helpers for ``app``: see :class:`ManagerMixin`."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self.app = app
        self._init_manager(**kwargs)

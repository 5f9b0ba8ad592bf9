"""The sets of results: :class:`ResultSet` and :class:`GroupResult`.

Private: import them from :mod:`celery.result` (their public home, named
in pickles), which imports this module once its own names are defined.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from vine import promise

from celery import states
from celery._state import current_app
from celery.exceptions import ImproperlyConfigured, TimeoutError
from celery.result import AsyncResult, ResultBase, assert_will_not_block

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = ('ResultSet', 'GroupResult')


class ResultSet(ResultBase):
    """A list of results handled as one.

    Arguments:
        results: the :class:`AsyncResult` instances.
    """

    _app: Any = None
    results: list

    def __init__(self, results: list | None, app: Celery | None = None,
                 ready_barrier: Any = None, **kwargs: Any) -> None:
        self._app = app
        self.results = results if results is not None else []
        self.on_ready = promise(args=(self,))
        self._barrier = ready_barrier

    def _ensure_barrier(self) -> Any:
        if self._barrier is None:
            from vine import barrier
            self._barrier = barrier(self.results)
            self._barrier.then(promise(self._on_ready, weak=True))
        return self._barrier

    def _on_ready(self) -> None:
        if self.backend.is_async:
            self.on_ready()

    def then(self, callback: Callable, on_error: Callable | None = None) -> promise:
        """Call ``callback(self)`` once every result is ready (async backends)."""
        self._ensure_barrier()
        return self.on_ready.then(callback, on_error)

    def add(self, result: AsyncResult) -> None:
        """Add ``result`` unless it is already a member."""
        if result not in self.results:
            self.results.append(result)
            if self._barrier is not None:
                self._barrier.add(result)

    def remove(self, result: AsyncResult | str) -> None:
        """Remove ``result``; :exc:`KeyError` if it is not a member."""
        if isinstance(result, str):
            result = self.app.AsyncResult(result)
        try:
            self.results.remove(result)
        except ValueError:
            raise KeyError(result) from None

    def discard(self, result: AsyncResult | str) -> None:
        """Remove ``result`` if it is a member."""
        try:
            self.remove(result)
        except KeyError:
            pass

    def update(self, results: Iterable[AsyncResult]) -> None:
        """Add the results that are not members yet."""
        self.results.extend(r for r in results if r not in self.results)

    def clear(self) -> None:
        self.results[:] = []

    def successful(self) -> bool:
        """True if every task succeeded."""
        return all(result.successful() for result in self.results)

    def failed(self) -> bool:
        """True if any task failed."""
        return any(result.failed() for result in self.results)

    def maybe_throw(self, callback: Callable | None = None, propagate: bool = True) -> None:
        """Raise the exception of the first member that failed (in member order)."""
        unfinished = self._read_members_at_once() if callback is None else set()
        for result in self.results:
            if id(result) not in unfinished:
                result.maybe_throw(callback=callback, propagate=propagate)

    def _read_members_at_once(self) -> set:
        """Read the members not known to be ready in one go; return the unfinished.

        One bulk read (an MGET on key-value stores) instead of one read per
        member: :meth:`maybe_throw` runs at every interval of a wait on a
        chord's body.  Returns the ``id()`` of the members read and found
        unfinished (they cannot raise); ready ones get their record cached.
        """
        from celery.backends.base import BaseKeyValueStoreBackend
        unknown = [r for r in self.results if isinstance(r, AsyncResult) and r._cache is None]
        if len(unknown) < 2:
            return set()
        backend = unknown[0].backend
        if not isinstance(backend, BaseKeyValueStoreBackend):
            return set()
        unknown = [r for r in unknown if r.backend is backend]
        ready = dict(backend.get_many({r.id for r in unknown}, max_iterations=1))
        unfinished = set()
        for result in unknown:
            meta = ready.get(result.id)
            if meta is None:
                unfinished.add(id(result))
            else:
                result._maybe_set_cache(meta)
        return unfinished

    maybe_reraise = maybe_throw

    def waiting(self) -> bool:
        """True if any task has not finished yet."""
        return any(not result.ready() for result in self.results)

    def ready(self) -> bool:
        """True once every task has finished."""
        return all(result.ready() for result in self.results)

    def completed_count(self) -> int:
        """The number of tasks that succeeded."""
        return sum(int(result.successful()) for result in self.results)

    def forget(self) -> None:
        for result in self.results:
            result.forget()

    def revoke(self, connection: Any = None, terminate: bool = False, signal: Any = None,
               wait: bool = False, timeout: float | None = None) -> None:
        """Revoke every task of the set with one broadcast."""
        self.app.control.revoke([r.id for r in self.results], connection=connection,
                                timeout=timeout, terminate=terminate, signal=signal,
                                reply=wait)

    def __iter__(self) -> Iterator[AsyncResult]:
        return iter(self.results)

    def __getitem__(self, index: int) -> AsyncResult:
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ResultSet):
            return other.results == self.results
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: [{", ".join(r.id for r in self.results)}]>'

    def get(self, timeout: float | None = None, propagate: bool = True,
            interval: float = 0.5, callback: Callable | None = None, no_ack: bool = True,
            on_message: Callable | None = None, disable_sync_subtasks: bool = True,
            on_interval: Callable | None = None) -> list | None:
        """Wait for every result; see :meth:`join`."""
        join = self.join_native if self.supports_native_join else self.join
        return join(timeout=timeout, propagate=propagate, interval=interval,
                    callback=callback, no_ack=no_ack, on_message=on_message,
                    disable_sync_subtasks=disable_sync_subtasks, on_interval=on_interval)

    def join(self, timeout: float | None = None, propagate: bool = True,
             interval: float = 0.5, callback: Callable | None = None, no_ack: bool = True,
             on_message: Callable | None = None, disable_sync_subtasks: bool = True,
             on_interval: Callable | None = None) -> list | None:
        """Wait for the results one by one, returning their values in order.

        ``timeout`` bounds the whole operation; with ``callback`` each value
        is passed to ``callback(task_id, value)`` instead of collected.
        """
        if disable_sync_subtasks:
            assert_will_not_block()
        if on_message is not None:
            raise ImproperlyConfigured('Backend does not support on_message callback')
        started = time.monotonic()
        values = []
        for result in self.results:
            remaining = None
            if timeout:
                remaining = timeout - (time.monotonic() - started)
                if remaining <= 0.0:
                    raise TimeoutError('join operation timed out')
            value = result.get(timeout=remaining, propagate=propagate, interval=interval,
                               no_ack=no_ack, on_interval=on_interval,
                               disable_sync_subtasks=disable_sync_subtasks)
            if callback:
                callback(result.id, value)
            else:
                values.append(value)
        return values

    def iter_native(self, timeout: float | None = None, interval: float = 0.5,
                    no_ack: bool = True, on_message: Callable | None = None,
                    on_interval: Callable | None = None) -> Iterator[tuple]:
        """Yield ``(task_id, meta)`` as the backend reports results ready."""
        return self.backend.iter_native(self, timeout=timeout, interval=interval,
                                        no_ack=no_ack, on_message=on_message,
                                        on_interval=on_interval)

    def join_native(self, timeout: float | None = None, propagate: bool = True,
                    interval: float = 0.5, callback: Callable | None = None,
                    no_ack: bool = True, on_message: Callable | None = None,
                    on_interval: Callable | None = None,
                    disable_sync_subtasks: bool = True) -> list | None:
        """Like :meth:`join`, but collects results in bulk from the backend."""
        if disable_sync_subtasks:
            assert_will_not_block()
        order = None if callback else {r.id: i for i, r in enumerate(self.results)}
        values: list | None = None if callback else [None] * len(self.results)
        for task_id, meta in self.iter_native(timeout, interval, no_ack,
                                              on_message, on_interval):
            if isinstance(meta, list):
                value = [child.get() for child in meta]
            else:
                value = meta['result']
                if propagate and meta['status'] in states.PROPAGATE_STATES:
                    raise value
            if callback:
                callback(task_id, value)
            else:
                values[order[task_id]] = value  # type: ignore[index]
        return values

    def _iter_meta(self, **kwargs: Any) -> Iterator[dict]:
        return (meta for _, meta in self.backend.get_many(
            {r.id for r in self.results}, max_iterations=1, **kwargs))

    def _failed_join_report(self) -> Iterator[AsyncResult]:
        """Yield the members that failed (asks the backend; for error reports)."""
        for res in self.results:
            if isinstance(res, ResultSet):
                yield from res._failed_join_report()
            elif res.state in states.PROPAGATE_STATES:
                yield res

    @property
    def supports_native_join(self) -> bool | None:
        try:
            return self.results[0].supports_native_join
        except IndexError:
            return None

    @property
    def app(self) -> Celery:
        if self._app is None:
            self._app = (self.results[0].app if self.results
                         else current_app._get_current_object())
        return self._app

    @app.setter
    def app(self, app: Celery) -> None:
        self._app = app

    @property
    def backend(self) -> Any:
        return self.app.backend if self.app else self.results[0].backend


class GroupResult(ResultSet):
    """The result of a group: a :class:`ResultSet` with an id of its own.

    Arguments:
        id: the group id.
        results: the results of the group's tasks.
        parent: the result the group was chained after.
    """

    id: str | None = None

    def __init__(self, id: str | None = None, results: list | None = None,
                 parent: ResultBase | None = None, **kwargs: Any) -> None:
        self.id = id
        self.parent = parent
        super().__init__(results, **kwargs)

    def _on_ready(self) -> None:
        self.backend.remove_pending_result(self)
        super()._on_ready()

    def save(self, backend: Any = None) -> Any:
        """Store the group so :meth:`restore` can find it later by id."""
        return (backend or self.app.backend).save_group(self.id, self)

    def delete(self, backend: Any = None) -> None:
        """Remove the stored group."""
        (backend or self.app.backend).delete_group(self.id)

    def __reduce__(self) -> tuple:
        return self.__class__, self.__reduce_args__()

    def __reduce_args__(self) -> tuple:
        return self.id, self.results

    def __bool__(self) -> bool:
        return bool(self.id or self.results)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GroupResult):
            return (other.id == self.id and other.results == self.results
                    and other.parent == self.parent)
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return (f'<{type(self).__name__}: {self.id} '
                f'[{", ".join(r.id for r in self.results)}]>')

    def __str__(self) -> str:
        return str(self.id)

    def as_tuple(self) -> tuple:
        """Return ``((id, parent_tuple), [child tuples])``."""
        return ((self.id, self.parent and self.parent.as_tuple()),
                [r.as_tuple() for r in self.results])

    @property
    def children(self) -> list:
        return self.results

    @classmethod
    def restore(cls, id: str, backend: Any = None, app: Celery | None = None
                ) -> GroupResult | None:
        """Load a saved group by id (None if there is none)."""
        app = app or (cls.app if not isinstance(cls.app, property) else None) \
            or current_app._get_current_object()
        backend = backend or app.backend
        return backend.restore_group(id)


for _cls in (ResultSet, GroupResult):
    _cls.__module__ = 'celery.result'
del _cls

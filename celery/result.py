"""Handles to task results: :class:`AsyncResult`, :class:`ResultSet`,
:class:`GroupResult` and :class:`EagerResult`.

A result object holds only an id and a reference to the result backend;
every question about state or value goes to the backend, whose answer is
cached on the object once the task is ready.  Waiting (``get``/``join``) is
done by the backend: pub/sub or a reply queue where it has one, polling
otherwise.

Waiting for a result from inside a task easily deadlocks a worker, so
``get`` refuses to block in a worker process unless told otherwise
(``disable_sync_subtasks=False``, or within :func:`allow_join_result`).
"""
from __future__ import annotations

import datetime
from collections import deque
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from kombu.utils.objects import cached_property
from vine import promise

from celery import states
from celery._state import _set_task_join_will_block, app_or_default, task_join_will_block
from celery.exceptions import IncompleteStream

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

try:
    import tblib
except ImportError:  # pragma: no cover - optional
    tblib = None

__all__ = (
    'ResultBase', 'AsyncResult', 'ResultSet', 'GroupResult', 'EagerResult',
    'result_from_tuple', 'allow_join_result', 'denied_join_result',
    'assert_will_not_block',
)

E_WOULDBLOCK = (
    'Refusing to wait for a task result from inside a task: a worker that '
    'blocks on its own subtasks can deadlock. Chain the tasks, use a chord, '
    'or pass disable_sync_subtasks=False if you are sure this cannot deadlock.'
)


def assert_will_not_block() -> None:
    """Raise :exc:`RuntimeError` if waiting here could deadlock a worker."""
    if task_join_will_block():
        raise RuntimeError(E_WOULDBLOCK)


@contextmanager
def allow_join_result() -> Iterator[None]:
    """Context in which ``result.get()`` may block even inside a task."""
    previous = task_join_will_block()
    _set_task_join_will_block(False)
    try:
        yield
    finally:
        _set_task_join_will_block(previous)


@contextmanager
def denied_join_result() -> Iterator[None]:
    """Context in which ``result.get()`` refuses to block."""
    previous = task_join_will_block()
    _set_task_join_will_block(True)
    try:
        yield
    finally:
        _set_task_join_will_block(previous)


class ResultBase:
    """Common base of all result handles."""

    #: The result this one depends on (the previous step of a chain).
    parent: Any = None


class AsyncResult(ResultBase):
    """The result of a task that may not have finished yet.

    Arguments:
        id: the task id.
        backend: result backend to ask (default: the app's).
        task_name: the task's name, when known.
        app: the app (default: the current app).
        parent: the result of the task this one was chained after.
    """

    #: Set on the subclass an app creates (``app.AsyncResult``).
    app: Any = None
    #: The result backend answering for this result.
    backend: Any = None

    def __init__(self, id: str, backend: Any = None, task_name: str | None = None,
                 app: Celery | None = None, parent: ResultBase | None = None) -> None:
        if id is None:
            raise ValueError(
                f'AsyncResult needs a task id, got {type(id).__name__}')
        self.app = app_or_default(app or self.app)
        self.id = id
        self.backend = backend or self.app.backend
        self.task_name = task_name
        self.parent = parent
        self._cache: dict | None = None
        self._ignored = False

    @property
    def on_ready(self) -> promise:
        """Fulfilled with this result when it is ready; made on first use
        (most results of ``delay()`` are never waited on)."""
        try:
            return self.__dict__['_on_ready']
        except KeyError:
            ready = self.__dict__['_on_ready'] = promise(self._on_fulfilled, weak=True)
            return ready

    @on_ready.setter
    def on_ready(self, value: promise) -> None:
        self.__dict__['_on_ready'] = value

    # -- identity ----------------------------------------------------------

    @property
    def task_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id

    @task_id.setter
    def task_id(self, value: str) -> None:
        self.id = value

    @property
    def ignored(self) -> bool:
        """True if the task was sent with ``ignore_result``."""
        return getattr(self, '_ignored', False)

    @ignored.setter
    def ignored(self, value: bool) -> None:
        self._ignored = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self.id}>'

    def __str__(self) -> str:
        return str(self.id)

    def __copy__(self) -> AsyncResult:
        return self.__class__(*self.__reduce_args__())

    def __reduce__(self) -> tuple:
        return self.__class__, self.__reduce_args__()

    def __reduce_args__(self) -> tuple:
        return self.id, self.backend, self.task_name, None, self.parent

    def as_tuple(self) -> tuple:
        """Return ``((id, parent_tuple), None)``, the form stored in records."""
        parent = self.parent
        return (self.id, parent and parent.as_tuple()), None

    def as_list(self) -> list:
        """Return the ids of this result and all its parents."""
        results = []
        parent = self.parent
        results.append(self.id)
        if parent is not None:
            results.extend(parent.as_list())
        return results

    # -- waiting -----------------------------------------------------------

    def _on_fulfilled(self, result: Any) -> Any:
        self.backend.remove_pending_result(self)
        return result

    def then(self, callback: Callable, on_error: Callable | None = None,
             weak: bool = False) -> promise:
        """Call ``callback(self)`` once the result is ready (async backends)."""
        self.backend.add_pending_result(self, weak=weak)
        return self.on_ready.then(callback, on_error)

    def _maybe_reraise_parent_error(self) -> None:
        for node in reversed(list(self._parents())):
            node.maybe_throw()

    def _parents(self) -> Iterator[AsyncResult]:
        node = self.parent
        while node:
            yield node
            node = node.parent

    def get(self, timeout: float | None = None, propagate: bool = True,
            interval: float = 0.5, no_ack: bool = True, follow_parents: bool = True,
            callback: Callable | None = None, on_message: Callable | None = None,
            on_interval: Callable | None = None, disable_sync_subtasks: bool = True,
            EXCEPTION_STATES: frozenset = states.EXCEPTION_STATES,
            PROPAGATE_STATES: frozenset = states.PROPAGATE_STATES) -> Any:
        """Wait for the task to finish and return its value.

        Re-raises the task's exception when ``propagate`` (the default) and
        the task failed or was revoked; raises
        :exc:`celery.exceptions.TimeoutError` after ``timeout`` seconds.
        ``interval`` is the polling period of backends that poll.
        """
        if self.ignored:
            return None
        if disable_sync_subtasks:
            assert_will_not_block()
        _on_interval = on_interval
        if follow_parents and propagate and self.parent:
            self._maybe_reraise_parent_error()
            _on_interval = _CallAll(self._maybe_reraise_parent_error, on_interval)
        if self._cache:
            if propagate:
                self.maybe_throw(callback=callback)
            return self.result
        self.backend.add_pending_result(self)
        return self.backend.wait_for_pending(
            self, timeout=timeout, interval=interval, on_interval=_on_interval,
            no_ack=no_ack, propagate=propagate, callback=callback,
            on_message=on_message)

    wait = get

    def collect(self, intermediate: bool = False, **kwargs: Any) -> Iterator[tuple]:
        """Yield ``(result, value)`` for this result and its children, depth last."""
        for _, node in self.iterdeps(intermediate=intermediate):
            yield node, node.get(**kwargs)

    def get_leaf(self) -> Any:
        """Wait for the whole tree and return the value of the last node."""
        value = None
        for _, node in self.iterdeps():
            value = node.get()
        return value

    def iterdeps(self, intermediate: bool = False) -> Iterator[tuple]:
        """Yield ``(parent, node)`` pairs breadth first over the children tree.

        Raises :exc:`~celery.exceptions.IncompleteStream` on a node that is
        not ready unless ``intermediate`` is true.
        """
        stack: deque = deque([(None, self)])
        while stack:
            parent, node = stack.popleft()
            yield parent, node
            if node.ready():
                stack.extend((node, child) for child in node.children or [])
            elif not intermediate:
                raise IncompleteStream()

    def build_graph(self, intermediate: bool = False, formatter: Any = None) -> Any:
        """Return a :class:`~celery.utils.graph.DependencyGraph` of the tree."""
        from celery.utils.graph import DependencyGraph, GraphFormatter
        graph = DependencyGraph(
            formatter=formatter or GraphFormatter(root=self.id, shape='oval'))
        for parent, node in self.iterdeps(intermediate=intermediate):
            graph.add_arc(node)
            if parent:
                graph.add_edge(parent, node)
        return graph

    @cached_property
    def graph(self) -> Any:
        return self.build_graph()

    # -- outcome -----------------------------------------------------------

    def maybe_throw(self, propagate: bool = True, callback: Callable | None = None) -> Any:
        """Raise the task's exception if it failed; else return its value."""
        cache = self._get_task_meta() if self._cache is None else self._cache
        state, value, tb = cache['status'], cache['result'], cache.get('traceback')
        if state in states.PROPAGATE_STATES and propagate:
            self.throw(value, self._to_remote_traceback(tb))
        if callback is not None:
            callback(self.id, value)
        return value

    maybe_reraise = maybe_throw

    def throw(self, *args: Any, **kwargs: Any) -> None:
        """Fail the ``on_ready`` promise and raise the exception."""
        self.on_ready.throw(*args, **kwargs)

    def _to_remote_traceback(self, tb: str | None) -> Any:
        if tb and tblib is not None and self.app.conf.get('task_remote_tracebacks'):
            return tblib.Traceback.from_string(tb).as_traceback()
        return None

    def forget(self) -> None:
        """Remove this result (and its parents') from the backend."""
        self._cache = None
        if self.parent:
            self.parent.forget()
        self.backend.forget(self.id)

    def revoke(self, connection: Any = None, terminate: bool = False,
               signal: Any = None, wait: bool = False, timeout: float | None = None) -> None:
        """Ask the workers not to run the task (or to kill it with ``terminate``)."""
        self.app.control.revoke(self.id, connection=connection, terminate=terminate,
                                signal=signal, reply=wait, timeout=timeout)

    def revoke_by_stamped_headers(self, headers: dict, connection: Any = None,
                                  terminate: bool = False, signal: Any = None,
                                  wait: bool = False, timeout: float | None = None) -> None:
        """Revoke every task whose stamps match ``headers``."""
        self.app.control.revoke_by_stamped_headers(
            headers, connection=connection, terminate=terminate, signal=signal,
            reply=wait, timeout=timeout)

    def ready(self) -> bool:
        """True once the task has finished (succeeded, failed or revoked)."""
        return self.state in self.backend.READY_STATES

    def successful(self) -> bool:
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        return self.state == states.FAILURE

    @property
    def supports_native_join(self) -> bool:
        return self.backend.supports_native_join

    # -- the record ----------------------------------------------------------

    def _get_task_meta(self) -> dict:
        if self._cache is None:
            return self._maybe_set_cache(self.backend.get_task_meta(self.id))
        return self._cache

    def _iter_meta(self, **kwargs: Any) -> Iterator[dict]:
        return iter([self._get_task_meta()])

    def _set_cache(self, meta: dict) -> dict:
        children = meta.get('children')
        if children:
            meta['children'] = [result_from_tuple(child, self.app) for child in children]
        self._cache = meta
        return meta

    def _maybe_set_cache(self, meta: dict) -> dict:
        if meta and meta['status'] in states.READY_STATES:
            cached = self._set_cache(self.backend.meta_from_decoded(meta))
            self.on_ready(self)
            return cached
        return meta

    @property
    def state(self) -> str:
        """The task's state: PENDING, STARTED, RETRY, SUCCESS, FAILURE, ..."""
        return self._get_task_meta()['status']

    status = state

    @property
    def result(self) -> Any:
        """The return value, or the exception if the task failed."""
        return self._get_task_meta()['result']

    info = result

    @property
    def traceback(self) -> str | None:
        return self._get_task_meta().get('traceback')

    @property
    def children(self) -> list | None:
        return self._get_task_meta().get('children')

    @property
    def date_done(self) -> datetime.datetime | None:
        """When the task finished (UTC)."""
        value = self._get_task_meta().get('date_done')
        if value and not isinstance(value, datetime.datetime):
            return datetime.datetime.fromisoformat(value)
        return value

    @property
    def name(self) -> str | None:
        return self._get_task_meta().get('name')

    @property
    def args(self) -> Any:
        return self._get_task_meta().get('args')

    @property
    def kwargs(self) -> Any:
        return self._get_task_meta().get('kwargs')

    @property
    def worker(self) -> str | None:
        return self._get_task_meta().get('worker')

    @property
    def retries(self) -> int | None:
        return self._get_task_meta().get('retries')

    @property
    def queue(self) -> str | None:
        return self._get_task_meta().get('queue')


class EagerResult(AsyncResult):
    """The result of a task run in place (``apply`` or ``task_always_eager``)."""

    def __init__(self, id: str, ret_value: Any, state: str,
                 traceback: str | None = None, name: str | None = None) -> None:
        self.id = id
        self._result = ret_value
        self._state = state
        self._traceback = traceback
        self._name = name
        self.parent = None
        self.task_name = name
        self._ignored = False
        self.on_ready = promise()
        self.on_ready(self)

    def then(self, callback: Callable, on_error: Callable | None = None,
             weak: bool = False) -> promise:
        return self.on_ready.then(callback, on_error)

    def _get_task_meta(self) -> dict:
        return self._cache

    def __reduce_args__(self) -> tuple:
        return self.id, self._result, self._state, self._traceback

    def __copy__(self) -> EagerResult:
        cls, args = self.__reduce__()
        return cls(*args)

    def ready(self) -> bool:
        return True

    def get(self, timeout: float | None = None, propagate: bool = True,
            disable_sync_subtasks: bool = True, **kwargs: Any) -> Any:
        """Return the value, or raise the task's exception when ``propagate``."""
        if disable_sync_subtasks:
            assert_will_not_block()
        if self.successful():
            return self.result
        if self.state in states.PROPAGATE_STATES:
            if propagate:
                value = self.result
                raise value if isinstance(value, BaseException) else Exception(value)
            return self.result
        return None

    wait = get

    def forget(self) -> None:
        pass

    def revoke(self, *args: Any, **kwargs: Any) -> None:
        self._state = states.REVOKED

    def __repr__(self) -> str:
        return f'<EagerResult: {self.id}>'

    @property
    def _cache(self) -> dict:  # type: ignore[override]
        return {'task_id': self.id, 'result': self._result, 'status': self._state,
                'traceback': self._traceback, 'name': self._name}

    @_cache.setter
    def _cache(self, value: Any) -> None:
        pass

    @property
    def result(self) -> Any:  # type: ignore[override]
        return self._result

    info = result

    @property
    def state(self) -> str:  # type: ignore[override]
        return self._state

    status = state

    @property
    def traceback(self) -> str | None:  # type: ignore[override]
        return self._traceback

    @property
    def name(self) -> str | None:  # type: ignore[override]
        return self._name

    @property
    def supports_native_join(self) -> bool:  # type: ignore[override]
        return False


class _CallAll:
    """Call each of the given callables (None entries skipped) in order."""

    __slots__ = ('calls',)

    def __init__(self, *calls: Callable | None) -> None:
        self.calls = [call for call in calls if call is not None]

    def __call__(self) -> None:
        for call in self.calls:
            call()


def result_from_tuple(r: Any, app: Celery | None = None) -> ResultBase:
    """Rebuild a result from :meth:`AsyncResult.as_tuple` / :meth:`GroupResult.as_tuple`."""
    if isinstance(r, ResultBase):
        return r
    app = app_or_default(app)
    try:
        res, nodes = r
        task_id, parent = res if isinstance(res, (list, tuple)) else (res, None)
    except (TypeError, ValueError):
        raise ValueError(f'Not a stored result tuple: {r!r}') from None
    if parent:
        parent = result_from_tuple(parent, app)
    if nodes is not None:
        return app.GroupResult(
            task_id, [result_from_tuple(child, app) for child in nodes], parent=parent)
    return app.AsyncResult(task_id, parent=parent)


# Defined in a private module to keep this one small; import them from here.
from celery._result_sets import GroupResult, ResultSet  # noqa: E402

"""Built-in tasks every app has: backend cleanup, chord unlocking, map, chunks, ...

Each is added to an app when it finalizes (``connect_on_app_finalize``),
with Celery's names and arguments so that messages from and to Celery
workers mean the same thing.  ``celery.ping`` lives in
:mod:`celery.contrib.testing.tasks`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery._state import connect_on_app_finalize

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = ()

logger = logging.getLogger('celery.app.builtins')


@connect_on_app_finalize
def add_backend_cleanup_task(app: Celery) -> Any:
    """``celery.backend_cleanup``: let the result backend expire old results.

    Beat runs it daily when ``result_expires`` is set.
    """
    @app.task(name='celery.backend_cleanup', shared=False, lazy=False)
    def backend_cleanup() -> None:
        app.backend.cleanup()
    return backend_cleanup


@connect_on_app_finalize
def add_accumulate_task(app: Celery) -> Any:
    """``celery.accumulate``: return its arguments (or the one at ``index``).

    Task.replace uses it as the body that turns a group into a chord.
    """
    @app.task(bind=True, name='celery.accumulate', shared=False, lazy=False)
    def accumulate(self: Any, *args: Any, **kwargs: Any) -> Any:
        index = kwargs.get('index')
        return args[index] if index is not None else args
    return accumulate


@connect_on_app_finalize
def add_unlock_chord_task(app: Celery) -> Any:
    """``celery.chord_unlock``: poll a chord's header, then call its body.

    Used by result backends that cannot count chord parts themselves.  It
    retries every ``interval`` seconds (``result_chord_retry_interval``)
    until every header result is ready, then sends the body with the
    results in header order, or fails the body with a ChordError.
    """
    from celery.canvas import maybe_signature
    from celery.exceptions import ChordError
    from celery.result import allow_join_result, result_from_tuple

    @app.task(name='celery.chord_unlock', max_retries=None, shared=False, bind=True,
              default_retry_delay=app.conf.result_chord_retry_interval)
    def unlock_chord(self: Any, group_id: str, callback: Any, interval: float | None = None,
                     max_retries: int | None = None, result: Any = None,
                     **kwargs: Any) -> None:
        if interval is None:
            interval = self.default_retry_delay
        callback = maybe_signature(callback, app=app)
        deps = app.GroupResult(group_id, [result_from_tuple(r, app=app) for r in result or ()],
                               app=app)
        try:
            ready = deps.ready()
        except Exception as exc:  # noqa: BLE001 - the backend may be down: try again
            raise self.retry(exc=exc, countdown=interval, max_retries=max_retries)
        if not ready:
            raise self.retry(countdown=interval, max_retries=max_retries)
        join = deps.join_native if deps.supports_native_join else deps.join
        try:
            with allow_join_result():
                values = join(timeout=app.conf.result_chord_join_timeout, propagate=True)
        except Exception as exc:  # noqa: BLE001 - a header task failed
            culprit = next(deps._failed_join_report(), None)
            reason = (f'Dependency {culprit.id} raised {exc!r}' if culprit is not None
                      else repr(exc))
            logger.exception('Chord %r raised: %r', group_id, exc)
            app.backend.chord_error_from_stack(callback, ChordError(reason))
            return
        try:
            callback.delay(values)
        except Exception as exc:  # noqa: BLE001 - e.g. the broker refused the body
            logger.exception('Chord %r raised: %r', group_id, exc)
            app.backend.chord_error_from_stack(
                callback, exc=ChordError(f'Callback error: {exc!r}'))
    return unlock_chord


@connect_on_app_finalize
def add_map_task(app: Celery) -> Any:
    """``celery.map``: ``[task(item) for item in it]``, in order, in one task."""
    from celery.canvas import signature

    @app.task(name='celery.map', shared=False, lazy=False)
    def xmap(task: Any, it: Any) -> list:
        fun = signature(task, app=app).type
        return [fun(item) for item in it]
    return xmap


@connect_on_app_finalize
def add_starmap_task(app: Celery) -> Any:
    """``celery.starmap``: ``[task(*args) for args in it]``, in order, in one task."""
    from celery.canvas import signature

    @app.task(name='celery.starmap', shared=False, lazy=False)
    def xstarmap(task: Any, it: Any) -> list:
        fun = signature(task, app=app).type
        return [fun(*args) for args in it]
    return xstarmap


@connect_on_app_finalize
def add_chunk_task(app: Celery) -> Any:
    """``celery.chunks``: send ``chunks(task, it, n)`` from a worker."""
    from celery.canvas import chunks as _chunks

    @app.task(name='celery.chunks', shared=False, lazy=False)
    def chunks(task: Any, it: Any, n: int) -> Any:
        return _chunks.apply_chunks(task, it, n, app=app)
    return chunks


@connect_on_app_finalize
def add_group_task(app: Celery) -> Any:
    """``celery.group``: send the members of a group (old-style group messages)."""
    from celery.canvas import maybe_signature
    from celery.result import result_from_tuple

    @app.task(name='celery.group', bind=True, shared=False, lazy=False)
    def group(self: Any, tasks: Any, result: Any, group_id: str, partial_args: Any,
              add_to_parent: bool = True) -> Any:
        result = result_from_tuple(result, app)
        members = [maybe_signature(t, app=app).clone(partial_args) for t in tasks]
        with app.producer_or_acquire() as producer:
            for member in members:
                member.apply_async(group_id=group_id, producer=producer, add_to_parent=False)
        parent = app.current_worker_task
        if add_to_parent and parent:
            parent.add_trail(result)
        return result
    return group


@connect_on_app_finalize
def add_chain_task(app: Celery) -> Any:
    """``celery.chain``: registered for compatibility; chains are never sent as a task."""
    @app.task(name='celery.chain', shared=False, lazy=False)
    def chain(*args: Any, **kwargs: Any) -> None:
        raise NotImplementedError('chain is not a real task')
    return chain


@connect_on_app_finalize
def add_chord_task(app: Celery) -> Any:
    """``celery.chord``: run a chord sent as a task (old-style chord messages)."""
    from celery.canvas import chord as _chord
    from celery.canvas import group, maybe_signature

    @app.task(name='celery.chord', bind=True, ignore_result=False, shared=False, lazy=False)
    def chord(self: Any, header: Any, body: Any, partial_args: Any = (),
              interval: float | None = None, countdown: float = 1,
              max_retries: int | None = None, eager: bool = False, **kwargs: Any) -> Any:
        header = maybe_signature(header, app=app) if isinstance(header, dict) else header
        tasks = header.tasks if isinstance(header, group) else header
        header = group([maybe_signature(t, app=app) for t in tasks], app=app)
        body = maybe_signature(body, app=app)
        return _chord(header, body, app=app).run(
            header, body, partial_args, app, interval, countdown, max_retries, **kwargs)
    return chord

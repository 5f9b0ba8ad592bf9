"""How a failure spreads: the chain after a failed task, errbacks, chord bodies.

Functions behind :class:`~celery.backends.base.Backend`'s ``_fail_chain``,
``_call_task_errbacks``, ``chord_error_from_stack`` and
``fail_from_current_stack`` (which stay the methods to override).  They run
in the worker process that recorded the failure.
"""
from __future__ import annotations

import logging
import sys
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from celery import states
from celery.exceptions import ChordError, NotRegistered

if TYPE_CHECKING:  # pragma: no cover
    from celery.backends.base import Backend

__all__ = ('fail_chain', 'call_task_errbacks', 'chord_error_from_stack',
           'fail_from_current_stack')

logger = logging.getLogger('celery.backends')


def fail_chain(backend: Backend, chain: Any, exc: BaseException,
               traceback: str | None = None, store_result: bool = True,
               state: str = states.FAILURE) -> None:
    """Fail the steps chained after a failed task, so nobody waits on them."""
    from celery.app.task import Context
    try:
        pending = deque(chain or ())
    except TypeError:
        return
    while pending:
        ctx = Context(pending.popleft())
        options = ctx.get('options') or {}
        ctx.update(options)
        ctx.id = options.get('task_id')
        ctx.group = options.get('group_id')
        in_chord = 'chord' in options
        already_failed = (in_chord and ctx.id is not None
                          and backend.get_state(ctx.id) in states.PROPAGATE_STATES)
        if store_result and state in states.PROPAGATE_STATES and ctx.id is not None:
            backend.store_result(ctx.id, exc, state, traceback=traceback, request=ctx)
        if in_chord and not already_failed:
            backend.on_chord_part_return(ctx, state, exc)
        if ctx.get('subtask_type') == 'chord':
            # A chord step finishes with its body: fail that too.
            body = (ctx.get('kwargs') or {}).get('body')
            if body is not None:
                pending.append(body)


def call_task_errbacks(backend: Backend, request: Any, exc: BaseException,
                       traceback: str | None) -> None:
    """Call the errbacks of ``request``.

    Errbacks whose task takes ``(request, exc, traceback)`` run in place;
    the others are sent as tasks given the failed task's id.
    """
    from celery.canvas import group
    app = backend.app
    by_id = []
    for errback in request.errbacks:
        errback = app.signature(errback)
        if not getattr(errback, '_app', None):
            errback._app = app
        try:
            in_place = _takes_request(errback)
        except NotRegistered:
            in_place = False
        if not in_place:
            by_id.append(errback)
            continue
        try:
            errback(request, exc, traceback)
        except Exception:  # noqa: BLE001 - one errback must not stop the others
            logger.exception('Errback %r raised an exception', errback.name)
    if by_id:
        task_id = request.id
        root_id = request.root_id or task_id
        errbacks = group(by_id, app=app)
        delivery_info = request.delivery_info or {}
        if app.conf.task_always_eager or delivery_info.get('is_eager', False):
            errbacks.apply((task_id,), parent_id=task_id, root_id=root_id)
        else:
            errbacks.apply_async((task_id,), parent_id=task_id, root_id=root_id)


def chord_error_from_stack(backend: Backend, callback: Any,
                           exc: BaseException | None = None) -> Any:
    """Fail the chord body ``callback`` with ``exc``, calling its errbacks.

    A body that is itself part of an enclosing chord counts as a failed part
    of it, so the enclosing chord fails too instead of waiting.
    """
    from celery.canvas import group
    if exc is None:
        exc = sys.exc_info()[1]
    try:
        owner = backend.app._tasks[callback.task].backend
    except (KeyError, AttributeError, TypeError):
        owner = backend
    if isinstance(callback, group):
        _fail_group_body(backend, callback, owner, exc)
        owner._fail_chain(callback.options.get('chain'), exc)
        return None
    options = callback.options
    callback_id = callback.id
    if not callback_id:
        from celery.utils.uuid import uuid
        callback_id = options['task_id'] = uuid()
    try:
        backend._call_task_errbacks(
            _fake_request(callback_id, options.get('link_error'), **callback), exc, None)
    except Exception as eb_exc:  # noqa: BLE001 - report the errback failure instead
        exc = eb_exc
    einfo = owner.fail_from_current_stack(
        callback_id, exc=exc, request=_part_request(callback_id, options))
    owner._fail_chain(options.get('chain'), exc)
    return einfo


def _fail_group_body(backend: Backend, body: Any, owner: Backend,
                     exc: BaseException) -> None:
    # Each task of a group body fails with the header's error and calls its
    # own errbacks and the group's; then the group's tasks are revoked.
    original = exc.__cause__ if isinstance(exc, ChordError) and exc.__cause__ else exc
    frozen = body.freeze()
    group_errbacks = list(body.options.get('link_error') or ())
    task_errbacks = {task.options.get('task_id'): list(task.options.get('link_error') or ())
                     for task in body.tasks}
    for result in getattr(frozen, 'results', ()):
        errbacks = []
        for errback in (*task_errbacks.get(result.id, ()), *group_errbacks):
            if errback not in errbacks:
                errbacks.append(errback)
        try:
            owner._call_task_errbacks(_fake_request(result.id, errbacks), original, None)
        except Exception:  # noqa: BLE001 - every task of the group must be failed
            logger.exception('Errback of chord body task %s raised', result.id)
        owner.fail_from_current_stack(result.id, exc=original)
    if getattr(frozen, 'id', None):
        owner.mark_as_failure(frozen.id, original)
    try:
        frozen.revoke()
    except Exception:  # noqa: BLE001 - no broker: the failures are stored anyway
        logger.warning('Could not revoke the tasks of a failed chord body', exc_info=True)


def fail_from_current_stack(backend: Backend, task_id: str,
                            exc: BaseException | None = None, request: Any = None) -> Any:
    """Mark ``task_id`` failed with the exception being handled (or ``exc``)."""
    from billiard.einfo import ExceptionInfo
    _, real_exc, tb = sys.exc_info()
    try:
        exc = real_exc if exc is None else exc
        if tb is None:
            # Not called from an except block: give the error a traceback.
            try:
                raise exc
            except BaseException:
                tb = sys.exc_info()[2]
        einfo = ExceptionInfo((type(exc), exc, tb))
        backend.mark_as_failure(task_id, exc, einfo.traceback, request=request,
                                call_errbacks=False)
        return einfo
    finally:
        del tb


def _fake_request(task_id: str, errbacks: Any = None, **extra: Any) -> Any:
    # The request errbacks of a task that never ran are called with.
    from celery.app.task import Context
    return Context({'id': task_id, 'errbacks': list(errbacks or ()),
                    'delivery_info': {}, 'task': extra.get('task', 'unknown'), **extra})


def _part_request(task_id: str, options: dict) -> Any:
    # A chord body that is a part of an enclosing chord reports as such.
    if not options.get('chord'):
        return None
    from celery.app.task import Context
    return Context(id=task_id, group=options.get('group_id'),
                   group_index=options.get('group_index'), chord=options.get('chord'),
                   delivery_info={})


def _takes_request(errback: Any) -> bool:
    # New-style errbacks: the task takes (request, exc, traceback) besides
    # the arguments already stored in a mutable signature.
    from celery.utils.functional import arity_greater
    header = getattr(errback.type, '__header__', None)
    if header is None or isinstance(header, partial):
        return False
    try:
        if not errback.immutable and (errback.args or errback.kwargs):
            try:
                return arity_greater(partial(header, *errback.args, **errback.kwargs), 1)
            except (TypeError, ValueError):
                pass
        return arity_greater(header, 1)
    except (TypeError, ValueError):
        return False

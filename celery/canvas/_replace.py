"""Task-side canvas operations: replacing a running task, growing its chord.

:class:`~celery.app.task.Task` delegates ``replace``, ``on_replace`` and
``add_to_chord`` here.  They run inside the worker process (or an eager
call), in the task being executed, and read its ``request``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery.canvas._base import Signature, signature
from celery.canvas._chain import _chain
from celery.canvas._group import group
from celery.exceptions import Ignore, ImproperlyConfigured
from celery.utils.functional import maybe_list

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.task import Task

__all__ = ('_replace_task', '_prepare_replacement', '_apply_replacement', '_add_to_chord')


def _prepare_replacement(task: Task, sig: Signature) -> Signature:
    """Return ``sig`` ready to stand in for the running ``task``.

    It takes the task's id (its last step does, for a chain), so results
    already handed out stay valid; it inherits the task's callbacks,
    errbacks, group, chord and root, and the rest of the task's chain runs
    after it.  A group is upgraded to a chord (body ``celery.accumulate``)
    so that something can follow it.
    """
    request = task.request
    if not isinstance(sig, Signature):
        raise TypeError(f'A task can only be replaced by a signature, not {sig!r}')
    if 'chord' in sig.options:
        raise ImproperlyConfigured('A signature replacing a task must not be part of a chord')
    if isinstance(sig, _chain) and not sig.tasks:
        raise ImproperlyConfigured('Cannot replace with an empty chain')
    if isinstance(sig, group):
        sig = sig | task.app.tasks['celery.accumulate'].s(index=0)
    for callback in maybe_list(request.callbacks) or ():
        sig.link(callback)
    for errback in maybe_list(request.errbacks) or ():
        sig.link_error(errback)
    if isinstance(sig, _chain) and sig.options.get('link'):
        # The chain's callbacks must run after its last step.
        sig.tasks[-1].extend_list_option('link', sig.options['link'])
    sig.freeze(request.id)
    nesting = (request.get('replaced_task_nesting') or 0) + 1
    sig.set(chord=request.chord, group_id=request.group, group_index=request.group_index,
            root_id=request.root_id, replaced_task_nesting=nesting)
    stamps = _request_stamps(request)
    if stamps:
        sig.stamp(**stamps)
    for step in reversed(request.chain or ()):
        sig |= signature(step, app=task.app)
    return sig


def _request_stamps(request: Any) -> dict:
    names = maybe_list(request.get('stamped_headers')) or ()
    stamps = request.get('stamps') or {}
    return {name: stamps[name] for name in names if name in stamps}


def _apply_replacement(task: Task, sig: Signature) -> Any:
    """Run ``sig`` in place of ``task``: inline when eager, else send it and raise Ignore."""
    if task.request.is_eager:
        from celery.result import allow_join_result
        with allow_join_result():  # ran inline: nothing to wait for
            return sig.apply().get()
    sig.delay()
    raise Ignore('Replaced by new task')


def _replace_task(task: Task, sig: Signature) -> Any:
    """Implement ``Task.replace``: prepare ``sig`` and hand it to ``task.on_replace``."""
    return task.on_replace(_prepare_replacement(task, sig))


def _add_to_chord(task: Task, sig: Signature, lazy: bool = False) -> Any:
    """Implement ``Task.add_to_chord``: make ``sig`` one more header task of the chord.

    Returns the sent result, or with ``lazy`` the prepared signature (send it yourself).
    """
    request = task.request
    if not request.chord:
        raise ValueError('Current task is not member of any chord')
    sig.set(group_id=request.group, group_index=request.group_index,
            chord=request.chord, root_id=request.root_id)
    result = sig.freeze()
    task.backend.add_to_chord(request.group, result)
    return sig if lazy else sig.delay()

"""The group: signatures applied in parallel, with one :class:`GroupResult`.

Sending a group sends one message per member; nested groups are flattened
into their parent.  Every member carries the group id (``group_id``) and its
position (``group_index``), which chord counting relies on.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from celery.canvas._base import Signature, _Members, maybe_signature, signature
from celery.utils.uuid import uuid

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = ('group', 'maybe_unroll_group', '_maybe_group', 'as_member', 'CALL_ONLY_OPTIONS')

#: apply_async arguments that only steer this one call; never stored in a signature.
CALL_ONLY_OPTIONS = frozenset({
    'producer', 'publisher', 'connection', 'router', 'result_cls', 'add_to_parent',
})


def as_member(task: Any, app: Celery | None = None, where: str = 'group') -> Signature:
    """Return ``task`` as a signature, or raise a clear TypeError."""
    if isinstance(task, Signature):
        return task
    if isinstance(task, dict):
        return signature(task, app=app)
    hint = ''
    if hasattr(task, 'name') and hasattr(task, 'apply_async'):
        hint = f' (use {task.name}.s(...) to make one)'
    raise TypeError(f'{where} members must be signatures, not {task!r}{hint}')


def _maybe_group(tasks: Any, app: Celery | None) -> list:
    """Return the list of signatures that ``tasks`` (a group, chain, signature or iterable) holds."""
    from celery.canvas._chain import _chain
    if isinstance(tasks, dict) and not isinstance(tasks, Signature):
        tasks = signature(tasks, app=app)
    if isinstance(tasks, (group, _chain)):
        return list(tasks.tasks)
    if isinstance(tasks, Signature):
        return [tasks]
    try:
        items = list(tasks)
    except TypeError:
        raise TypeError(f'Expected signatures or an iterable of signatures, not {tasks!r}') from None
    return [as_member(t, app) for t in items]


def maybe_unroll_group(g: group) -> Any:
    """A group of exactly one signature is that signature; other groups stay."""
    return g.tasks[0] if len(g.tasks) == 1 else g


def _is_empty_group(task: Any) -> bool:
    return isinstance(task, group) and not task.tasks


def _countdowns(start: float, stop: float | None, step: float) -> Iterator[float]:
    value = start
    while stop is None or value <= stop:
        yield value
        value += step
    while True:
        yield value - step


@Signature.register_type()
class group(_Members):
    """Signatures applied in parallel; calling it returns a :class:`GroupResult`.

    Arguments:
        *tasks: the signatures, or one iterable (a list, a generator) of them.
        **options: execution options applied to every member.
    """

    __module__ = 'celery.canvas'

    @classmethod
    def from_dict(cls, d: dict, app: Celery | None = None) -> group:
        tasks = [maybe_signature(t, app=app) for t in d['kwargs']['tasks']]
        sig = cls(tasks, app=app, **d.get('options') or {})
        sig['immutable'] = d.get('immutable', False)
        return sig

    def __init__(self, *tasks: Any, **options: Any) -> None:
        app = options.get('app')
        if len(tasks) == 1:
            only = tasks[0]
            if isinstance(only, group):
                members = list(only.tasks)
            elif isinstance(only, Signature):
                members = [only.clone()]
            elif isinstance(only, dict):
                members = [signature(only, app=app)]
            else:
                try:
                    members = list(only)
                except TypeError:
                    members = [only]  # let as_member explain
        else:
            members = list(tasks)
        members = [as_member(t, app) for t in members]
        super().__init__('celery.group', (), {'tasks': members}, **options)
        self.subtask_type = 'group'

    def __len__(self) -> int:
        return len(self.tasks)

    def __call__(self, *partial_args: Any, **options: Any) -> Any:
        return self.apply_async(partial_args, **options)

    def __or__(self, other: Any) -> Any:
        from celery.canvas._chord import chord
        if _is_empty_group(other):
            return self
        if isinstance(other, Signature):
            return chord(self, body=other, app=self._app)
        return NotImplemented

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> group:
        """Give the members increasing countdowns: start, start+step, ... up to stop."""
        it = _countdowns(start, stop, step)
        for task in self.tasks:
            task.set(countdown=next(it))
        return self

    def set_immutable(self, immutable: bool) -> None:
        for task in self.tasks:
            task.set_immutable(immutable)

    def link(self, sig: Signature) -> Signature:
        """Link ``sig`` (made immutable) to the first member only.

        The callback may run before the other members finish: use a chord
        to act on the whole group.
        """
        if not self.tasks:
            raise ValueError('Cannot link to an empty group')
        return self.tasks[0].link(maybe_signature(sig).clone().set(immutable=True))

    def link_error(self, sig: Signature) -> tuple:
        """Link a copy of ``sig`` to every member (it may run more than once)."""
        sig = maybe_signature(sig)
        return tuple(task.link_error(sig.clone()) for task in self.tasks)

    # -- running -----------------------------------------------------------

    def apply_async(self, args: Any = None, kwargs: dict | None = None,
                    add_to_parent: bool = True, producer: Any = None,
                    link: Any = None, link_error: Any = None, **options: Any) -> Any:
        """Send every member; returns the :class:`~celery.result.GroupResult`."""
        if link is not None:
            raise TypeError('Cannot add link to group: use a chord')
        if link_error is not None:
            raise TypeError('Cannot add link to group: do that on individual tasks')
        app = self.app
        if app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        if not self.tasks:
            return self.freeze()
        options, group_id, root_id = self._freeze_gid(options)
        prepared = list(self._prepared(self.tasks, (), group_id, root_id, app))
        results = self._apply_tasks(prepared, producer, app, args=args, kwargs=kwargs,
                                    **options)
        result = app.GroupResult(group_id, results)
        # group(a | group(b, c)): the result is the inner group's.
        from celery.result import GroupResult
        if len(results) == 1 and isinstance(results[0], GroupResult):
            result = results[0]
        parent = app.current_worker_task
        if add_to_parent and parent:
            parent.add_trail(result)
        return result

    def apply(self, args: Any = None, kwargs: dict | None = None, **options: Any) -> Any:
        """Run every member here, in order; returns a GroupResult of EagerResults."""
        app = self.app
        if not self.tasks:
            return self.freeze()
        options, group_id, root_id = self._freeze_gid(options)
        options.pop('group_index', None)
        options.pop('chord', None)
        for key in CALL_ONLY_OPTIONS:
            options.pop(key, None)
        results = []
        for sig, _, _ in self._prepared(self.tasks, (), group_id, root_id, app):
            # Run in place, a member never counts toward a chord: an eager
            # chord calls its body itself.
            sig.options.pop('chord', None)
            results.append(sig.apply(args=args, kwargs=kwargs, **options))
        return app.GroupResult(group_id, results)

    def _freeze_gid(self, options: dict) -> tuple:
        # The group's own task_id (if any) becomes the members' group_id.
        mine = self.options
        merged = dict(mine)
        merged.update((k, v) for k, v in options.items()
                      if k not in self._IMMUTABLE_OPTIONS or k not in mine)
        group_id = merged.pop('task_id', None) or uuid()
        merged['group_id'] = group_id
        return merged, group_id, merged.get('root_id')

    def _prepared(self, tasks: Iterable, partial_args: tuple, group_id: str,
                  root_id: str | None, app: Celery) -> Iterator[tuple]:
        """Yield ``(signature, result, group_id)`` per member, nested groups flattened."""
        from celery.canvas._chain import _chain
        for index, task in enumerate(tasks):
            task = maybe_signature(task, app=app).clone()
            if isinstance(task, group):
                yield from task._prepared(task.tasks, partial_args, group_id, root_id, app)
                continue
            if isinstance(task, _chain) and not task.tasks:
                continue
            if partial_args and not task.immutable:
                task.args = tuple(partial_args) + tuple(task.args)
            yield task, task.freeze(group_id=group_id, root_id=root_id,
                                    group_index=index), group_id

    def _apply_tasks(self, prepared: list, producer: Any = None, app: Celery | None = None,
                     chord: Any = None, args: Any = None, kwargs: dict | None = None,
                     group_index: Any = None, add_to_parent: Any = None,
                     **options: Any) -> list:
        app = app or self.app
        results = []
        with app.producer_or_acquire(producer) as producer:
            for sig, res, _ in prepared:
                chord_body = chord if chord is not None else sig.options.get('chord')
                sig.apply_async(producer=producer, add_to_parent=False, chord=chord_body,
                                args=args, kwargs=kwargs, **options)
                results.append(res)
        return results

    def _freeze_group_tasks(self, _id: str | None = None, group_id: str | None = None,
                            chord: Signature | None = None, root_id: str | None = None,
                            parent_id: str | None = None,
                            group_index: int | None = None) -> tuple:
        """Give the group and every (flattened) member an id; return ``(id, results)``."""
        from celery.canvas._chain import _chain
        opts = self.options
        gid = opts.get('task_id')
        if gid is None:
            gid = opts['task_id'] = _id or uuid()
        if group_id:
            opts['group_id'] = group_id
        if chord:
            opts['chord'] = chord
        if group_index is not None:
            opts['group_index'] = group_index
        root_id = opts.setdefault('root_id', root_id)
        parent_id = opts.setdefault('parent_id', parent_id)
        members_gid = group_id  # a header gets it when its chord runs
        flat, results = [], []
        stack = deque(self.tasks)
        while stack:
            task = maybe_signature(stack.popleft(), app=self._app).clone()
            if isinstance(task, group):
                stack.extendleft(reversed(task.tasks))
                continue
            if isinstance(task, _chain) and not task.tasks:
                continue
            results.append(task.freeze(group_id=members_gid, chord=chord, root_id=root_id,
                                       parent_id=parent_id, group_index=len(flat)))
            flat.append(task)
        self.tasks = flat
        return gid, results

    def freeze(self, _id: str | None = None, group_id: str | None = None,
               chord: Signature | None = None, root_id: str | None = None,
               parent_id: str | None = None, group_index: int | None = None) -> Any:
        """Fix the ids of the group and its members; returns the GroupResult."""
        return self.app.GroupResult(*self._freeze_group_tasks(
            _id=_id, group_id=group_id, chord=chord, root_id=root_id,
            parent_id=parent_id, group_index=group_index))

    _freeze = freeze

    def stamp(self, visitor: Any = None, append_stamps: bool = False, **headers: Any) -> None:
        from celery.canvas._stamping import stamp_headers
        found = visitor.on_group_start(self, **headers) if visitor is not None else None
        headers = stamp_headers(self, found, append_stamps, **headers)
        self.stamp_links(visitor, append_stamps, **headers)
        self.set(**headers)
        for task in self.tasks:
            task.stamp(visitor, append_stamps, **headers)
        if visitor is not None:
            visitor.on_group_end(self, **headers)

    def __repr__(self) -> str:
        if not self.tasks:
            return 'group(<empty>)'
        from celery.utils.text import remove_repeating_from_task
        return remove_repeating_from_task(self.tasks[0]['task'], f'group({self.tasks!r})')


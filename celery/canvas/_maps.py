"""Map, starmap and chunks: many calls of one task in few messages.

:class:`xmap` and :class:`xstarmap` send one message that runs the task
sequentially over a list (the ``celery.map`` / ``celery.starmap`` built-ins).
:class:`chunks` splits the list into parts and sends a group with one
starmap per part.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from celery.canvas._base import Signature, maybe_signature
from celery.canvas._group import group
from celery.utils.functional import chunks as _split

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = ('xmap', 'xstarmap', 'chunks')


def _task_name(task: Any) -> Any:
    return getattr(task, 'name', task)


class _basemap(Signature):
    """Common part of map and starmap: kwargs ``task`` (a signature) and ``it``."""

    _task_name: str = ''

    @classmethod
    def from_dict(cls, d: dict, app: Celery | None = None) -> _basemap:
        kwargs = d['kwargs']
        return cls(maybe_signature(kwargs['task'], app=app), kwargs['it'], app=app,
                   **d.get('options') or {})

    def __init__(self, task: Any, it: Iterable, **options: Any) -> None:
        super().__init__(self._task_name, (), {'task': task, 'it': list(it)},
                         immutable=True, **options)

    def _rebuild(self, args: tuple, kwargs: dict, options: dict) -> Signature:
        sig = type(self)(kwargs['task'], kwargs['it'], app=self._app, **options)
        sig['subtask_type'] = self.subtask_type
        return sig

    def apply_async(self, args: Any = None, kwargs: dict | None = None, **opts: Any) -> Any:
        task, it = self.kwargs['task'], self.kwargs['it']
        route_name = opts.pop('route_name', None) or _task_name(task)
        options = self._merge((), {}, {k: v for k, v in opts.items() if v is not None})[2]
        return self.type.apply_async((), {'task': task, 'it': list(it)},
                                     route_name=route_name, **options)


@Signature.register_type()
class xmap(_basemap):
    """``[task(item) for item in it]`` in one task, in order."""

    __module__ = 'celery.canvas'
    _task_name = 'celery.map'

    def __init__(self, task: Any, it: Iterable, **options: Any) -> None:
        super().__init__(task, it, **options)
        self.subtask_type = 'xmap'

    def __repr__(self) -> str:
        from celery.utils.text import truncate
        task, it = self.kwargs['task'], self.kwargs['it']
        return f'[{_task_name(task)}(x) for x in {truncate(repr(it), 100)}]'


@Signature.register_type()
class xstarmap(_basemap):
    """``[task(*item) for item in it]`` in one task, in order."""

    __module__ = 'celery.canvas'
    _task_name = 'celery.starmap'

    def __init__(self, task: Any, it: Iterable, **options: Any) -> None:
        super().__init__(task, it, **options)
        self.subtask_type = 'xstarmap'

    def __repr__(self) -> str:
        from celery.utils.text import truncate
        task, it = self.kwargs['task'], self.kwargs['it']
        return f'[{_task_name(task)}(*x) for x in {truncate(repr(it), 100)}]'


@Signature.register_type()
class chunks(Signature):
    """The calls of ``task`` over ``it``, ``n`` argument tuples per message.

    Calling it sends a group of :class:`xstarmap` parts; :meth:`group`
    returns that group (e.g. to :meth:`~group.skew` it).
    """

    __module__ = 'celery.canvas'

    @classmethod
    def from_dict(cls, d: dict, app: Celery | None = None) -> chunks:
        kwargs = d['kwargs']
        return cls(maybe_signature(kwargs['task'], app=app), kwargs['it'], kwargs['n'],
                   app=app, **d.get('options') or {})

    def __init__(self, task: Any, it: Iterable, n: int, **options: Any) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f'chunks() needs a chunk size of at least 1, not {n!r}')
        super().__init__('celery.chunks', (), {'task': task, 'it': list(it), 'n': n},
                         immutable=True, **options)
        self.subtask_type = 'chunks'

    def _rebuild(self, args: tuple, kwargs: dict, options: dict) -> Signature:
        return type(self)(kwargs['task'], kwargs['it'], kwargs['n'], app=self._app, **options)

    def __call__(self, **options: Any) -> Any:
        return self.apply_async(**options)

    def apply_async(self, args: Any = None, kwargs: dict | None = None, **opts: Any) -> Any:
        return self.group().apply_async(
            args, kwargs, route_name=_task_name(self.kwargs['task']), **opts)

    def group(self) -> group:
        """The group of starmaps, one per chunk of ``n`` items."""
        task, it, n = self.kwargs['task'], self.kwargs['it'], self.kwargs['n']
        return group([xstarmap(task, part, app=self._app) for part in _split(iter(it), n)],
                     app=self._app, **self.options)

    @classmethod
    def apply_chunks(cls, task: Any, it: Iterable, n: int, app: Celery | None = None) -> Any:
        """Send ``chunks(task, it, n)`` (what the ``celery.chunks`` task does)."""
        return cls(task, it, n, app=app)()

    def __repr__(self) -> str:
        from celery.utils.text import truncate
        task, it, n = self.kwargs['task'], self.kwargs['it'], self.kwargs['n']
        return f'{_task_name(task)}.chunks({truncate(repr(it), 100)}, {n})'

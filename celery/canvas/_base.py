"""The signature: one task invocation as a plain, serializable ``dict``.

A :class:`Signature` holds the keys ``task``, ``args``, ``kwargs``, ``options``,
``subtask_type``, ``immutable`` and ``chord_size``, so any serializer can send
it.  The workflow types (chain, group, chord, ...) subclass it and register
under their ``subtask_type``; :meth:`Signature.from_dict` rebuilds the right
class from a received dict.  Signatures are not thread safe: freezing, linking
and stamping change them in place.
"""
from __future__ import annotations

import copy
import types
from collections.abc import MutableSequence
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from celery._state import get_current_app
from celery.utils.functional import maybe_list
from celery.utils.uuid import uuid

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery
    from celery.result import AsyncResult

__all__ = ('Signature', 'signature', 'maybe_signature', 'subtask', 'maybe_subtask')

#: Keys every signature dict has, with a factory for a missing (or null) value.
_DEFAULT_KEYS: tuple = (
    ('args', tuple), ('kwargs', dict), ('options', dict),
    ('subtask_type', lambda: None), ('immutable', lambda: False),
    ('chord_size', lambda: None),
)


class _key:
    """Attribute view of ``sig[name]`` (or of ``sig['options'][name]``)."""

    def __init__(self, name: str, option: bool = False, doc: str | None = None) -> None:
        self.name, self.option = name, option
        self.__doc__ = doc

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        if self.option:
            return obj['options'].get(self.name)
        return obj.get(self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        if self.option:
            obj['options'][self.name] = value
        else:
            obj[self.name] = value


def _copy_option(value: Any) -> Any:
    """Copy an option value so that clones never share mutable state."""
    if isinstance(value, Signature):
        return value.clone()
    if isinstance(value, list):
        return [_copy_option(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_option(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool, type(None), tuple)):
        return value
    return copy.deepcopy(value)


def _copy_options(options: dict) -> dict:
    # The chord body a header task points to is shared by the whole header:
    # the copy points to the same body.
    return {k: v if k == 'chord' else _copy_option(v) for k, v in options.items()}


class Signature(dict):
    """The arguments and execution options of one task invocation.

    Create them with :func:`signature`, ``task.s(...)``, ``task.si(...)`` or
    ``task.signature(args, kwargs, **options)``; use this class for
    ``isinstance`` checks.

    Arguments:
        task: a task (class or instance), a task name, or a signature dict.
        args: positional arguments.
        kwargs: keyword arguments.
        options: execution options for ``apply_async`` (also taken from ``**ex``).
        subtask_type: the registered type name (``'chain'``, ``'group'``, ...).
        immutable: when true, partial arguments given at call time are ignored.
        app: the app to use (default: the current app).
    """

    __module__ = 'celery.canvas'

    #: subtask_type name -> class, filled by :meth:`register_type`.
    TYPES: ClassVar[dict[str, type]] = {}
    #: Options a merge never overrides once set (chord counting relies on them).
    _IMMUTABLE_OPTIONS: ClassVar[frozenset] = frozenset({'group_id', 'stamped_headers'})

    _app: Celery | None = None
    _type: Any = None

    @classmethod
    def register_type(cls, name: str | None = None) -> Callable[[type], type]:
        """Class decorator registering a signature subclass under ``name``."""
        def _register(subclass: type) -> type:
            cls.TYPES[name or subclass.__name__] = subclass
            return subclass
        return _register

    @classmethod
    def from_dict(cls, d: dict, app: Celery | None = None) -> Signature:
        """Rebuild a signature (of the registered subclass) from its dict form."""
        typ = d.get('subtask_type')
        if typ:
            try:
                target = cls.TYPES[typ]
            except KeyError:
                raise ValueError(f'Unknown signature type {typ!r}: {d!r}') from None
            if target is not cls:
                return target.from_dict(d, app=app)
            return cls(d, app=app)
        return Signature(d, app=app)

    def __init__(self, task: Any = None, args: Any = None, kwargs: dict | None = None,
                 options: dict | None = None, type: Any = None,  # noqa: A002 - Celery's name
                 subtask_type: str | None = None, immutable: bool = False,
                 app: Celery | None = None, **ex: Any) -> None:
        self._app = app
        if isinstance(task, dict):
            super().__init__(task)
            for key, default in _DEFAULT_KEYS:
                if self.get(key) is None:
                    self[key] = default()
            return
        if task is not None and not isinstance(task, str):
            name = getattr(task, 'name', None)
            if not isinstance(name, str):
                raise TypeError(
                    f'A signature needs a task, a task name or a signature dict, '
                    f'not {task!r}')
            self._type = task
            task = name
        super().__init__(
            task=task, args=tuple(args or ()), kwargs=dict(kwargs or {}),
            options=dict(options or {}, **ex), subtask_type=subtask_type,
            immutable=immutable, chord_size=None)

    # -- fields ------------------------------------------------------------

    id = _key('task_id', option=True, doc='The task id, once frozen.')
    parent_id = _key('parent_id', option=True, doc='Id of the task that sent this one.')
    root_id = _key('root_id', option=True, doc='Id of the first task of the workflow.')
    task = _key('task', doc='Name of the task.')
    args = _key('args', doc='Positional arguments.')
    kwargs = _key('kwargs', doc='Keyword arguments.')
    options = _key('options', doc='Execution options.')
    subtask_type = _key('subtask_type', doc='The registered type name, or None.')
    immutable = _key('immutable', doc='True if partial arguments are ignored.')
    chord_size = _key('chord_size', doc='Tasks a chord waits for, set on chord bodies.')

    @property
    def name(self) -> str:
        """The task name (duck typing with :attr:`Task.name`)."""
        return self['task']

    @property
    def app(self) -> Celery:
        return self._app if self._app is not None else get_current_app()

    @property
    def type(self) -> Any:
        """The task this signature calls (raises NotRegistered if unknown)."""
        if self._type is None:
            self._type = self.app.tasks[self['task']]
        return self._type

    @property
    def AsyncResult(self) -> Callable[..., AsyncResult]:  # noqa: N802 - Celery's name
        try:
            return self.type.AsyncResult
        except KeyError:  # not registered here: a plain result of the app
            return self.app.AsyncResult

    # -- calling -----------------------------------------------------------

    def __call__(self, *partial_args: Any, **partial_kwargs: Any) -> Any:
        """Call the task function in this process (no message, no result)."""
        args, kwargs, _ = self._merge(partial_args, partial_kwargs, None)
        return self.type(*args, **kwargs)

    def delay(self, *partial_args: Any, **partial_kwargs: Any) -> Any:
        """Star-argument shortcut to :meth:`apply_async`."""
        return self.apply_async(partial_args, partial_kwargs)

    def apply(self, args: Any = None, kwargs: dict | None = None, **options: Any) -> Any:
        """Run the task here and now; returns an :class:`~celery.result.EagerResult`."""
        options = {k: v for k, v in options.items() if v is not None}
        args, kwargs, options = self._merge(args, kwargs, options)
        return self.type.apply(args, kwargs, **options)

    def apply_async(self, args: Any = None, kwargs: dict | None = None,
                    route_name: str | None = None, **options: Any) -> Any:
        """Send the task: partial args are prepended, kwargs and options merged."""
        options = {k: v for k, v in options.items() if v is not None}
        if args or kwargs or options:
            args, kwargs, options = self._merge(args, kwargs, options)
        else:
            args, kwargs, options = self.args, self.kwargs, self.options
        return self._sender()(args, kwargs, **options)

    def _sender(self) -> Callable[..., Any]:
        try:
            return self.type.apply_async
        except KeyError:  # unknown here: it may be known to the workers
            return partial(self.app.send_task, self['task'])

    def _merge(self, args: Any = None, kwargs: dict | None = None,
               options: dict | None = None, force: bool = False) -> tuple:
        """Return ``(args, kwargs, options)`` with the partial values merged in."""
        if options:
            locked = self._IMMUTABLE_OPTIONS.union(self.options.get('stamped_headers') or ())
            mine = self.options
            new_options = dict(mine)
            new_options.update(
                (k, v) for k, v in options.items() if k not in locked or k not in mine)
        else:
            new_options = self.options
        if self.immutable and not force:
            return self.args, self.kwargs, new_options
        return (tuple(args) + tuple(self.args) if args else self.args,
                {**self.kwargs, **kwargs} if kwargs else self.kwargs,
                new_options)

    def __invert__(self) -> Any:
        return self.apply_async().get()

    # -- copies ------------------------------------------------------------

    def clone(self, args: Any = None, kwargs: dict | None = None, **opts: Any) -> Signature:
        """Return a copy, with partial args prepended and kwargs/options merged."""
        if args or kwargs or opts:
            args, kwargs, opts = self._merge(args, kwargs, opts)
        else:
            args, kwargs, opts = self.args, self.kwargs, self.options
        sig = self._rebuild(tuple(args), self._copy_kwargs(kwargs), _copy_options(opts))
        sig._type = self._type
        return sig

    partial = clone

    def _copy_kwargs(self, kwargs: dict) -> dict:
        return dict(kwargs)

    def _rebuild(self, args: tuple, kwargs: dict, options: dict) -> Signature:
        return Signature.from_dict({
            'task': self['task'], 'args': args, 'kwargs': kwargs, 'options': options,
            'subtask_type': self.get('subtask_type'), 'immutable': self.get('immutable', False),
            'chord_size': self.get('chord_size'),
        }, app=self._app)

    def __deepcopy__(self, memo: dict) -> Signature:
        return self.clone()

    def replace(self, args: Any = None, kwargs: dict | None = None,
                options: dict | None = None) -> Signature:
        """Return a copy with args, kwargs and/or options replaced (not merged)."""
        sig = self.clone()
        if args is not None:
            sig.args = tuple(args)
        if kwargs is not None:
            sig.kwargs = kwargs
        if options is not None:
            sig.options = options
        return sig

    # -- options -----------------------------------------------------------

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        """Update the execution options (and immutability); returns ``self``."""
        if immutable is not None:
            self.set_immutable(immutable)
        self.options.update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        self.immutable = immutable

    def freeze(self, _id: str | None = None, group_id: str | None = None,
               chord: Signature | None = None, root_id: str | None = None,
               parent_id: str | None = None, group_index: int | None = None) -> Any:
        """Fix the task id (keeping one already set) and return its result.

        Don't send a frozen signature twice: both messages would use one id.
        """
        opts = self.options
        tid = opts.get('task_id')
        if tid is None:
            tid = opts['task_id'] = _id or uuid()
        if root_id:
            opts['root_id'] = root_id
        if parent_id:
            opts['parent_id'] = parent_id
        if 'reply_to' not in opts:
            opts['reply_to'] = self.app.thread_oid
        if group_id and 'group_id' not in opts:
            opts['group_id'] = group_id
        if chord:
            opts['chord'] = chord
        if group_index is not None:
            opts['group_index'] = group_index
        return self.AsyncResult(tid)

    _freeze = freeze

    def _with_list_option(self, key: str) -> list:
        items = self.options.setdefault(key, [])
        if not isinstance(items, MutableSequence):
            items = self.options[key] = [items]
        return items

    def append_to_list_option(self, key: str, value: Any) -> Any:
        items = self._with_list_option(key)
        if value not in items:
            items.append(value)
        return value

    def extend_list_option(self, key: str, value: Any) -> None:
        self._with_list_option(key).extend(maybe_list(value))

    def link(self, callback: Signature) -> Signature:
        """Run ``callback`` with this task's result when it succeeds; returns it."""
        return self.append_to_list_option('link', callback)

    def link_error(self, errback: Signature) -> Signature:
        """Run ``errback`` when this task fails; returns the errback."""
        return self.append_to_list_option('link_error', errback)

    def on_error(self, errback: Signature) -> Signature:
        """Like :meth:`link_error` but returns ``self`` for chaining calls."""
        self.link_error(errback)
        return self

    def flatten_links(self) -> list:
        """This signature followed by its callbacks, recursively."""
        out = [self]
        for link in maybe_list(self.options.get('link')) or ():
            out.extend(maybe_signature(link, app=self._app).flatten_links())
        return out

    # -- stamping ----------------------------------------------------------

    def stamp(self, visitor: Any = None, append_stamps: bool = False, **headers: Any) -> Any:
        """Add stamps (custom headers) to this signature and its callbacks."""
        from celery.canvas._stamping import stamp_headers
        self.stamp_links(visitor, append_stamps, **headers)
        found = visitor.on_signature(self, **headers) if visitor is not None else None
        return self.set(**stamp_headers(self, found, append_stamps, **headers))

    def stamp_links(self, visitor: Any = None, append_stamps: bool = False,
                    **headers: Any) -> None:
        """Stamp the callbacks and errbacks linked to this signature."""
        from celery.canvas._stamping import stamp_links
        stamp_links(self, visitor, append_stamps, headers)

    def _stamp_headers(self, visitor_headers: dict | None = None, append_stamps: bool = False,
                       self_headers: bool = True, **headers: Any) -> dict:
        from celery.canvas._stamping import stamp_headers
        return stamp_headers(self, visitor_headers, append_stamps,
                             self_headers=self_headers, **headers)

    # -- composition -------------------------------------------------------

    def __or__(self, other: Any) -> Any:
        from celery.canvas._chain import _chain
        from celery.canvas._group import group, maybe_unroll_group
        if isinstance(other, _chain):
            return _chain._raw([self, *other.unchain_tasks()], app=self._app)
        if isinstance(other, group):
            return _chain._raw([self, maybe_unroll_group(other)], app=self._app)
        if isinstance(other, Signature):
            return _chain._raw([self, other], app=self._app)
        return NotImplemented

    def __ior__(self, other: Any) -> Any:
        # dict defines |= as an in-place merge; keep the chaining meaning.
        return self.__or__(other)

    # -- representations ---------------------------------------------------

    def reprcall(self, *args: Any, **kwargs: Any) -> str:
        """``name(args, kwargs)`` with the given partial arguments merged in."""
        args, kwargs, _ = self._merge(args, kwargs, None, force=True)
        parts = [repr(a) for a in args] + [f'{k}={v!r}' for k, v in kwargs.items()]
        return f"{self['task']}({', '.join(parts)})"

    def __repr__(self) -> str:
        return self.reprcall()

    def __reduce__(self) -> tuple:
        # The task type is looked up again on the other side, lazily.
        return signature, (dict(self),)

    def __json__(self) -> dict:
        return dict(self)

    __class_getitem__ = classmethod(types.GenericAlias)  # Signature[...] in annotations


class _Members(Signature):
    """A workflow whose kwargs hold a list of member signatures (chain, group)."""

    @property
    def tasks(self) -> list:
        """The member signatures, in order."""
        return self['kwargs']['tasks']

    @tasks.setter
    def tasks(self, value: Any) -> None:
        self['kwargs']['tasks'] = list(value)

    @property
    def app(self) -> Celery:
        """The bound app, else the first member's, else the current one."""
        if self._app is not None:
            return self._app
        tasks = self.tasks
        return tasks[0].app if tasks else get_current_app()

    def _copy_kwargs(self, kwargs: dict) -> dict:
        return {**kwargs, 'tasks': [t.clone() for t in kwargs['tasks']]}

def signature(varies: Any, *args: Any, **kwargs: Any) -> Signature:
    """Create a signature from a task, a task name, a dict or another signature.

    A signature is cloned; a dict is rebuilt as the signature type it names.
    """
    app = kwargs.get('app')
    if isinstance(varies, Signature):
        sig = varies.clone()
        if app is not None:
            sig._app = app
        return sig
    if isinstance(varies, dict):
        return Signature.from_dict(varies, app=app)
    return Signature(varies, *args, **kwargs)


def maybe_signature(d: Any, app: Celery | None = None, clone: bool = False) -> Any:
    """Return ``d`` as a signature (``None`` stays ``None``).

    Arguments:
        d: a signature or its dict form.
        app: bind the signature to this app.
        clone: copy ``d`` when it already is a signature.
    """
    if d is None:
        return None
    if isinstance(d, Signature):
        if clone:
            d = d.clone()
    elif isinstance(d, dict):
        d = signature(d, app=app)
    else:
        raise TypeError(f'Expected a signature or a signature dict, got {d!r}')
    if app is not None:
        d._app = app
    return d


subtask = signature
maybe_subtask = maybe_signature
signature.__module__ = maybe_signature.__module__ = 'celery.canvas'

"""The chord: a header group, then a body called with the header's results.

Every header task is sent with the body in its ``chord`` field and the
header's id as ``group_id``.  Backends that count natively (Redis, ...) fire
the body when the last header task reports in (``on_chord_part_return``);
the others poll with the ``celery.chord_unlock`` task, which the backend's
``apply_chord`` sends.  Chords need a result backend.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from celery._state import get_current_app
from celery.canvas._base import Signature, maybe_signature
from celery.canvas._group import CALL_ONLY_OPTIONS, _maybe_group, group, maybe_unroll_group
from celery.exceptions import CPendingDeprecationWarning
from celery.utils.functional import maybe_list
from celery.utils.uuid import uuid

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = ('chord', '_chord', 'chord_size_of', 'strip_header_chords')

_E_HEADER_ERRBACKS = (
    'task_allow_error_cb_on_chord_header=False is pending deprecation: a '
    'future version will link chord errbacks to the header tasks as well. '
    'Set task_allow_error_cb_on_chord_header=True to try that behaviour now.'
)


def chord_size_of(sig: Any) -> int:
    """How many task completions ``sig`` contributes to a chord counting it.

    A group counts its members, a chain its last step that counts, a chord
    its body and a plain signature one.
    """
    from celery.canvas._chain import _chain
    if isinstance(sig, dict) and not isinstance(sig, Signature):
        sig = Signature.from_dict(sig)
    if isinstance(sig, group):
        return sum(chord_size_of(t) for t in sig.tasks)
    if isinstance(sig, _chain):
        for step in reversed(sig.tasks):
            size = chord_size_of(step)
            if size > 0:
                return size
        return 0
    if isinstance(sig, chord):
        return chord_size_of(sig.body)
    if isinstance(sig, Signature):
        return 1
    return len(sig)


def _clear_chord_option(sig: Any) -> None:
    from celery.canvas._chain import _chain
    sig.options.pop('chord', None)
    if isinstance(sig, group):
        for task in sig.tasks:
            _clear_chord_option(task)
    elif isinstance(sig, _chain) and sig.tasks:
        _clear_chord_option(sig.tasks[-1])
    elif isinstance(sig, chord) and sig.body is not None:
        _clear_chord_option(sig.body)


def strip_header_chords(sig: Any) -> None:
    """Drop the body copies that freezing put on the header tasks of chords in ``sig``.

    A chord not yet run carries its body once, in its kwargs; its run puts
    the body back on each header task it sends.  Without this, a chord
    travelling in a message (a chain step, a chord body) would hold one copy
    of its body per header task.  Use it on copies being sent only.
    """
    from celery.canvas._chain import _chain
    if isinstance(sig, chord):
        for task in sig._header_tasks():
            _clear_chord_option(task)
            strip_header_chords(task)
        if isinstance(sig.tasks, group):
            sig.tasks.options.pop('chord', None)
        if sig.body is not None:
            strip_header_chords(sig.body)
    elif isinstance(sig, (group, _chain)):
        for task in sig.tasks:
            strip_header_chords(task)


def _body_options(options: dict) -> dict:
    # What a chord passes on to its body: not the parent (the header task
    # that fires the body is its parent) nor the arguments of this one call.
    return {k: v for k, v in options.items()
            if k != 'parent_id' and k not in CALL_ONLY_OPTIONS}


def _set_root_parent(result: Any, parent: Any) -> None:
    # The body may be a chain: the header is the parent of its first step.
    node, seen = result, set()
    while node is not None:
        if node.id in seen:
            raise RuntimeError('Recursive result parents')
        seen.add(node.id)
        if node.parent is None or node.parent.id == parent.id:
            node.parent = parent
            return
        node = node.parent


@Signature.register_type(name='chord')
class chord(Signature):
    """A header group whose results, in order, are passed to a body.

    ``chord(header)(body)`` and ``chord(header, body)()`` both send the chord
    and return the body's result, whose ``parent`` is the header's GroupResult.

    Arguments:
        header: the header signatures (a group, a list or a generator).
        body: the callback signature.
    """

    __module__ = 'celery.canvas'

    @classmethod
    def from_dict(cls, d: dict, app: Celery | None = None) -> chord:
        kwargs = dict(d['kwargs'])
        header, body = kwargs.pop('header', None), kwargs.pop('body', None)
        sig = cls(header, body, args=d.get('args'), kwargs=kwargs, app=app,
                  **d.get('options') or {})
        sig['immutable'] = d.get('immutable', False)
        return sig

    def __init__(self, header: Any, body: Any = None, task: str = 'celery.chord',
                 args: Any = None, kwargs: dict | None = None, app: Celery | None = None,
                 **options: Any) -> None:
        if isinstance(header, dict) and not isinstance(header, Signature):
            header = maybe_signature(header, app=app)
        if isinstance(header, group) and header.id and 'task_id' not in options:
            options['task_id'] = header.id  # the header's group id, as Celery keeps it
        kwargs = dict(kwargs) if kwargs else {'kwargs': {}}
        kwargs.setdefault('kwargs', {})
        super().__init__(task, args, {**kwargs, 'header': _maybe_group(header, app),
                                      'body': maybe_signature(body, app=app)},
                         app=app, **options)
        self.subtask_type = 'chord'

    @property
    def tasks(self) -> Any:
        """The header: a list of signatures (a group once frozen or stamped)."""
        return self['kwargs']['header']

    @tasks.setter
    def tasks(self, value: Any) -> None:
        self['kwargs']['header'] = value

    @property
    def body(self) -> Any:
        return self['kwargs']['body']

    @body.setter
    def body(self, value: Any) -> None:
        self['kwargs']['body'] = value

    def _header_tasks(self) -> list:
        header = self.tasks
        return list(header.tasks if isinstance(header, group) else header or ())

    def _header_group(self, store: bool = True) -> group:
        """The header as a group (stored in place of the list with ``store``)."""
        header = self.tasks
        if not isinstance(header, group):
            # A chord's own task_id names its header group (as in Celery).
            gid = self.options.get('task_id')
            header = group(list(header or ()), app=self._app,
                           **({'task_id': gid} if gid else {}))
            if store:
                self.tasks = header
        return header

    @property
    def app(self) -> Celery:
        return self._get_app(self.body)

    def _get_app(self, body: Any = None) -> Celery:
        if self._app is not None:
            return self._app
        for task in self._header_tasks()[:1]:
            if task._app is not None:
                return task._app
        if body is not None and body._app is not None:
            return body._app
        return get_current_app()

    def __length_hint__(self) -> int:
        """How many completions the header contributes (nested parts counted)."""
        return sum(chord_size_of(t) for t in self._header_tasks())

    def _copy_kwargs(self, kwargs: dict) -> dict:
        header = kwargs['header']
        header = (header.clone() if isinstance(header, Signature)
                  else [t.clone() for t in header or ()])
        body = kwargs['body']
        return {**kwargs, 'header': header,
                'body': body.clone() if isinstance(body, Signature) else body}

    def __call__(self, body: Any = None, **options: Any) -> Any:
        return self.apply_async((), {'body': body} if body else {}, **options)

    def __or__(self, other: Any) -> Any:
        from celery.canvas._chain import _chain
        if isinstance(other, Signature) and not isinstance(other, (group, _chain)):
            sig = self.clone()
            sig.body = sig.body | other
            return sig
        if isinstance(other, group) and len(other.tasks) == 1:
            sig = self.clone()
            sig.body = sig.body | maybe_unroll_group(other)
            return sig
        return super().__or__(other)

    def link(self, callback: Signature) -> Signature:
        """Link ``callback`` to the body: it runs once, after the body."""
        self._require_body().link(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        """Link ``errback`` to the body (a header error fails the body too).

        With ``task_allow_error_cb_on_chord_header`` the header tasks get
        it as well; nested chords in the header link it themselves.
        """
        errback = maybe_signature(errback)
        on_header = self.app.conf.task_allow_error_cb_on_chord_header
        if not on_header:
            warnings.warn(_E_HEADER_ERRBACKS, CPendingDeprecationWarning, stacklevel=2)
        for task in self._header_tasks():
            if isinstance(task, chord):
                task.link_error(errback)
            elif on_header:
                task.link_error(errback.clone())
        self._require_body().link_error(errback)
        return errback

    def set_immutable(self, immutable: bool) -> None:
        """Make the header (not the body) (im)mutable."""
        for task in self._header_tasks():
            task.set_immutable(immutable)

    def _require_body(self) -> Signature:
        if self.body is None:
            raise ValueError('This chord has no body: pass one, e.g. chord(header)(body)')
        return self.body

    # -- running -----------------------------------------------------------

    def freeze(self, _id: str | None = None, group_id: str | None = None,
               chord: Signature | None = None, root_id: str | None = None,
               parent_id: str | None = None, group_index: int | None = None) -> Any:
        """Fix the ids of header and body; returns the body's result."""
        header = self._header_group()
        header_result = header.freeze(parent_id=parent_id, root_id=root_id, chord=self.body)
        self.id = header.id
        if self.body is None:
            return None
        body_result = self.body.freeze(_id, root_id=root_id, chord=chord,
                                       group_id=group_id, group_index=group_index)
        _set_root_parent(body_result, header_result)
        return body_result

    _freeze = freeze

    def apply_async(self, args: Any = None, kwargs: dict | None = None,
                    task_id: str | None = None, producer: Any = None, publisher: Any = None,
                    connection: Any = None, router: Any = None, result_cls: Any = None,
                    **options: Any) -> Any:
        """Send the header; returns the body's result (its parent: the header's)."""
        kwargs = dict(kwargs) if kwargs else {}
        args = (tuple(args) + tuple(self.args)
                if args and not self.immutable else self.args)
        body = kwargs.pop('body', None) or self._require_body()
        kwargs = {**(self.kwargs.get('kwargs') or {}), **kwargs}
        # countdown/eta delay the header; run()'s own countdown is the
        # chord_unlock polling interval.
        header_delay = {k: options.pop(k) for k in ('countdown', 'eta')
                        if options.get(k) is not None}
        options = {k: v for k, v in options.items() if v is not None}
        body = body.clone(**_body_options(options))
        app = self._get_app(body)
        header = self._header_group(store=False).clone()
        if not header.options.get('task_id'):
            header.options['task_id'] = uuid()
        if app.conf.task_always_eager:
            from celery.result import allow_join_result
            with allow_join_result():
                return self.apply(args, kwargs, body=body, task_id=task_id,
                                  _header=header, **options)
        merged = {**self.options, **options}
        merged.pop('countdown', None)
        merged.pop('eta', None)
        option_task_id = merged.pop('task_id', None)
        if option_task_id == header.options.get('task_id'):
            option_task_id = None  # that id names the header, not the body
        return self.run(header, body, args, task_id=task_id or option_task_id,
                        kwargs=kwargs, header_delay=header_delay, app=app, **merged)

    def run(self, header: group, body: Signature, partial_args: Any, app: Celery | None = None,
            interval: float | None = None, countdown: float = 1, max_retries: int | None = None,
            eager: bool = False, task_id: str | None = None, kwargs: dict | None = None,
            header_delay: dict | None = None, **options: Any) -> Any:
        """Send the chord: register it with the backend, then send the header."""
        from celery.canvas._chain import _chain
        app = app or self._get_app(body)
        app.backend.ensure_chords_allowed()
        group_id = header.options.get('task_id') or uuid()
        options = {**self.options, **options}
        header_delay = dict(header_delay or {})
        for key in ('countdown', 'eta'):
            if key not in header_delay and options.get(key) is not None:
                header_delay[key] = options[key]
            options.pop(key, None)
        options.pop('task_id', None)
        for key in CALL_ONLY_OPTIONS:
            options.pop(key, None)
        # The chord's callbacks and errbacks belong to the body.
        for errback in maybe_list(options.pop('link_error', None)) or ():
            body.link_error(errback)
        for callback in maybe_list(options.pop('link', None)) or ():
            body.link(callback)
        body.options = body._merge(options=_body_options(options))[2]
        root_id = body.options.get('root_id')
        if isinstance(body, _chain):
            body._unroll_chords(app)
        body_result = body.freeze(task_id or uuid(), group_id=group_id, root_id=root_id)
        strip_header_chords(body)
        # The rest of an enclosing chain, and an enclosing chord, follow the
        # body, not the header tasks.
        options.pop('chain', None)
        options.pop('chord', None)
        size = sum(chord_size_of(t) for t in header.tasks)
        body.chord_size = size
        header.options['task_id'] = group_id
        header_result_args = header._freeze_group_tasks(
            group_id=group_id, chord=body, root_id=root_id)
        if header.tasks:
            app.backend.apply_chord(header_result_args, body, interval=interval,
                                    countdown=countdown, max_retries=max_retries)
            app.backend.set_chord_size(group_id, size)
            # The caller waits on the body, not on each header task.
            from celery.backends.asynchronous import unawaited_results
            with unawaited_results():
                header_result = header.apply_async(partial_args, kwargs, task_id=group_id,
                                                   **options, **header_delay)
        else:
            # No header task will ever fire the body: call it now.
            body.delay([])
            header_result = app.GroupResult(*header_result_args)
        _set_root_parent(body_result, header_result)
        return body_result

    def apply(self, args: Any = None, kwargs: dict | None = None, propagate: bool = True,
              body: Any = None, _header: group | None = None, **options: Any) -> Any:
        """Run the header, then the body, here; returns the body's EagerResult."""
        body = self._require_body() if body is None else body
        from celery.result import allow_join_result
        header = self._header_group(store=False).clone() if _header is None else _header
        header_result = header.apply(args, kwargs)
        body_options = {'task_id': options['task_id']} if options.get('task_id') else {}
        with allow_join_result():  # the header has run already
            values = header_result.get(propagate=propagate)
        result = body.apply(args=(values,), **body_options)
        if getattr(result, 'parent', None) is None:
            result.parent = header_result
        return result

    def stamp(self, visitor: Any = None, append_stamps: bool = False, **headers: Any) -> None:
        from celery.canvas._stamping import stamp_headers
        found = visitor.on_chord_header_start(self, **headers) if visitor is not None else None
        header_stamps = stamp_headers(self, found, append_stamps, **headers)
        self.stamp_links(visitor, append_stamps, **header_stamps)
        for task in self._header_group().tasks:
            task.stamp(visitor, append_stamps, **header_stamps)
        if visitor is not None:
            visitor.on_chord_header_end(self, **header_stamps)
        if self.body is not None:
            found = visitor.on_chord_body(self, **header_stamps) if visitor is not None else None
            self.body.stamp(visitor, append_stamps,
                            **stamp_headers(self, found, append_stamps, **header_stamps))
        own = visitor.on_signature(self, **header_stamps) if visitor is not None else None
        self.set(**stamp_headers(self, own, append_stamps, **header_stamps))

    def __repr__(self) -> str:
        from celery.canvas._chain import _chain
        from celery.utils.text import remove_repeating_from_task
        tasks = self._header_tasks()
        body = self.body
        if body is None:
            return f'<chord without body: {tasks!r}>'
        if isinstance(body, _chain) and body.tasks:
            rest = _chain._raw(body.tasks[1:], app=self._app)
            return remove_repeating_from_task(
                body.tasks[0]['task'], f'%({body.tasks[0].reprcall(tasks)} | {rest!r})')
        return '%' + remove_repeating_from_task(body['task'], body.reprcall(tasks))


_chord = chord

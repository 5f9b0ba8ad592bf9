"""The chain: signatures run one after another, each fed the previous result.

With task protocol 2 only the first task is sent; the rest travel in its
message as the ``chain`` field, reversed, and the worker pops the next step
when a task succeeds.  ``chain(...)`` applies the same upgrades as ``|``:
nested chains are flattened and a group followed by a task becomes a chord.
"""
from __future__ import annotations

import operator
from collections import deque
from functools import reduce
from typing import TYPE_CHECKING, Any

from celery.canvas._base import Signature, _Members, maybe_signature
from celery.canvas._chord import chord, strip_header_chords
from celery.canvas._group import _is_empty_group, as_member, group, maybe_unroll_group
from celery.utils.functional import is_list, maybe_list

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = ('_chain', 'chain')

#: chain options that run() consumes instead of passing them to the first task.
_RUN_OPTIONS = frozenset({
    'chord', 'group_id', 'group_index', 'link', 'link_error',
    'parent_id', 'root_id', 'task_id',
})


def _chain_option(options: dict, rest: list, use_link: bool | None) -> dict:
    """The first task's options, with the remaining steps as its ``chain`` field."""
    options = dict(options)
    if use_link:
        options['chain'] = None
    elif options.get('chain') is None:
        options['chain'] = rest
    else:
        # An enclosing chain continues after ours: our steps run first (the
        # worker pops from the end), and the caller's list is left untouched.
        options['chain'] = list(options['chain']) + rest
    return options


def _led_by_task(body: Any) -> bool:
    return isinstance(body, _chain) and bool(body.tasks) and not isinstance(body.tasks[0], group)


@Signature.register_type(name='chain')
class _chain(_Members):
    """A chain as written: its tasks are kept as given (see :class:`chain`)."""

    __module__ = 'celery.canvas'

    @classmethod
    def from_dict(cls, d: dict, app: Celery | None = None) -> _chain:
        tasks = [maybe_signature(t, app=app) for t in d['kwargs']['tasks'] or ()]
        sig = cls._raw(tasks, app=app, **d.get('options') or {})
        sig['args'] = tuple(d.get('args') or ())
        sig['immutable'] = d.get('immutable', False)
        return sig

    @classmethod
    def _raw(cls, tasks: list, **options: Any) -> _chain:
        """Build a chain of exactly ``tasks``, without the upgrades of ``chain()``."""
        obj = dict.__new__(cls)
        _chain.__init__(obj, list(tasks), **options)
        return obj

    def __init__(self, *tasks: Any, **options: Any) -> None:
        if len(tasks) == 1 and is_list(tasks[0]):
            tasks = tasks[0]
        use_link = options.pop('use_link', None)
        app = options.get('app')
        members = []
        for task in tasks:
            if isinstance(task, dict) and not isinstance(task, Signature):
                task = maybe_signature(task, app=app)
            if not isinstance(task, Signature):
                task = as_member(task, app, where='chain')
            members.append(task)
        super().__init__('celery.chain', (), {'tasks': members}, **options)
        self._use_link = use_link
        self.subtask_type = 'chain'

    def _rebuild(self, args: tuple, kwargs: dict, options: dict) -> Signature:
        sig = type(self)._raw(kwargs['tasks'], app=self._app, **options)
        sig['args'], sig['immutable'] = args, self.immutable
        sig._use_link = self._use_link
        return sig

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.tasks:
            return self.apply_async(args, kwargs)
        return None

    def unchain_tasks(self) -> list:
        """Copies of the steps, with the chain's own callbacks and errbacks pushed down.

        The chain's ``link`` goes to its last step, its ``link_error`` to every step.
        """
        tasks = [t.clone() for t in self.tasks]
        for sig in maybe_list(self.options.get('link')) or ():
            tasks[-1].link(sig)
        for sig in maybe_list(self.options.get('link_error')) or ():
            for task in tasks:
                task.link_error(sig)
        return tasks

    def _steps(self) -> list:
        # The steps for a new, longer chain; copies only when links must move.
        if self.options.get('link') or self.options.get('link_error'):
            return self.unchain_tasks()
        return list(self.tasks)

    def __or__(self, other: Any) -> Any:
        cls = type(self)
        if _is_empty_group(other):
            return self
        if isinstance(other, group):
            other = maybe_unroll_group(other)
            if not isinstance(other, group):
                return self.__or__(other)
            tasks = self._steps()
            if not tasks:
                return other
            if isinstance(tasks[-1], chord):
                last = tasks[-1] = tasks[-1].clone()
                last.body = last.body | other
                return cls._raw(tasks, app=self._app)
            return cls._raw(tasks + [other], app=self._app)
        if isinstance(other, _chain):
            return reduce(operator.or_, other.unchain_tasks(), self)
        if not isinstance(other, Signature):
            return NotImplemented
        if self.tasks and isinstance(self.tasks[-1], group):
            # chain ending in a group | task: the group becomes a chord.
            sig = self.clone()
            sig.tasks[-1] = chord(sig.tasks[-1], other, app=self._app)
            if len(sig.tasks) > 1 and isinstance(sig.tasks[-2], chord):
                # Two chords in a row: the second runs in the body of the first.
                sig.tasks[-2].body = sig.tasks[-2].body | sig.tasks[-1]
                sig.tasks = sig.tasks[:-1]
            return sig
        if self.tasks and isinstance(self.tasks[-1], chord) and not isinstance(other, chord):
            sig = self.clone()
            sig.tasks[-1].body = sig.tasks[-1].body | other
            return sig
        return cls._raw(self._steps() + [other], app=self._app)

    # -- running -----------------------------------------------------------

    def apply_async(self, args: Any = None, kwargs: dict | None = None, **options: Any) -> Any:
        """Send the first step; returns the result of the last one (``.parent`` walks back)."""
        app = self.app
        if app.conf.task_always_eager:
            from celery.result import allow_join_result
            with allow_join_result():
                return self.apply(args, kwargs, **options)
        return self.run(args, kwargs, app=app,
                        **({**self.options, **options} if options else self.options))

    def run(self, args: Any = None, kwargs: dict | None = None, group_id: str | None = None,
            chord: Any = None, task_id: str | None = None, link: Any = None,
            link_error: Any = None, publisher: Any = None, producer: Any = None,
            root_id: str | None = None, parent_id: str | None = None,
            app: Celery | None = None, group_index: int | None = None, **options: Any) -> Any:
        """Prepare the steps and send the first one."""
        app = app or self.app
        use_link = self._use_link
        if use_link is None and app.conf.task_protocol == 1:
            use_link = True
        args = (tuple(args) + tuple(self.args)
                if args and not self.immutable else self.args)
        tasks, results = self.prepare_steps(
            args, kwargs or {}, self.tasks, root_id, parent_id, link_error, app,
            task_id, group_id, chord, group_index=group_index)
        if not results:
            return None
        if link:
            tasks[0].extend_list_option('link', link)
        first = tasks.pop()
        options = _chain_option(options, tasks, use_link)
        if parent_id:
            options['parent_id'] = parent_id
        if producer is not None or publisher is not None:
            options['producer'] = producer or publisher
        sent = first.apply_async(**options)
        # A one-step chain returns the real result (e.g. a live GroupResult).
        return sent if not tasks else results[0]

    def freeze(self, _id: str | None = None, group_id: str | None = None,
               chord: Any = None, root_id: str | None = None, parent_id: str | None = None,
               group_index: int | None = None) -> Any:
        """Fix the ids of every step in place; returns the last step's result."""
        _, results = self.prepare_steps(
            self.args, self.kwargs, self.tasks, root_id, parent_id, None, self.app,
            _id, group_id, chord, clone=False, group_index=group_index)
        if not results:
            return None
        self.id = results[0].id
        return results[0]

    _freeze = freeze

    def prepare_steps(self, args: Any, kwargs: dict, tasks: list,
                      root_id: str | None = None, parent_id: str | None = None,
                      link_error: Any = None, app: Celery | None = None,
                      last_task_id: str | None = None, group_id: str | None = None,
                      chord_body: Any = None, clone: bool = True,
                      group_index: int | None = None) -> tuple:
        """Unroll and freeze the steps; returns ``(tasks, results)``, both last step first.

        Nested chains are spliced in, one-member groups unrolled, a group
        followed by a step becomes a chord, and results get their ``parent``.
        The last step takes ``last_task_id``, ``group_id``, ``chord_body`` and
        ``group_index`` (the chain as a member of a group or chord header);
        the first step takes the partial ``args``/``kwargs``.
        """
        app = app or self.app
        use_link = self._use_link
        if use_link is None and app.conf.task_protocol == 1:
            use_link = True
        steps = self._normalised_head(deque(tasks), app, clone)
        prev_task = prev_res = None
        out_tasks: list = []
        results: list = []
        frozen = 0
        while steps:
            task = steps.pop()
            if not isinstance(task, Signature):
                task = maybe_signature(task, app=app)
            is_first = not steps
            if isinstance(task, group):
                task = maybe_unroll_group(task)
                if _is_empty_group(task) and (steps or prev_task is not None):
                    continue
            if clone and isinstance(task, chord) and _led_by_task(task.body):
                steps.extend(_unroll_body(task))
                continue
            if clone:
                task = task.clone(args, kwargs) if is_first else task.clone()
            elif is_first:
                task.args = tuple(args) + tuple(task.args)
            if isinstance(task, _chain):
                steps.extend(task.tasks)
                continue
            if isinstance(task, group) and prev_task is not None:
                # group | next step -> chord(group, next step)
                out_tasks.pop()
                body_res = results.pop()
                task = chord(task, body=prev_task, root_id=root_id, app=app)
                prev_task = out_tasks[-1] if out_tasks else None
                # The step after the body gets the chord's result as parent.
                node = results[-1] if results else None
                while node is not None and node.parent is not body_res:
                    node = node.parent
                if node is not None:
                    node.parent = None
                    prev_res = node
            if not frozen:  # the chain's last step
                res = task.freeze(last_task_id, root_id=root_id, group_id=group_id,
                                  chord=chord_body, group_index=group_index)
            else:
                res = task.freeze(root_id=root_id)
            frozen += 1
            if prev_task is not None:
                if use_link:
                    task.link(prev_task)
                if prev_res is not None and not prev_res.parent:
                    prev_res.parent = res
            for errback in maybe_list(link_error) or ():
                task.link_error(errback)
            out_tasks.append(task)
            results.append(res)
            prev_task, prev_res = task, res
            if isinstance(task, chord):
                app.backend.ensure_chords_allowed()
                # The step before a chord is the parent of its header.
                node = res
                while node.parent is not None:
                    node = node.parent
                prev_res = node
        if clone:
            for task in out_tasks:
                strip_header_chords(task)
        return out_tasks, results

    def _unroll_chords(self, app: Celery | None = None) -> None:
        """Split the chain-led bodies of this chain's chords (in place: copies only)."""
        app = app or self.app
        if self._use_link or (self._use_link is None and app.conf.task_protocol == 1):
            return  # linked steps need a chord's whole body
        pending, steps = deque(self.tasks), []
        while pending:
            task = pending.popleft()
            if isinstance(task, _chain):
                task = task.clone()
                task._unroll_chords(app)
            if isinstance(task, chord) and _led_by_task(task.body):
                pending.extendleft(reversed(_unroll_body(task)))
            else:
                steps.append(task)
        self.tasks = steps

    def _normalised_head(self, steps: deque, app: Celery, clone: bool) -> deque:
        # Make the first *real* task the last one popped, so that it gets the
        # partial args: splice leading chains, unroll one-member groups and
        # drop leading empty groups that something follows.
        while steps:
            head = steps[0]
            if not isinstance(head, Signature):
                head = steps[0] = maybe_signature(head, app=app)
            if isinstance(head, _chain):
                steps.popleft()
                inner = head.clone() if clone else head
                steps.extendleft(reversed(inner.tasks))
                continue
            if isinstance(head, group):
                head = steps[0] = maybe_unroll_group(head)
                if len(steps) > 1 and _is_empty_group(head):
                    steps.popleft()
                    continue
            break
        return steps

    def apply(self, args: Any = None, kwargs: dict | None = None, **options: Any) -> Any:
        """Run the steps here, in order; returns the last step's EagerResult."""
        from celery.result import allow_join_result
        with allow_join_result():  # the results waited on are already there
            return self._apply(args, kwargs, **options)

    def _apply(self, args: Any = None, kwargs: dict | None = None, **options: Any) -> Any:
        from celery import states
        last, fargs, fkwargs = None, args or (), kwargs or {}
        tasks = [maybe_signature(t, app=self._app) for t in self.tasks]
        options = {**self.options, **options}
        for key in _RUN_OPTIONS - {'link', 'link_error'}:
            options.pop(key, None)
        # As when sent: callbacks follow the last step, errbacks every step.
        links = maybe_list(options.pop('link', None)) or []
        errbacks = maybe_list(options.pop('link_error', None)) or []
        for index, task in enumerate(tasks):
            if _is_empty_group(task) and (index < len(tasks) - 1 or last is not None):
                continue
            task = task.clone()
            for errback in errbacks:
                task.link_error(errback)
            if index == len(tasks) - 1:
                for callback in links:
                    task.link(callback)
            res = task.apply((last.get(),) if last is not None else fargs, fkwargs,
                             **options)
            res.parent, last, fargs, fkwargs = last, res, (), {}
            if getattr(res, 'state', None) in (states.IGNORED, states.REJECTED):
                break
        return last

    def stamp(self, visitor: Any = None, append_stamps: bool = False, **headers: Any) -> None:
        from celery.canvas._stamping import stamp_headers
        found = visitor.on_chain_start(self, **headers) if visitor is not None else None
        headers = stamp_headers(self, found, append_stamps, **headers)
        self.stamp_links(visitor, append_stamps, **headers)
        self.set(**headers)
        for task in self.tasks:
            task.stamp(visitor, append_stamps, **headers)
        if visitor is not None:
            visitor.on_chain_end(self, **headers)

    def __repr__(self) -> str:
        if not self.tasks:
            return f'<{type(self).__name__}@{id(self):#x}: empty>'
        from celery.utils.text import remove_repeating_from_task
        return remove_repeating_from_task(
            self.tasks[0]['task'], ' | '.join(repr(t) for t in self.tasks))


def _first_task_options(chain_sig: _chain) -> dict:
    return {k: v for k, v in chain_sig.options.items() if k not in _RUN_OPTIONS}


def _unroll_body(sig: Any) -> list:
    """``chord(h, a | b | c)`` as the steps ``chord(h, a), b, c``.

    Every header message carries the chord body: a short body keeps the
    messages small, and the rest of the chain runs after it all the same.
    """
    sig = sig.clone()
    body_steps = sig.body.unchain_tasks()
    sig.body = body_steps[0].clone(**_first_task_options(sig.body))
    return [sig, *body_steps[1:]]


class chain(_chain):
    """Chain tasks: each runs after the previous one succeeds, fed its result.

    ``chain(a, b, c)`` is ``a | b | c``: nested chains are flattened, a
    group followed by a task becomes a chord, and a one-member group is
    unrolled, so the result may be a chord or a group rather than a chain.
    One iterable argument (e.g. a generator) gives the tasks.

    Calling it returns the result of the last task; ``result.parent`` leads
    back to the earlier ones.
    """

    __module__ = 'celery.canvas'

    _folded = False

    def __new__(cls, *tasks: Any, **options: Any) -> Any:
        if tasks and (len(tasks) != 1 or is_list(tasks[0])):
            app = options.get('app')
            seq = [as_member(t, app, where='chain')
                   for t in (tasks[0] if len(tasks) == 1 else tasks)]
            folded = reduce(operator.or_, seq, _chain._raw([], app=app))
            if isinstance(folded, _chain):
                # Copies, so that chain(s, s) has two steps with ids of their own.
                steps = [t.clone() for t in folded.tasks[:-1]] + folded.tasks[-1:]
                obj = cls._raw(steps, **options)
                obj._folded = True
                return obj
            if set(options) <= {'app'}:
                if app is not None:
                    folded._app = app
                return folded
            # Options meant for a chain: keep the chain as written.
            obj = cls._raw(seq, **options)
            obj._folded = True
            return obj
        return super().__new__(cls)

    def __init__(self, *tasks: Any, **options: Any) -> None:
        if self._folded:
            del self._folded
            return
        super().__init__(*tasks, **options)

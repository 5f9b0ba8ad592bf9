"""Blueprints of boot steps: the parts a worker and its consumer are made of.

A :class:`Step` declares the steps it ``requires``; a :class:`Blueprint`
orders its steps so that every step comes after what it requires, creates
them against a parent object (the :class:`~celery.worker.WorkController` or
the :class:`~celery.worker.consumer.Consumer`), starts them in that order and
stops them in reverse.  Users add their own steps through
``app.steps['worker']`` and ``app.steps['consumer']``.

``requires`` holds step classes or, as users write them,
``'module:Class'`` strings, resolved when the blueprint is applied.

Stop, terminate and shutdown may run inside a signal handler, so steps must
keep them re-entrant.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, ClassVar, Iterable, Iterator

from kombu.common import ignore_errors
from kombu.utils.imports import symbol_by_name

from celery.utils.log import get_logger

__all__ = ('Blueprint', 'Step', 'StartStopStep', 'ConsumerStep')

#: Blueprint states.
RUN = 0x1
CLOSE = 0x2
TERMINATE = 0x3

logger = get_logger(__name__)


def _label(step: Any) -> str:
    return step.name.rsplit('.', 1)[-1]


class StepType(type):
    """Metaclass giving every step a ``name`` (``module.Qualname``)."""

    def __new__(mcs, clsname: str, bases: tuple, attrs: dict) -> StepType:
        if 'name' not in attrs:
            attrs['name'] = f"{attrs.get('__module__')}.{attrs.get('__qualname__', clsname)}"
        return super().__new__(mcs, clsname, bases, attrs)

    def __str__(cls) -> str:
        return f'step:{cls.name}{{{tuple(cls.requires)!r}}}'

    def __repr__(cls) -> str:
        return str(cls)


class Step(metaclass=StepType):
    """A part of a blueprint.

    Subclasses override the hooks they need; all are no-ops here.  The
    constructor receives the parent and the keyword arguments the parent
    was created with.
    """

    #: Unique name, ``module.Qualname`` unless set explicitly.
    name: ClassVar[str] = 'celery.bootsteps.Step'
    #: Short name shown in logs; the last part of :attr:`name` if unset.
    label: str | None = None
    #: Steps (classes or ``'module:Class'`` strings) that must come first.
    requires: Any = ()
    #: If set, the step is only created when :attr:`enabled` is true.
    conditional: bool = False
    #: Set by the step (usually in ``__init__``) when it is conditional.
    enabled: bool = True
    #: Start this step after all others of the blueprint.
    last: bool = False

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        pass

    def include_if(self, parent: Any) -> bool:
        """Return true if the step should be created for ``parent``."""
        return self.enabled

    def instantiate(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        """Create an object from a class or a user-given dotted name."""
        return symbol_by_name(name)(*args, **kwargs)

    def _should_include(self, parent: Any) -> tuple[bool, Any]:
        if self.include_if(parent):
            return True, self.create(parent)
        return False, None

    def include(self, parent: Any) -> bool:
        """Create the step's object if it is to be included."""
        return self._should_include(parent)[0]

    def create(self, parent: Any) -> Any:
        """Create the step's object (the step itself by default)."""
        return None

    def info(self, obj: Any) -> Any:
        """Return information shown in ``celery inspect stats``, if any."""
        return None

    @property
    def alias(self) -> str:
        return self.label or _label(self)

    def __repr__(self) -> str:
        return f'<step: {self.alias}>'


class StartStopStep(Step):
    """A step whose object is started and stopped with the blueprint."""

    #: The object :meth:`create` returned; it must have ``start``/``stop``.
    obj: Any = None

    def start(self, parent: Any) -> None:
        if self.obj:
            return self.obj.start()

    def stop(self, parent: Any) -> None:
        if self.obj:
            return self.obj.stop()

    def close(self, parent: Any) -> None:
        pass

    def terminate(self, parent: Any) -> None:
        if self.obj:
            return getattr(self.obj, 'terminate', self.obj.stop)()

    def include(self, parent: Any) -> bool:
        inc, ret = self._should_include(parent)
        if inc:
            self.obj = ret
            parent.steps.append(self)
        return inc


class _ConnectionRequirement:
    """``ConsumerStep.requires``: the consumer's Connection step (imported late)."""

    def __get__(self, obj: Any, cls: Any = None) -> tuple:
        from celery.worker.consumer.connection import Connection
        return (Connection,)


class ConsumerStep(StartStopStep):
    """A consumer step that runs custom kombu consumers on the connection."""

    requires = _ConnectionRequirement()
    consumers: list | None = None

    def get_consumers(self, channel: Any) -> list:
        """Return the :class:`kombu.Consumer` objects to start."""
        raise NotImplementedError('missing get_consumers')

    def start(self, c: Any) -> None:
        channel = c.connection.channel()
        self.consumers = self.get_consumers(channel)
        for consumer in self.consumers or []:
            consumer.consume()

    def stop(self, c: Any) -> None:
        self._close(c, True)

    def shutdown(self, c: Any) -> None:
        self._close(c, False)

    def _close(self, c: Any, cancel_consumers: bool = True) -> None:
        channels = set()
        connection = c.connection
        for consumer in self.consumers or []:
            if cancel_consumers:
                ignore_errors(connection, consumer.cancel)
            if consumer.channel:
                channels.add(consumer.channel)
        for channel in channels:
            ignore_errors(connection, channel.close)
        self.consumers = None


class StepGraph:
    """The dependency graph of a blueprint's steps (``blueprint.graph``)."""

    def __init__(self, steps: Iterable[Any] = ()) -> None:
        self.adjacent: dict[Any, list] = {}
        for step in steps:
            self.add_arc(step)

    def add_arc(self, obj: Any) -> None:
        self.adjacent.setdefault(obj, [])

    def add_edge(self, a: Any, b: Any) -> None:
        """Record that ``a`` depends on ``b``."""
        self.add_arc(a)
        self.add_arc(b)
        if b not in self.adjacent[a]:
            self.adjacent[a].append(b)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.adjacent)

    def __getitem__(self, node: Any) -> list:
        return self.adjacent[node]

    def __len__(self) -> int:
        return len(self.adjacent)

    def __contains__(self, obj: Any) -> bool:
        return obj in self.adjacent

    def items(self) -> Any:
        return self.adjacent.items()

    def edges(self) -> Iterator[tuple[Any, Any]]:
        for a, deps in self.adjacent.items():
            for b in deps:
                yield a, b

    def topsort(self) -> list:
        """Return the nodes so that each comes after everything it depends on."""
        order: list = []
        state: dict[Any, int] = {}  # 1 = visiting, 2 = done

        def visit(node: Any) -> None:
            mark = state.get(node)
            if mark == 2:
                return
            if mark == 1:
                raise ValueError(f'dependency cycle involving {node!r}')
            state[node] = 1
            for dep in self.adjacent.get(node, ()):
                visit(dep)
            state[node] = 2
            order.append(node)

        for node in list(self.adjacent):
            visit(node)
        return order

    def to_dot(self, fh: Any, formatter: Callable[[Any], str] | None = None) -> None:
        """Write the graph in Graphviz dot format to ``fh``."""
        label = formatter or (lambda obj: getattr(obj, 'label', None) or _label(obj))
        fh.write('digraph dependencies {\n')
        for node in self.adjacent:
            fh.write(f'  "{label(node)}" [shape=box];\n')
        for a, b in self.edges():
            fh.write(f'  "{label(a)}" -> "{label(b)}";\n')
        fh.write('}\n')

    def __repr__(self) -> str:
        return '\n'.join(
            f'{_label(a)}({", ".join(_label(b) for b in deps)})'
            for a, deps in self.adjacent.items())


class Blueprint:
    """An ordered set of steps started and stopped together.

    Arguments:
        steps: extra step classes (e.g. ``app.steps['worker']``).
        name: shown in debug logs; defaults to :attr:`name`.
        on_start, on_close, on_stopped: callbacks run at those moments.
    """

    #: Steps every blueprint of this kind has.
    default_steps: ClassVar[Iterable[Any]] = ()
    name: str | None = None
    state: int | None = None
    started: int = 0

    GraphFormatter = None
    state_to_name = {0: 'initializing', RUN: 'running',
                     CLOSE: 'closing', TERMINATE: 'terminating'}

    def __init__(self, steps: Iterable[Any] | None = None, name: str | None = None,
                 on_start: Callable | None = None, on_close: Callable | None = None,
                 on_stopped: Callable | None = None) -> None:
        self.name = name or self.name or type(self).__name__
        self.types = list(self.default_steps)
        for step in steps or ():
            if step not in self.types:
                self.types.append(step)
        self.on_start = on_start
        self.on_close = on_close
        self.on_stopped = on_stopped
        self.shutdown_complete = threading.Event()
        self.steps: dict[str, Step] = {}
        self.order: list[Step] = []
        self.graph: StepGraph | None = None

    # -- building --------------------------------------------------------

    def apply(self, parent: Any, **kwargs: Any) -> Blueprint:
        """Create the steps in dependency order and include them in ``parent``."""
        self._debug('Preparing bootsteps.')
        classes = self.claim_steps()
        self._debug('Building graph...')
        self.order = []
        for cls in self._finalize_steps(classes):
            step = cls(parent, **kwargs)
            self.steps[step.name] = step
            self.order.append(step)
        self._debug('New boot order: {%s}', ', '.join(s.alias for s in self.order))
        for step in self.order:
            step.include(parent)
        return self

    def load_step(self, step: Any) -> tuple[str, type]:
        cls = symbol_by_name(step)
        return cls.name, cls

    def claim_steps(self) -> dict[str, type]:
        return dict(self.load_step(step) for step in self.types)

    def _requirements(self, cls: type) -> list[type]:
        return [symbol_by_name(req) for req in cls.requires]

    def _finalize_steps(self, steps: dict[str, type]) -> list[type]:
        """Return the step classes (with what they require) in boot order."""
        by_name = dict(steps)
        pending = list(by_name.values())
        while pending:  # pull in requirements that were not listed
            for req in self._requirements(pending.pop()):
                if req.name not in by_name:
                    by_name[req.name] = req
                    pending.append(req)
        graph = StepGraph(by_name.values())
        for cls in by_name.values():
            for req in self._requirements(cls):
                graph.add_edge(cls, by_name[req.name])
        last = [cls for cls in by_name.values() if cls.last]
        if len(last) > 1:
            raise ValueError(f'more than one last step: {last!r}')
        for cls in last:  # the last step depends on all the others
            for other in by_name.values():
                if other is not cls:
                    graph.add_edge(cls, other)
        self.graph = graph
        return graph.topsort()

    # -- running ---------------------------------------------------------

    def start(self, parent: Any) -> None:
        """Start the included steps in order."""
        self.state = RUN
        if self.on_start:
            self.on_start()
        for i, step in enumerate(s for s in parent.steps if s is not None):
            self._debug('Starting %s', step.alias)
            self.started = i + 1
            step.start(parent)
            logger.debug('^-- substep ok')

    def human_state(self) -> str:
        return self.state_to_name[self.state or 0]

    def info(self, parent: Any) -> dict:
        info = {}
        for step in parent.steps:
            info.update(step.info(parent) or {})
        return info

    def close(self, parent: Any) -> None:
        if self.on_close:
            self.on_close()
        self.send_all(parent, 'close', 'closing', reverse=False)

    def restart(self, parent: Any, method: str = 'stop',
                description: str = 'restarting', propagate: bool = False) -> None:
        self.send_all(parent, method, description, propagate=propagate)

    def send_all(self, parent: Any, method: str, description: str | None = None,
                 reverse: bool = True, propagate: bool = True, args: tuple = ()) -> None:
        """Call ``method`` on every started step (newest first by default)."""
        description = description or method.replace('_', ' ')
        steps = reversed(parent.steps) if reverse else parent.steps
        for step in steps:
            if step is None:
                continue
            fun = getattr(step, method, None)
            if fun is None:
                continue
            self._debug('%s %s...', description.capitalize(), step.alias)
            try:
                fun(parent, *args)
            except Exception as exc:
                if propagate:
                    raise
                logger.exception('Error on %s %s: %r', description, step.alias, exc)

    def stop(self, parent: Any, close: bool = True, terminate: bool = False) -> None:
        """Stop (or terminate) the started steps in reverse order."""
        what = 'terminating' if terminate else 'stopping'
        if self.state in (CLOSE, TERMINATE):
            return
        if self.state != RUN or self.started != len(parent.steps):
            # never fully started: nothing to unwind in order
            self.state = TERMINATE
            self.shutdown_complete.set()
            return
        self.close(parent)
        self.state = CLOSE
        self.restart(parent, 'terminate' if terminate else 'stop',
                     description=what, propagate=False)
        if self.on_stopped:
            self.on_stopped()
        self.state = TERMINATE
        self.shutdown_complete.set()

    def join(self, timeout: float | None = None) -> None:
        self.shutdown_complete.wait(timeout)

    @property
    def alias(self) -> str:
        return _label(self)

    def _debug(self, msg: str, *args: Any) -> None:
        logger.debug(f'| {self.name}: {msg}', *args)

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self.name}>'

"""Dependency graphs: ordering, text rendering and Graphviz (dot) output.

:class:`DependencyGraph` maps each node to the nodes it depends on; it is
what ``AsyncResult.graph`` returns and what ``celery graph`` draws.
:class:`GraphFormatter` turns nodes and edges into dot statements.  Not
thread safe.
"""
from __future__ import annotations

from collections import Counter
from typing import IO, Any, Callable, Iterable, Iterator

__all__ = ('DOT', 'CycleError', 'DependencyGraph', 'GraphFormatter')


class DOT:
    """The pieces of the Graphviz dot language used here."""

    HEAD = '\n{IN}{type} {id} {{\n{INp}graph [{attrs}]\n'
    ATTR = '{name}={value}'
    NODE = '{INp}"{0}" [{attrs}]'
    EDGE = '{INp}"{0}" {dir} "{1}" [{attrs}]'
    ATTRSEP = ', '
    DIRS = {'graph': '--', 'digraph': '->'}
    TAIL = '{IN}}}'


class CycleError(Exception):
    """The graph has a cycle, so it cannot be ordered."""


class DependencyGraph:
    """A directed graph: ``graph[a]`` lists the nodes ``a`` depends on.

    Arguments:
        it: ``(node, dependencies)`` pairs to start with.
        formatter: the :class:`GraphFormatter` used by :meth:`to_dot`.
    """

    def __init__(self, it: Iterable[tuple[Any, Iterable[Any]]] | None = None,
                 formatter: GraphFormatter | None = None) -> None:
        self.formatter = formatter or GraphFormatter()
        self.adjacent: dict[Any, list] = {}
        if it is not None:
            self.update(it)

    def add_arc(self, obj: Any) -> None:
        """Add a node (with no dependencies, if it is new)."""
        self.adjacent.setdefault(obj, [])

    def add_edge(self, A: Any, B: Any) -> None:  # noqa: N803 - Celery's names
        """Record that ``A`` depends on ``B``."""
        self.add_arc(B)
        self.adjacent.setdefault(A, []).append(B)

    def connect(self, graph: DependencyGraph) -> None:
        """Add the nodes and edges of another graph."""
        for node, deps in graph.adjacent.items():
            self.adjacent.setdefault(node, []).extend(deps)

    def update(self, it: Iterable[tuple[Any, Iterable[Any]]]) -> None:
        """Add ``(node, dependencies)`` pairs."""
        pairs = list(it)
        for node, _ in pairs:
            self.add_arc(node)
        for node, deps in pairs:
            for dep in deps:
                self.add_edge(node, dep)

    def edges(self) -> Iterator[Any]:
        """The nodes that have at least one dependency."""
        return (node for node, deps in self.adjacent.items() if deps)

    def valency_of(self, obj: Any) -> int:
        """How many nodes ``obj`` depends on, directly or not (counted per path)."""
        deps = self.adjacent.get(obj, ())
        return len(deps) + sum(self.valency_of(dep) for dep in deps)

    def topsort(self) -> list:
        """The nodes ordered so that every node comes after its dependencies.

        Raises :exc:`CycleError` if there is a cycle.
        """
        needed_by: Counter = Counter()
        for deps in self.adjacent.values():
            for dep in deps:
                needed_by[dep] += 1
        ready = [node for node in self.adjacent if not needed_by[node]]
        order = []
        while ready:
            node = ready.pop()
            order.append(node)
            for dep in self.adjacent[node]:
                needed_by[dep] -= 1
                if not needed_by[dep]:
                    ready.append(dep)
        if len(order) != len(self.adjacent):
            raise CycleError('The dependency graph has a cycle')
        order.reverse()
        return order

    def to_dot(self, fh: IO[str], formatter: GraphFormatter | None = None) -> None:
        """Write the graph to ``fh`` in Graphviz dot format."""
        seen: set = set()
        draw = formatter or self.formatter

        def write(line: str) -> None:
            print(line, file=fh)

        def node_line(obj: Any) -> None:
            if obj not in seen:
                write(draw.terminal_node(obj) if not self.adjacent.get(obj)
                      else draw.node(obj))
                seen.add(obj)

        write(draw.head())
        for obj, deps in self.adjacent.items():
            if not deps:
                node_line(obj)
            for dep in deps:
                write(draw.edge(obj, dep))
                node_line(obj)
                node_line(dep)
        write(draw.tail())

    def format(self, obj: Any) -> Any:
        return self.formatter(obj) if self.formatter else obj

    def __iter__(self) -> Iterator[Any]:
        return iter(self.adjacent)

    def __getitem__(self, node: Any) -> list:
        return self.adjacent[node]

    def __len__(self) -> int:
        return len(self.adjacent)

    def __contains__(self, obj: Any) -> bool:
        return obj in self.adjacent

    def _iterate_items(self) -> Iterator[tuple[Any, list]]:
        return iter(self.adjacent.items())

    items = iteritems = _iterate_items

    def repr_node(self, obj: Any, level: int = 1, fmt: str = '{0}({1})') -> str:
        """``obj(valency)``, then its dependencies indented below it."""
        lines = [fmt.format(obj, self.valency_of(obj))]
        for dep in self.adjacent.get(obj, ()):
            below = self.repr_node(dep, level + 1, fmt).split('\n')
            lines.append('    ' * level + below[0])
            lines.extend(below[1:])
        return '\n'.join(lines)

    def __repr__(self) -> str:
        return '\n'.join(self.repr_node(node) for node in self)


class GraphFormatter:
    """Dot statements for the nodes and edges of a graph, with a color scheme.

    Arguments:
        root: the node drawn as the root (a different shape).
        type: ``'digraph'`` (default) or ``'graph'``.
        id: the graph's name.
        indent: the indentation level; ``inw`` the indentation string.
        **scheme: extra graph attributes.
    """

    _attr = DOT.ATTR.strip()
    _node = DOT.NODE.strip()
    _edge = DOT.EDGE.strip()
    _head = DOT.HEAD.strip()
    _tail = DOT.TAIL.strip()
    _attrsep = DOT.ATTRSEP
    _dirs = dict(DOT.DIRS)

    scheme: dict = {'shape': 'box', 'arrowhead': 'vee', 'style': 'filled',
                    'fontname': 'HelveticaNeue'}
    edge_scheme: dict = {'color': 'darkseagreen4', 'arrowcolor': 'black', 'arrowsize': 0.7}
    node_scheme: dict = {'fillcolor': 'palegreen3', 'color': 'palegreen4'}
    term_scheme: dict = {'fillcolor': 'palegreen1', 'color': 'palegreen2'}
    graph_scheme: dict = {'bgcolor': 'mintcream'}

    def __init__(self, root: Any = None, type: str | None = None,  # noqa: A002
                 id: str | None = None, indent: int = 0, inw: str = ' ' * 4,  # noqa: A002
                 **scheme: Any) -> None:
        self.id = id or 'dependencies'
        self.root = root
        self.type = type or 'digraph'
        self.direction = self._dirs[self.type]
        self.IN = inw * (indent or 0)
        self.INp = self.IN + inw
        self.scheme = dict(self.scheme, **scheme)
        self.graph_scheme = dict(self.graph_scheme, root=self.label(self.root))

    def attr(self, name: str, value: Any) -> str:
        return self.FMT(self._attr, name=name, value=f'"{value}"')

    def attrs(self, d: dict | None = None, scheme: dict | None = None) -> str:
        merged = dict(self.scheme, **scheme) if scheme else dict(self.scheme)
        merged.update(d or {})
        return self._attrsep.join(self.attr(k, v) for k, v in merged.items())

    def head(self, **attrs: Any) -> str:
        return self.FMT(self._head, id=self.id, type=self.type,
                        attrs=self.attrs(attrs, self.graph_scheme))

    def tail(self) -> str:
        return self.FMT(self._tail)

    def label(self, obj: Any) -> str:
        return str(obj)

    def node(self, obj: Any, **attrs: Any) -> str:
        return self.draw_node(obj, self.node_scheme, attrs)

    def terminal_node(self, obj: Any, **attrs: Any) -> str:
        return self.draw_node(obj, self.term_scheme, attrs)

    def edge(self, a: Any, b: Any, **attrs: Any) -> str:
        return self.draw_edge(a, b, **attrs)

    def _enc(self, s: str) -> str:
        return s.encode('utf-8', 'ignore').decode()

    def FMT(self, fmt: str, *args: Any, **kwargs: Any) -> str:  # noqa: N802 - Celery's name
        return self._enc(fmt.format(*args, **dict(kwargs, IN=self.IN, INp=self.INp)))

    def draw_edge(self, a: Any, b: Any, scheme: dict | None = None,
                  attrs: dict | None = None) -> str:
        return self.FMT(self._edge, self.label(a), self.label(b), dir=self.direction,
                        attrs=self.attrs(attrs, self.edge_scheme))

    def draw_node(self, obj: Any, scheme: dict | None = None, attrs: dict | None = None) -> str:
        return self.FMT(self._node, self.label(obj), attrs=self.attrs(attrs, scheme))

    __call__: Callable[..., Any] = label  # type: ignore[assignment]

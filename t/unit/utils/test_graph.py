"""DependencyGraph and GraphFormatter."""
from __future__ import annotations

import io

import pytest

from celery.utils.graph import CycleError, DependencyGraph, GraphFormatter


@pytest.fixture
def graph():
    return DependencyGraph([
        ('A', []),
        ('B', []),
        ('C', ['A']),
        ('D', ['C', 'B']),
    ])


def test_mapping_protocol(graph):
    assert len(graph) == 4
    assert list(graph) == ['A', 'B', 'C', 'D']
    assert graph['D'] == ['C', 'B']
    assert 'C' in graph and 'Z' not in graph
    assert dict(graph.items()) == {'A': [], 'B': [], 'C': ['A'], 'D': ['C', 'B']}
    assert sorted(graph.edges()) == ['C', 'D']


def test_topsort_puts_dependencies_first(graph):
    order = graph.topsort()
    assert sorted(order) == ['A', 'B', 'C', 'D']
    for node in graph:
        for dep in graph[node]:
            assert order.index(dep) < order.index(node)


def test_cycle():
    g = DependencyGraph([('A', ['B']), ('B', ['A'])])
    with pytest.raises(CycleError):
        g.topsort()


def test_valency(graph):
    assert graph.valency_of('A') == 0
    assert graph.valency_of('C') == 1
    assert graph.valency_of('D') == 3


def test_add_and_connect():
    g = DependencyGraph()
    g.add_arc('x')
    g.add_edge('y', 'x')
    assert g['y'] == ['x'] and g['x'] == []
    other = DependencyGraph([('z', ['y'])])
    g.connect(other)
    assert g['z'] == ['y']


def test_repr_indents_dependencies(graph):
    assert repr(graph).split('\n')[-4:] == ['D(3)', '    C(1)', '        A(0)', '    B(0)']


def test_to_dot(graph):
    out = io.StringIO()
    graph.to_dot(out)
    text = out.getvalue()
    assert text.startswith('digraph dependencies {')
    assert text.rstrip().endswith('}')
    assert '"D" -> "C"' in text and '"C" -> "A"' in text
    # nodes without dependencies are drawn as terminal nodes
    assert '"A" [' in text and 'palegreen1' in text
    assert text.count('"D" [') == 1


def test_formatter_options():
    fmt = GraphFormatter(root='R', type='graph', id='g', indent=1)
    assert fmt.head().startswith('    graph g {')
    assert fmt.edge('a', 'b').strip().startswith('"a" -- "b"')
    assert fmt.label(3) == '3'
    assert 'root="R"' in fmt.head()


def test_result_graph(app):
    from celery.result import AsyncResult
    app.conf.result_backend = 'cache+memory://'
    parent = AsyncResult('parent-id', app=app)
    app.backend.store_result('parent-id', 1, 'SUCCESS')
    g = parent.build_graph(intermediate=True)
    assert isinstance(g, DependencyGraph)
    assert list(g) == [parent]

"""The ``celery graph`` command: Graphviz (dot) pictures of workers.

* ``celery graph bootsteps [worker] [consumer]``: the boot steps of the
  worker and of its consumer, each step pointing at the steps it requires
  (the app's own steps included).  Nothing is started.
* ``celery graph workers [key=value ...]``: the broker, the result backend
  and the workers connected to them, with their pool processes.  Workers
  and their concurrency come from ``nodes=a,b`` and ``threads=2,4``, or
  else from asking the running workers (``inspect stats``).  Also
  ``broker=URL``, ``backend=URL``, ``wmax=N`` / ``tmax=N`` (most workers /
  processes drawn, default 4 and 3) and ``generic`` (label the broker and
  backend by scheme only).

Pipe the output to ``dot -Tpng -o graph.png``.
"""
from __future__ import annotations

import sys
from typing import Any, Iterable

import click

from celery.utils.graph import DependencyGraph, GraphFormatter

__all__ = ('graph',)


def _obj(ctx: click.Context) -> Any:
    obj = ctx.obj
    if obj is None or not hasattr(obj, 'app'):
        raise click.UsageError('No app: run this through the celery command (celery -A proj ...).')
    return obj


# -- bootsteps -------------------------------------------------------------------


class _StepFormatter(GraphFormatter):
    """Steps labelled by their short name; the blueprint's last step stands out."""

    last_scheme = {'shape': 'doublecircle', 'fillcolor': 'palegreen1'}

    def label(self, obj: Any) -> str:
        if obj is None:
            return ''
        return getattr(obj, 'label', None) or obj.name.rsplit('.', 1)[-1]

    def node(self, obj: Any, **attrs: Any) -> str:
        scheme = dict(self.node_scheme, **self.last_scheme) if getattr(obj, 'last', False) \
            else self.node_scheme
        return self.draw_node(obj, scheme, attrs)

    terminal_node = node


def _step_graph(blueprint_cls: Any, extra: Iterable[Any]) -> tuple[DependencyGraph, list]:
    """The requirement graph of a blueprint's step classes, and the boot order."""
    from kombu.utils.imports import symbol_by_name
    pending = [symbol_by_name(step) for step in (*blueprint_cls.default_steps, *extra)]
    seen: dict[str, Any] = {}
    while pending:
        step = pending.pop(0)
        if step.name in seen:
            continue
        seen[step.name] = step
        pending.extend(symbol_by_name(req) for req in step.requires)
    graph = DependencyGraph(formatter=_StepFormatter(id='bootsteps'))
    for step in seen.values():
        graph.add_arc(step)
        for req in step.requires:
            graph.add_edge(step, seen[symbol_by_name(req).name])
    order = graph.topsort()
    last = [step for step in order if getattr(step, 'last', False)]
    order = [step for step in order if step not in last] + last
    return graph, order


@click.group(name='graph')
def graph(**kwargs: Any) -> None:
    """Draw Graphviz (dot) graphs of bootsteps and workers."""


@graph.command(context_settings={'allow_extra_args': True})
@click.pass_context
def bootsteps(ctx: click.Context) -> None:
    """Draw the worker's boot steps: bootsteps [worker] [consumer]."""
    from celery.worker.consumer import Consumer
    from celery.worker.worker import WorkController
    app = _obj(ctx).app
    include = {arg.lower() for arg in ctx.args} or {'worker', 'consumer'}
    unknown = include - {'worker', 'consumer'}
    if unknown:
        raise click.UsageError(f'unknown blueprint: {", ".join(sorted(unknown))} '
                               f'(choose worker and/or consumer)')
    result = DependencyGraph(formatter=_StepFormatter(id='bootsteps'))
    worker_order: list = []
    if 'worker' in include:
        worker_graph, worker_order = _step_graph(WorkController.Blueprint, app.steps['worker'])
        result.connect(worker_graph)
    if 'consumer' in include:
        consumer_graph, consumer_order = _step_graph(Consumer.Blueprint, app.steps['consumer'])
        result.connect(consumer_graph)
        if worker_order and consumer_order:
            # the consumer blueprint boots inside the worker's last step
            result.add_edge(consumer_order[0], worker_order[-1])
    result.to_dot(sys.stdout)


# -- workers ------------------------------------------------------------------------


class _Box:
    """A node of the workers graph: its label and the scheme it is drawn with."""

    scheme: dict = {}

    def __init__(self, label: str, **scheme: Any) -> None:
        self.label = label
        self.scheme = dict(self.scheme, **scheme)

    def __str__(self) -> str:
        return self.label


class _WorkersFormatter(GraphFormatter):
    def label(self, obj: Any) -> str:
        return str(obj) if obj is not None else ''

    def node(self, obj: Any, **attrs: Any) -> str:
        return self.draw_node(obj, dict(self.node_scheme, **getattr(obj, 'scheme', {})), attrs)

    terminal_node = node


def _parse_pairs(args: Iterable[str]) -> dict[str, str]:
    pairs = {}
    for arg in args:
        key, eq, value = arg.partition('=')
        pairs[key.strip().lower()] = value.strip() if eq else ''
    return pairs


def _as_list(value: str | None) -> list[str]:
    return [item for item in (value or '').split(',') if item]


@graph.command(context_settings={'allow_extra_args': True})
@click.pass_context
def workers(ctx: click.Context) -> None:
    """Draw the workers, broker and result backend: workers [key=value ...]."""
    obj = _obj(ctx)
    app = obj.app
    args = _parse_pairs(ctx.args)
    generic = 'generic' in args

    if 'nodes' in args:
        names = _as_list(args['nodes'])
        counts = _as_list(args.get('threads'))
        try:
            threads = [int(n) for n in counts]
        except ValueError:
            raise click.UsageError(f'threads must be numbers: {args.get("threads")!r}') from None
        if len(threads) == 1:
            threads *= len(names)
        elif threads and len(threads) != len(names):
            raise click.UsageError('give one thread count, or one per node')
    else:
        replies = app.control.inspect().stats() or {}
        names = list(replies)
        threads = [int(((reply or {}).get('pool') or {}).get('max-concurrency') or 0)
                   for reply in replies.values()]
    try:
        wmax = int(args.get('wmax') or 4)
        tmax = int(args.get('tmax') or 3)
    except ValueError:
        raise click.UsageError('wmax and tmax must be numbers') from None

    def url_label(url: str, kind: str) -> str:
        return f'{kind} ({url.split("://", 1)[0]}://)' if generic else url

    broker_url = args.get('broker') or app.connection_for_read().as_uri()
    backend_url = args.get('backend', app.conf.result_backend)
    broker = _Box(url_label(broker_url, 'Broker'), shape='folder', fillcolor='lightblue')
    backend = (_Box(url_label(str(backend_url), 'Backend'), shape='cylinder',
                    fillcolor='peachpuff') if backend_url else None)

    dgraph = DependencyGraph(formatter=_WorkersFormatter(id='workers'))
    dgraph.add_arc(broker)
    if backend is not None:
        dgraph.add_arc(backend)
    for index, name in enumerate(names):
        if index == wmax:
            rest = _Box(f'... {len(names) - wmax} more workers', shape='plaintext')
            dgraph.add_edge(rest, broker)
            break
        worker = _Box(name, shape='box', fillcolor='palegreen3')
        dgraph.add_edge(worker, broker)
        if backend is not None:
            dgraph.add_edge(worker, backend)
        count = threads[index] if index < len(threads) else 0
        for n in range(1, min(count, tmax) + 1):
            dgraph.add_edge(_Box(f'{name} process {n}', shape='oval', fillcolor='white'),
                            worker)
        if count > tmax:
            dgraph.add_edge(_Box(f'{name}: {count - tmax} more', shape='plaintext'), worker)
    dgraph.to_dot(sys.stdout)

"""Tests for ``celery graph`` (celery.bin.graph)."""
from __future__ import annotations

import re

from celery import bootsteps

EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)"', re.M)
NODE = re.compile(r'^\s*"([^"]+)" \[', re.M)


def edges(dot):
    return set(EDGE.findall(dot))


def nodes(dot):
    return set(NODE.findall(dot))


class AuditStep(bootsteps.StartStopStep):
    requires = ('celery.worker.components:Pool',)


class Test_graph_bootsteps:

    def test_worker_and_consumer(self, celery_cli):
        result = celery_cli('graph', 'bootsteps')
        assert result.exit_code == 0, result.output
        dot = result.output
        assert dot.lstrip().startswith('digraph bootsteps {')
        assert dot.rstrip().endswith('}')
        assert {'Timer', 'Hub', 'Pool', 'Consumer', 'Connection', 'Tasks'} <= nodes(dot)
        assert ('Pool', 'Hub') in edges(dot)
        assert ('Hub', 'Timer') in edges(dot)
        # the consumer's blueprint hangs off the worker's Consumer step
        assert ('Connection', 'Consumer') in edges(dot)

    def test_only_the_consumer(self, celery_cli):
        result = celery_cli('graph', 'bootsteps', 'consumer')
        assert result.exit_code == 0, result.output
        assert 'Connection' in nodes(result.output)
        assert 'Pool' not in nodes(result.output)

    def test_only_the_worker(self, celery_cli):
        result = celery_cli('graph', 'bootsteps', 'worker')
        assert result.exit_code == 0, result.output
        assert 'Pool' in nodes(result.output)
        assert 'Connection' not in nodes(result.output)

    def test_includes_the_apps_steps(self, cli_app, celery_cli):
        cli_app.steps['worker'].add(AuditStep)
        result = celery_cli('graph', 'bootsteps', 'worker')
        assert result.exit_code == 0, result.output
        assert ('AuditStep', 'Pool') in edges(result.output)

    def test_unknown_blueprint(self, celery_cli):
        result = celery_cli('graph', 'bootsteps', 'beat')
        assert result.exit_code == 2
        assert 'unknown blueprint: beat' in result.output


class Test_graph_workers:

    def test_given_nodes(self, celery_cli):
        result = celery_cli('graph', 'workers', 'nodes=w1,w2', 'threads=2,1',
                            'broker=amqp://broker//', 'backend=redis://results/0')
        assert result.exit_code == 0, result.output
        dot = result.output
        assert dot.lstrip().startswith('digraph workers {')
        assert ('w1', 'amqp://broker//') in edges(dot)
        assert ('w2', 'redis://results/0') in edges(dot)
        assert ('w1 process 2', 'w1') in edges(dot)
        assert ('w2 process 1', 'w2') in edges(dot)
        assert 'w2 process 2' not in nodes(dot)

    def test_limits_and_generic_labels(self, celery_cli):
        result = celery_cli('graph', 'workers', 'nodes=a,b,c', 'threads=5',
                            'wmax=2', 'tmax=1', 'generic', 'broker=amqp://u:p@h//',
                            'backend=')
        assert result.exit_code == 0, result.output
        dot = result.output
        assert 'Broker (amqp://)' in nodes(dot)
        assert 'u:p@h' not in dot
        assert {'a', 'b'} <= nodes(dot) and 'c' not in nodes(dot)
        assert '... 1 more workers' in nodes(dot)
        assert 'a: 4 more' in nodes(dot)
        assert not any('Backend' in n for n in nodes(dot))

    def test_asks_the_workers(self, cli_app, celery_cli, monkeypatch):
        class FakeInspect:
            def stats(self):
                return {'celery@x': {'pool': {'max-concurrency': 2}}}

        monkeypatch.setattr(type(cli_app.control), 'inspect',
                            lambda self, *a, **kw: FakeInspect(), raising=False)
        result = celery_cli('graph', 'workers', 'broker=memory://')
        assert result.exit_code == 0, result.output
        assert ('celery@x process 2', 'celery@x') in edges(result.output)

    def test_thread_counts_must_match(self, celery_cli):
        result = celery_cli('graph', 'workers', 'nodes=a,b,c', 'threads=1,2')
        assert result.exit_code == 2
        assert 'one thread count, or one per node' in result.output

    def test_bad_numbers(self, celery_cli):
        result = celery_cli('graph', 'workers', 'nodes=a', 'threads=x')
        assert result.exit_code == 2
        result = celery_cli('graph', 'workers', 'nodes=a', 'wmax=lots')
        assert result.exit_code == 2

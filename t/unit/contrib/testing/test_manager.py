from __future__ import annotations

import io
from unittest.mock import Mock

import pytest

from celery import states
from celery.contrib.testing.manager import Manager, Sentinel


@pytest.fixture
def manager(app):
    return Manager(app, stdout=io.StringIO(), stderr=io.StringIO())


def flaky(fail_times: int, exc: type[BaseException] = KeyError, value: str = 'done'):
    calls = []

    def fun(*args, **kwargs):
        calls.append((args, kwargs))
        if len(calls) <= fail_times:
            raise exc('not yet')
        return value
    fun.calls = calls
    return fun


class test_wait_for:

    def test_returns_when_it_stops_failing(self, manager):
        fun = flaky(2)
        assert manager.wait_for(fun, KeyError, args=(1,), kwargs={'k': 2},
                                interval_start=0, interval_step=0) == 'done'
        assert fun.calls == [((1,), {'k': 2})] * 3

    def test_gives_up(self, manager):
        fun = flaky(100)
        with pytest.raises(KeyError):
            manager.wait_for(fun, KeyError, max_retries=3, interval_start=0, interval_step=0)
        assert len(fun.calls) == 4

    def test_other_errors_propagate(self, manager):
        with pytest.raises(ValueError):
            manager.wait_for(flaky(1, exc=ValueError), KeyError, interval_start=0)

    def test_errback_and_warning(self, manager):
        errback = Mock()
        manager.wait_for(flaky(1), KeyError, desc='the thing', errback=errback,
                         emit_warning=True, interval_start=0, interval_step=0)
        errback.assert_called_once()
        assert 'Still waiting for the thing' in manager.stderr.getvalue()


class test_ensure_not_for_a_while:

    def test_passes_when_it_never_happens(self, manager):
        manager.ensure_not_for_a_while(flaky(100), KeyError, max_retries=2,
                                       interval_start=0, interval_step=0)

    def test_fails_when_it_happens(self, manager):
        with pytest.raises(AssertionError, match='Should not have happened: boom'):
            manager.ensure_not_for_a_while(flaky(1), KeyError, desc='boom',
                                           interval_start=0, interval_step=0)


class test_true_or_raise:

    def test(self, manager):
        assert manager.true_or_raise(lambda x: x, 5) == 5
        with pytest.raises(Sentinel):
            manager.true_or_raise(lambda: [])


class test_join:

    def test_values(self, manager, app):
        # Given two stored results
        app.backend.store_result('a', 1, states.SUCCESS)
        app.backend.store_result('b', 2, states.SUCCESS)
        # Then join returns their values
        assert manager.join(app.AsyncResult('a'), timeout=1) == [1]
        assert manager.join(app.ResultSet([app.AsyncResult('a'), app.AsyncResult('b')]),
                            timeout=1) == [1, 2]

    def test_missing_results_fail(self, manager, app):
        with pytest.raises(AssertionError, match='Missing task results'):
            manager.join(app.AsyncResult('never'), timeout=0.01, max_retries=2)
        assert manager.stdout.getvalue().count('!Still waiting for 1/1: [never]') == 2

    def test_no_join(self, app):
        assert Manager(app, no_join=True).join(app.AsyncResult('x')) is None

    def test_missing_results(self, manager, app):
        app.backend.store_result('done', 1, states.SUCCESS)
        assert manager.missing_results([app.AsyncResult('done'),
                                        app.AsyncResult('todo')]) == ['todo']


class fake_inspect:
    """Replies of two workers to query_task."""

    def __init__(self, replies):
        self.replies = replies

    def query_task(self, *ids):
        return {worker: {i: v for i, v in tasks.items() if i in ids}
                for worker, tasks in self.replies.items()}


class test_task_states:

    @pytest.fixture
    def workers(self, manager):
        manager.inspect = lambda timeout=3.0: fake_inspect({
            'w1@x': {'a': ['active', {}], 'b': ['reserved', {}]},
            'w2@x': {'c': ['ready', {}]},
        })
        return manager

    def test_query_task_states(self, workers):
        found = workers.query_task_states(['a', 'b', 'c'])
        assert found == {'active': {'a'}, 'reserved': {'b'}, 'ready': {'c'}}

    def test_is_received(self, workers):
        assert workers.is_received(['a', 'b', 'c'])
        assert not workers.is_received(['a', 'zzz'])

    def test_is_accepted(self, workers):
        assert workers.is_accepted(['a', 'c'])
        assert not workers.is_accepted(['a', 'b'])

    def test_assert_accepted(self, workers):
        assert workers.assert_accepted(['a'], interval_start=0)
        with pytest.raises(Sentinel):
            workers.assert_accepted(['b'], max_retries=1, interval_start=0, interval_step=0)

    def test_assert_received(self, workers):
        assert workers.assert_received(['b'], interval_start=0)

    def test_no_replies(self, manager):
        manager.inspect = lambda timeout=3.0: Mock(query_task=Mock(return_value=None))
        assert not manager.is_received(['a'])

    def test_inspect_uses_app_control(self, manager, app):
        app.control.inspect = Mock(name='inspect')
        manager.inspect(timeout=1.5)
        app.control.inspect.assert_called_once_with(timeout=1.5)


class test_result_states:

    def test_in_progress_or_completed(self, manager, app):
        app.backend.store_result('s', None, states.STARTED)
        app.backend.store_result('ok', 1, states.SUCCESS)
        results = [app.AsyncResult('s'), app.AsyncResult('ok')]
        assert manager.is_result_task_in_progress(results)
        assert manager.assert_result_tasks_in_progress_or_completed(results, interval_start=0)
        assert not manager.is_result_task_in_progress([app.AsyncResult('pending')])


class test_wait_until_idle:

    def test_purges_and_waits(self, manager, app):
        purged = iter([3, 0])
        active = iter([{'w1': [{'id': 'a'}]}, {'w1': []}])
        inspect = Mock(active=lambda: next(active))
        app.control = Mock(purge=Mock(side_effect=lambda connection: next(purged)),
                           inspect=Mock(return_value=inspect))
        manager.wait_until_idle(interval=0)
        assert app.control.purge.call_count == 2

    def test_times_out(self, manager, app):
        inspect = Mock(active=lambda: {'w1': [{'id': 'a'}]})
        app.control = Mock(purge=Mock(return_value=0), inspect=Mock(return_value=inspect))
        with pytest.raises(AssertionError, match='Workers still busy'):
            manager.wait_until_idle(timeout=0.05, interval=0.01)


def test_remark(manager):
    manager.remark('hello', '#')
    assert manager.stdout.getvalue() == '#hello\n'


@pytest.mark.slow  # remote-control round trips: a few seconds
def test_with_an_embedded_worker():
    """Against a real (threads pool) worker on the memory broker."""
    import threading

    from celery.contrib.testing.app import TestApp, setup_default_app
    from celery.contrib.testing.worker import start_worker

    app = TestApp()
    release = threading.Event()

    @app.task(shared=False)
    def block():
        release.wait(10)
        return 'ok'

    with setup_default_app(app), start_worker(app, pool='threads'):
        manager = Manager(app, stdout=io.StringIO())
        # Given a task that is running
        result = block.delay()
        # Then the worker reports it received and accepted
        assert manager.assert_accepted([result.id], interval=0.5)
        assert manager.is_received([result.id])
        release.set()
        # and join returns its value, and the worker becomes idle
        assert manager.join(result, timeout=5) == ['ok']
        manager.wait_until_idle(timeout=10)
        assert not manager.is_accepted(['unknown-id'])

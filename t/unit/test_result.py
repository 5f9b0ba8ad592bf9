"""Result handles: AsyncResult, ResultSet, GroupResult, EagerResult."""
from __future__ import annotations

import copy
import pickle
from datetime import datetime

import pytest

from celery import states, uuid
from celery.app.task import Context
from celery.exceptions import ImproperlyConfigured, IncompleteStream, TimeoutError
from celery.result import (AsyncResult, EagerResult, GroupResult, ResultSet,
                           allow_join_result, assert_will_not_block,
                           denied_join_result, result_from_tuple)


def store(app, state=states.SUCCESS, value=None, task_id=None, **request):
    """Given a stored record, return its id."""
    task_id = task_id or uuid()
    req = Context(id=task_id, **request) if request else None
    app.backend.store_result(task_id, value, state, request=req)
    return task_id


class test_AsyncResult:

    def test_needs_an_id(self, app):
        with pytest.raises(ValueError):
            AsyncResult(None, app=app)

    def test_get_returns_the_stored_value(self, app):
        task_id = store(app, value=4)
        result = app.AsyncResult(task_id)
        assert result.get(timeout=1) == 4
        assert result.ready() and result.successful() and not result.failed()
        assert result.state == result.status == states.SUCCESS
        assert result.result == result.info == 4

    def test_get_reraises_the_task_exception(self, app):
        task_id = uuid()
        app.backend.mark_as_failure(task_id, KeyError('missing'), traceback='Traceback...')
        result = app.AsyncResult(task_id)
        with pytest.raises(KeyError, match='missing'):
            result.get(timeout=1)
        assert result.failed()
        assert result.traceback == 'Traceback...'
        assert isinstance(result.get(propagate=False), KeyError)

    def test_get_times_out_while_pending(self, app):
        result = app.AsyncResult(uuid())
        with pytest.raises(TimeoutError):
            result.get(timeout=0.05, interval=0.01)
        assert result.state == states.PENDING
        assert not result.ready()

    def test_get_waits_until_the_result_is_stored(self, app):
        task_id = uuid()
        result = app.AsyncResult(task_id)
        calls = []

        def on_interval():
            # When: the task finishes while we are polling.
            calls.append(1)
            if len(calls) == 2:
                app.backend.store_result(task_id, 'done', states.SUCCESS)
        assert result.get(timeout=5, interval=0.01, on_interval=on_interval) == 'done'

    def test_get_calls_callback(self, app):
        task_id = store(app, value=3)
        seen = []
        app.AsyncResult(task_id).get(callback=lambda tid, value: seen.append((tid, value)))
        assert seen == [(task_id, 3)]

    def test_on_message_not_supported_by_polling_backends(self, app):
        task_id = store(app, state=states.STARTED)
        with pytest.raises(ImproperlyConfigured):
            app.AsyncResult(task_id).get(on_message=print)

    def test_ignored_result_returns_none(self, app):
        result = app.AsyncResult(uuid())
        result.ignored = True
        assert result.get() is None

    def test_get_refuses_to_block_inside_a_worker(self, app):
        task_id = store(app, value=1)
        with denied_join_result():
            with pytest.raises(RuntimeError, match='deadlock'):
                app.AsyncResult(task_id).get()
            assert app.AsyncResult(task_id).get(disable_sync_subtasks=False) == 1
            with allow_join_result():
                assert app.AsyncResult(task_id).get() == 1
                assert_will_not_block()

    def test_revoked_result_raises(self, app):
        task_id = uuid()
        app.backend.mark_as_revoked(task_id, 'terminated')
        from celery.exceptions import TaskRevokedError
        with pytest.raises(TaskRevokedError):
            app.AsyncResult(task_id).get()

    def test_parent_errors_are_raised_first(self, app):
        parent_id = uuid()
        app.backend.mark_as_failure(parent_id, ValueError('parent'))
        child = app.AsyncResult(uuid(), parent=app.AsyncResult(parent_id))
        with pytest.raises(ValueError, match='parent'):
            child.get(timeout=0.05, interval=0.01)

    def test_extended_fields(self, app):
        app.conf.result_extended = True
        backend = app.backend.__class__(app=app, url=app.backend.url)
        task_id = uuid()
        request = Context(id=task_id, task='tasks.add', args=[1, 2], kwargs={'z': 1},
                          hostname='w1@host', retries=2,
                          delivery_info={'routing_key': 'celery'})
        backend.store_result(task_id, 3, states.SUCCESS, request=request)
        result = AsyncResult(task_id, backend=backend, app=app)
        assert result.name == 'tasks.add'
        assert result.args == [1, 2] and result.kwargs == {'z': 1}
        assert result.worker == 'w1@host' and result.retries == 2
        assert result.queue == 'celery'
        assert isinstance(result.date_done, datetime)

    def test_children_are_rebuilt_from_tuples(self, app):
        task_id = uuid()
        child = app.AsyncResult(uuid())
        app.backend.store_result(task_id, 1, states.SUCCESS,
                                 request=Context(id=task_id, _children=[child]))
        result = app.AsyncResult(task_id)
        assert result.children == [child]

    def test_forget_removes_the_record(self, app):
        task_id = store(app, value=1)
        result = app.AsyncResult(task_id)
        assert result.state == states.SUCCESS
        result.forget()
        assert app.AsyncResult(task_id).state == states.PENDING

    def test_revoke_asks_the_workers(self, app):
        calls = []

        class Control:
            def revoke(self, *args, **kwargs):
                calls.append((args, kwargs))
        result = AsyncResult('abc', app=app)
        result.app = type('App', (), {'control': Control()})()
        result.revoke(terminate=True, signal='KILL', wait=True, timeout=2)
        assert calls == [(('abc',), {'connection': None, 'terminate': True,
                                     'signal': 'KILL', 'reply': True, 'timeout': 2})]

    def test_equality_hash_and_str(self, app):
        task_id = uuid()
        first, second = app.AsyncResult(task_id), app.AsyncResult(task_id)
        assert first == second and first == task_id and hash(first) == hash(second)
        assert first != app.AsyncResult(uuid())
        assert str(first) == task_id
        assert repr(first) == f'<AsyncResult: {task_id}>'
        assert first.task_id == task_id

    def test_pickle_and_copy_keep_id_and_parent(self, app, current_app_restored):
        app.set_current()  # unpickling binds results to the current app
        parent = app.AsyncResult(uuid())
        result = app.AsyncResult(uuid(), parent=parent)
        clone = pickle.loads(pickle.dumps(result))
        assert clone == result and clone.parent == parent
        assert copy.copy(result) == result

    def test_as_tuple_and_back(self, app):
        parent = app.AsyncResult(uuid())
        result = app.AsyncResult(uuid(), parent=parent)
        assert result.as_tuple() == ((result.id, ((parent.id, None), None)), None)
        rebuilt = result_from_tuple(result.as_tuple(), app)
        assert rebuilt == result and rebuilt.parent == parent
        assert result.as_list() == [result.id, parent.id]

    def test_iterdeps_and_collect(self, app):
        leaf_id = store(app, value='leaf')
        root_id = uuid()
        app.backend.store_result(root_id, 'root', states.SUCCESS,
                                 request=Context(id=root_id,
                                                 _children=[app.AsyncResult(leaf_id)]))
        root = app.AsyncResult(root_id)
        assert [value for _, value in root.collect()] == ['root', 'leaf']
        assert root.get_leaf() == 'leaf'

    def test_graph_of_the_children_tree(self, app):
        leaf = app.AsyncResult(store(app, value=1))
        root_id = uuid()
        app.backend.store_result(root_id, 0, states.SUCCESS,
                                 request=Context(id=root_id, _children=[leaf]))
        graph = app.AsyncResult(root_id).graph
        assert set(graph) == {app.AsyncResult(root_id), leaf}
        assert list(graph[app.AsyncResult(root_id)]) == [leaf]

    def test_iterdeps_raises_on_incomplete_tree(self, app):
        result = app.AsyncResult(uuid())
        with pytest.raises(IncompleteStream):
            list(result.iterdeps())
        assert [node for _, node in result.iterdeps(intermediate=True)] == [result]

    def test_then_fires_for_ready_results(self, app):
        task_id = store(app, value=5)
        seen = []
        result = app.AsyncResult(task_id)
        result.then(lambda r: seen.append(r.result))
        result.get()
        assert seen == [5]

    def test_date_done_is_parsed(self, app):
        result = app.AsyncResult(store(app, value=1))
        assert result.date_done.tzinfo is not None


class test_ResultSet:

    def test_join_returns_values_in_order(self, app):
        ids = [store(app, value=i) for i in range(3)]
        results = ResultSet([app.AsyncResult(i) for i in ids], app=app)
        assert results.join(timeout=1) == [0, 1, 2]
        assert results.get(timeout=1) == [0, 1, 2]
        assert results.ready() and results.successful() and not results.failed()
        assert results.completed_count() == 3 and not results.waiting()
        assert len(results) == 3 and results[0].id == ids[0]

    def test_join_native_with_callback(self, app):
        ids = [store(app, value=i) for i in range(3)]
        results = ResultSet([app.AsyncResult(i) for i in ids], app=app)
        seen = {}
        assert results.join_native(callback=lambda tid, value: seen.update({tid: value})) is None
        assert seen == dict(zip(ids, range(3)))

    def test_join_native_raises_failure(self, app):
        ok = store(app, value=1)
        bad = uuid()
        app.backend.mark_as_failure(bad, ValueError('x'))
        results = ResultSet([app.AsyncResult(ok), app.AsyncResult(bad)], app=app)
        with pytest.raises(ValueError):
            results.join_native(timeout=1)
        assert results.failed()
        assert list(results._failed_join_report()) in ([], [app.AsyncResult(bad)])

    def test_join_times_out(self, app):
        results = ResultSet([app.AsyncResult(uuid())], app=app)
        with pytest.raises(TimeoutError):
            results.join(timeout=0.05, interval=0.01)
        with pytest.raises(TimeoutError):
            results.join_native(timeout=0.05, interval=0.01)

    def test_join_refuses_on_message(self, app):
        with pytest.raises(ImproperlyConfigured):
            ResultSet([], app=app).join(on_message=print)

    def test_membership(self, app):
        first, second = app.AsyncResult(uuid()), app.AsyncResult(uuid())
        results = ResultSet([first], app=app)
        results.add(first)
        results.add(second)
        assert results.results == [first, second]
        results.remove(first.id)
        with pytest.raises(KeyError):
            results.remove(first)
        results.discard(first)
        results.update([first, second])
        assert results.results == [second, first]
        results.clear()
        assert len(results) == 0

    def test_revoke_sends_all_ids(self, app):
        calls = []

        class Control:
            def revoke(self, ids, **kwargs):
                calls.append(ids)
        results = ResultSet([AsyncResult('a', app=app), AsyncResult('b', app=app)])
        results._app = type('App', (), {'control': Control(), 'backend': app.backend})()
        results.revoke()
        assert calls == [['a', 'b']]

    def test_eq_and_repr(self, app):
        first = app.AsyncResult('a')
        assert ResultSet([first], app=app) == ResultSet([first], app=app)
        assert repr(ResultSet([first], app=app)) == '<ResultSet: [a]>'


class test_GroupResult:

    def test_save_restore_delete(self, app):
        ids = [store(app, value=i) for i in range(2)]
        group = app.GroupResult(uuid(), [app.AsyncResult(i) for i in ids])
        group.save()
        restored = GroupResult.restore(group.id, app=app)
        assert restored == group
        assert restored.get(timeout=1) == [0, 1]
        group.delete()
        assert GroupResult.restore(group.id, backend=app.backend) is None

    def test_as_tuple_round_trip_with_nested_group(self, app):
        inner = app.GroupResult('inner', [app.AsyncResult('x')])
        outer = app.GroupResult('outer', [inner, app.AsyncResult('y')],
                                parent=app.AsyncResult('p'))
        rebuilt = result_from_tuple(outer.as_tuple(), app)
        assert rebuilt == outer
        assert isinstance(rebuilt.results[0], GroupResult)
        assert rebuilt.children == rebuilt.results

    def test_identity(self, app, current_app_restored):
        app.set_current()  # unpickling binds results to the current app
        group = app.GroupResult('g', [app.AsyncResult('a')])
        assert group == 'g' and hash(group) == hash('g') and str(group) == 'g'
        assert repr(group) == '<GroupResult: g [a]>'
        assert bool(group) and not bool(GroupResult(None, []))
        clone = pickle.loads(pickle.dumps(group))
        assert clone.id == 'g' and clone.results == group.results

    def test_join_of_nested_group(self, app):
        inner = app.GroupResult('i', [app.AsyncResult(store(app, value=1))])
        outer = app.GroupResult('o', [inner, app.AsyncResult(store(app, value=2))])
        assert outer.join_native(timeout=1) == [[1], 2]


class test_EagerResult:

    def test_success(self):
        result = EagerResult('id', 4, states.SUCCESS, name='add')
        assert result.get() == 4 and result.wait() == 4
        assert result.ready() and result.successful()
        assert result.state == result.status == states.SUCCESS
        assert result.result == 4 and result.name == 'add'
        assert result.traceback is None
        assert repr(result) == '<EagerResult: id>'
        assert not result.supports_native_join

    def test_failure_reraises(self):
        result = EagerResult('id', KeyError('k'), states.FAILURE, traceback='tb')
        with pytest.raises(KeyError):
            result.get()
        assert isinstance(result.get(propagate=False), KeyError)
        assert result.failed() and result.traceback == 'tb'
        with pytest.raises(KeyError):
            result.maybe_throw()

    def test_non_exception_failure_value_is_wrapped(self):
        with pytest.raises(Exception, match='oops'):
            EagerResult('id', 'oops', states.FAILURE).get()

    def test_revoke_and_forget(self):
        result = EagerResult('id', 1, states.SUCCESS)
        result.forget()
        result.revoke()
        assert result.state == states.REVOKED

    def test_then_and_pickle(self):
        result = EagerResult('id', 1, states.SUCCESS)
        seen = []
        result.then(lambda r: seen.append(r.id))
        assert seen == ['id']
        clone = pickle.loads(pickle.dumps(result))
        assert clone.get() == 1 and clone.id == 'id'

    def test_get_inside_worker_is_refused(self):
        with denied_join_result():
            with pytest.raises(RuntimeError):
                EagerResult('id', 1, states.SUCCESS).get()


class test_helpers:

    def test_result_from_tuple_rejects_garbage(self, app):
        with pytest.raises(ValueError):
            result_from_tuple(42, app)

    def test_result_from_tuple_passes_results_through(self, app):
        result = app.AsyncResult('x')
        assert result_from_tuple(result, app) is result

    def test_join_result_contexts_restore_the_previous_setting(self):
        with denied_join_result():
            with allow_join_result():
                assert_will_not_block()
            with pytest.raises(RuntimeError):
                assert_will_not_block()
        assert_will_not_block()

"""The backend base classes: records, encoding, exceptions, retries, groups."""
from __future__ import annotations

import json
import pickle
import sys
from datetime import datetime

import pytest

import celery.app.builtins  # noqa: F401 - registers celery.chord_unlock
from celery import Celery, states, uuid
from celery.app.task import Context
from celery.backends.base import (BaseBackend, Backend, DisabledBackend,
                                  KeyValueStoreBackend)
from celery.exceptions import (BackendGetMetaError, BackendStoreError, ChordError,
                               SecurityError,
                               TaskRevokedError)
from celery.result import AsyncResult, GroupResult

from .conftest import DictBackend


class CustomError(Exception):
    """An exception class known to this module."""


class UnpicklableError(Exception):
    def __init__(self, value):
        super().__init__(value)
        self.lock = __import__('threading').Lock()


def record(kv, task_id):
    return json.loads(kv.data[kv.get_key_for_task(task_id)])


class test_record_format:

    def test_success_record_is_celerys(self, kv):
        task_id = uuid()
        kv.store_result(task_id, 4, states.SUCCESS, request=Context(id=task_id))
        key = kv.get_key_for_task(task_id)
        assert key == f'celery-task-meta-{task_id}'.encode()
        meta = record(kv, task_id)
        assert list(meta) == ['status', 'result', 'traceback', 'children',
                              'date_done', 'task_id']
        assert meta['status'] == 'SUCCESS' and meta['result'] == 4
        assert meta['traceback'] is None and meta['children'] == []
        assert meta['task_id'] == task_id
        date_done = datetime.fromisoformat(meta['date_done'])
        assert date_done.utcoffset().total_seconds() == 0

    def test_unready_states_have_no_date_done(self, kv):
        task_id = uuid()
        kv.mark_as_started(task_id, pid=1, hostname='w@h')
        meta = record(kv, task_id)
        assert meta['status'] == 'STARTED' and meta['date_done'] is None
        assert meta['result'] == {'pid': 1, 'hostname': 'w@h'}
        assert meta['children'] is None

    def test_group_and_parent_ids(self, kv):
        task_id = uuid()
        kv.store_result(task_id, 1, states.SUCCESS,
                        request=Context(id=task_id, group='g1', parent_id='p1'))
        meta = record(kv, task_id)
        assert meta['group_id'] == 'g1' and meta['parent_id'] == 'p1'

    def test_extended_record(self, kv_app):
        kv_app.conf.result_extended = True
        backend = DictBackend(app=kv_app)
        task_id = uuid()
        backend.store_result(task_id, 3, states.SUCCESS, request=Context(
            id=task_id, task='t.add', args=[1, 2], kwargs={}, hostname='w1',
            retries=0, delivery_info={'routing_key': 'q1'}))
        meta = record(backend, task_id)
        assert {k: meta[k] for k in ('name', 'args', 'kwargs', 'worker', 'retries', 'queue')} \
            == {'name': 't.add', 'args': [1, 2], 'kwargs': {}, 'worker': 'w1',
                'retries': 0, 'queue': 'q1'}

    def test_failure_record_serializes_the_exception(self, kv):
        task_id = uuid()
        kv.mark_as_failure(task_id, KeyError('k'), traceback='Traceback (most recent...)')
        meta = record(kv, task_id)
        assert meta['status'] == 'FAILURE'
        assert meta['result'] == {'exc_type': 'KeyError', 'exc_message': ['k'],
                                  'exc_module': 'builtins'}
        assert meta['traceback'] == 'Traceback (most recent...)'

    def test_custom_state_and_meta(self, kv):
        task_id = uuid()
        kv.store_result(task_id, {'current': 3, 'total': 10}, 'PROGRESS')
        result = AsyncResult(task_id, backend=kv, app=kv.app)
        assert result.state == 'PROGRESS' and result.info == {'current': 3, 'total': 10}
        assert not result.ready()

    def test_result_handles_are_stored_as_tuples(self, kv):
        task_id = uuid()
        child = kv.app.AsyncResult('child-id')
        kv.store_result(task_id, child, states.SUCCESS)
        assert record(kv, task_id)['result'] == [['child-id', None], None]

    def test_global_keyprefix(self, kv_app):
        kv_app.conf.result_backend_transport_options = {'global_keyprefix': 'proj'}
        backend = DictBackend(app=kv_app)
        assert backend.get_key_for_task('x') == b'proj_celery-task-meta-x'
        assert backend.get_key_for_group('g') == b'proj_celery-taskset-meta-g'
        assert backend.get_key_for_chord('g') == b'proj_chord-unlock-g'
        kv_app.conf.result_backend_transport_options = {'global_keyprefix': 'proj:'}
        assert DictBackend(app=kv_app).get_key_for_task('x') == b'proj:celery-task-meta-x'

    def test_success_is_final(self, kv):
        task_id = uuid()
        kv.store_result(task_id, 1, states.SUCCESS)
        kv.store_result(task_id, None, states.STARTED)
        kv.mark_as_failure(task_id, ValueError('late'))
        assert record(kv, task_id)['status'] == 'SUCCESS'

    def test_ignore_result_request_skips_storing_success(self, kv):
        task_id = uuid()
        kv.mark_as_done(task_id, 1, request=Context(id=task_id, ignore_result=True))
        assert kv.get_key_for_task(task_id) not in kv.data

    def test_revoked_record(self, kv):
        task_id = uuid()
        kv.mark_as_revoked(task_id, 'expired')
        result = AsyncResult(task_id, backend=kv, app=kv.app)
        assert result.state == states.REVOKED
        assert isinstance(result.result, TaskRevokedError)
        assert str(result.result) == 'expired'

    def test_retry_record(self, kv):
        task_id = uuid()
        kv.mark_as_retry(task_id, ValueError('again'), traceback='tb')
        result = AsyncResult(task_id, backend=kv, app=kv.app)
        assert result.state == states.RETRY and isinstance(result.result, ValueError)


class test_exceptions:

    def test_round_trip_of_a_known_class(self, kv):
        prepared = kv.prepare_exception(CustomError('a', 2))
        assert prepared == {'exc_type': 'CustomError', 'exc_message': ('a', 2),
                            'exc_module': __name__}
        rebuilt = kv.exception_to_python(json.loads(json.dumps(prepared)))
        assert type(rebuilt) is CustomError and rebuilt.args == ('a', 2)

    def test_unknown_module_gives_a_generated_subclass(self, kv):
        assert 'not_imported_mod' not in sys.modules
        exc = kv.exception_to_python({'exc_type': 'Weird', 'exc_message': ['x'],
                                      'exc_module': 'not_imported_mod'})
        assert type(exc).__name__ == 'Weird' and isinstance(exc, Exception)
        assert type(exc).__module__ == 'celery.exceptions'
        assert exc.args == ('x',)
        assert 'not_imported_mod' not in sys.modules
        again = kv.exception_to_python({'exc_type': 'Weird', 'exc_message': [],
                                        'exc_module': 'not_imported_mod'})
        assert type(again) is type(exc)

    def test_non_exception_class_is_refused(self, kv):
        with pytest.raises(SecurityError):
            kv.exception_to_python({'exc_type': 'system', 'exc_message': ['echo hi'],
                                    'exc_module': 'os'})

    def test_malformed_payloads(self, kv):
        assert kv.exception_to_python(None) is None
        with pytest.raises(ValueError):
            kv.exception_to_python({'exc_message': 'no type'})
        with pytest.raises(TypeError):
            kv.exception_to_python(42)

    def test_constructor_mismatch_falls_back_to_exception(self, kv):
        class NeedsTwo(Exception):
            def __init__(self, a, b):
                super().__init__(a, b)
        sys.modules[__name__].NeedsTwo = NeedsTwo
        try:
            exc = kv.exception_to_python({'exc_type': 'NeedsTwo', 'exc_message': ['one'],
                                          'exc_module': __name__})
        finally:
            del sys.modules[__name__].NeedsTwo
        assert type(exc) is Exception and 'NeedsTwo' in str(exc)

    def test_unserializable_arguments_become_reprs(self, kv):
        prepared = kv.prepare_exception(CustomError(object))
        assert prepared['exc_message'] == ("<class 'object'>",)

    def test_qualified_names(self, kv):
        class Outer:
            class Inner(Exception):
                pass
        sys.modules[__name__].Outer = Outer
        try:
            prepared = kv.prepare_exception(Outer.Inner('x'))
            assert prepared['exc_type'].endswith('Outer.Inner')
            exc = kv.exception_to_python({'exc_type': 'Outer.Inner',
                                          'exc_message': ['x'], 'exc_module': __name__})
        finally:
            del sys.modules[__name__].Outer
        assert type(exc) is Outer.Inner

    def test_pickle_serializer_keeps_instances(self, kv_app):
        kv_app.conf.accept_content = ['pickle', 'json']
        backend = DictBackend(app=kv_app, serializer='pickle')
        assert isinstance(backend.prepare_exception(CustomError('x')), CustomError)
        wrapped = backend.prepare_exception(UnpicklableError('x'))
        pickle.dumps(wrapped)
        task_id = uuid()
        backend.mark_as_failure(task_id, CustomError('boom'))
        result = AsyncResult(task_id, backend=backend, app=kv_app)
        with pytest.raises(CustomError):
            result.get()


class test_reading:

    def test_missing_record_is_pending(self, kv):
        meta = kv.get_task_meta(uuid())
        assert meta == {'status': 'PENDING', 'result': None}

    def test_corrupt_record_gives_a_clear_error(self, kv):
        task_id = uuid()
        kv.data[kv.get_key_for_task(task_id)] = b'\x00not json'
        with pytest.raises(BackendGetMetaError, match=task_id):
            kv.get_task_meta(task_id)

    def test_foreign_record_gives_a_clear_error(self, kv):
        task_id = uuid()
        kv.data[kv.get_key_for_task(task_id)] = json.dumps([1, 2, 3])
        with pytest.raises(BackendGetMetaError, match='not a Celery result record'):
            AsyncResult(task_id, backend=kv, app=kv.app).state

    def test_forbidden_content_type_is_refused(self, kv_app):
        backend = DictBackend(app=kv_app, serializer='pickle')  # json-only accept
        task_id = uuid()
        backend.store_result(task_id, 1, states.SUCCESS)
        with pytest.raises(BackendGetMetaError):
            backend.get_task_meta(task_id)

    def test_cache_only_keeps_success_when_enabled(self, kv_app):
        kv_app.conf.result_cache_max = 10
        backend = DictBackend(app=kv_app)
        done, started = uuid(), uuid()
        backend.store_result(done, 1, states.SUCCESS)
        backend.store_result(started, None, states.STARTED)
        backend.get_task_meta(done)
        backend.get_task_meta(started)
        assert backend.is_cached(done) and not backend.is_cached(started)
        backend.data.clear()
        assert backend.get_task_meta(done)['status'] == 'SUCCESS'
        backend.reload_task_result(done)
        assert backend.get_task_meta(done)['status'] == 'PENDING'

    def test_accessors(self, kv):
        task_id = uuid()
        kv.mark_as_failure(task_id, ValueError('v'), traceback='tb')
        assert kv.get_state(task_id) == kv.get_status(task_id) == 'FAILURE'
        assert isinstance(kv.get_result(task_id), ValueError)
        assert kv.get_traceback(task_id) == 'tb'
        assert kv.get_children(task_id) is None
        kv.forget(task_id)
        assert kv.get_state(task_id) == 'PENDING'

    def test_get_many_yields_ready_results(self, kv):
        ids = [uuid() for _ in range(3)]
        for task_id in ids[:2]:
            kv.store_result(task_id, task_id, states.SUCCESS)
        found = dict(kv.get_many(ids, max_iterations=1))
        assert set(found) == set(ids[:2])
        assert found[ids[0]]['result'] == ids[0]
        seen = []
        with pytest.raises(kv.TimeoutError):
            list(kv.get_many(ids[2:], timeout=0.02, interval=0.01,
                             on_interval=lambda: seen.append(1)))
        assert seen

    def test_eager_lookup_warns(self, kv_app):
        kv_app.conf.task_always_eager = True
        with pytest.warns(RuntimeWarning):
            kv_app.backend.get_task_meta(uuid())


class test_retries:

    class Flaky(DictBackend):
        failures = 0

        def exception_safe_to_retry(self, exc):
            return isinstance(exc, ConnectionError)

        def set(self, key, value):
            if self.failures:
                self.failures -= 1
                raise ConnectionError('down')
            super().set(key, value)

        def get(self, key):
            if self.failures:
                self.failures -= 1
                raise ConnectionError('down')
            return super().get(key)

    def make(self, app, **conf):
        app.conf.update(result_backend_always_retry=True,
                        result_backend_base_sleep_between_retries_ms=1,
                        result_backend_max_sleep_between_retries_ms=2, **conf)
        backend = self.Flaky(app=app)
        sleeps = []
        backend._sleep = sleeps.append
        return backend, sleeps

    def test_store_retries_then_succeeds(self, kv_app):
        backend, sleeps = self.make(kv_app)
        backend.failures = 2
        backend.store_result('t', 1, states.SUCCESS)
        assert len(sleeps) == 2 and backend.get_task_meta('t')['result'] == 1

    def test_store_gives_up_after_max_retries(self, kv_app):
        backend, sleeps = self.make(kv_app, result_backend_max_retries=2)
        backend.failures = 10
        with pytest.raises(BackendStoreError) as info:
            backend.store_result('t', 1, states.SUCCESS)
        assert info.value.task_id == 't' and len(sleeps) == 2

    def test_get_meta_gives_up_after_max_retries(self, kv_app):
        backend, sleeps = self.make(kv_app, result_backend_max_retries=1)
        backend.failures = 10
        with pytest.raises(BackendGetMetaError):
            backend.get_task_meta('t')

    def test_errors_are_not_retried_without_always_retry(self, kv_app):
        backend = self.Flaky(app=kv_app)
        backend.failures = 1
        with pytest.raises(ConnectionError):
            backend.store_result('t', 1, states.SUCCESS)


class test_primitives:

    def test_missing_primitives_raise_clearly(self, app):
        class Partial(KeyValueStoreBackend):
            pass
        backend = Partial(app=app)
        for call, name in ((lambda: backend.get('k'), 'get'),
                           (lambda: backend.mget(['k']), 'mget'),
                           (lambda: backend.set('k', 'v'), 'set'),
                           (lambda: backend.delete('k'), 'delete'),
                           (lambda: backend.incr('k'), 'incr')):
            with pytest.raises(NotImplementedError, match=name):
                call()

    def test_base_backend_requires_store(self, app):
        backend = BaseBackend(app=app)
        with pytest.raises(NotImplementedError):
            backend.store_result('t', 1, states.SUCCESS)
        with pytest.raises(NotImplementedError):
            backend.get_task_meta('t')
        with pytest.raises(NotImplementedError):
            backend.forget('t')
        with pytest.raises(NotImplementedError):
            backend.add_to_chord('g', None)
        assert backend.on_task_call(None, 't') == {}

    def test_unknown_serializer(self, app):
        from celery.exceptions import ImproperlyConfigured
        with pytest.raises(ImproperlyConfigured, match='result_serializer'):
            Backend(app=app, serializer='nope')

    def test_as_uri_hides_password(self, app):
        backend = BaseBackend(app=app, url='redis://:secret@localhost:6379/0')
        assert 'secret' not in backend.as_uri()
        assert backend.as_uri(include_password=True) == 'redis://:secret@localhost:6379/0'

    def test_expires_and_persistent(self, app):
        from datetime import timedelta
        app.conf.result_expires = timedelta(hours=1)
        assert BaseBackend(app=app).expires == 3600
        assert BaseBackend(app=app, expires=10, expires_type=int).expires == 10
        assert BaseBackend(app=app).prepare_persistent() is True
        app.conf.result_persistent = False
        assert BaseBackend(app=app).prepare_persistent() is False
        assert BaseBackend(app=app).prepare_persistent(True) is True

    def test_backend_pickles(self, app):
        from celery import _state
        backend = DictBackend(app=app, url='dict://')
        _state._set_current_app(app)
        try:
            clone = pickle.loads(pickle.dumps(backend))
        finally:
            _state._set_current_app(None)
        assert type(clone) is DictBackend and clone.url == 'dict://'


class test_groups:

    def test_group_record_layout(self, kv):
        group = kv.app.GroupResult('gid', [kv.app.AsyncResult('a'), kv.app.AsyncResult('b')])
        kv.save_group('gid', group)
        stored = json.loads(kv.data[b'celery-taskset-meta-gid'])
        assert stored == {'result': [['gid', None], [[['a', None], None], [['b', None], None]]]}
        restored = kv.restore_group('gid')
        assert isinstance(restored, GroupResult) and restored == group
        kv.delete_group('gid')
        assert kv.restore_group('gid') is None

    def test_corrupt_group_record(self, kv):
        kv.data[b'celery-taskset-meta-bad'] = json.dumps({'result': 5})
        with pytest.raises(ValueError, match='bad'):
            kv.restore_group('bad')

    def test_a_parent_group_is_checked_in_one_read(self, kv):
        # Given: a chord body's parent, the header, with finished and
        # unfinished members.
        app = kv.app
        ids = [uuid() for _ in range(4)]
        kv.store_result(ids[0], 1, states.SUCCESS)
        kv.store_result(ids[2], None, states.STARTED)
        header = app.GroupResult(uuid(), [app.AsyncResult(i) for i in ids])
        reads = []
        for name in ('get', 'mget'):
            original = getattr(kv, name)
            setattr(kv, name, lambda *a, _f=original, _n=name: reads.append(_n) or _f(*a))
        # When: it is checked for failures (at every interval of the wait).
        header.maybe_throw()
        # Then: one read for all of them; the finished one is cached.
        assert reads == ['mget']
        assert header.results[0]._cache['result'] == 1
        header.maybe_throw()
        assert reads == ['mget', 'mget']
        # A member failing later is raised, the first in member order.
        kv.mark_as_failure(ids[3], KeyError('late'))
        kv.mark_as_failure(ids[1], ValueError('first'))
        with pytest.raises(ValueError, match='first'):
            header.maybe_throw()

    def test_with_a_callback_every_member_is_reported(self, kv):
        app = kv.app
        ids = [uuid() for _ in range(3)]
        kv.store_result(ids[1], 'x', states.SUCCESS)
        seen = []
        app.ResultSet([app.AsyncResult(i) for i in ids]).maybe_throw(
            callback=lambda task_id, value: seen.append((task_id, value)))
        assert seen == [(ids[0], None), (ids[1], 'x'), (ids[2], None)]


class test_disabled:

    def test_every_read_explains(self, app):
        app.conf.result_backend = None
        backend = DisabledBackend(app=app)
        backend.store_result('t', 1, states.SUCCESS)  # silently dropped
        for call in (lambda: backend.get_task_meta('t'), lambda: backend.get_state('t'),
                     lambda: backend.wait_for('t'), lambda: backend.get_result('t')):
            with pytest.raises(NotImplementedError, match='No result backend is configured'):
                call()
        with pytest.raises(NotImplementedError, match='Chords need a result backend'):
            backend.ensure_chords_allowed()
        assert backend.as_uri() == 'disabled://'

    def test_async_result_explains(self):
        app = Celery('t.disabled', set_as_current=False)
        with pytest.raises(NotImplementedError, match='No result backend'):
            app.AsyncResult('x').get(timeout=0.1)



@pytest.fixture
def eager_kv_app(kv_app):
    """kv_app running sent tasks in place, results still stored."""
    kv_app.conf.task_always_eager = True
    kv_app.conf.task_store_eager_result = True
    calls = kv_app.calls = []

    @kv_app.task(name='t.body', shared=False)
    def body(values):
        calls.append(('body', values))
        return values

    @kv_app.task(name='t.on_error_new', shared=False)
    def on_error_new(request, exc, traceback):
        calls.append(('new', request.id, repr(exc)))

    @kv_app.task(name='t.on_error_old', shared=False)
    def on_error_old(task_id):
        calls.append(('old', task_id))

    @kv_app.task(name='t.on_error_bound', shared=False, bind=True)
    def on_error_bound(self, task_id, note=None):
        calls.append(('bound', task_id, note))
    return kv_app


def part(gid, body, task_id=None, **extra):
    return Context(id=task_id or uuid(), group=gid, chord=dict(body), **extra)


class test_chords_counted_with_incr:

    def test_last_part_runs_the_body_with_ordered_values(self, eager_kv_app):
        app = eager_kv_app
        backend = app.backend
        ids = [uuid() for _ in range(3)]
        gid = uuid()
        body = app.signature('t.body')
        backend.apply_chord((gid, [app.AsyncResult(i) for i in ids]), body)
        assert backend.get_key_for_group(gid) in backend.data
        for n, task_id in enumerate(reversed(ids)):
            backend.mark_as_done(task_id, task_id[:4], request=part(gid, body, task_id))
            if n < 2:
                assert app.calls == []
                assert backend.expired[backend.get_key_for_chord(gid)] == backend.expires
        assert app.calls == [('body', [i[:4] for i in ids])]
        # Then: the counter and the saved group are gone.
        assert backend.get_key_for_chord(gid) not in backend.data
        assert backend.get_key_for_group(gid) not in backend.data

    def test_chord_size_and_add_to_chord(self, eager_kv_app):
        app = eager_kv_app
        backend = app.backend
        gid, first, extra = uuid(), uuid(), uuid()
        body = app.signature('t.body')
        body['chord_size'] = 1
        backend.apply_chord((gid, [app.AsyncResult(first)]), body)
        backend.add_to_chord(gid, app.AsyncResult(extra))
        backend.mark_as_done(first, 1, request=part(gid, body, first))
        assert app.calls == []
        backend.mark_as_done(extra, 2, request=part(gid, body, extra))
        assert app.calls == [('body', [1, 2])]

    def test_failed_part_fails_the_body(self, eager_kv_app):
        app = eager_kv_app
        backend = app.backend
        gid, ok, bad = uuid(), uuid(), uuid()
        body = app.signature('t.body', options={'task_id': uuid(),
                                                'link_error': [app.signature('t.on_error_old')]})
        backend.apply_chord((gid, [app.AsyncResult(ok), app.AsyncResult(bad)]), body)
        backend.mark_as_done(ok, 1, request=part(gid, body, ok))
        backend.mark_as_failure(bad, KeyError('k'), request=part(gid, body, bad))
        body_result = app.AsyncResult(body.id)
        assert body_result.state == states.FAILURE
        assert isinstance(body_result.result, ChordError)
        assert f'Dependency {bad} raised' in str(body_result.result)
        assert ('old', body.id) in app.calls

    def test_missing_group_fails_the_body(self, eager_kv_app):
        app = eager_kv_app
        body = app.signature('t.body', options={'task_id': uuid()})
        app.backend.mark_as_done(uuid(), 1, request=part(uuid(), body))
        result = app.AsyncResult(body.id)
        assert result.state == states.FAILURE and 'no longer exists' in str(result.result)

    def test_parts_outside_a_group_are_ignored(self, eager_kv_app):
        app = eager_kv_app
        body = app.signature('t.body')
        app.backend.on_chord_part_return(Context(id='x', group=None, chord=dict(body)),
                                         states.SUCCESS, 1)
        assert app.calls == []

    def test_backends_without_incr_use_chord_unlock(self, kv_app):
        sent = []

        class NoIncr(DictBackend):
            implements_incr = False
        backend = NoIncr(app=kv_app)
        unlock = kv_app.tasks['celery.chord_unlock']
        unlock.apply_async = lambda args, kwargs, **options: sent.append((args, kwargs, options))
        body = kv_app.signature('t.body', options={'queue': 'bodies'})
        header = [kv_app.AsyncResult('a'), kv_app.AsyncResult('b')]
        backend.apply_chord(('gid', header), body)
        (args, kwargs, options), = sent
        assert args == ('gid', body)
        assert kwargs == {'result': [r.as_tuple() for r in header]}
        assert options['countdown'] == 1 and options['queue'] == 'bodies'
        backend.on_chord_part_return(part('gid', body), states.SUCCESS, 1)  # no-op


class test_errbacks:

    def test_new_and_old_style_errbacks(self, eager_kv_app):
        app = eager_kv_app
        task_id = uuid()
        request = Context(id=task_id, errbacks=[dict(app.signature('t.on_error_new')),
                                                dict(app.signature('t.on_error_old'))],
                          delivery_info={})
        app.backend.mark_as_failure(task_id, ValueError('v'), request=request)
        assert ('new', task_id, "ValueError('v')") in app.calls
        assert ('old', task_id) in app.calls

    def test_bound_errbacks_get_the_task_id(self, eager_kv_app):
        # Celery sends a bound task's errback as a task given the failed id,
        # whatever its number of parameters.
        app = eager_kv_app
        task_id = uuid()
        errback = app.signature('t.on_error_bound', kwargs={'note': 'n'})
        request = Context(id=task_id, errbacks=[dict(errback)], delivery_info={})
        app.backend.mark_as_failure(task_id, ValueError('v'), request=request)
        assert app.calls == [('bound', task_id, 'n')]

    def test_call_errbacks_false(self, eager_kv_app):
        app = eager_kv_app
        request = Context(id=uuid(), errbacks=[dict(app.signature('t.on_error_old'))])
        app.backend.mark_as_failure(request.id, ValueError('v'), request=request,
                                    call_errbacks=False)
        assert app.calls == []

    def test_failure_propagates_down_the_chain(self, eager_kv_app):
        app = eager_kv_app
        next_id = uuid()
        step = dict(app.signature('t.body', options={'task_id': next_id}))
        request = Context(id=uuid(), chain=[step])
        app.backend.mark_as_failure(request.id, ValueError('v'), request=request)
        assert app.AsyncResult(next_id).state == states.FAILURE


class CompressingBackend(DictBackend):
    supports_result_compression = True


class test_compression:

    def test_records_name_their_compression(self, kv_app):
        kv_app.conf.result_compression = 'gzip'
        backend = CompressingBackend(app=kv_app)
        task_id = uuid()
        backend.store_result(task_id, 'x' * 100, states.SUCCESS)
        raw = backend.data[backend.get_key_for_task(task_id)]
        assert raw.startswith(b'\x00celery-compressed\x00application/x-gzip\x00')
        assert backend.get_task_meta(task_id)['result'] == 'x' * 100

    def test_readers_without_compression_read_compressed_records(self, kv_app):
        kv_app.conf.result_compression = 'gzip'
        writer = CompressingBackend(app=kv_app)
        task_id = uuid()
        writer.store_result(task_id, [1, 2], states.SUCCESS)
        kv_app.conf.result_compression = None
        reader = CompressingBackend(app=kv_app)
        reader.data = writer.data
        assert reader.compression is None
        assert reader.get_task_meta(task_id)['result'] == [1, 2]

    def test_unsupported_backends_warn_and_ignore(self, kv_app):
        kv_app.conf.result_compression = 'gzip'
        with pytest.warns(UserWarning, match='result_compression is ignored'):
            backend = DictBackend(app=kv_app)
        assert backend.compression is None

    def test_unknown_method(self, kv_app):
        from celery.exceptions import ImproperlyConfigured
        kv_app.conf.result_compression = 'zstd-nope'
        with pytest.raises(ImproperlyConfigured, match='result_compression'):
            CompressingBackend(app=kv_app)

    def test_failure_expires_warns_where_unsupported(self, kv_app):
        kv_app.conf.result_failure_expires = 60
        with pytest.warns(UserWarning, match='result_failure_expires'):
            DictBackend(app=kv_app)

    def test_task_result_exists(self, kv):
        task_id = uuid()
        assert not kv.task_result_exists(task_id)
        kv.store_result(task_id, None, states.PENDING)
        assert kv.task_result_exists(task_id)
        assert not BaseBackend.task_result_exists(kv, uuid())

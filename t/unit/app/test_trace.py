"""The tracer: outcomes, stored results, signals, handlers, followers, the pool entry points."""
from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from celery import signals, states
from celery.app import trace
from celery.app.trace import (TraceInfo, build_tracer, fast_trace_task, get_log_policy,
                              log_policy_expected, log_policy_ignore, log_policy_internal,
                              log_policy_reject, log_policy_unexpected,
                              reset_worker_optimizations, setup_worker_optimizations,
                              trace_task, trace_task_ret)
from celery.exceptions import Ignore, InvalidTaskError, Reject, Retry


def run(task: Any, args: tuple = (), kwargs: dict | None = None, **request: Any) -> Any:
    """Trace ``task`` once as a worker would; return the trace_ok_t."""
    task_id = request.pop('id', 'tid-' + task.name)
    tracer = build_tracer(task.name, task, app=task.app, hostname='w@host')
    req = {'id': task_id, 'delivery_info': {'priority': 3}, **request}
    return tracer(task_id, args, kwargs or {}, req)


def unwrap(exc: Any) -> Any:
    return getattr(exc, 'exc', exc)


@pytest.fixture(autouse=True)
def _restore(current_app_restored: None, caplog: Any) -> Any:
    caplog.set_level(logging.INFO)
    yield
    reset_worker_optimizations()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record ``Signature.apply_async`` calls instead of sending messages."""
    from celery.canvas import Signature
    calls: list = []

    def apply_async(self: Any, args: tuple = (), kwargs: Any = None, **options: Any) -> None:
        calls.append((self.task, tuple(args), options))

    monkeypatch.setattr(Signature, 'apply_async', apply_async)
    return calls


class test_outcomes:

    def test_success_stores_the_result(self, app: Any) -> None:
        @app.task(shared=False)
        def add(x: int, y: int) -> int:
            return x + y
        retval, info, runtime, retstr = run(add, (2, 3))
        assert (retval, info, retstr) == (5, None, '5')
        assert runtime >= 0
        meta = app.backend.get_task_meta('tid-' + add.name)
        assert meta['status'] == states.SUCCESS and meta['result'] == 5

    def test_ignored_result_is_not_stored(self, app: Any) -> None:
        @app.task(shared=False, ignore_result=True)
        def noop() -> None:
            return None
        assert run(noop).retstr == 'None'
        assert app.backend.get_task_meta('tid-' + noop.name)['status'] == states.PENDING

    def test_failure_is_stored_handled_and_logged(self, app: Any, caplog: Any) -> None:
        handled = []

        class Base(app.Task):
            def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any,
                           einfo: Any) -> None:
                handled.append((type(exc), task_id))

        @app.task(shared=False, base=Base)
        def fail() -> None:
            raise KeyError('nope')

        retval, info, _, _ = run(fail)
        assert info.state == states.FAILURE
        assert isinstance(unwrap(retval.exception), KeyError)
        assert handled == [(KeyError, 'tid-' + fail.name)]
        meta = app.backend.get_task_meta('tid-' + fail.name)
        assert meta['status'] == states.FAILURE
        assert f'Task {fail.name}[tid-{fail.name}] raised unexpected: KeyError' in caplog.text

    def test_expected_errors_are_logged_at_info(self, app: Any, caplog: Any) -> None:
        @app.task(shared=False, throws=(ValueError,))
        def fail() -> None:
            raise ValueError('expected')
        with caplog.at_level(logging.INFO):
            run(fail)
        record = [r for r in caplog.records if 'raised expected' in r.getMessage()][0]
        assert record.levelno == logging.INFO

    def test_retry_is_stored_and_announced(self, app: Any) -> None:
        retried = []

        def on_retry(sender: Any = None, reason: Any = None, **kwargs: Any) -> None:
            retried.append(reason)
        signals.task_retry.connect(on_retry)

        @app.task(shared=False)
        def again() -> None:
            raise Retry('later', exc=OSError('flaky'))
        try:
            _, info, _, _ = run(again)
        finally:
            signals.task_retry.disconnect(on_retry)
        assert info.state == states.RETRY
        assert isinstance(retried[0], Retry)
        assert app.backend.get_task_meta('tid-' + again.name)['status'] == states.RETRY

    def test_ignore_and_reject(self, app: Any, caplog: Any) -> None:
        returned = []

        class Base(app.Task):
            def after_return(self, *args: Any) -> None:
                returned.append(args[0])

        @app.task(shared=False, base=Base)
        def ignored() -> None:
            raise Ignore()

        @app.task(shared=False, base=Base)
        def rejected() -> None:
            raise Reject('bad input', requeue=False)

        assert run(ignored).info.state == states.IGNORED
        assert run(rejected).info.state == states.REJECTED
        assert returned == []  # after_return is skipped for these states
        assert 'bad input' in caplog.text

    def test_after_return_and_on_success_handlers(self, app: Any) -> None:
        seen = []

        class Base(app.Task):
            def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
                seen.append('before')

            def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
                seen.append(('success', retval))

            def after_return(self, status: str, retval: Any, *args: Any) -> None:
                seen.append(('after', status))

        @app.task(shared=False, base=Base)
        def one() -> int:
            return 1
        run(one)
        assert seen == ['before', ('success', 1), ('after', states.SUCCESS)]

    def test_track_started_stores_started_while_running(self, app: Any) -> None:
        states_seen = []

        @app.task(shared=False, bind=True, track_started=True)
        def tracked(self: Any) -> None:
            states_seen.append(app.backend.get_task_meta(self.request.id)['status'])
        run(tracked)
        assert states_seen == [states.STARTED]

    def test_the_request_is_the_tasks_context(self, app: Any) -> None:
        got = []

        @app.task(shared=False, bind=True)
        def who(self: Any) -> None:
            got.append((self.request.id, self.request.hostname, self.request.args,
                        self.request.called_directly))
        run(who, (), hostname='w@host')
        assert got == [('tid-' + who.name, 'w@host', (), False)]

    def test_eager_propagate_raises(self, app: Any) -> None:
        @app.task(shared=False)
        def fail() -> None:
            raise KeyError('x')
        tracer = build_tracer(fail.name, fail, app=app, eager=True, propagate=True)
        with pytest.raises(KeyError):
            tracer('id', (), {}, {'id': 'id'})

    def test_internal_errors_are_reported_not_raised(self, app: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
        @app.task(shared=False)
        def ok() -> int:
            return 1

        def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError('backend down')
        monkeypatch.setattr(type(app.backend), 'mark_as_done', broken)
        with pytest.warns(RuntimeWarning, match='Exception raised outside body'):
            retval, info, _, _ = run(ok)
        assert info.state == states.FAILURE
        assert retval.internal

    def test_kwargs_must_be_a_mapping(self, app: Any) -> None:
        @app.task(shared=False)
        def ok() -> int:
            return 1
        tracer = build_tracer(ok.name, ok, app=app)
        with pytest.warns(RuntimeWarning):
            retval, info, _, _ = tracer('id', (), ['not', 'a', 'mapping'], {'id': 'id'})
        assert isinstance(unwrap(retval.exception), InvalidTaskError)


    def test_custom_call_keeps_the_request_with_stack_protection(self, app: Any) -> None:
        got = []

        class Base(app.Task):
            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                got.append('custom')
                return super().__call__(*args, **kwargs)

        @app.task(shared=False, base=Base, bind=True)
        def who_custom(self: Any) -> None:
            got.append(self.request.id)
        setup_worker_optimizations(app, 'w@host')
        try:
            out = run(who_custom, id='the-id')
        finally:
            reset_worker_optimizations(app)
        assert got == ['custom', 'the-id'], out


class test_signals:

    def test_prerun_postrun_success_are_sent(self, app: Any) -> None:
        events = []

        def prerun(sender: Any = None, task_id: str = None, **kwargs: Any) -> None:
            events.append(('prerun', task_id, kwargs['args']))

        def postrun(sender: Any = None, task_id: str = None, **kwargs: Any) -> None:
            events.append(('postrun', kwargs['retval'], kwargs['state']))

        def success(sender: Any = None, result: Any = None, **kwargs: Any) -> None:
            events.append(('success', result))

        @app.task(shared=False)
        def add(x: int, y: int) -> int:
            return x + y

        pairs = [(signals.task_prerun, prerun), (signals.task_postrun, postrun),
                 (signals.task_success, success)]
        for sig, receiver in pairs:
            sig.connect(receiver)
        try:
            run(add, (1, 1), id='sig-id')
        finally:
            for sig, receiver in pairs:
                sig.disconnect(receiver)
        assert events == [('prerun', 'sig-id', (1, 1)), ('success', 2),
                          ('postrun', 2, states.SUCCESS)]

    def test_failure_signal(self, app: Any) -> None:
        got = []

        def on_failure(sender: Any = None, exception: Any = None, **kwargs: Any) -> None:
            got.append(type(exception))
        signals.task_failure.connect(on_failure)

        @app.task(shared=False)
        def fail() -> None:
            raise OSError('x')
        try:
            run(fail)
        finally:
            signals.task_failure.disconnect(on_failure)
        assert got == [OSError]


class test_followers:

    def test_a_single_callback_gets_the_return_value(self, app: Any, sent: list) -> None:
        @app.task(shared=False)
        def add(x: int, y: int) -> int:
            return x + y
        cb = app.signature('t.unit.cb', args=(10,))
        run(add, (1, 2), callbacks=[dict(cb)], root_id='root')
        task, args, options = sent[0]
        assert task == 't.unit.cb'
        assert args == (3,)
        assert options['parent_id'] == 'tid-' + add.name
        assert options['root_id'] == 'root'

    def test_several_callbacks_are_sent_as_a_group(self, app: Any, sent: list) -> None:
        @app.task(shared=False)
        def one() -> int:
            return 1
        run(one, callbacks=[dict(app.signature('a.cb')), dict(app.signature('b.cb'))])
        assert sent and sent[0][1] == (1,)

    def test_the_next_chain_step_gets_the_rest_of_the_chain(self, app: Any, sent: list) -> None:
        @app.task(shared=False)
        def first() -> int:
            return 7
        chain = [dict(app.signature('third')), dict(app.signature('second'))]
        run(first, chain=chain)
        task, args, options = sent[0]
        assert task == 'second' and args == (7,)
        assert [s['task'] for s in options['chain']] == ['third']

    def test_no_followers_after_a_failure(self, app: Any, sent: list) -> None:
        @app.task(shared=False)
        def fail() -> None:
            raise KeyError()
        run(fail, callbacks=[dict(app.signature('cb'))])
        assert sent == []

    def test_priority_is_inherited_when_asked(self, app: Any, sent: list) -> None:
        app.conf.task_inherit_parent_priority = True

        @app.task(shared=False)
        def one() -> int:
            return 1
        run(one, callbacks=[dict(app.signature('cb'))])
        assert sent[0][2]['priority'] == 3


class test_pool_entry_points:

    def test_fast_trace_task_decodes_the_body(self, app: Any) -> None:
        @app.task(shared=False)
        def add(x: int, y: int) -> int:
            return x + y
        setup_worker_optimizations(app, 'w@host')
        try:
            body = json.dumps([[2, 2], {}, {'callbacks': None, 'errbacks': None,
                                            'chain': None, 'chord': None}])
            assert fast_trace_task(add.name, 'id1', {'id': 'id1'}, body,
                                   'application/json', 'utf-8') == (0, '4', pytest.approx(0, abs=1))
            # a protocol 1 body behind protocol 2 headers works too
            body = json.dumps({'args': [1, 1], 'kwargs': {}})
            assert fast_trace_task(add.name, 'id2', {'id': 'id2'}, body,
                                   'application/json', 'utf-8')[:2] == (0, '2')
            # an already decoded body (content type None)
            assert fast_trace_task(add.name, 'id3', {'id': 'id3'}, ([3, 3], {}, None),
                                   None, None)[:2] == (0, '6')
        finally:
            reset_worker_optimizations(app)
        assert trace._localized == []

    def test_an_undecodable_body_is_an_invalid_task(self, app: Any) -> None:
        @app.task(shared=False)
        def add(x: int, y: int) -> int:
            return x + y
        setup_worker_optimizations(app, 'w@host')
        try:
            failed, einfo, _ = fast_trace_task(add.name, 'id', {'id': 'id'}, '[1, 2',
                                               'application/json', 'utf-8')
            assert failed == 1 and einfo.internal
            assert isinstance(unwrap(einfo.exception), InvalidTaskError)
            failed, einfo, _ = fast_trace_task(add.name, 'id', {'id': 'id'}, b'\x80\x04',
                                               'application/x-python-serialize', 'binary')
            assert failed == 1  # pickle is not accepted
        finally:
            reset_worker_optimizations(app)

    def test_trace_task_ret_uses_the_given_app(self, app: Any) -> None:
        @app.task(shared=False)
        def mul(x: int, y: int) -> int:
            return x * y
        body = json.dumps([[3, 4], {}, {}])
        assert trace_task_ret(mul.name, 'id', {'id': 'id'}, body, 'application/json',
                              'utf-8', app=app)[:2] == (0, '12')

    def test_trace_task_builds_the_tracer_once(self, app: Any) -> None:
        @app.task(shared=False)
        def one() -> int:
            return 1
        one.__trace__ = None
        assert trace_task(one, 'id', (), {}, {'id': 'id'}, app=app).retval == 1
        assert isinstance(one.__trace__, trace.Tracer)


class test_log_policy:

    def test_policies(self, app: Any) -> None:
        @app.task(shared=False, throws=(KeyError,))
        def t() -> None:
            pass

        class EInfo:
            internal = False
        assert get_log_policy(t, EInfo(), Reject()) is log_policy_reject
        assert get_log_policy(t, EInfo(), Ignore()) is log_policy_ignore
        assert get_log_policy(t, EInfo(), KeyError()) is log_policy_expected
        assert get_log_policy(t, EInfo(), ValueError()) is log_policy_unexpected
        EInfo.internal = True
        assert get_log_policy(t, EInfo(), ValueError()) is log_policy_internal

    def test_trace_info_repr_fields(self) -> None:
        info = TraceInfo(states.FAILURE, KeyError())
        assert info.state == states.FAILURE and isinstance(info.retval, KeyError)

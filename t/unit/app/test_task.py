"""Tasks in eager mode: calling, argument checks, retries, handlers, signals."""
from __future__ import annotations

import pytest

from celery import signals, states
from celery.app.task import Context
from celery.exceptions import MaxRetriesExceededError, Retry
from celery.result import EagerResult


@pytest.fixture
def eager_app(app):
    app.conf.task_always_eager = True
    return app


class test_calling:

    def test_delay_runs_in_place_and_returns_eager_result(self, eager_app):
        @eager_app.task
        def add(x, y):
            return x + y
        result = add.delay(2, 2)
        assert isinstance(result, EagerResult)
        assert result.get() == 4
        assert result.successful() and result.state == states.SUCCESS

    def test_calling_the_task_directly_runs_it(self, app):
        @app.task
        def add(x, y):
            return x + y
        assert add(1, 2) == 3

    def test_wrong_arguments_raise_type_error_at_call_time(self, app):
        @app.task
        def add(x, y):
            return x + y
        with pytest.raises(TypeError):
            add.delay(1)
        with pytest.raises(TypeError):
            add.apply_async((1, 2, 3))
        with pytest.raises(TypeError):
            add.apply_async((1,), {'z': 2})

    def test_typing_false_skips_the_check(self, eager_app):
        @eager_app.task(typing=False)
        def add(x, y):
            return x + y
        result = add.apply_async((1,))
        assert result.failed()
        assert isinstance(result.result, TypeError)

    def test_bound_task_gets_self_and_request(self, eager_app):
        @eager_app.task(bind=True)
        def whoami(self):
            return self.request.id, self.request.is_eager, self.name
        task_id, is_eager, name = whoami.apply_async(task_id='my-id').get()
        assert task_id == 'my-id' and is_eager is True and name == whoami.name

    def test_bound_task_argument_check_ignores_self(self, app):
        @app.task(bind=True)
        def one(self, x):
            return x
        with pytest.raises(TypeError):
            one.delay()
        with pytest.raises(TypeError):
            one.delay(1, 2)

    def test_failure_is_stored_in_the_eager_result(self, eager_app):
        @eager_app.task
        def boom():
            raise KeyError('nope')
        result = boom.delay()
        assert result.failed() and result.state == states.FAILURE
        assert isinstance(result.result, KeyError)
        assert result.traceback
        with pytest.raises(KeyError):
            result.get()
        assert isinstance(result.get(propagate=False), KeyError)

    def test_eager_propagates(self, eager_app):
        eager_app.conf.task_eager_propagates = True

        @eager_app.task
        def boom():
            raise ValueError('raised at once')
        with pytest.raises(ValueError, match='raised at once'):
            boom.delay()

    def test_apply_with_throw(self, app):
        @app.task
        def boom():
            raise ValueError('x')
        with pytest.raises(ValueError):
            boom.apply(throw=True)

    def test_shadow_name(self, eager_app):
        @eager_app.task(shadow_name=lambda self, args, kwargs, options: 'shadowed')
        def f():
            return 1
        assert f.shadow_name((), {}, {}) == 'shadowed'

    def test_link_callbacks_run_eagerly(self, eager_app):
        seen = []

        @eager_app.task
        def add(x, y):
            return x + y

        @eager_app.task
        def record(value):
            seen.append(value)
        add.apply_async((2, 3), link=record.s())
        assert seen == [5]

    def test_link_error_runs_on_failure(self, eager_app):
        seen = []

        @eager_app.task
        def boom():
            raise RuntimeError('bad')

        @eager_app.task
        def on_error(request, exc, traceback):
            seen.append((request.id, type(exc).__name__))
        result = boom.apply_async(link_error=on_error.s())
        assert seen == [(result.id, 'RuntimeError')]


class test_retries:

    def test_retry_until_success(self, eager_app):
        calls = []

        @eager_app.task(bind=True, max_retries=5, default_retry_delay=0)
        def flaky(self):
            calls.append(self.request.retries)
            if self.request.retries < 3:
                raise self.retry(exc=IOError('transient'))
            return 'ok'
        assert flaky.delay().get() == 'ok'
        assert calls == [0, 1, 2, 3]

    def test_retry_past_max_retries_raises_the_original_exception(self, eager_app):
        @eager_app.task(bind=True, max_retries=2, default_retry_delay=0)
        def always_fails(self):
            raise self.retry(exc=IOError('still broken'))
        result = always_fails.delay()
        assert result.failed()
        assert isinstance(result.result, IOError)

    def test_retry_past_max_retries_without_exc(self, eager_app):
        attempts = []

        @eager_app.task(bind=True, max_retries=1, default_retry_delay=0)
        def always_fails(self):
            attempts.append(1)
            raise self.retry()
        result = always_fails.delay()
        assert isinstance(result.result, MaxRetriesExceededError)
        assert len(attempts) == 2

    def test_max_retries_override_per_call(self, eager_app):
        attempts = []

        @eager_app.task(bind=True, max_retries=10, default_retry_delay=0)
        def fails(self):
            attempts.append(1)
            raise self.retry(exc=IOError('x'), max_retries=1)
        assert fails.delay().failed()
        assert len(attempts) == 2

    def test_retry_when_called_directly_reraises(self, app):
        @app.task(bind=True)
        def direct(self):
            raise self.retry(exc=KeyError('direct'))
        with pytest.raises(KeyError):
            direct()

    def test_autoretry_for(self, eager_app):
        attempts = []

        @eager_app.task(bind=True, autoretry_for=(IOError,), retry_backoff=True,
                        retry_jitter=False, max_retries=3)
        def fetch(self):
            attempts.append(self.request.retries)
            if len(attempts) < 3:
                raise IOError('flaky network')
            return 'fetched'
        assert fetch.delay().get() == 'fetched'
        assert attempts == [0, 1, 2]

    def test_autoretry_gives_up_after_max_retries(self, eager_app):
        attempts = []

        @eager_app.task(autoretry_for=(IOError,), max_retries=2, default_retry_delay=0)
        def never(self=None):
            attempts.append(1)
            raise IOError('down')
        result = never.delay()
        assert result.failed() and isinstance(result.result, IOError)
        assert len(attempts) == 3

    def test_dont_autoretry_for(self, eager_app):
        attempts = []

        @eager_app.task(autoretry_for=(Exception,), dont_autoretry_for=(ValueError,),
                        max_retries=5)
        def picky():
            attempts.append(1)
            raise ValueError('permanent')
        assert picky.delay().failed()
        assert len(attempts) == 1

    def test_retry_backoff_countdowns(self, eager_app, monkeypatch):
        countdowns = []

        @eager_app.task(bind=True, autoretry_for=(IOError,), retry_backoff=2,
                        retry_backoff_max=5, retry_jitter=False, max_retries=4)
        def backoff(self):
            raise IOError('x')
        original_retry = backoff.retry

        def spy(*args, **kwargs):
            countdowns.append(kwargs.get('countdown'))
            return original_retry(*args, **kwargs)
        monkeypatch.setattr(backoff._get_current_object(), 'retry', spy)
        backoff.delay()
        assert countdowns == [2, 4, 5, 5, 5]

    def test_retry_raises_retry_exception(self, app):
        @app.task(bind=True, default_retry_delay=0)
        def f(self):
            raise self.retry(exc=IOError('x'))
        result = f.apply()
        # In apply the retry is re-applied; the last attempt fails for good.
        assert result.failed()
        assert Retry.__name__ == 'Retry'


class test_handlers_and_signals:

    def test_handlers_on_success(self, eager_app):
        events = []

        class Tracked(eager_app.Task):
            def before_start(self, task_id, args, kwargs):
                events.append('before_start')

            def on_success(self, retval, task_id, args, kwargs):
                events.append(('on_success', retval))

            def after_return(self, status, retval, task_id, args, kwargs, einfo):
                events.append(('after_return', status))

        @eager_app.task(base=Tracked)
        def add(x, y):
            return x + y
        add.delay(1, 1)
        assert events == ['before_start', ('on_success', 2), ('after_return', 'SUCCESS')]

    def test_handlers_on_failure_and_retry(self, eager_app):
        events = []

        class Tracked(eager_app.Task):
            def on_failure(self, exc, task_id, args, kwargs, einfo):
                events.append(('on_failure', type(exc).__name__, einfo is not None))

            def on_retry(self, exc, task_id, args, kwargs, einfo):
                events.append(('on_retry', type(exc).__name__))

        @eager_app.task(base=Tracked, bind=True, max_retries=1, default_retry_delay=0)
        def fails(self):
            raise self.retry(exc=IOError('x'))
        fails.delay()
        assert events == [('on_retry', 'OSError'), ('on_failure', 'OSError', True)]

    def test_task_signals(self, eager_app):
        seen = []

        @eager_app.task
        def add(x, y):
            return x + y

        def prerun(sender=None, task_id=None, **kwargs):
            seen.append(('prerun', sender.name))

        def postrun(sender=None, retval=None, state=None, **kwargs):
            seen.append(('postrun', retval, state))

        def success(sender=None, result=None, **kwargs):
            seen.append(('success', result))
        signals.task_prerun.connect(prerun)
        signals.task_postrun.connect(postrun)
        signals.task_success.connect(success)
        try:
            add.delay(2, 3)
        finally:
            signals.task_prerun.disconnect(prerun)
            signals.task_postrun.disconnect(postrun)
            signals.task_success.disconnect(success)
        assert seen == [('prerun', add.name), ('success', 5), ('postrun', 5, 'SUCCESS')]

    def test_task_failure_signal(self, eager_app):
        seen = []

        @eager_app.task
        def boom():
            raise KeyError('k')

        def on_failure(sender=None, exception=None, **kwargs):
            seen.append(type(exception).__name__)
        signals.task_failure.connect(on_failure)
        try:
            boom.delay()
        finally:
            signals.task_failure.disconnect(on_failure)
        assert seen == ['KeyError']

    def test_update_state_stores_custom_state(self, app):
        @app.task(bind=True)
        def progress(self):
            self.update_state(state='PROGRESS', meta={'done': 50})
            return 'finished'
        progress.apply(task_id='progress-id')
        # The final state overwrites PROGRESS only if results are stored eagerly;
        # update_state itself wrote to the backend.
        meta = app.backend.get_task_meta('progress-id')
        assert meta['status'] in ('PROGRESS', 'SUCCESS')

    def test_update_state_visible_while_running(self, app):
        observed = []

        @app.task(bind=True)
        def progress(self):
            self.update_state(state='PROGRESS', meta={'done': 50})
            observed.append(app.AsyncResult(self.request.id).state)
        progress.apply()
        assert observed == ['PROGRESS']


class test_context:

    def test_defaults(self):
        ctx = Context()
        assert ctx.retries == 0 and ctx.id is None and ctx.children == []
        assert Context().children is not ctx.children

    def test_update_and_get(self):
        ctx = Context(id='x', retries=2)
        assert ctx.get('id') == 'x' and ctx.get('missing', 1) == 1
        ctx.update(retries=3)
        assert ctx.retries == 3

    def test_custom_headers_are_collected(self):
        ctx = Context(id='x', task='t.add', retries=1, argsrepr='()', mx_header='hello')
        assert ctx.headers == {'mx_header': 'hello'}
        assert ctx.mx_header == 'hello'
        assert Context(id='x', task='t.add').headers is None
        assert Context(headers={'given': 1}, other=2).headers == {'given': 1}

    def test_as_execution_options(self):
        ctx = Context(id='x', root_id='r', parent_id='p', timelimit=(10, 5), group='g')
        options = ctx.as_execution_options()
        assert options['task_id'] == 'x' and options['group_id'] == 'g'
        assert options['time_limit'] == 10 and options['soft_time_limit'] == 5

    def test_request_outside_execution(self, app):
        @app.task
        def f():
            pass
        assert f.request.id is None


class test_annotations:

    def test_annotations_change_attributes(self):
        from celery import Celery
        app = Celery('ann', set_as_current=False, fixups=[], task_annotations={
            'ann.slow': {'rate_limit': '1/s'}, '*': {'max_retries': 9}})

        @app.task(name='ann.slow')
        def slow():
            pass

        @app.task(name='ann.other')
        def other():
            pass
        assert slow.rate_limit == '1/s' and slow.max_retries == 9
        assert other.rate_limit is None and other.max_retries == 9


class test_registry:

    def test_register_and_unregister(self, app):
        from celery.app.registry import TaskRegistry
        from celery.exceptions import NotRegistered
        registry = TaskRegistry()

        class T(app.Task):
            name = 'reg.t'
        registry.register(T)
        assert isinstance(registry['reg.t'], T)
        registry.unregister('reg.t')
        with pytest.raises(NotRegistered):
            registry['reg.t']
        with pytest.raises(NotRegistered):
            registry.unregister('reg.t')

    def test_regular_and_periodic(self, app):
        from celery.app.registry import TaskRegistry
        registry = TaskRegistry()

        class P(app.Task):
            name = 'reg.p'
            type = 'periodic'

        class R(app.Task):
            name = 'reg.r'
        registry.register(P)
        registry.register(R)
        assert list(registry.periodic()) == ['reg.p']
        assert list(registry.regular()) == ['reg.r']

"""The pytest plugin's app fixtures, run in a separate pytest process (pytester).

Worker fixtures are exercised by ``t/integration/test_pytest_plugin.py``.
"""
from __future__ import annotations

import textwrap

pytest_plugins = ['pytester']


def run(pytester, source: str, *args: str, conftest: str = ''):
    if conftest:
        pytester.makeconftest(textwrap.dedent(conftest))
    pytester.makepyfile(test_user=textwrap.dedent(source))
    return pytester.runpytest_subprocess('-p', 'no:cacheprovider', *args)


APP_TESTS = '''
    import pytest
    from celery import current_app
    from celery._state import get_current_app


    def test_app(celery_app):
        assert celery_app.main == 'celery.tests'
        assert celery_app.conf.broker_url == 'memory://'
        assert celery_app.conf.result_backend == 'cache+memory://'
        assert celery_app.conf.task_default_queue == 'from-conftest'
        assert celery_app.strict_typing is False  # celery_parameters

        @celery_app.task
        def mul(x, y):
            return x * y
        assert mul(4, 4) == 16
        assert mul.name == 'test_user.mul' and mul.name in celery_app.tasks

    def test_app_is_not_made_current(celery_app):
        # Only the worker fixtures (or depends_on_current_app) make it current
        assert get_current_app() is not celery_app


    @pytest.mark.celery(result_backend='rpc://', task_default_queue='marked')
    def test_mark(celery_app):
        assert celery_app.conf.result_backend == 'rpc://'
        assert celery_app.conf.task_default_queue == 'marked'


    @pytest.mark.celery(task_default_queue='class-mark')
    class TestMarkedClass:

        def test_one(self, celery_app):
            assert celery_app.conf.task_default_queue == 'class-mark'

        def test_two(self, celery_app):
            assert celery_app.conf.task_default_queue == 'class-mark'


    def test_fresh_app_per_test(celery_app):
        assert 'test_user.mul' not in celery_app.tasks


    def test_session_app(celery_session_app, celery_app):
        assert celery_session_app is not celery_app
        assert celery_session_app.conf.task_default_queue == 'from-conftest'


    def test_includes_fixture(celery_includes):
        assert celery_includes == ()


    def test_no_worker_env(celery_worker):
        assert celery_worker is None  # NO_WORKER is set
'''

APP_CONFTEST = '''
    import pytest

    @pytest.fixture(scope='session')
    def celery_config():
        return {'task_default_queue': 'from-conftest'}

    @pytest.fixture(scope='session')
    def celery_parameters():
        return {'strict_typing': False}
'''


def test_app_fixtures(pytester, monkeypatch):
    monkeypatch.setenv('NO_WORKER', '1')
    result = run(pytester, APP_TESTS, conftest=APP_CONFTEST)
    result.assert_outcomes(passed=9)


def test_the_app_trap(pytester):
    result = run(pytester, '''
        import pytest
        from celery import current_app


        def test_trap(celery_app):
            with pytest.raises(RuntimeError, match='Test depends on current_app'):
                current_app.conf


        @pytest.mark.usefixtures('depends_on_current_app')
        def test_allowed(celery_app):
            assert current_app.conf.broker_url == 'memory://'
            assert current_app._get_current_object() is celery_app


        def test_uses_default_app_by_accident(celery_app):
            current_app.tasks  # a bug the trap reveals
    ''', conftest='''
        import pytest

        @pytest.fixture(scope='session')
        def use_celery_app_trap():
            return True
    ''')
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(['*RuntimeError: Test depends on current_app*'])


def test_app_contained(pytester):
    result = run(pytester, '''
        from celery._state import _tls

        app_contained = False


        def test_current(celery_app):
            assert _tls.current_app is celery_app
    ''')
    result.assert_outcomes(passed=1)


def test_state_restored_after_tests(pytester):
    result = run(pytester, '''
        from celery import _state


        def test_a(celery_app, depends_on_current_app):
            assert _state.get_current_app() is celery_app


        def test_b():
            # no fixture: the test app is gone again
            assert _state._tls.current_app is None
            assert _state.get_current_app().main != 'celery.tests'
    ''')
    result.assert_outcomes(passed=2)


def test_marker_is_registered(pytester):
    pytester.makeini('[pytest]\naddopts = --strict-markers\n')
    result = run(pytester, '''
        import pytest

        @pytest.mark.celery(foo=1)
        def test_x():
            pass
    ''')
    result.assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess('--markers')
    result.stdout.fnmatch_lines(['*@pytest.mark.celery(**overrides)*'])


def test_disabled_with_p_no_celery(pytester):
    result = run(pytester, '''
        def test_x(celery_app):
            pass
    ''', '-p', 'no:celery')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'celery_app' not found*"])

from __future__ import annotations

import pytest

from celery import Celery, _state, shared_task
from celery.contrib.testing import app as testing_app
from celery.contrib.testing.app import (DEFAULT_TEST_CONFIG, TestApp, Trap, set_trap,
                                        setup_default_app)


@pytest.fixture
def restore_state(current_app_restored):
    finalizers, apps = _state._on_app_finalizers, _state._apps
    yield
    _state._on_app_finalizers, _state._apps = finalizers, apps


class test_Trap:

    def test_any_use_fails(self):
        with pytest.raises(RuntimeError, match='Test depends on current_app'):
            Trap().conf
        with pytest.raises(RuntimeError):
            Trap().tasks

    def test_introspection_is_allowed(self):
        trap = Trap()
        assert not hasattr(trap, '__wrapped__')
        assert not hasattr(trap, '_is_coroutine')
        assert not hasattr(trap, '_pytestfixturefunction')


class test_TestApp:

    def test_defaults(self):
        app = TestApp()
        try:
            assert app.main == 'celery.tests'
            for key, value in DEFAULT_TEST_CONFIG.items():
                assert app.conf[key] == value
            assert 'celery.ping' in app.tasks
        finally:
            app.close()

    def test_config_and_kwargs(self):
        app = TestApp('named', config={'task_default_queue': 'q'}, strict_typing=False)
        try:
            assert app.main == 'named'
            assert app.conf.task_default_queue == 'q'
            assert app.conf.broker_url == 'memory://'
            assert app.strict_typing is False
        finally:
            app.close()

    def test_broker_and_backend_arguments_win(self):
        app = TestApp(broker='redis://localhost:1/0', backend='rpc://')
        try:
            assert app.conf.broker_url == 'redis://localhost:1/0'
            assert app.conf.result_backend == 'rpc://'
        finally:
            app.close()

    def test_unit_logging(self):
        app = TestApp()
        try:
            assert isinstance(app.log, testing_app.UnitLogging)
            assert app.log.already_setup is True
        finally:
            app.close()

    def test_enable_logging(self):
        app = TestApp(enable_logging=True)
        try:
            assert not isinstance(app.log, testing_app.UnitLogging)
        finally:
            app.close()

    def test_not_current(self, current_app_restored):
        before = _state._tls.current_app
        app = TestApp()
        assert _state._tls.current_app is before
        app.close()


class test_setup_default_app:

    def test_sets_and_restores(self, app, restore_state):
        prev_current, prev_default = _state._tls.current_app, _state.default_app
        with setup_default_app(app):
            app.set_current()
            app.set_default()
            assert _state.get_current_app() is app
        assert _state._tls.current_app is prev_current
        assert _state.default_app is prev_default

    def test_forgets_shared_tasks_registered_inside(self, app, restore_state):
        with setup_default_app(app):
            @shared_task(name='t.inside')
            def inside():
                pass
        other = Celery('other', set_as_current=False, fixups=[])
        assert 't.inside' not in other.tasks
        assert 'celery.backend_cleanup' in other.tasks  # built-ins kept

    def test_with_trap(self, app, restore_state):
        with setup_default_app(app, use_trap=True):
            with pytest.raises(RuntimeError):
                _state.get_current_app().conf
            assert app.conf.broker_url == 'memory://'  # the app itself is usable
        assert not isinstance(_state.default_app, Trap)
        assert not isinstance(_state._tls.current_app, Trap)


class test_set_trap:

    def test_current_app_is_trapped(self, app, restore_state):
        tls, default = _state._tls, _state.default_app
        with set_trap(app):
            from celery import current_app
            with pytest.raises(RuntimeError):
                current_app.tasks
            assert isinstance(_state.default_app, Trap)
        assert _state._tls is tls
        assert _state.default_app is default

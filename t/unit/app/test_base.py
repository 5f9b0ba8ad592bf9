"""The Celery app: configuration sources, lazy tasks, finalization, pickling."""
from __future__ import annotations

import pickle
import sys
import textwrap
from datetime import datetime

import pytest

from celery import Celery, shared_task
from celery.exceptions import ImproperlyConfigured, NotRegistered


@pytest.fixture
def config_module(tmp_path, monkeypatch):
    """Write a module into a directory on sys.path; yield a function making more."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def make(name: str, source: str) -> str:
        (tmp_path / f'{name}.py').write_text(textwrap.dedent(source))
        created.append(name)
        return name
    yield make
    for name in created:
        sys.modules.pop(name, None)


def new_app(**kwargs) -> Celery:
    kwargs.setdefault('set_as_current', False)
    kwargs.setdefault('fixups', [])
    return Celery('t', **kwargs)


class test_configuration:

    def test_constructor_arguments_become_settings(self):
        app = new_app(broker='memory://', backend='cache+memory://')
        assert app.conf.broker_url == 'memory://'
        assert app.conf.result_backend == 'cache+memory://'

    def test_defaults_are_celerys(self):
        app = new_app()
        assert app.conf.task_serializer == 'json'
        assert app.conf.task_default_queue == 'celery'
        assert app.conf.worker_prefetch_multiplier == 4
        assert app.conf.task_acks_late is False

    def test_config_from_object_module_name_with_new_names(self, config_module):
        config_module('cfg_new', """
            broker_url = 'memory://x'
            task_always_eager = True
            custom_setting = 42
        """)
        app = new_app()
        app.config_from_object('cfg_new')
        assert app.conf.broker_url == 'memory://x'
        assert app.conf.task_always_eager is True
        assert app.conf.custom_setting == 42

    def test_config_from_object_old_upper_case_names(self, config_module):
        config_module('cfg_old', """
            BROKER_URL = 'memory://old'
            CELERY_ALWAYS_EAGER = True
            CELERY_RESULT_SERIALIZER = 'json'
        """)
        app = new_app()
        app.config_from_object('cfg_old')
        assert app.conf.broker_url == 'memory://old'
        assert app.conf.task_always_eager is True

    def test_mixing_old_and_new_names_is_a_clear_error(self, config_module):
        config_module('cfg_mixed', """
            CELERY_ALWAYS_EAGER = True
            task_serializer = 'json'
            broker_url = 'memory://'
        """)
        app = new_app()
        app.config_from_object('cfg_mixed')
        with pytest.raises(ImproperlyConfigured) as excinfo:
            app.conf.task_always_eager
        assert 'CELERY_ALWAYS_EAGER' in str(excinfo.value)

    def test_config_from_object_with_an_object(self):
        class Config:
            task_default_queue = 'from-class'
        app = new_app()
        app.config_from_object(Config)
        assert app.conf.task_default_queue == 'from-class'

    def test_config_module_that_does_not_import(self):
        app = new_app()
        with pytest.raises(ImportError):
            app.config_from_object('no.such.module.anywhere', force=True)

    def test_config_module_that_does_not_import_is_reported_on_first_read(self):
        app = new_app()
        app.config_from_object('no_such_module_anywhere_1234')
        with pytest.raises(ImportError):
            app.conf.broker_url

    def test_config_module_with_syntax_error(self, config_module):
        config_module('cfg_broken', 'broker_url = (\n')
        app = new_app()
        with pytest.raises(SyntaxError):
            app.config_from_object('cfg_broken', force=True)

    def test_silent_config_from_object_ignores_missing_module(self):
        app = new_app()
        assert app.config_from_object('no_such_module_5678', silent=True, force=True) is None

    def test_config_from_envvar(self, config_module, monkeypatch):
        config_module('cfg_env', "task_default_queue = 'env-queue'\n")
        monkeypatch.setenv('MY_CELERY_CONFIG', 'cfg_env')
        app = new_app()
        app.config_from_envvar('MY_CELERY_CONFIG')
        assert app.conf.task_default_queue == 'env-queue'

    def test_config_from_envvar_unset(self, monkeypatch):
        monkeypatch.delenv('MY_CELERY_CONFIG', raising=False)
        app = new_app()
        with pytest.raises(ImproperlyConfigured):
            app.config_from_envvar('MY_CELERY_CONFIG')
        assert app.config_from_envvar('MY_CELERY_CONFIG', silent=True) is False

    def test_namespace(self, config_module):
        config_module('cfg_ns', """
            CELERY_BROKER_URL = 'memory://ns'
            CELERY_TASK_ALWAYS_EAGER = True
            DEBUG = True
        """)
        app = new_app()
        app.config_from_object('cfg_ns', namespace='CELERY')
        assert app.conf.broker_url == 'memory://ns'
        assert app.conf.task_always_eager is True

    def test_updates_before_loading_are_kept(self, config_module):
        config_module('cfg_keep', "task_default_queue = 'from-module'\n")
        app = new_app()
        app.conf.update(task_default_rate_limit='10/s')
        app.config_from_object('cfg_keep')
        assert app.conf.task_default_rate_limit == '10/s'
        assert app.conf.task_default_queue == 'from-module'

    def test_add_defaults_is_lazy_and_below_user_settings(self):
        app = new_app()
        calls = []

        def defaults():
            calls.append(1)
            return {'my_default': 1, 'task_default_queue': 'from-defaults'}
        app.add_defaults(defaults)
        assert not calls
        app.conf.task_default_queue = 'explicit'
        assert app.conf.my_default == 1
        assert app.conf.task_default_queue == 'explicit'

    def test_configure_signals(self):
        app = new_app()
        seen = []
        app.on_configure.connect(lambda sender, **kw: seen.append('configure'), weak=False)
        app.on_after_configure.connect(
            lambda sender, source, **kw: seen.append('after_configure'), weak=False)
        app.conf.broker_url
        assert seen == ['configure', 'after_configure']

    def test_timezone_and_now(self):
        app = new_app(timezone='Europe/Paris')
        assert str(app.timezone) == 'Europe/Paris'
        now = app.now()
        assert isinstance(now, datetime) and now.utcoffset() is not None
        assert not app.uses_utc_timezone()
        assert new_app().uses_utc_timezone()

    def test_either(self):
        app = new_app()
        assert app.either('task_default_queue', None) == 'celery'
        assert app.either('task_default_queue', 'x') == 'x'


class test_tasks:

    def test_task_decorator_is_lazy_until_finalize(self):
        app = new_app()
        created = []

        @app.task
        def lazy_add(x, y):
            created.append(1)
            return x + y
        assert not lazy_add.__evaluated__()
        assert not app._tasks
        expected = app.gen_task_name('lazy_add', __name__)
        assert lazy_add.name == expected  # first use creates the task
        assert lazy_add.__evaluated__()
        assert expected in app._tasks
        assert not created
        app.finalize()
        assert app.tasks[expected](1, 2) == 3 and created == [1]

    def test_autofinalize_off_requires_finalize(self):
        app = new_app(autofinalize=False)

        @app.task
        def f():
            return 1
        with pytest.raises(RuntimeError):
            app.tasks
        app.finalize()
        assert f.name in app.tasks

    def test_task_options_become_attributes(self):
        app = new_app()

        @app.task(name='custom.name', max_retries=7, acks_late=True, rate_limit='5/s')
        def f():
            pass
        assert app.tasks['custom.name'] is f._get_current_object()
        assert f.max_retries == 7 and f.acks_late is True and f.rate_limit == '5/s'

    def test_task_settings_defaults_apply(self):
        app = new_app(task_acks_late=True, task_track_started=True)

        @app.task
        def f():
            pass
        assert f.acks_late is True and f.track_started is True

    def test_task_decorator_rejects_non_callables(self):
        app = new_app()
        with pytest.raises(TypeError):
            app.task('not callable')
        with pytest.raises(TypeError):
            app.task(lambda: 1, lambda: 2)

    def test_unknown_task_raises_not_registered(self):
        app = new_app()
        with pytest.raises(NotRegistered):
            app.tasks['no.such.task']

    def test_shared_task_reaches_every_app(self):
        @shared_task(name='t.shared.mul')
        def mul(x, y):
            return x * y
        a, b = new_app(), new_app()
        assert 't.shared.mul' in a.tasks and 't.shared.mul' in b.tasks
        assert a.tasks['t.shared.mul'] is not b.tasks['t.shared.mul']

    def test_shared_task_proxy_uses_current_app(self, current_app_restored):
        @shared_task
        def shared_div(x, y):
            return x / y
        app = new_app()
        app.set_current()
        assert shared_div.app is app

    def test_gen_task_name_for_main_module(self):
        app = new_app()
        assert app.gen_task_name('add', '__main__') == 't.add'
        assert app.gen_task_name('add', 'proj.tasks') == 'proj.tasks.add'

    def test_after_finalize_signal(self):
        app = new_app()
        seen = []
        app.on_after_finalize.connect(lambda sender, **kw: seen.append(sender), weak=False)
        app.finalize()
        assert seen == [app]

    def test_register_class_based_task(self):
        app = new_app()

        class CustomTask(app.Task):
            name = 'custom.class_task'

            def run(self, x):
                return x * 2
        task = app.register_task(CustomTask())
        assert app.tasks['custom.class_task'] is task
        assert task.apply((21,)).get() == 42

    def test_custom_task_cls(self):
        from celery import Task

        class MyTask(Task):
            marker = 'mine'
        app = new_app(task_cls=MyTask)

        @app.task
        def f():
            pass
        assert f.marker == 'mine'
        assert isinstance(f._get_current_object(), MyTask)


class test_app_object:

    def test_pickle_round_trip(self):
        app = new_app(broker='memory://pickled')
        app.conf.task_default_queue = 'pickled-queue'
        clone = pickle.loads(pickle.dumps(app))
        assert clone.main == 't'
        assert clone.conf.broker_url == 'memory://pickled'
        assert clone.conf.task_default_queue == 'pickled-queue'

    def test_with_statement_closes(self):
        with new_app(broker='memory://') as app:
            assert app.pool is not None
        assert app._pool is None

    def test_set_current_and_default(self, current_app_restored):
        from celery import current_app
        from celery._state import get_current_app
        app = new_app()
        app.set_current()
        assert get_current_app() is app
        assert current_app.main == 't'
        other = new_app()
        other.set_default()
        from celery import _state
        assert _state.default_app is other

    def test_bound_result_classes(self):
        app = new_app(backend='cache+memory://')
        result = app.AsyncResult('some-id')
        assert result.app is app
        group = app.GroupResult('gid', [result])
        assert group.app is app

    def test_add_periodic_task_before_configure(self):
        app = new_app()

        @app.task
        def ping():
            return 'pong'
        key = app.add_periodic_task(10.0, ping.s(), name='ping every 10s')
        assert key == 'ping every 10s'
        entry = app.conf.beat_schedule['ping every 10s']
        assert entry['task'] == ping.name and entry['schedule'] == 10.0

    def test_autodiscover_tasks_force(self, tmp_path, monkeypatch):
        pkg = tmp_path / 'discpkg'
        pkg.mkdir()
        (pkg / '__init__.py').write_text('')
        (pkg / 'tasks.py').write_text(textwrap.dedent("""
            from celery import shared_task

            @shared_task
            def discovered():
                return 'found'
        """))
        monkeypatch.syspath_prepend(str(tmp_path))
        app = new_app()
        app.autodiscover_tasks(['discpkg'], force=True)
        assert 'discpkg.tasks.discovered' in app.tasks
        sys.modules.pop('discpkg.tasks', None)
        sys.modules.pop('discpkg', None)

    def test_autodiscover_tasks_lazy_runs_on_import_default_modules(self, tmp_path, monkeypatch):
        pkg = tmp_path / 'lazypkg'
        pkg.mkdir()
        (pkg / '__init__.py').write_text('')
        (pkg / 'tasks.py').write_text(
            'from celery import shared_task\n\n@shared_task\ndef lazy_found():\n    return 1\n')
        monkeypatch.syspath_prepend(str(tmp_path))
        app = new_app()
        app.autodiscover_tasks(lambda: ['lazypkg'])
        assert 'lazypkg.tasks' not in sys.modules
        app.loader.import_default_modules()
        assert 'lazypkg.tasks.lazy_found' in app.tasks
        sys.modules.pop('lazypkg.tasks', None)
        sys.modules.pop('lazypkg', None)

    def test_repr(self):
        assert repr(new_app()).startswith('<Celery t at 0x')

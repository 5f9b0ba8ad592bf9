"""The Django fixup, against a real (minimal, in-process) Django configuration."""
from __future__ import annotations

import logging
import sys
import types
from datetime import timezone
from unittest.mock import Mock

import pytest

from celery import signals
from celery.exceptions import FixupWarning, ImproperlyConfigured
from celery.fixups import django as dj
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup, fixup

SIGNALS = (signals.import_modules, signals.worker_init, signals.task_prerun,
           signals.task_postrun, signals.worker_process_init, signals.beat_embedded_init)


@pytest.fixture(scope='session')
def django_settings(tmp_path_factory):
    """Configure Django once for the session: two contrib apps and a sqlite file."""
    import django
    from django.conf import settings
    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth'],
            DATABASES={'default': {
                'ENGINE': 'django.db.backends.sqlite3',
                'NAME': str(tmp_path_factory.mktemp('django') / 'db.sqlite3'),
                'CONN_MAX_AGE': 0}},
            USE_TZ=True, TIME_ZONE='Europe/Paris')
    django.setup()
    return settings


@pytest.fixture(autouse=True)
def restore_apps(current_app_restored):
    """DjangoFixup makes its app the default one when there is none."""
    yield


@pytest.fixture(autouse=True)
def restore_signals():
    """The fixups connect to process-wide signals: disconnect what a test added."""
    before = {sig: list(sig.receivers) for sig in SIGNALS}
    yield
    for sig in SIGNALS:
        with sig.lock:
            sig.receivers = before[sig]
            sig._cache.clear()


@pytest.fixture
def settings_env(monkeypatch):
    monkeypatch.setenv('DJANGO_SETTINGS_MODULE', 'proj.settings')


def connected(sig, bound_method) -> bool:
    """Whether ``bound_method`` receives ``sig`` (from any sender)."""
    return bound_method in sig._live_receivers(None)


class test_fixup:

    def test_needs_the_environment_variable(self, app, monkeypatch):
        monkeypatch.delenv('DJANGO_SETTINGS_MODULE', raising=False)
        assert fixup(app) is None

    def test_installs(self, app, settings_env, monkeypatch):
        monkeypatch.setattr(sys, 'path', list(sys.path))
        f = fixup(app)
        assert isinstance(f, DjangoFixup)
        assert app.loader.now == f.now
        assert connected(signals.import_modules, f.on_import_modules)
        assert connected(signals.worker_init, f.on_worker_init)

    def test_puts_the_project_directory_first(self, app, settings_env, monkeypatch, tmp_path):
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, 'path', ['/somewhere'])
        fixup(app)
        fixup(app)
        assert sys.path == [str(tmp_path), '/somewhere']

    def test_django_loader_is_left_alone(self, app, settings_env):
        app.loader_cls = 'djcelery.loaders.DjangoLoader'
        assert fixup(app) is None

    def test_warns_without_django(self, app, settings_env, monkeypatch):
        monkeypatch.setitem(sys.modules, 'django', None)
        with pytest.warns(FixupWarning, match="Django isn't installed"):
            assert fixup(app) is None

    def test_old_django(self, app, settings_env, monkeypatch):
        monkeypatch.setitem(sys.modules, 'django', types.SimpleNamespace(VERSION=(1, 10, 0)))
        with pytest.raises(ImproperlyConfigured, match='Django 1.11 or later'):
            fixup(app)

    def test_apps_get_the_fixup_at_creation(self, settings_env, monkeypatch):
        from celery import Celery
        monkeypatch.setattr(sys, 'path', list(sys.path))
        app = Celery('x', set_as_current=False)
        try:
            assert [type(f) for f in app._fixups] == [DjangoFixup]
        finally:
            app.close()


    def test_django_task_is_the_task_class_unless_the_app_has_its_own(
            self, settings_env, monkeypatch):
        from celery import Celery, Task
        from celery.contrib.django.task import DjangoTask
        monkeypatch.setattr(sys, 'path', list(sys.path))

        class Own(Task):
            pass

        class OwnTaskApp(Celery):
            Task = Own

        apps = [Celery('plain', set_as_current=False),
                Celery('given', set_as_current=False, task_cls=Own),
                OwnTaskApp('subclass', set_as_current=False)]
        try:
            assert [issubclass(a.Task, DjangoTask) for a in apps] == [True, False, False]
            assert issubclass(apps[1].Task, Own)
        finally:
            for a in apps:
                a.close()

class test_DjangoFixup:

    def test_becomes_default_app_if_none(self, app, current_app_restored, monkeypatch):
        from celery import _state
        monkeypatch.setattr(_state, 'default_app', None)
        DjangoFixup(app)
        assert _state.default_app is app

    def test_keeps_existing_default_app(self, app, current_app_restored):
        from celery import _state
        other = Mock(name='default')
        _state.default_app = other
        DjangoFixup(app)
        assert _state.default_app is other

    def test_now(self, app, django_settings):
        f = DjangoFixup(app)
        assert f.now(utc=True).tzinfo is timezone.utc
        now = f.now()
        from django.utils import timezone as dj_tz
        assert dj_tz.is_aware(now) and now.utcoffset().total_seconds() == 0

    def test_autodiscover_tasks(self, app, django_settings):
        assert DjangoFixup(app).autodiscover_tasks() == [
            'django.contrib.contenttypes', 'django.contrib.auth']

    def test_app_autodiscovery_uses_the_fixup(self, app, django_settings, monkeypatch):
        f = DjangoFixup(app)
        app._fixups = [f]
        imported = []
        monkeypatch.setattr(app.loader, 'autodiscover_tasks',
                            lambda packages, related_name: imported.extend(packages))
        app.autodiscover_tasks(force=True)
        assert imported == ['django.contrib.contenttypes', 'django.contrib.auth']

    def test_import_modules_sets_django_up(self, app, django_settings):
        f = DjangoFixup(app)
        f.worker_fixup = Mock(name='worker_fixup')
        f.on_import_modules()
        f.worker_fixup.validate_models.assert_called_once_with()
        f.on_worker_init()
        f.worker_fixup.install.assert_called_once_with()

    def test_worker_fixup_is_created_once(self, app, django_settings):
        f = DjangoFixup(app)
        assert f.worker_fixup is f.worker_fixup
        assert isinstance(f.worker_fixup, DjangoWorkerFixup)

    def test_through_loader_signals(self, app, django_settings, settings_env, monkeypatch):
        # Given an app with the fixup, when the worker imports its modules
        monkeypatch.setattr(sys, 'path', list(sys.path))
        monkeypatch.setenv('CELERY_SKIP_CHECKS', '1')
        f = fixup(app)
        f.worker_fixup = Mock(name='worker_fixup')
        app.loader.import_default_modules()
        # Then Django was set up first
        f.worker_fixup.validate_models.assert_called()


@pytest.fixture
def worker_fixup(app, django_settings):
    from django.db import connections
    yield DjangoWorkerFixup(app)
    connections.close_all()


def open_connection():
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute('SELECT 1')
    assert connection.connection is not None
    return connection


def task_sender(is_eager=False):
    return Mock(name='task', request=Mock(is_eager=is_eager))


class test_DjangoWorkerFixup:

    def test_install_connects_and_closes(self, worker_fixup):
        conn = open_connection()
        worker_fixup.install()
        assert conn.connection is None
        for sig, receiver in ((signals.task_prerun, worker_fixup.on_task_prerun),
                              (signals.task_postrun, worker_fixup.on_task_postrun),
                              (signals.worker_process_init,
                               worker_fixup.on_worker_process_init),
                              (signals.beat_embedded_init, worker_fixup.close_database)):
            assert connected(sig, receiver), sig

    def test_closes_obsolete_connections_around_tasks(self, worker_fixup):
        conn = open_connection()
        worker_fixup.on_task_prerun(sender=task_sender())
        assert conn.connection is None  # CONN_MAX_AGE = 0
        conn = open_connection()
        worker_fixup.on_task_postrun(sender=task_sender())
        assert conn.connection is None

    def test_keeps_connections_within_conn_max_age(self, worker_fixup):
        conn = open_connection()
        conn.close_at = None  # persistent connection (CONN_MAX_AGE=None)
        worker_fixup.on_task_postrun(sender=task_sender())
        assert conn.connection is not None

    def test_eager_tasks_leave_connections_alone(self, worker_fixup):
        conn = open_connection()
        worker_fixup.on_task_prerun(sender=task_sender(is_eager=True))
        worker_fixup.on_task_postrun(sender=task_sender(is_eager=True))
        assert conn.connection is not None

    def test_db_reuse_max(self, worker_fixup):
        worker_fixup.db_reuse_max = 2
        conn = open_connection()
        closed_after = []
        for n in range(1, 7):
            worker_fixup.close_database()
            closed_after.append(conn.connection is None)
            if conn.connection is None:
                conn = open_connection()
        assert closed_after == [False, False, False, False, True, False]

    def test_process_init_forces_close(self, worker_fixup, monkeypatch):
        conn = open_connection()
        conn.close_at = None
        fds = []
        monkeypatch.setattr(dj, '_maybe_close_fd', fds.append)
        worker_fixup.on_worker_process_init()
        assert fds and conn.connection is None

    def test_process_init_under_execv_sets_django_up(self, worker_fixup, monkeypatch):
        monkeypatch.setenv('FORKED_BY_MULTIPROCESSING', '1')
        worker_fixup.validate_models = Mock(name='validate_models')
        worker_fixup.on_worker_process_init()
        worker_fixup.validate_models.assert_called_once_with()

    def test_close_errors(self, worker_fixup, monkeypatch):
        from django.db import DatabaseError, InterfaceError
        bad = Mock(name='conn')
        monkeypatch.setattr(worker_fixup, '_connections', lambda: [bad])
        bad.close_if_unusable_or_obsolete.side_effect = InterfaceError()
        worker_fixup._close_database()
        bad.close_if_unusable_or_obsolete.side_effect = DatabaseError('already closed')
        worker_fixup._close_database()
        bad.close_if_unusable_or_obsolete.side_effect = DatabaseError('disk on fire')
        with pytest.raises(DatabaseError, match='disk on fire'):
            worker_fixup._close_database()

    def test_close_cache(self, worker_fixup, monkeypatch):
        closed = Mock(name='close_caches')
        monkeypatch.setattr(worker_fixup._cache, 'close_caches', closed)
        worker_fixup.close_cache()
        closed.assert_called_once_with()
        closed.side_effect = AttributeError()
        worker_fixup.close_cache()

    def test_validate_models_runs_checks(self, worker_fixup, monkeypatch, caplog):
        from django.core import checks
        monkeypatch.setattr(checks, 'run_checks', lambda: [
            checks.Error('broken model', id='x.E001'),
            checks.Warning('odd setting', id='x.W001')])
        with caplog.at_level(logging.WARNING, logger='celery.fixups.django'):
            worker_fixup.validate_models()
        assert [(r.levelname, 'broken model' in r.getMessage() or 'odd setting' in
                 r.getMessage()) for r in caplog.records] == [('ERROR', True),
                                                                ('WARNING', True)]

    def test_skip_checks(self, worker_fixup, monkeypatch):
        from django.core import checks
        monkeypatch.setenv('CELERY_SKIP_CHECKS', '1')
        monkeypatch.setattr(checks, 'run_checks', Mock(side_effect=AssertionError))
        worker_fixup.validate_models()


def test_maybe_close_fd():
    dj._maybe_close_fd(object())  # no fileno: ignored
    dj._maybe_close_fd(Mock(fileno=Mock(return_value=-1)))  # bad fd: ignored

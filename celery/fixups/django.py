"""Django integration, installed when ``DJANGO_SETTINGS_MODULE`` is set.

:class:`DjangoFixup` (every process with an app): puts the current
directory on ``sys.path`` so the project imports, makes ``app.loader.now``
Django's ``timezone.now``, runs ``django.setup()`` (and the system checks,
unless ``CELERY_SKIP_CHECKS`` is set) before the worker imports task
modules, and lets ``app.autodiscover_tasks()`` without arguments find the
``tasks`` modules of every installed Django app.

:class:`DjangoWorkerFixup` (installed at ``worker_init``): database
connections and caches are closed around each task the way Django closes
them around a request (``close_if_unusable_or_obsolete``, so
``CONN_MAX_AGE`` is honoured), and connections inherited from the parent
are dropped in every new pool process without touching the parent's
socket.

Settings come from Django's settings through the usual
``app.config_from_object('django.conf:settings', namespace='CELERY')``.
"""
from __future__ import annotations

import os
import sys
import warnings
from datetime import datetime, timezone
from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from celery import _state, signals
from celery.exceptions import FixupWarning, ImproperlyConfigured
from celery.utils.log import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    from celery.app.base import Celery

__all__ = ('DjangoFixup', 'DjangoWorkerFixup', 'fixup')

logger = get_logger(__name__)

ERR_NOT_INSTALLED = """\
Environment variable DJANGO_SETTINGS_MODULE is defined
but Django isn't installed.  Won't apply Django fix-ups!
"""

#: Django's task class with ``delay_on_commit`` (used when present and the
#: app has no custom task class).
DJANGO_TASK_CLS = 'celery.contrib.django.task:DjangoTask'


def _verify_django_version(django: ModuleType) -> None:
    if django.VERSION < (1, 11):
        raise ImproperlyConfigured('Celery 5.x requires Django 1.11 or later.')


def fixup(app: Celery, env: str = 'DJANGO_SETTINGS_MODULE') -> DjangoFixup | None:
    """Install the Django fixup on ``app`` if the ``env`` variable names settings."""
    if not os.environ.get(env) or 'django' in str(app.loader_cls or '').lower():
        return None
    try:
        import django
    except ImportError:
        warnings.warn(FixupWarning(ERR_NOT_INSTALLED), stacklevel=2)
        return None
    _verify_django_version(django)
    return DjangoFixup(app).install()


class DjangoFixup:
    """Connects an app to Django (see the module docs)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        if _state.default_app is None:
            self.app.set_default()
        self._worker_fixup: DjangoWorkerFixup | None = None
        self._now_fun: Any = None

    def install(self) -> DjangoFixup:
        """Hook into the app and the worker signals; return self."""
        # The project directory must win over installed modules.
        cwd = os.getcwd()
        if not sys.path or sys.path[0] != cwd:
            sys.path.insert(0, cwd)
        self.app.loader.now = self.now
        if not self.app._custom_task_cls_used and self._has_django_task():
            self.app.task_cls = DJANGO_TASK_CLS
        signals.import_modules.connect(self.on_import_modules)
        signals.worker_init.connect(self.on_worker_init)
        return self

    @staticmethod
    def _has_django_task() -> bool:
        try:
            return find_spec(DJANGO_TASK_CLS.partition(':')[0]) is not None
        except (ImportError, ValueError):
            return False

    @property
    def worker_fixup(self) -> DjangoWorkerFixup:
        """The worker side of the fixup (created on first use)."""
        if self._worker_fixup is None:
            self._worker_fixup = DjangoWorkerFixup(self.app)
        return self._worker_fixup

    @worker_fixup.setter
    def worker_fixup(self, value: DjangoWorkerFixup) -> None:
        self._worker_fixup = value

    def on_import_modules(self, **kwargs: Any) -> None:
        """Set Django up before the worker imports the task modules."""
        self.worker_fixup.validate_models()

    def on_worker_init(self, **kwargs: Any) -> None:
        self.worker_fixup.install()

    def now(self, utc: bool = False) -> datetime:
        """The current time: aware UTC with ``utc``, else Django's ``timezone.now()``."""
        if utc:
            return datetime.now(timezone.utc)
        if self._now_fun is None:
            from django.utils.timezone import now
            self._now_fun = now
        return self._now_fun()

    def autodiscover_tasks(self) -> list[str]:
        """The packages of the installed Django apps (their ``tasks`` modules are imported)."""
        from django.apps import apps
        return [config.name for config in apps.get_app_configs()]


class DjangoWorkerFixup:
    """Database and cache hygiene in worker processes."""

    _db_recycles = 0

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.db_reuse_max = self.app.conf.get('CELERY_DB_REUSE_MAX', None)
        self._db = import_module('django.db')
        self._cache = import_module('django.core.cache')
        from django.db import DatabaseError
        from django.db.utils import InterfaceError
        self.interface_errors: tuple = (InterfaceError,)
        self.DatabaseError = DatabaseError

    def django_setup(self) -> None:
        import django
        django.setup()

    def validate_models(self) -> None:
        """``django.setup()``, then the system checks (unless ``CELERY_SKIP_CHECKS``)."""
        self.django_setup()
        if os.environ.get('CELERY_SKIP_CHECKS'):
            return
        from django.core.checks import run_checks
        for message in run_checks():
            log = logger.error if message.is_serious() else logger.warning
            log('Django system check: %s', message)

    def install(self) -> DjangoWorkerFixup:
        """Connect to the task and process signals; close what the parent opened."""
        signals.beat_embedded_init.connect(self.close_database)
        signals.task_prerun.connect(self.on_task_prerun)
        signals.task_postrun.connect(self.on_task_postrun)
        signals.worker_process_init.connect(self.on_worker_process_init)
        self.close_database()
        self.close_cache()
        return self

    def on_worker_process_init(self, **kwargs: Any) -> None:
        """In a new pool process: forget the parent's connections, close caches.

        The sockets are shared with the parent after fork; closing them the
        normal way would talk to the server and break the parent's
        connection, so only the file descriptor is closed.
        """
        if os.environ.get('FORKED_BY_MULTIPROCESSING'):
            # Started with execv: Django is not set up in this process yet.
            self.validate_models()
        for conn in self._connections():
            if getattr(conn, 'connection', None) is not None:
                self._maybe_close_db_fd(conn)
        self._close_database(force=True)
        self.close_cache()

    def _maybe_close_db_fd(self, conn: Any) -> None:
        try:
            with conn.wrap_database_errors:
                _maybe_close_fd(conn.connection)
        except self.interface_errors:
            pass

    def on_task_prerun(self, sender: Any, **kwargs: Any) -> None:
        """Before a task: drop unusable or expired connections."""
        if not getattr(sender.request, 'is_eager', False):
            self.close_database()

    def on_task_postrun(self, sender: Any, **kwargs: Any) -> None:
        """After a task: drop unusable or expired connections, close caches."""
        if not getattr(sender.request, 'is_eager', False):
            self.close_database()
            self.close_cache()

    def close_database(self, **kwargs: Any) -> None:
        """Close connections as Django does after a request.

        With ``CELERY_DB_REUSE_MAX = n`` they are closed only every ``n``
        tasks (counting prerun and postrun).
        """
        if not self.db_reuse_max:
            return self._close_database()
        if self._db_recycles >= self.db_reuse_max * 2:
            self._db_recycles = 0
            self._close_database()
        self._db_recycles += 1
        return None

    def _connections(self) -> list:
        try:
            return list(self._db.connections.all(initialized_only=True))
        except TypeError:  # Django < 4.1
            return list(self._db.connections.all())

    def _close_database(self, force: bool = False) -> None:
        for conn in self._connections():
            try:
                if force:
                    conn.close()
                else:
                    conn.close_if_unusable_or_obsolete()
            except self.interface_errors:
                pass
            except self.DatabaseError as exc:
                text = str(exc)
                if 'closed' not in text and 'not connected' not in text:
                    raise

    def close_cache(self) -> None:
        """Close Django's caches (as at the end of a request)."""
        try:
            self._cache.close_caches()
        except (TypeError, AttributeError):
            pass


def _maybe_close_fd(fh: Any) -> None:
    try:
        os.close(fh.fileno())
    except (AttributeError, OSError, TypeError):
        pass

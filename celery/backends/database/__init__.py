"""SQLAlchemy result backend: ``db+sqlite:///results.db``, ``db+postgresql://...``.

Rows live in Celery's tables (see :mod:`celery.backends.database.models`);
results are read by polling.  Settings: ``database_table_names``,
``database_table_schemas``, ``database_engine_options``,
``database_short_lived_sessions``, ``database_create_tables_at_setup``.
Every operation is retried up to three times on database errors.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from functools import wraps
from typing import Any, Callable

from celery import states
from celery.backends.base import BaseBackend
from celery.exceptions import ImproperlyConfigured
from celery.utils.time import maybe_timedelta

try:
    import sqlalchemy as sa
    from sqlalchemy.exc import DatabaseError, InvalidRequestError, OperationalError
    from sqlalchemy.orm.exc import StaleDataError
except ImportError:  # pragma: no cover - sqlalchemy is an optional extra
    raise ImproperlyConfigured(
        'The database result backend needs SQLAlchemy: pip install "celery[sqlalchemy]".'
    ) from None

from celery.backends.database.models import models_for
from celery.backends.database.session import SessionManager, session_cleanup

__all__ = ('DatabaseBackend', 'retry', 'session_cleanup')

logger = logging.getLogger(__name__)

E_NO_URL = ('The database result backend needs a URL: set result_backend to '
            '"db+<sqlalchemy url>" or database_url.')

#: Engines are shared by every backend of the process (per URL).
_session_manager = SessionManager()


def retry(fun: Callable) -> Callable:
    """Retry ``fun`` (up to ``max_retries=3`` calls) on database errors."""

    @wraps(fun)
    def _inner(*args: Any, **kwargs: Any) -> Any:
        max_retries = kwargs.pop('max_retries', 3)
        for attempt in range(1, max_retries + 1):
            try:
                return fun(*args, **kwargs)
            except (DatabaseError, InvalidRequestError, StaleDataError):
                if attempt >= max_retries:
                    raise
                logger.warning('Database result backend: %s failed, retrying '
                               '(%d more times).', fun.__name__, max_retries - attempt,
                               exc_info=True)
        return None  # pragma: no cover
    return _inner


def _with_available_driver(url: str) -> str:
    """Pick psycopg2 for a bare ``postgresql://`` URL when psycopg 3 is missing.

    SQLAlchemy 2.1 defaults PostgreSQL URLs to psycopg 3; Celery users
    commonly have psycopg2 installed.
    """
    scheme, sep, rest = url.partition('://')
    if scheme in ('postgresql', 'postgres') and sep:
        import importlib.util
        if (importlib.util.find_spec('psycopg') is None
                and importlib.util.find_spec('psycopg2') is not None):
            return f'postgresql+psycopg2://{rest}'
    return url


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class DatabaseBackend(BaseBackend):
    """Results stored in a relational database through SQLAlchemy."""

    #: Seconds between polls of each result in ``ResultSet.join``.
    subpolling_interval = 0.5

    def __init__(self, dburi: str | None = None, engine_options: dict | None = None,
                 url: str | None = None, **kwargs: Any) -> None:
        short_lived = kwargs.pop('short_lived_sessions', None)
        super().__init__(expires_type=maybe_timedelta, url=url, **kwargs)
        conf = self.app.conf
        self.url = url or dburi or conf.get('database_url')
        if not self.url:
            raise ImproperlyConfigured(E_NO_URL)
        self._engine_url = _with_available_driver(self.url)
        self.engine_options = dict(conf.get('database_engine_options') or {},
                                   **(engine_options or {}))
        if self.url.startswith('sqlite'):
            # SQLite's pools take neither size nor recycling options.
            for name in ('pool_size', 'max_overflow', 'pool_timeout'):
                self.engine_options.pop(name, None)
        self.short_lived_sessions = (conf.get('database_short_lived_sessions', False)
                                     if short_lived is None else short_lived)
        names = conf.get('database_table_names') or {}
        schemas = conf.get('database_table_schemas') or {}
        (self._base, task_cls, extended_cls, self.taskset_cls) = models_for(
            names.get('task') or 'celery_taskmeta',
            names.get('group') or 'celery_tasksetmeta',
            schemas.get('task'), schemas.get('group'))
        self.task_cls = extended_cls if self._result_extended else task_cls
        self.session_manager = _session_manager
        self._tables_ready = False
        if conf.get('database_create_tables_at_setup', True):
            self._create_tables()

    @property
    def extended_result(self) -> bool:
        return self._result_extended

    def _create_tables(self) -> None:
        engine, _ = self.session_manager.create_session(
            self._engine_url, self.short_lived_sessions, **self.engine_options)
        self.session_manager.prepare_models(engine, self._base.metadata)
        self._tables_ready = True

    def ResultSession(self, session_manager: SessionManager | None = None) -> Any:
        """A new session on the result database."""
        manager = session_manager or self.session_manager
        return manager.session_factory(
            dburi=self._engine_url, metadata=self._base.metadata,
            short_lived_sessions=self.short_lived_sessions, **self.engine_options)

    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, OperationalError)

    # -- tasks -----------------------------------------------------------------

    def _find_task(self, session: Any, task_id: str) -> Any:
        return session.execute(
            sa.select(self.task_cls).where(self.task_cls.task_id == task_id)
        ).scalars().first()

    @retry
    def _store_result(self, task_id: str, result: Any, state: str,
                      traceback: str | None = None, request: Any = None,
                      **kwargs: Any) -> Any:
        session = self.ResultSession()
        with session_cleanup(session):
            task = self._find_task(session, task_id)
            if task is None:
                task = self.task_cls(task_id)
                session.add(task)
                session.flush()
            self._update_result(task, result, state, traceback=traceback, request=request)
            session.commit()
        return result

    def _update_result(self, task: Any, result: Any, state: str,
                       traceback: str | None = None, request: Any = None) -> None:
        meta = self._get_result_meta(result=result, state=state, traceback=traceback,
                                     request=request, format_date=False, encode=True)
        if meta.get('date_done') is not None:
            # The column is naive: store UTC whatever the app's time zone.
            meta['date_done'] = meta['date_done'].astimezone(timezone.utc).replace(tzinfo=None)
        for column in self.task_cls.__table__.columns.keys():
            if column not in ('id', 'task_id'):
                setattr(task, column, meta.get(column))

    @retry
    def _get_task_meta_for(self, task_id: str) -> dict:
        session = self.ResultSession()
        with session_cleanup(session):
            task = self._find_task(session, task_id)
            if task is None:
                task = self.task_cls(task_id)
                task.status = states.PENDING
                task.result = None
            data = task.to_dict()
            for field in ('args', 'kwargs'):
                if data.get(field) is not None:
                    data[field] = self.decode(data[field])
            return self._meta_from_row(data, task_id)

    def _meta_from_row(self, data: dict, task_id: str) -> dict:
        try:
            return self.meta_from_decoded(data)
        except (TypeError, ValueError) as exc:
            from celery.backends.base import E_CORRUPT
            from celery.exceptions import BackendGetMetaError
            raise BackendGetMetaError(E_CORRUPT.format(task_id, exc),
                                      task_id=task_id) from exc

    @retry
    def _forget(self, task_id: str) -> None:
        session = self.ResultSession()
        with session_cleanup(session):
            session.execute(sa.delete(self.task_cls.__table__).where(
                self.task_cls.__table__.c.task_id == task_id))
            session.commit()

    # -- groups ------------------------------------------------------------------

    @retry
    def _save_group(self, group_id: str, result: Any) -> Any:
        session = self.ResultSession()
        with session_cleanup(session):
            group = self.taskset_cls(group_id, result)
            session.add(group)
            session.flush()
            session.commit()
        return result

    @retry
    def _restore_group(self, group_id: str) -> dict | None:
        session = self.ResultSession()
        with session_cleanup(session):
            group = session.execute(
                sa.select(self.taskset_cls).where(self.taskset_cls.taskset_id == group_id)
            ).scalars().first()
            if group is not None:
                return group.to_dict()
            return None

    @retry
    def _delete_group(self, group_id: str) -> None:
        session = self.ResultSession()
        with session_cleanup(session):
            table = self.taskset_cls.__table__
            session.execute(sa.delete(table).where(table.c.taskset_id == group_id))
            session.commit()

    # -- maintenance -----------------------------------------------------------

    def cleanup(self) -> None:
        """Delete results and groups older than ``result_expires``."""
        expires = self.expires
        if not expires:
            return
        if not isinstance(expires, timedelta):
            expires = timedelta(seconds=expires)
        cutoff = _utcnow() - expires
        session = self.ResultSession()
        with session_cleanup(session):
            for table in (self.task_cls.__table__, self.taskset_cls.__table__):
                session.execute(sa.delete(table).where(table.c.date_done < cutoff))
            session.commit()

    def __reduce__(self, args: tuple = (), kwargs: dict | None = None) -> tuple:
        kwargs = dict(kwargs or {}, dburi=self.url, expires=self.expires,
                      engine_options=self.engine_options)
        return super().__reduce__(args, kwargs)

"""Engines and sessions of the database result backend.

A :class:`SessionManager` keeps one engine (with its pool) per database URL
and process; after a fork the child builds its own engines, since pooled
connections cannot be shared across processes.  Tables are created once per
engine.  With ``short_lived_sessions`` each session gets a fresh engine
without pooling (for databases that drop idle connections).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

__all__ = ('SessionManager', 'session_cleanup')


@contextmanager
def session_cleanup(session: Session) -> Iterator[None]:
    """Roll back on error and always close ``session``."""
    try:
        yield
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


class SessionManager:
    """Creates engines, session factories and tables for result databases."""

    def __init__(self) -> None:
        self._engines: dict[str, Any] = {}
        self._sessions: dict[str, sessionmaker] = {}
        self._prepared: set = set()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            # Pooled connections of the parent must not be used here.
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines.clear()
            self._sessions.clear()
            self._prepared.clear()
            self._pid = os.getpid()

    def get_engine(self, dburi: str, **kwargs: Any) -> Any:
        """The pooled engine for ``dburi`` in this process."""
        self._check_fork()
        with self._lock:
            engine = self._engines.get(dburi)
            if engine is None:
                engine = self._engines[dburi] = sa.create_engine(dburi, **kwargs)
            return engine

    def create_session(self, dburi: str, short_lived_sessions: bool = False,
                       **kwargs: Any) -> tuple[Any, Callable[[], Session]]:
        """Return ``(engine, session factory)`` for ``dburi``."""
        if short_lived_sessions:
            kwargs = {k: v for k, v in kwargs.items()
                      if k not in ('pool_size', 'max_overflow', 'pool_timeout')}
            engine = sa.create_engine(dburi, poolclass=NullPool, **kwargs)
            return engine, sessionmaker(bind=engine)
        engine = self.get_engine(dburi, **kwargs)
        with self._lock:
            factory = self._sessions.get(dburi)
            if factory is None:
                factory = self._sessions[dburi] = sessionmaker(bind=engine)
        return engine, factory

    def prepare_models(self, engine: Any, metadata: sa.MetaData) -> None:
        """Create the result tables if they do not exist (once per engine)."""
        key = (id(engine), id(metadata))
        if key in self._prepared:
            return
        try:
            metadata.create_all(engine)
        except sa.exc.DatabaseError:
            # Another process may have created them between check and create.
            metadata.create_all(engine)
        self._prepared.add(key)

    def session_factory(self, dburi: str, metadata: sa.MetaData | None = None,
                        short_lived_sessions: bool = False, **kwargs: Any) -> Session:
        """A new session on ``dburi`` (creating ``metadata``'s tables first)."""
        engine, factory = self.create_session(dburi, short_lived_sessions, **kwargs)
        if metadata is not None:
            self.prepare_models(engine, metadata)
        return factory()

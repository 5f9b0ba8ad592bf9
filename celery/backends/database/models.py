"""SQLAlchemy models of the database result backend.

The tables are Celery's: ``celery_taskmeta`` (id, task_id, status, result,
date_done, traceback, name, args, kwargs, worker, retries, queue) and
``celery_tasksetmeta`` (id, taskset_id, result, date_done), with the
``task_id_sequence`` / ``taskset_id_sequence`` sequences, so a database
shared with Celery 5 workers works both ways.  ``result`` is a pickled
column (:class:`sqlalchemy.PickleType`) as in Celery.

:class:`Task`, :class:`TaskExtended` and :class:`TaskSet` use the default
table names; :func:`models_for` builds equivalent classes for the
``database_table_names`` / ``database_table_schemas`` settings.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import declarative_base

from celery import states

__all__ = ('ResultModelBase', 'Task', 'TaskExtended', 'TaskSet', 'models_for')

DEFAULT_TASK_TABLE = 'celery_taskmeta'
DEFAULT_GROUP_TABLE = 'celery_tasksetmeta'


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class _TaskMixin:
    """Columns and behaviour of a task result row."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id

    def to_dict(self) -> dict:
        return {
            'task_id': self.task_id,
            'status': self.status,
            'result': self.result,
            'traceback': self.traceback,
            'date_done': self.date_done,
        }

    def __repr__(self) -> str:
        return f'<Task {self.task_id} state: {self.status}>'


class _TaskExtendedMixin(_TaskMixin):
    """A task row read with ``result_extended``: name, args, kwargs, ..."""

    def to_dict(self) -> dict:
        data = super().to_dict()
        data.update(name=self.name, args=self.args, kwargs=self.kwargs,
                    worker=self.worker, retries=self.retries, queue=self.queue)
        return data


class _TaskSetMixin:
    """Columns and behaviour of a saved group row."""

    def __init__(self, taskset_id: str, result: Any) -> None:
        self.taskset_id = taskset_id
        self.result = result

    def to_dict(self) -> dict:
        return {'taskset_id': self.taskset_id, 'result': self.result,
                'date_done': self.date_done}

    def __repr__(self) -> str:
        return f'<TaskSet: {self.taskset_id}>'


def _task_table(metadata: sa.MetaData, name: str, schema: str | None) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column('id', sa.Integer, sa.Sequence('task_id_sequence', schema=schema),
                  primary_key=True, autoincrement=True),
        sa.Column('task_id', sa.String(155), unique=True),
        sa.Column('status', sa.String(50), default=states.PENDING),
        sa.Column('result', sa.PickleType, nullable=True),
        sa.Column('date_done', sa.DateTime, default=_utcnow, onupdate=_utcnow,
                  nullable=True),
        sa.Column('traceback', sa.Text, nullable=True),
        sa.Column('name', sa.String(155), nullable=True),
        sa.Column('args', sa.LargeBinary, nullable=True),
        sa.Column('kwargs', sa.LargeBinary, nullable=True),
        sa.Column('worker', sa.String(155), nullable=True),
        sa.Column('retries', sa.Integer, nullable=True),
        sa.Column('queue', sa.String(155), nullable=True),
        schema=schema, sqlite_autoincrement=True,
    )


def _group_table(metadata: sa.MetaData, name: str, schema: str | None) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column('id', sa.Integer, sa.Sequence('taskset_id_sequence', schema=schema),
                  primary_key=True, autoincrement=True),
        sa.Column('taskset_id', sa.String(155), unique=True),
        sa.Column('result', sa.PickleType, nullable=True),
        sa.Column('date_done', sa.DateTime, default=_utcnow, nullable=True),
        schema=schema, sqlite_autoincrement=True,
    )


@lru_cache(maxsize=None)
def models_for(task_table: str = DEFAULT_TASK_TABLE, group_table: str = DEFAULT_GROUP_TABLE,
               task_schema: str | None = None, group_schema: str | None = None) -> tuple:
    """Return ``(Base, Task, TaskExtended, TaskSet)`` for these tables."""
    base: Any = declarative_base()
    task_t = _task_table(base.metadata, task_table, task_schema)
    group_t = _group_table(base.metadata, group_table, group_schema)
    task_cls = type('Task', (_TaskMixin, base), {'__table__': task_t,
                                                 '__module__': __name__})
    extended_cls = type('TaskExtended', (_TaskExtendedMixin, base),
                        {'__table__': task_t, '__module__': __name__})
    group_cls = type('TaskSet', (_TaskSetMixin, base), {'__table__': group_t,
                                                        '__module__': __name__})
    return base, task_cls, extended_cls, group_cls


ResultModelBase, Task, TaskExtended, TaskSet = models_for()

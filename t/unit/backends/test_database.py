"""The SQLAlchemy backend on SQLite: Celery's tables, rows and retries."""
from __future__ import annotations

import pickle
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from celery import Celery, states, uuid
from celery.app.task import Context
from celery.backends.database import DatabaseBackend, retry
from celery.backends.database.models import Task, TaskExtended, TaskSet, models_for
from celery.exceptions import ImproperlyConfigured


@pytest.fixture
def db_url(tmp_path):
    return f'sqlite:///{tmp_path}/results.db'


@pytest.fixture
def db_app(db_url):
    app = Celery('t.db', set_as_current=False, broker='memory://',
                 backend=f'db+{db_url}', fixups=[])
    yield app
    app.close()


def rows(url, table='celery_taskmeta'):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(f'SELECT * FROM {table}'))]
    finally:
        engine.dispose()


class test_tables:

    def test_celery_table_layout(self, db_app, db_url):
        assert isinstance(db_app.backend, DatabaseBackend)
        inspector = sa.inspect(sa.create_engine(db_url))
        assert set(inspector.get_table_names()) == {'celery_taskmeta', 'celery_tasksetmeta'}
        assert [c['name'] for c in inspector.get_columns('celery_taskmeta')] == [
            'id', 'task_id', 'status', 'result', 'date_done', 'traceback',
            'name', 'args', 'kwargs', 'worker', 'retries', 'queue']
        assert [c['name'] for c in inspector.get_columns('celery_tasksetmeta')] == [
            'id', 'taskset_id', 'result', 'date_done']

    def test_models(self):
        assert Task.__table__.name == 'celery_taskmeta'
        assert TaskExtended.__table__ is Task.__table__
        assert TaskSet.__table__.name == 'celery_tasksetmeta'
        assert repr(Task('x')) == '<Task x state: None>'
        assert repr(TaskSet('g', None)) == '<TaskSet: g>'

    def test_custom_table_names_and_lazy_creation(self, app, tmp_path):
        url = f'sqlite:///{tmp_path}/custom.db'
        app.conf.database_table_names = {'task': 'my_tasks', 'group': 'my_groups'}
        app.conf.database_create_tables_at_setup = False
        backend = DatabaseBackend(app=app, url=url)
        assert sa.inspect(sa.create_engine(url)).get_table_names() == []
        backend.store_result('t1', 1, states.SUCCESS)
        assert set(sa.inspect(sa.create_engine(url)).get_table_names()) == {
            'my_tasks', 'my_groups'}
        assert backend.get_task_meta('t1')['result'] == 1
        assert models_for('my_tasks', 'my_groups') == models_for('my_tasks', 'my_groups')

    def test_needs_a_url(self, app):
        with pytest.raises(ImproperlyConfigured, match='needs a URL'):
            DatabaseBackend(app=app)


class test_rows:

    def test_success_row(self, db_app, db_url):
        task_id = uuid()
        db_app.backend.store_result(task_id, {'x': 1}, states.SUCCESS)
        row, = rows(db_url)
        assert row['task_id'] == task_id and row['status'] == 'SUCCESS'
        assert pickle.loads(row['result']) == {'x': 1}
        assert row['traceback'] is None and row['name'] is None
        done = datetime.fromisoformat(str(row['date_done']))
        assert abs(done - datetime.utcnow()) < timedelta(minutes=1)
        result = db_app.AsyncResult(task_id)
        assert result.get(timeout=1, interval=0.01) == {'x': 1}
        assert isinstance(result.date_done, datetime)

    def test_state_updates_reuse_the_row(self, db_app, db_url):
        task_id = uuid()
        db_app.backend.mark_as_started(task_id, pid=1)
        assert db_app.AsyncResult(task_id).state == states.STARTED
        db_app.backend.mark_as_failure(task_id, ValueError('bad'), traceback='tb')
        row, = rows(db_url)
        assert row['status'] == 'FAILURE' and row['traceback'] == 'tb'
        assert pickle.loads(row['result']) == {
            'exc_type': 'ValueError', 'exc_message': ('bad',), 'exc_module': 'builtins'}
        with pytest.raises(ValueError, match='bad'):
            db_app.AsyncResult(task_id).get(timeout=1)

    def test_extended_row(self, db_url):
        app = Celery('t.db.ext', set_as_current=False, backend=f'db+{db_url}')
        app.conf.result_extended = True
        task_id = uuid()
        app.backend.store_result(task_id, 3, states.SUCCESS, request=Context(
            id=task_id, task='t.add', args=[1, 2], kwargs={'k': 1}, hostname='w1',
            retries=1, delivery_info={'routing_key': 'q'}))
        row, = rows(db_url)
        assert (row['name'], row['worker'], row['retries'], row['queue']) == (
            't.add', 'w1', 1, 'q')
        assert row['args'] == b'[1, 2]' and row['kwargs'] == b'{"k": 1}'
        result = app.AsyncResult(task_id)
        assert result.args == [1, 2] and result.kwargs == {'k': 1}
        assert result.name == 't.add' and result.queue == 'q'

    def test_pending_and_forget(self, db_app):
        task_id = uuid()
        assert db_app.AsyncResult(task_id).state == states.PENDING
        db_app.backend.store_result(task_id, 1, states.SUCCESS)
        db_app.AsyncResult(task_id).forget()
        assert db_app.AsyncResult(task_id).state == states.PENDING

    def test_groups(self, db_app, db_url):
        group = db_app.GroupResult(uuid(), [db_app.AsyncResult(uuid())])
        group.save()
        row, = rows(db_url, 'celery_tasksetmeta')
        assert row['taskset_id'] == group.id
        restored = db_app.GroupResult.restore(group.id)
        assert restored.id == group.id and restored.results == group.results
        group.delete()
        assert db_app.backend.restore_group(group.id, cache=False) is None

    def test_cleanup_deletes_expired_rows(self, db_app, db_url):
        old, new = uuid(), uuid()
        db_app.backend.store_result(old, 1, states.SUCCESS)
        db_app.backend.store_result(new, 2, states.SUCCESS)
        engine = sa.create_engine(db_url)
        with engine.begin() as conn:
            conn.execute(sa.text('UPDATE celery_taskmeta SET date_done = :d WHERE task_id = :t'),
                         {'d': datetime.utcnow() - timedelta(days=3), 't': old})
        engine.dispose()
        db_app.backend.cleanup()
        assert [r['task_id'] for r in rows(db_url)] == [new]

    def test_join_polls(self, db_app):
        ids = [uuid(), uuid()]
        for i, task_id in enumerate(ids):
            db_app.backend.store_result(task_id, i, states.SUCCESS)
        group = db_app.GroupResult(uuid(), [db_app.AsyncResult(t) for t in ids])
        assert group.get(timeout=1, interval=0.01) == [0, 1]


class test_retry_decorator:

    def test_retries_database_errors(self):
        calls = []

        @retry
        def flaky():
            calls.append(1)
            if len(calls) < 3:
                raise sa.exc.OperationalError('stmt', {}, Exception('gone'))
            return 'ok'
        assert flaky() == 'ok' and len(calls) == 3

    def test_gives_up(self):
        @retry
        def broken():
            raise sa.exc.OperationalError('stmt', {}, Exception('gone'))
        with pytest.raises(sa.exc.OperationalError):
            broken(max_retries=2)

    def test_unreachable_database_is_retried_with_always_retry(self, app):
        from celery.exceptions import BackendStoreError
        app.conf.update(result_backend_always_retry=True, result_backend_max_retries=2,
                        result_backend_base_sleep_between_retries_ms=1,
                        database_create_tables_at_setup=False)
        backend = DatabaseBackend(app=app, url='sqlite:////nonexistent/dir/x.db')
        sleeps = []
        backend._sleep = sleeps.append
        with pytest.raises(BackendStoreError):
            backend.store_result('t', 1, states.SUCCESS)
        assert len(sleeps) == 2

"""The file-system backend: one file per record in a shared directory."""
from __future__ import annotations

import json
import os
import time

import pytest

from celery import Celery, states, uuid
from celery.backends.filesystem import FilesystemBackend
from celery.exceptions import ImproperlyConfigured


@pytest.fixture
def fs_app(tmp_path):
    app = Celery('t.fs', set_as_current=False, broker='memory://',
                 backend=f'file://{tmp_path}', fixups=[])
    yield app
    app.close()


class test_FilesystemBackend:

    def test_writes_one_file_per_record(self, fs_app, tmp_path):
        backend = fs_app.backend
        assert isinstance(backend, FilesystemBackend)
        task_id = uuid()
        backend.store_result(task_id, {'a': 1}, states.SUCCESS)
        path = tmp_path / f'celery-task-meta-{task_id}'
        meta = json.loads(path.read_bytes())
        assert meta['status'] == 'SUCCESS' and meta['result'] == {'a': 1}
        assert meta['task_id'] == task_id
        assert fs_app.AsyncResult(task_id).get(timeout=1) == {'a': 1}
        assert [p.name for p in tmp_path.iterdir()] == [path.name]

    def test_failure_and_forget(self, fs_app, tmp_path):
        task_id = uuid()
        fs_app.backend.mark_as_failure(task_id, RuntimeError('x'))
        with pytest.raises(RuntimeError):
            fs_app.AsyncResult(task_id).get(timeout=1)
        fs_app.AsyncResult(task_id).forget()
        assert not (tmp_path / f'celery-task-meta-{task_id}').exists()
        fs_app.backend.delete('already-gone')

    def test_localhost_form(self, app, tmp_path):
        backend = FilesystemBackend(app=app, url=f'file://localhost{tmp_path}')
        assert backend.path == str(tmp_path).encode()

    def test_bad_urls(self, app, tmp_path):
        with pytest.raises(ImproperlyConfigured, match='needs a path'):
            FilesystemBackend(app=app, url=None)
        with pytest.raises(ImproperlyConfigured, match='file://'):
            FilesystemBackend(app=app, url=f'http://{tmp_path}')
        with pytest.raises(ImproperlyConfigured, match='not writable or does not exist'):
            FilesystemBackend(app=app, url=f'file://{tmp_path}/missing/dir')

    def test_cleanup_removes_expired_records(self, fs_app, tmp_path):
        fs_app.conf.result_expires = 60
        backend = FilesystemBackend(app=fs_app, url=f'file://{tmp_path}')
        old, new = uuid(), uuid()
        backend.store_result(old, 1, states.SUCCESS)
        backend.store_result(new, 2, states.SUCCESS)
        (tmp_path / 'unrelated').write_text('keep')
        stale = time.time() - 3600
        os.utime(tmp_path / f'celery-task-meta-{old}', (stale, stale))
        backend.cleanup()
        names = {p.name for p in tmp_path.iterdir()}
        assert names == {f'celery-task-meta-{new}', 'unrelated'}

    def test_group_round_trip(self, fs_app):
        group = fs_app.GroupResult(uuid(), [fs_app.AsyncResult(uuid())])
        group.save()
        assert fs_app.GroupResult.restore(group.id) == group

    def test_get_many(self, fs_app):
        ids = [uuid(), uuid()]
        fs_app.backend.store_result(ids[1], 'x', states.SUCCESS)
        assert [tid for tid, _ in fs_app.backend.get_many(ids, max_iterations=1)] == [ids[1]]

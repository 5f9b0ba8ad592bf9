from __future__ import annotations

import pytest

from celery.contrib.abortable import ABORTED, AbortableAsyncResult, AbortableTask


@pytest.fixture
def job(app):
    progress = []

    @app.task(bind=True, base=AbortableTask, shared=False)
    def job(self, steps):
        for step in range(steps):
            if self.is_aborted():
                return f'aborted at {step}'
            progress.append(step)
        return 'finished'
    job.progress = progress
    return job


class test_AbortableTask:

    def test_async_result_is_abortable(self, job, app):
        result = job.AsyncResult('some-id')
        assert isinstance(result, AbortableAsyncResult)
        assert result.id == 'some-id'
        assert result.backend is job.backend
        assert result.app is app

    def test_delay_returns_abortable_result(self, job):
        assert isinstance(job.delay(3), AbortableAsyncResult)

    def test_not_aborted(self, job):
        assert not job.AsyncResult('x').is_aborted()
        assert not job.is_aborted(task_id='x')

    def test_abort(self, job):
        # Given a task asked to abort
        result = job.AsyncResult('tid')
        result.abort()
        # Then its state is ABORTED, seen from the result and from the task
        assert result.state == ABORTED
        assert job.AsyncResult('tid').is_aborted()
        assert job.is_aborted(task_id='tid')

    def test_task_sees_abort_of_its_request(self, job):
        job.AsyncResult('tid2').abort()
        assert job.apply((5,), task_id='tid2').get() == 'aborted at 0'
        assert job.apply((3,), task_id='other').get() == 'finished'

    def test_no_request_id(self, job):
        assert job.is_aborted() is False

    def test_other_result_class(self, app):
        class Plain(AbortableTask):
            name = 'plain'

            def AsyncResult(self, task_id, **kwargs):
                return app.AsyncResult(task_id)
        task = app.register_task(Plain())
        task.backend.store_result('t', None, ABORTED)
        assert task.is_aborted(task_id='t') is False

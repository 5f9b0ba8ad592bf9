"""Tests for ``celery result`` (celery.bin.result)."""
from __future__ import annotations

import uuid

from kombu.exceptions import OperationalError


def _task_id() -> str:
    return str(uuid.uuid4())


class Test_result:

    def test_prints_the_result(self, cli_app, celery_cli):
        # Given a finished task
        task_id = _task_id()
        cli_app.backend.mark_as_done(task_id, {'answer': 42})
        # When
        result = celery_cli('result', task_id)
        # Then
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "{'answer': 42}"

    def test_with_the_task_option(self, cli_app, celery_cli):
        task_id = _task_id()
        cli_app.backend.mark_as_done(task_id, 5)
        result = celery_cli('result', task_id, '-t', 't.unit.bin.cli_add')
        assert result.exit_code == 0, result.output
        assert result.output.strip() == '5'

    def test_unknown_task_name(self, celery_cli):
        result = celery_cli('result', _task_id(), '--task', 'no.such.task')
        assert result.exit_code == 1
        assert "Unknown task 'no.such.task'" in result.output
        assert 'Traceback' not in result.output

    def test_traceback(self, cli_app, celery_cli):
        task_id = _task_id()
        cli_app.backend.mark_as_failure(
            task_id, ZeroDivisionError('division by zero'),
            traceback='Traceback (most recent call last):\nZeroDivisionError: boom\n')
        result = celery_cli('result', task_id, '--traceback')
        assert result.exit_code == 0, result.output
        assert 'ZeroDivisionError: boom' in result.output

    def test_failed_task_is_an_error(self, cli_app, celery_cli):
        task_id = _task_id()
        cli_app.backend.mark_as_failure(task_id, ZeroDivisionError('division by zero'))
        result = celery_cli('result', task_id)
        assert result.exit_code == 1
        assert f'task {task_id} failed: ZeroDivisionError: division by zero' in result.output
        assert 'Traceback' not in result.output

    def test_without_a_result_backend(self, celery_cli):
        from celery import Celery
        bare = Celery('t.unit.bare', broker='memory://', set_as_current=False)
        bare.set_current()  # cli_app's fixture restores the current app
        result = celery_cli('result', _task_id())
        assert result.exit_code == 1
        assert 'backend' in result.output.lower()
        assert 'Traceback' not in result.output

    def test_unreachable_backend(self, cli_app, celery_cli, monkeypatch):
        def refuse(self, *args, **kwargs):
            raise OperationalError('Connection refused')

        monkeypatch.setattr(type(cli_app.AsyncResult(_task_id())), 'get', refuse)
        result = celery_cli('result', _task_id())
        assert result.exit_code == 69
        assert 'cannot reach the result backend' in result.output

    def test_task_id_is_required(self, celery_cli):
        assert celery_cli('result').exit_code == 2

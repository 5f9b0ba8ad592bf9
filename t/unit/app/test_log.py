"""``app.log``: root and task loggers, task ids in task records, redirection."""
from __future__ import annotations

import logging
import sys
from typing import Any, Iterator

import pytest

from celery.app.log import Logging, TaskFormatter


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Put the logging configuration (and stdout/stderr) back after the test."""
    root = logging.getLogger()
    task = logging.getLogger('celery.task')
    root_handlers, root_level = root.handlers[:], root.level
    task_handlers, task_level, task_propagate = task.handlers[:], task.level, task.propagate
    was_setup, stdout, stderr = Logging._setup, sys.stdout, sys.stderr
    Logging._setup = False
    yield
    root.handlers[:] = root_handlers
    root.setLevel(root_level)
    task.handlers[:] = task_handlers
    task.setLevel(task_level)
    task.propagate = task_propagate
    Logging._setup = was_setup
    sys.stdout, sys.stderr = stdout, stderr


def test_setup_writes_worker_and_task_formats(app: Any, tmp_path: Any,
                                              clean_logging: None) -> None:
    logfile = tmp_path / 'w-%n.log'
    app.log.setup(loglevel='INFO', logfile=str(logfile), hostname='node@host')
    logging.getLogger('celery.worker.x').info('worker says hi')

    @app.task(shared=False, bind=True)
    def speak(self: Any) -> None:
        from celery.utils.log import get_task_logger
        get_task_logger('t.unit.speak').info('task says hi')
    speak.apply(task_id='the-task-id')
    for handler in logging.getLogger().handlers + logging.getLogger('celery.task').handlers:
        handler.flush()
    text = (tmp_path / 'w-node.log').read_text()
    assert 'INFO/MainProcess] worker says hi' in text
    assert f'{speak.name}[the-task-id]: task says hi' in text
    # only once per process
    assert app.log.already_setup


def test_task_formatter_without_a_task() -> None:
    record = logging.LogRecord('x', logging.INFO, __file__, 1, 'msg', None, None)
    out = TaskFormatter('%(task_name)s[%(task_id)s] %(message)s', use_color=False).format(record)
    assert out == '???[???] msg'


def test_redirect_stdouts(app: Any, clean_logging: None, caplog: Any) -> None:
    app.log.redirect_stdouts_to_logger(logging.getLogger('t.redirected'), 'WARNING')
    with caplog.at_level(logging.WARNING, logger='t.redirected'):
        print('printed')
    assert 'printed' in caplog.text


def test_supports_color(app: Any) -> None:
    assert app.log.supports_color(False) is False
    assert app.log.supports_color(True, logfile='/tmp/x.log') is False

"""Loggers, the colour formatter and the stdout proxy."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from celery.utils import log


def test_loggers_hang_below_celery() -> None:
    assert log.get_logger('celery.worker.x').parent.name.startswith('celery')
    other = log.get_logger('some.thirdparty.module.xyz')
    assert log.logger_isa(other, log.base_logger)
    task_logger = log.get_task_logger('myproj.tasks')
    assert log.logger_isa(task_logger, log.task_logger)
    with pytest.raises(RuntimeError):
        log.get_task_logger('celery.task')


def test_mlevel() -> None:
    assert log.mlevel('info') == logging.INFO
    assert log.mlevel(10) == 10


def test_color_formatter() -> None:
    record = logging.LogRecord('x', logging.ERROR, __file__, 1, 'boom', None, None)
    assert log.ColorFormatter('%(message)s', use_color=True).format(record) == \
        '\033[31mboom\033[0m'
    assert log.ColorFormatter('%(message)s', use_color=False).format(record) == 'boom'


def test_logging_proxy_writes_lines_to_the_logger(caplog: Any) -> None:
    logger = logging.getLogger('t.proxy')
    proxy = log.LoggingProxy(logger, logging.WARNING)
    with caplog.at_level(logging.WARNING, logger='t.proxy'):
        proxy.write('hello\n')
        proxy.writelines(['a', 'b'])
        proxy.write('')
    assert [r.getMessage() for r in caplog.records] == ['hello', 'a', 'b']
    assert not proxy.isatty()
    proxy.close()
    assert proxy.write('late') == 0


def test_in_sighandler_flag() -> None:
    with log.in_sighandler():
        assert log._in_sighandler
    assert not log._in_sighandler

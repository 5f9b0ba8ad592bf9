"""Logging set-up of worker and beat processes (``app.log``).

:meth:`Logging.setup` configures the root logger (:setting:`worker_log_format`)
and the task logger ``celery.task`` (:setting:`worker_task_log_format`,
whose records carry ``task_id`` and ``task_name``), unless a receiver of
:data:`~celery.signals.setup_logging` does it instead.  It runs once per
process.  Optionally ``sys.stdout``/``sys.stderr`` are redirected to a logger.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from logging.handlers import WatchedFileHandler
from typing import Any

from celery import signals
from celery._state import get_current_task
from celery.exceptions import CDeprecationWarning, CPendingDeprecationWarning
from celery.platforms import isatty
from celery.utils.log import (ColorFormatter, LoggingProxy, get_logger,
                              get_multiprocessing_logger, mlevel,
                              reset_multiprocessing_logger)
from celery.utils.nodenames import node_format

__all__ = ('TaskFormatter', 'Logging')

MP_LOG = os.environ.get('MP_LOG', False)


class TaskFormatter(ColorFormatter):
    """Formatter adding ``task_id`` and ``task_name`` of the running task to records."""

    def format(self, record: logging.LogRecord) -> str:
        task = get_current_task()
        if task and task.request:
            record.__dict__.update(task_id=task.request.id, task_name=task.name)
        else:
            record.__dict__.setdefault('task_name', '???')
            record.__dict__.setdefault('task_id', '???')
        return super().format(record)


class Logging:
    """The logging subsystem of ``app`` (``app.log``)."""

    #: Set once the subsystem is configured in this process.
    _setup = False

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loglevel = mlevel(logging.WARN)
        self.format = self.app.conf.worker_log_format
        self.task_format = self.app.conf.worker_task_log_format
        self.colorize = self.app.conf.worker_log_color

    def setup(self, loglevel: Any = None, logfile: Any = None, redirect_stdouts: bool = False,
              redirect_level: Any = 'WARNING', colorize: bool | None = None,
              hostname: str | None = None) -> Any:
        """Configure logging (once); return true if a signal receiver did it."""
        loglevel = mlevel(loglevel)
        handled = self.setup_logging_subsystem(loglevel, logfile, colorize=colorize,
                                               hostname=hostname)
        if not handled and redirect_stdouts:
            self.redirect_stdouts(redirect_level)
        os.environ.update(
            CELERY_LOG_LEVEL=str(loglevel) if loglevel else '',
            CELERY_LOG_FILE=str(logfile) if logfile else '',
        )
        warnings.filterwarnings('always', category=CDeprecationWarning)
        warnings.filterwarnings('always', category=CPendingDeprecationWarning)
        logging.captureWarnings(True)
        return handled

    def redirect_stdouts(self, loglevel: Any = None, name: str = 'celery.redirected') -> None:
        self.redirect_stdouts_to_logger(get_logger(name), loglevel=loglevel)
        os.environ.update(
            CELERY_LOG_REDIRECT='1',
            CELERY_LOG_REDIRECT_LEVEL=str(loglevel or ''),
        )

    def setup_logging_subsystem(self, loglevel: Any = None, logfile: Any = None,
                                format: str | None = None, colorize: bool | None = None,
                                hostname: str | None = None, **kwargs: Any) -> Any:
        if self.already_setup:
            return None
        if logfile and hostname:
            logfile = node_format(logfile, hostname)
        Logging._setup = True
        loglevel = mlevel(loglevel or self.loglevel)
        format = format or self.format
        colorize = self.supports_color(colorize, logfile)
        reset_multiprocessing_logger()
        receivers = []
        if signals.setup_logging.receivers:
            receivers = signals.setup_logging.send(
                sender=None, loglevel=loglevel, logfile=logfile,
                format=format, colorize=colorize)
        if not receivers:
            root = logging.getLogger()
            if self.app.conf.worker_hijack_root_logger:
                root.handlers = []
                get_logger('celery.task').handlers = []
                get_logger('celery.redirected').handlers = []
            self._configure_logger(root, logfile, loglevel, format, colorize, **kwargs)
            self._configure_logger(get_multiprocessing_logger(), logfile,
                                   loglevel if MP_LOG else logging.ERROR,
                                   format, colorize, **kwargs)
            if signals.after_setup_logger.receivers:
                signals.after_setup_logger.send(
                    sender=None, logger=root, loglevel=loglevel, logfile=logfile,
                    format=format, colorize=colorize)
            self.setup_task_loggers(loglevel, logfile, colorize=colorize)
        # for processes started with fork+exec: log before Process.run works
        os.environ.update(
            _MP_FORK_LOGLEVEL_=str(loglevel),
            _MP_FORK_LOGFILE_=logfile if isinstance(logfile, str) else '',
            _MP_FORK_LOGFORMAT_=format,
        )
        return receivers

    def _configure_logger(self, logger: logging.Logger | None, logfile: Any, loglevel: Any,
                          format: str, colorize: bool, **kwargs: Any) -> None:
        if logger is not None:
            self.setup_handlers(logger, logfile, format, colorize, **kwargs)
            if loglevel:
                logger.setLevel(loglevel)

    def setup_task_loggers(self, loglevel: Any = None, logfile: Any = None,
                           format: str | None = None, colorize: bool | None = None,
                           propagate: bool = False, **kwargs: Any) -> logging.Logger:
        """Configure ``celery.task``, the parent of loggers from ``get_task_logger``."""
        loglevel = mlevel(loglevel or self.loglevel)
        format = format or self.task_format
        colorize = self.supports_color(colorize, logfile)
        logger = self.setup_handlers(get_logger('celery.task'), logfile, format, colorize,
                                     formatter=TaskFormatter, **kwargs)
        logger.setLevel(loglevel)
        logger.propagate = bool(propagate)
        if signals.after_setup_task_logger.receivers:
            signals.after_setup_task_logger.send(
                sender=None, logger=logger, loglevel=loglevel, logfile=logfile,
                format=format, colorize=colorize)
        return logger

    def redirect_stdouts_to_logger(self, logger: logging.Logger, loglevel: Any = None,
                                   stdout: bool = True, stderr: bool = True) -> LoggingProxy:
        """Replace ``sys.stdout``/``sys.stderr`` with a proxy writing to ``logger``."""
        proxy = LoggingProxy(logger, loglevel)
        if stdout:
            sys.stdout = proxy
        if stderr:
            sys.stderr = proxy
        return proxy

    def supports_color(self, colorize: bool | None = None, logfile: Any = None) -> bool:
        colorize = self.colorize if colorize is None else colorize
        if self.app.IS_WINDOWS:
            return False
        if colorize or colorize is None:
            # only to a terminal, never to a log file
            return logfile is None and isatty(sys.stderr)
        return bool(colorize)

    def colored(self, logfile: Any = None, enabled: bool | None = None) -> Any:
        from celery.utils.term import colored
        return colored(enabled=self.supports_color(enabled, logfile))

    def setup_handlers(self, logger: logging.Logger, logfile: Any, format: str,
                       colorize: bool, formatter: type = ColorFormatter,
                       **kwargs: Any) -> logging.Logger:
        if self._is_configured(logger):
            return logger
        handler = self._detect_handler(logfile)
        handler.setFormatter(formatter(format, use_color=colorize))
        logger.addHandler(handler)
        return logger

    def _detect_handler(self, logfile: Any = None) -> logging.Handler:
        """A handler for a file name, an open stream, or ``None`` (stderr)."""
        logfile = sys.__stderr__ if logfile is None else logfile
        if hasattr(logfile, 'write'):
            return logging.StreamHandler(logfile)
        return WatchedFileHandler(logfile, encoding='utf-8')

    def _has_handler(self, logger: logging.Logger) -> bool:
        return any(not isinstance(h, logging.NullHandler) for h in logger.handlers or [])

    def _is_configured(self, logger: logging.Logger) -> bool:
        return self._has_handler(logger) and not getattr(logger, '_rudimentary_setup', False)

    def get_default_logger(self, name: str = 'celery', **kwargs: Any) -> logging.Logger:
        return get_logger(name)

    @property
    def already_setup(self) -> bool:
        return Logging._setup

    @already_setup.setter
    def already_setup(self, was_setup: bool) -> None:
        Logging._setup = was_setup

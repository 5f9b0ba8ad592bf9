"""Logging helpers: Celery's loggers, a colour formatter and stdout redirection.

Every logger returned by :func:`get_logger` hangs below the ``celery``
logger, task loggers below ``celery.task``.  :class:`LoggingProxy` is the
file-like object that ``worker_redirect_stdouts`` puts in place of
``sys.stdout``/``sys.stderr``.  Logging is not re-entrant: code that may run
in a signal handler checks :func:`in_sighandler` first.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = (
    'ColorFormatter', 'LoggingProxy', 'base_logger', 'set_in_sighandler',
    'in_sighandler', 'get_logger', 'get_task_logger', 'mlevel',
    'get_multiprocessing_logger', 'reset_multiprocessing_logger', 'LOG_LEVELS',
    'task_logger', 'worker_logger', 'logger_isa',
)

#: Names users may not give task loggers (they are Celery's own).
RESERVED_LOGGER_NAMES = {'celery', 'celery.task'}

LOG_LEVELS = dict(logging._nameToLevel)  # name -> number
LOG_LEVELS.update(logging._levelToName)  # number -> name
LOG_LEVELS.setdefault('FATAL', logging.FATAL)

_in_sighandler = False


def set_in_sighandler(value: bool) -> None:
    """Mark whether we are running inside a signal handler."""
    global _in_sighandler
    _in_sighandler = value


@contextmanager
def in_sighandler() -> Iterator[None]:
    """Context marking the code as running in a signal handler."""
    set_in_sighandler(True)
    try:
        yield
    finally:
        set_in_sighandler(False)


def logger_isa(logger: logging.Logger, parent: logging.Logger, max: int = 1000) -> bool:
    """Return true if ``parent`` is ``logger`` or one of its ancestors."""
    this, seen = logger, set()
    for _ in range(max):
        if this == parent:
            return True
        if this in seen:
            raise RuntimeError(f'Logger {logger.name!r} parents recursive')
        seen.add(this)
        this = this.parent
        if not this:
            break
    return False


def _using_logger_parent(parent: logging.Logger, logger: logging.Logger) -> logging.Logger:
    if not logger_isa(logger, parent):
        logger.parent = parent
    return logger


base_logger = logger = logging.getLogger('celery')


def get_logger(name: str | logging.Logger) -> logging.Logger:
    """Return the logger ``name``, placed below the ``celery`` logger."""
    log = logging.getLogger(name) if isinstance(name, str) else name
    if logging.root not in (log, log.parent) or log is base_logger:
        return log
    return _using_logger_parent(base_logger, log)


task_logger = get_logger('celery.task')
worker_logger = get_logger('celery.worker')


def get_task_logger(name: str) -> logging.Logger:
    """Return a logger for task modules; its records carry the task id and name."""
    if name in RESERVED_LOGGER_NAMES:
        raise RuntimeError(f'Logger name {name!r} is reserved!')
    return _using_logger_parent(task_logger, get_logger(name))


def mlevel(level: int | str) -> int:
    """Convert a level name (``'info'``) to its number."""
    if level and not isinstance(level, int):
        return LOG_LEVELS[level.upper()]
    return level


_RESET = '\033[0m'
_COLORS = {
    'DEBUG': '\033[34m',     # blue
    'INFO': '',
    'WARNING': '\033[33m',   # yellow
    'ERROR': '\033[31m',     # red
    'CRITICAL': '\033[35m',  # magenta
}


class ColorFormatter(logging.Formatter):
    """Formatter colouring records by level when writing to a terminal."""

    COLORS = _COLORS

    def __init__(self, fmt: str | None = None, use_color: bool = True) -> None:
        super().__init__(fmt)
        self.use_color = use_color

    def formatException(self, ei: Any) -> str:
        if ei and not isinstance(ei, tuple):
            ei = sys.exc_info()
        return super().formatException(ei)

    def format(self, record: logging.LogRecord) -> str:
        msg = super().format(record)
        color = self.COLORS.get(record.levelname) if self.use_color else None
        if color:
            return f'{color}{msg}{_RESET}'
        return msg


class LoggingProxy:
    """A file-like object writing each line to a logger.

    Arguments:
        logger: the logger to write to.
        loglevel: the level used for the records (default: the logger's).
    """

    mode = 'w'
    name = None
    closed = False
    loglevel = logging.ERROR
    _thread = threading.local()

    def __init__(self, logger: logging.Logger, loglevel: int | str | None = None) -> None:
        self.logger = logger
        self.loglevel = mlevel(loglevel or self.logger.level or self.loglevel)
        self._safewrap_handlers()

    def _safewrap_handlers(self) -> None:
        # A handler that fails must not write to stderr (that is us again).
        for handler in self.logger.handlers:
            handler.handleError = _silent_handle_error.__get__(handler)

    def write(self, data: str) -> int:
        """Log ``data`` (one record per call, trailing newline dropped)."""
        if getattr(self._thread, 'recurse_protection', False):
            return 0  # logging itself printed something: drop it
        if data and not self.closed:
            self._thread.recurse_protection = True
            try:
                text = data.rstrip('\n')
                if text:
                    self.logger.log(self.loglevel, text)
                return len(data)
            finally:
                self._thread.recurse_protection = False
        return 0

    def writelines(self, sequence: Any) -> None:
        for part in sequence:
            self.write(part)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return 'utf-8'


def _silent_handle_error(self: logging.Handler, record: logging.LogRecord) -> None:
    try:
        traceback.print_exc(None, sys.__stderr__)
    except OSError:
        pass


def get_multiprocessing_logger() -> logging.Logger | None:
    """Return billiard's logger, if billiard is in use."""
    try:
        from billiard import util
    except ImportError:  # pragma: no cover
        return None
    return util.get_logger()


def reset_multiprocessing_logger() -> None:
    """Forget billiard's logger so a child process sets it up anew."""
    try:
        from billiard import util
    except ImportError:  # pragma: no cover
        return
    if hasattr(util, '_logger'):
        util._logger = None


def current_process_index(base: int = 1) -> int | None:
    """Return the index of this pool process (``base`` based), if any."""
    try:
        from billiard import process
    except ImportError:  # pragma: no cover
        return None
    index = getattr(process.current_process(), 'index', None)
    return index + base if index is not None else None


def current_process_name() -> str:
    """Return ``MainProcess`` or the pool process name."""
    try:
        from billiard import process
        return process.current_process().name
    except ImportError:  # pragma: no cover
        return 'MainProcess' if os.getpid() else ''

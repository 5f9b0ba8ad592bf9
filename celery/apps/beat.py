"""The ``celery beat`` program: banner, logging, pidfile, signals, service.

:class:`Beat` is what the ``celery beat`` command runs (``app.Beat`` is
this class bound to the app).  It prints the start-up banner, sets up
logging, takes the pidfile, installs handlers that save the schedule on
SIGTERM/SIGINT, and then runs :class:`celery.beat.Service` in the calling
thread until it is stopped.
"""
from __future__ import annotations

import logging
import numbers
import socket
import sys
from datetime import datetime
from typing import Any

from celery import beat
from celery.utils.imports import qualname
from celery.utils.log import LOG_LEVELS, get_logger
from celery.utils.term import colored
from celery.utils.time import humanize_seconds

__all__ = ('Beat',)

logger = get_logger('celery.beat')

STARTUP_INFO_FMT = """\
LocalTime -> {timestamp}
Configuration ->
    . broker -> {conninfo}
    . loader -> {loader}
    . scheduler -> {scheduler}
{scheduler_info}
    . logfile -> {logfile}@%{loglevel}
    . maxinterval -> {hmax_interval} ({max_interval}s)
""".strip()


def _version_banner() -> str:
    from celery import SERIES, __version__
    return f'{__version__} ({SERIES})'


class Beat:
    """Run beat as a program (what ``celery beat`` starts)."""

    Service = beat.Service
    app: Any = None

    def __init__(self, max_interval: float | None = None, app: Any = None,
                 socket_timeout: float | None = 30,
                 pidfile: str | None = None, no_color: bool | None = None,
                 loglevel: str | int = 'WARN', logfile: str | None = None,
                 schedule: str | None = None, scheduler: Any = None,
                 scheduler_cls: Any = None,
                 redirect_stdouts: bool | None = None,
                 redirect_stdouts_level: str | None = None,
                 quiet: bool = False, **kwargs: Any) -> None:
        self.app = app = app or self.app
        either = app.either
        self.loglevel = loglevel
        self.logfile = logfile
        self.schedule = either('beat_schedule_filename', schedule)
        self.scheduler_cls = either('beat_scheduler', scheduler,
                                    scheduler_cls)
        self.redirect_stdouts = either('worker_redirect_stdouts',
                                       redirect_stdouts)
        self.redirect_stdouts_level = either('worker_redirect_stdouts_level',
                                             redirect_stdouts_level)
        self.quiet = quiet
        self.max_interval = max_interval
        self.socket_timeout = socket_timeout
        self.no_color = no_color
        self.pidfile = pidfile
        enabled = (not no_color if no_color is not None
                   else self.logfile is None and sys.stdout.isatty())
        self.colored = colored(enabled=enabled)
        if not isinstance(self.loglevel, numbers.Integral):
            try:
                self.loglevel = LOG_LEVELS[str(self.loglevel).upper()]
            except KeyError:
                raise ValueError(
                    f'Unknown log level {loglevel!r}: use DEBUG, INFO, '
                    f'WARNING, ERROR, CRITICAL or FATAL') from None

    def run(self) -> None:
        """Start beat and block until it stops."""
        if not self.quiet:
            print(str(self.colored.cyan(
                f'celery beat v{_version_banner()} is starting.')))
        self.init_loader()
        self.set_process_title()
        self.start_scheduler()

    def setup_logging(self, colorize: bool | None = None) -> None:
        if colorize is None and self.no_color is not None:
            colorize = not self.no_color
        self.app.log.setup(self.loglevel, self.logfile,
                           self.redirect_stdouts, self.redirect_stdouts_level,
                           colorize=colorize)

    def start_scheduler(self) -> None:
        if self.pidfile:
            from celery import platforms
            platforms.create_pidlock(self.pidfile)
        service = self.Service(
            app=self.app, max_interval=self.max_interval,
            scheduler_cls=self.scheduler_cls,
            schedule_filename=self.schedule)
        if not self.quiet:
            print(self.banner(service))
        self.setup_logging()
        if self.socket_timeout:
            logger.debug('Setting default socket timeout to %r',
                         self.socket_timeout)
            socket.setdefaulttimeout(self.socket_timeout)
        try:
            self.install_sync_handler(service)
            service.start()
        except Exception as exc:
            logger.critical('beat raised exception %s: %r',
                            exc.__class__, exc, exc_info=True)
            raise

    def banner(self, service: Any) -> str:
        c = self.colored
        return str(c.blue('__    ', c.magenta('-'),
                          c.blue('    ... __   '), c.magenta('-'),
                          c.blue('        _\n'),
                          c.reset(self.startup_info(service))))

    def init_loader(self) -> None:
        # Import the task modules as a worker would, then finalize the app.
        self.app.loader.init_worker()
        self.app.finalize()

    def startup_info(self, service: Any) -> str:
        scheduler = service.get_scheduler(lazy=True)
        return STARTUP_INFO_FMT.format(
            conninfo=self.app.connection().as_uri(),
            timestamp=datetime.now().replace(microsecond=0),
            logfile=self.logfile or '[stderr]',
            loglevel=logging.getLevelName(self.loglevel),
            loader=qualname(self.app.loader),
            scheduler=qualname(scheduler),
            scheduler_info=scheduler.info,
            hmax_interval=humanize_seconds(scheduler.max_interval),
            max_interval=scheduler.max_interval,
        )

    def set_process_title(self) -> None:
        from celery import platforms
        arg_start = 2 if 'manage' in sys.argv[0] else 1
        platforms.set_process_title(
            'celery beat', info=' '.join(sys.argv[arg_start:]))

    def install_sync_handler(self, service: Any) -> None:
        """Make SIGTERM and SIGINT stop beat after saving the schedule."""
        from celery import platforms

        def _stop(signum: int, frame: Any) -> None:
            service.stop()
            # Service.start syncs the schedule in its finally clause.
            raise SystemExit()

        platforms.signals.update(SIGTERM=_stop, SIGINT=_stop)

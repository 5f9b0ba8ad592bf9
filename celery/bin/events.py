"""The ``celery events`` command: the live monitor, the dumper, cameras.

``celery events`` starts the curses monitor, ``--dump`` prints every event
(:mod:`celery.events.dumper`), and ``--camera=mod.Camera`` takes snapshots
of the cluster state every ``--frequency`` seconds
(:mod:`celery.events.snapshot`), optionally detached as a daemon.
"""
from __future__ import annotations

import sys
from functools import partial
from typing import Any

import click

from celery.bin.base import LOG_LEVEL, CeleryDaemonCommand, CeleryOption, handle_preload_options

__all__ = ('events',)


def _set_process_status(prog: str, info: str = '') -> Any:
    from celery.platforms import set_process_title, strargv
    return set_process_title(f'celery events:{prog}', info=f'{info} {strargv(sys.argv)}')


def _run_evdump(app: Any) -> Any:
    from celery.events.dumper import evdump
    _set_process_status('dump')
    return evdump(app=app)


def _run_evcam(camera: str, app: Any, logfile: str | None = None,
               pidfile: str | None = None, uid: Any = None, gid: Any = None,
               umask: Any = None, workdir: str | None = None, detach: bool = False,
               **kwargs: Any) -> Any:
    from celery.events.snapshot import evcam
    _set_process_status('cam')
    cam = partial(evcam, camera, logfile=logfile, pidfile=pidfile, app=app, **kwargs)
    if detach:
        from celery.platforms import detached
        with detached(logfile, pidfile, uid, gid, umask, workdir):
            return cam()
    return cam()


def _has_terminal() -> bool:
    return sys.stdout.isatty()


def _run_evtop(app: Any) -> Any:
    try:
        import curses  # noqa: F401  (fail early when curses is missing)

        from celery.events.cursesmon import evtop
    except ModuleNotFoundError as exc:
        if exc.name in ('_curses', 'curses'):
            raise click.UsageError(
                'The curses module is required for this command.') from None
        raise
    if not _has_terminal():
        raise click.UsageError(
            'The live monitor needs a terminal; use --dump to print events.')
    _set_process_status('top')
    return evtop(app=app)


@click.command(cls=CeleryDaemonCommand)
@click.option('-d', '--dump', cls=CeleryOption, is_flag=True, help_group='Dumper',
              help='Dump events to stdout.')
@click.option('-c', '--camera', cls=CeleryOption, help_group='Snapshot',
              help='Take snapshots of events using this camera.')
@click.option('--detach', cls=CeleryOption, is_flag=True, help_group='Snapshot',
              help='Camera: Detach and run in the background as a daemon.')
@click.option('-F', '--frequency', '--freq', type=float, default=1.0, cls=CeleryOption,
              help_group='Snapshot',
              help='Camera: Shutter frequency.  Default is every 1.0 seconds.')
@click.option('-r', '--maxrate', cls=CeleryOption, help_group='Snapshot',
              help='Camera: Optional shutter rate limit (e.g., 10/m).')
@click.option('-l', '--loglevel', default='WARNING', cls=CeleryOption, type=LOG_LEVEL,
              help_group='Snapshot', help='Logging level.')
@click.pass_context
@handle_preload_options
def events(ctx: click.Context, dump: bool, camera: str | None, detach: bool,
           frequency: float, maxrate: str | None, loglevel: Any, **kwargs: Any) -> Any:
    """Event-stream utilities."""
    app = ctx.obj.app
    if dump:
        return _run_evdump(app)
    if camera:
        return _run_evcam(camera, app=app, freq=frequency, maxrate=maxrate,
                          loglevel=loglevel, detach=detach, **kwargs)
    return _run_evtop(app)

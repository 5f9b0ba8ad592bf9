"""The ``celery beat`` command: start the periodic task scheduler.

Parses the command line and hands over to :class:`celery.apps.beat.Beat`
(``app.Beat``), detaching first with ``--detach``.  Extra ``name=value``
arguments after the options override settings, as for ``celery worker``.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import click

from celery.bin.base import (LOG_LEVEL, CeleryDaemonCommand, CeleryOption,
                             CLIError, handle_preload_options)

__all__ = ('beat',)


def _default_schedule(ctx: click.Context, param: Any, value: Any) -> Any:
    return value or ctx.obj.app.conf.beat_schedule_filename


def _default_scheduler(ctx: click.Context, param: Any, value: Any) -> Any:
    return value or ctx.obj.app.conf.beat_scheduler


@click.command(cls=CeleryDaemonCommand,
               context_settings={'allow_extra_args': True})
@click.option('--detach', cls=CeleryOption, is_flag=True, default=False,
              help_group='Beat Options',
              help='Detach and run in the background as a daemon.')
@click.option('-s', '--schedule', cls=CeleryOption,
              callback=_default_schedule, help_group='Beat Options',
              help='Path to the schedule database. Defaults to '
                   '`celerybeat-schedule`. The extension `.db` may be '
                   'added to the file name.')
@click.option('-S', '--scheduler', cls=CeleryOption,
              callback=_default_scheduler, help_group='Beat Options',
              help='Scheduler class to use.')
@click.option('--max-interval', cls=CeleryOption, type=int,
              help_group='Beat Options',
              help='Max seconds to sleep between schedule iterations.')
@click.option('-l', '--loglevel', default='WARNING', cls=CeleryOption,
              type=LOG_LEVEL, help_group='Beat Options',
              help='Logging level.')
@click.pass_context
@handle_preload_options
def beat(ctx: click.Context, detach: bool = False,
         logfile: str | None = None, pidfile: str | None = None,
         uid: Any = None, gid: Any = None, umask: Any = None,
         workdir: str | None = None, **kwargs: Any) -> Any:
    """Start the beat periodic task scheduler."""
    from celery import platforms
    from celery.exceptions import ImproperlyConfigured

    app = ctx.obj.app
    if ctx.args:
        try:
            app.config_from_cmdline(ctx.args)
        except (KeyError, ValueError) as exc:
            raise click.UsageError(
                'Unable to parse extra configuration from command line.\n'
                f'Reason: {exc}', ctx=ctx) from exc
    # --logfile, --pidfile, --uid... default to the beat_* settings.
    kwargs.pop('executable', None)  # only used when re-executing
    workdir = workdir or getattr(ctx.obj, 'workdir', None)

    if not detach:
        platforms.maybe_drop_privileges(uid=uid, gid=gid)
    no_color = True if getattr(ctx.obj, 'no_color', False) else None
    program = partial(app.Beat, logfile=logfile, pidfile=pidfile,
                      quiet=ctx.obj.quiet, no_color=no_color, **kwargs)
    try:
        if detach:
            with platforms.detached(logfile, pidfile, uid, gid, umask,
                                    workdir):
                return program().run()
        return program().run()
    except ImproperlyConfigured as exc:
        raise CLIError(str(exc)) from exc

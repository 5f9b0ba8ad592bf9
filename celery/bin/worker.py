"""The ``celery worker`` command.

Parses the options and starts :class:`celery.apps.worker.Worker`
(``app.Worker``), or re-executes itself in the background with ``-D``.
Extra ``name=value`` arguments override settings (``worker_`` names).
"""
from __future__ import annotations

import os
import sys
from typing import Any

import click
from click import ParamType
from click.types import StringParamType

from celery import concurrency
from celery.bin.base import (COMMA_SEPARATED_LIST, LOG_LEVEL, CeleryDaemonCommand,
                             CeleryOption, handle_preload_options)
from celery.concurrency.base import BasePool
from celery.exceptions import SecurityError
from celery.platforms import EX_FAILURE, EX_OK, detached, maybe_drop_privileges
from celery.utils.log import get_logger
from celery.utils.nodenames import default_nodename, host_format, node_format

__all__ = ('worker', 'detach')

logger = get_logger(__name__)

C_FAKEFORK = os.environ.get('C_FAKEFORK')


class CeleryBeat(ParamType):
    """``-B``: refused on Windows."""

    name = 'beat'

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if ctx.obj.app.IS_WINDOWS and value:
            self.fail('-B option does not work on Windows.  '
                      'Please run celery beat as a separate service.')
        return value


class WorkersPool(click.Choice):
    """``-P``: a pool name, resolved to its class."""

    name = 'pool'

    def __init__(self) -> None:
        super().__init__(concurrency.get_available_pool_names())

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, type) and issubclass(value, BasePool):
            return value
        value = super().convert(value, param, ctx)
        worker_pool = ctx.obj.app.conf.worker_pool
        if value == 'prefork' and worker_pool:
            # the default of -P must not hide the worker_pool setting
            return concurrency.get_implementation(worker_pool)
        return concurrency.get_implementation(value)


class Hostname(StringParamType):
    """``-n``: a node name, with ``%h``, ``%n`` and ``%d`` expanded."""

    name = 'hostname'

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        return host_format(default_nodename(value))


class Autoscale(ParamType):
    """``--autoscale max,min`` (or just ``max``)."""

    name = '<min workers>, <max workers>'

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple:
        if isinstance(value, (tuple, list)):
            return tuple(value)
        parts = str(value).split(',')
        if len(parts) > 2:
            self.fail('Expected two comma separated integers or one integer. '
                      f'Got {len(parts)} instead.')
        if len(parts) == 1:
            try:
                return (int(parts[0]), 0)
            except ValueError:
                self.fail(f'Expected an integer. Got {parts} instead.')
        try:
            return tuple(reversed(sorted(map(int, parts))))
        except ValueError:
            self.fail('Expected two comma separated integers. '
                      f'Got {",".join(parts)} instead.')


CELERY_BEAT = CeleryBeat()
WORKERS_POOL = WorkersPool()
HOSTNAME = Hostname()
AUTOSCALE = Autoscale()


def detach(path: str, argv: list[str], logfile: str | None = None,
           pidfile: str | None = None, uid: Any = None, gid: Any = None,
           umask: Any = None, workdir: str | None = None, fake: bool = False,
           app: Any = None, executable: str | None = None,
           hostname: str | None = None) -> int:
    """Run ``path argv`` as a daemon (fork, new session, then exec)."""
    fake = True if C_FAKEFORK else fake
    # the log file is touched before detaching, so expand it now
    logfile = node_format(logfile, hostname) if logfile else logfile
    with detached(logfile, pidfile, uid, gid, umask, workdir, fake, after_forkers=False):
        try:
            if executable is not None:
                path = executable
            os.execv(path, [path] + argv)
            return EX_OK
        except Exception:
            if app is None:
                from celery import current_app
                app = current_app
            app.log.setup_logging_subsystem('ERROR', logfile, hostname=hostname)
            logger.critical("Can't exec %r", ' '.join([path] + argv), exc_info=True)
            return EX_FAILURE


def _from_conf(setting: str) -> Any:
    def callback(ctx: click.Context, param: Any, value: Any) -> Any:
        return value or ctx.obj.app.conf.get(setting)
    return callback


@click.command(cls=CeleryDaemonCommand, context_settings={'allow_extra_args': True})
@click.option('-n', '--hostname', default=host_format(default_nodename(None)),
              cls=CeleryOption, type=HOSTNAME, help_group='Worker Options',
              help="Set custom hostname (e.g., 'w1@%%h').  "
                   'Expands: %%h (hostname), %%n (name) and %%d, (domain).')
@click.option('-D', '--detach', cls=CeleryOption, is_flag=True, default=False,
              help_group='Worker Options', help='Start worker as a background process.')
@click.option('-S', '--statedb', cls=CeleryOption, type=click.Path(),
              callback=_from_conf('worker_state_db'), help_group='Worker Options',
              help='Path to the state database. The extension '
                   "'.db' may be appended to the filename.")
@click.option('-l', '--loglevel', default='WARNING', cls=CeleryOption, type=LOG_LEVEL,
              help_group='Worker Options', help='Logging level.')
@click.option('-O', '--optimization', default='default', cls=CeleryOption,
              type=click.Choice(('default', 'fair')), help_group='Worker Options',
              help='Apply optimization profile.')
@click.option('--prefetch-multiplier', type=int, metavar='<prefetch multiplier>',
              callback=_from_conf('worker_prefetch_multiplier'), cls=CeleryOption,
              help_group='Worker Options',
              help='Set custom prefetch multiplier value for this worker instance.')
@click.option('--disable-prefetch', is_flag=True, default=None, cls=CeleryOption,
              help_group='Worker Options',
              help='Only fetch a task when a process is free (Redis only).')
@click.option('-c', '--concurrency', type=int, metavar='<concurrency>',
              callback=_from_conf('worker_concurrency'), cls=CeleryOption,
              help_group='Pool Options',
              help='Number of child processes processing the queue.  The default '
                   'is the number of CPUs available on your system.')
@click.option('-P', '--pool', default='prefork', type=WORKERS_POOL, cls=CeleryOption,
              help_group='Pool Options', help='Pool implementation.')
@click.option('-E', '--task-events', '--events', is_flag=True, default=None,
              cls=CeleryOption, help_group='Pool Options',
              help='Send task-related events that can be captured by monitors'
                   ' like celery events, celerymon, and others.')
@click.option('--time-limit', type=float, cls=CeleryOption, help_group='Pool Options',
              help='Enables a hard time limit (in seconds int/float) for tasks.')
@click.option('--soft-time-limit', type=float, cls=CeleryOption,
              help_group='Pool Options',
              help='Enables a soft time limit (in seconds int/float) for tasks.')
@click.option('--max-tasks-per-child', type=int, cls=CeleryOption,
              help_group='Pool Options',
              help='Maximum number of tasks a pool worker can execute before '
                   "it's terminated and replaced by a new worker.")
@click.option('--max-memory-per-child', type=int, cls=CeleryOption,
              help_group='Pool Options',
              help='Maximum amount of resident memory, in KiB, that may be '
                   'consumed by a child process before it will be replaced '
                   'by a new one.  If a single task causes a child process '
                   'to exceed this limit, the task will be completed and '
                   'the child process will be replaced afterwards.\n'
                   'Default: no limit.')
@click.option('--purge', '--discard', is_flag=True, cls=CeleryOption,
              help_group='Queue Options',
              help='Purges all waiting tasks before the daemon is started.')
@click.option('--queues', '-Q', type=COMMA_SEPARATED_LIST, cls=CeleryOption,
              help_group='Queue Options',
              help='List of queues to enable for this worker, separated by comma. '
                   'By default all configured queues are enabled.')
@click.option('--exclude-queues', '-X', type=COMMA_SEPARATED_LIST, cls=CeleryOption,
              help_group='Queue Options',
              help='List of queues to disable for this worker, separated by comma.')
@click.option('--include', '-I', type=COMMA_SEPARATED_LIST, cls=CeleryOption,
              help_group='Queue Options',
              help='Comma separated list of additional modules to import.')
@click.option('--without-gossip', is_flag=True, cls=CeleryOption,
              help_group='Features', help="Don't subscribe to other workers events.")
@click.option('--without-mingle', is_flag=True, cls=CeleryOption,
              help_group='Features', help="Don't synchronize with other workers at start-up.")
@click.option('--without-heartbeat', is_flag=True, cls=CeleryOption,
              help_group='Features', help="Don't send event heartbeats.")
@click.option('--heartbeat-interval', type=int, cls=CeleryOption,
              help_group='Features', help='Interval in seconds at which to send worker heartbeat')
@click.option('--autoscale', type=AUTOSCALE, cls=CeleryOption, help_group='Features',
              help='Enable autoscaling by providing max_concurrency, min_concurrency.')
@click.option('-B', '--beat', type=CELERY_BEAT, cls=CeleryOption, is_flag=True,
              help_group='Embedded Beat Options',
              help='Also run the celery beat periodic task scheduler.')
@click.option('-s', '--schedule-filename', '--schedule',
              callback=_from_conf('beat_schedule_filename'), cls=CeleryOption,
              help_group='Embedded Beat Options',
              help='Path to the schedule database if running with the -B option. '
                   "The extension '.db' may be appended to the filename.")
@click.option('--scheduler', cls=CeleryOption, help_group='Embedded Beat Options',
              help='Scheduler class to use.')
@click.pass_context
@handle_preload_options
def worker(ctx: click.Context, hostname: str | None = None, pool_cls: Any = None,
           app: Any = None, uid: Any = None, gid: Any = None, loglevel: Any = None,
           logfile: str | None = None, pidfile: str | None = None,
           statedb: str | None = None, **kwargs: Any) -> None:
    """Start worker instance.

    \b
    Examples
    --------
    \b
    $ celery --app=proj worker -l INFO
    $ celery -A proj worker -l INFO -Q hipri,lopri
    $ celery -A proj worker --concurrency=4
    $ celery -A proj worker --concurrency=1000 -P eventlet
    $ celery worker --autoscale=10,0
    """
    try:
        app = ctx.obj.app
        if kwargs.get('disable_prefetch') is None:
            kwargs.pop('disable_prefetch', None)
        if ctx.args:
            try:
                app.config_from_cmdline(ctx.args, namespace='worker')
            except (KeyError, ValueError) as exc:
                raise click.UsageError(
                    'Unable to parse extra configuration from command line.\n'
                    f'Reason: {exc}', ctx=ctx) from exc
        if kwargs.get('detach', False):
            argv = ['-m', 'celery'] + sys.argv[1:]
            for flag in ('--detach', '-D'):
                if flag in argv:
                    argv.remove(flag)
            return ctx.exit(detach(
                sys.executable, argv, logfile=logfile, pidfile=pidfile, uid=uid, gid=gid,
                umask=kwargs.get('umask'), workdir=ctx.obj.workdir and str(ctx.obj.workdir),
                app=app, executable=kwargs.get('executable'), hostname=hostname))
        maybe_drop_privileges(uid=uid, gid=gid)
        worker = app.Worker(
            hostname=hostname, pool_cls=pool_cls, loglevel=loglevel,
            logfile=logfile,  # expanded by app.log.setup
            pidfile=node_format(pidfile, hostname) if pidfile else None,
            statedb=node_format(statedb, hostname) if statedb else None,
            no_color=ctx.obj.no_color, quiet=ctx.obj.quiet, **kwargs)
        worker.start()
        ctx.exit(worker.exitcode)
    except SecurityError as exc:
        ctx.obj.error(exc.args[0])
        ctx.exit(1)

"""The ``celery`` command: global options, then a sub-command.

Sub-commands are imported only when used: :data:`COMMANDS` maps each name
to the module defining it (a click command of the same name), and
installed packages add more through the ``celery.commands`` entry points.
A module that does not exist simply means that command is absent.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib
from typing import Any

import click

from celery.bin.base import CeleryCommand, CeleryOption, CLIContext

__all__ = ('celery', 'main', 'COMMANDS', 'report')

#: Sub-command name -> the module that defines it.
COMMANDS = {
    'worker': 'celery.bin.worker',
    'beat': 'celery.bin.beat',
    'inspect': 'celery.bin.control',
    'control': 'celery.bin.control',
    'status': 'celery.bin.control',
    'call': 'celery.bin.call',
    'result': 'celery.bin.result',
    'purge': 'celery.bin.purge',
    'events': 'celery.bin.events',
    'list': 'celery.bin.list',
    'report': 'celery.bin.celery',
    'shell': 'celery.bin.shell',
    'multi': 'celery.bin.multi',
    'amqp': 'celery.bin.amqp',
    'migrate': 'celery.bin.migrate',
    'upgrade': 'celery.bin.upgrade',
    'graph': 'celery.bin.graph',
    'logtool': 'celery.bin.logtool',
}

#: Commands that take the user options of ``app.user_options[name]``.
_USER_OPTION_COMMANDS = ('worker', 'beat', 'events')


class AppLoadError(click.ClickException):
    """The ``--app`` could not be loaded: reported as one line, exit status 2."""

    exit_code = 2


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _plugin_commands() -> dict:
    """Commands installed by other packages (``celery.commands`` entry points)."""
    try:
        from importlib.metadata import entry_points
        eps = entry_points(group='celery.commands')
    except Exception:  # broken metadata must not break the CLI
        return {}
    return {ep.name: ep for ep in eps}


class LazyGroup(click.Group):
    """A group importing each sub-command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.commands)
        names.update(name for name, module in COMMANDS.items() if _module_exists(module))
        names.update(_plugin_commands())
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        module_name = COMMANDS.get(cmd_name)
        if module_name is not None and _module_exists(module_name):
            module = importlib.import_module(module_name)
            command = (getattr(module, cmd_name, None) or
                       getattr(module, f'{cmd_name}_', None))
        else:
            ep = _plugin_commands().get(cmd_name)
            if ep is not None:
                try:
                    command = ep.load()
                except Exception as exc:
                    raise click.ClickException(
                        f'Unable to load the {cmd_name!r} command: {exc!r}') from exc
        return command if isinstance(command, click.Command) else None

    def add_user_options(self, ctx: click.Context, name: str | None) -> None:
        """Give sub-command ``name`` the options the app declares in ``user_options``.

        Called once the app is loaded, which is after click resolved the
        sub-command but before it parses the sub-command's arguments.
        """
        command = self.get_command(ctx, name) if name else None
        if command is None or ctx.obj is None or ctx.obj.app is None:
            return
        user_options = ctx.obj.app.user_options
        wanted = list(user_options.get('preload', ()))
        if name in _USER_OPTION_COMMANDS:
            wanted.extend(user_options.get(name, ()))
        have = {id(p) for p in command.params}
        command.params.extend(p for p in wanted if id(p) not in have)


def _chdir(ctx: click.Context, param: Any, value: Any) -> Any:
    if value:
        os.chdir(value)
    return value


def _version_banner() -> str:
    import celery
    return f'{celery.__version__} ({celery.SERIES})'


def _load_app(app: str) -> Any:
    """Import the app named by ``--app``; failures become one :class:`AppLoadError` line."""
    from celery.app.utils import find_app
    try:
        return find_app(app)
    except ModuleNotFoundError as exc:
        module = app.split(':', 1)[0]
        if exc.name and (exc.name == module or module.startswith(f'{exc.name}.')):
            raise AppLoadError(
                f'Unable to load celery application: no module named {exc.name!r}.') from None
        raise AppLoadError(
            f'Unable to load celery application: importing {app!r} failed: {exc}') from None
    except AttributeError as exc:
        raise AppLoadError(f'Unable to load celery application: {exc}') from None
    except Exception as exc:
        raise AppLoadError(
            f'Unable to load celery application: importing {app!r} raised '
            f'{type(exc).__name__}: {exc}') from None


@click.group(cls=LazyGroup, invoke_without_command=True)
@click.option('-A', '--app', envvar='APP', cls=CeleryOption, help_group='Global Options')
@click.option('-b', '--broker', envvar='BROKER_URL', cls=CeleryOption,
              help_group='Global Options')
@click.option('--result-backend', envvar='RESULT_BACKEND', cls=CeleryOption,
              help_group='Global Options')
@click.option('--loader', envvar='LOADER', cls=CeleryOption, help_group='Global Options')
@click.option('--config', envvar='CONFIG_MODULE', cls=CeleryOption,
              help_group='Global Options')
@click.option('--workdir', cls=CeleryOption, type=pathlib.Path, callback=_chdir,
              is_eager=True, help_group='Global Options')
@click.option('-C', '--no-color', envvar='NO_COLOR', is_flag=True, cls=CeleryOption,
              help_group='Global Options')
@click.option('-q', '--quiet', is_flag=True, cls=CeleryOption, help_group='Global Options')
@click.option('--version', is_flag=True, cls=CeleryOption, help_group='Global Options')
@click.option('--skip-checks', envvar='SKIP_CHECKS', is_flag=True, cls=CeleryOption,
              help_group='Global Options',
              help='Do not run the Django system checks when the worker starts '
                   '(also: any non-empty SKIP_CHECKS environment variable).')
@click.pass_context
def celery(ctx: click.Context, app: Any, broker: str | None, result_backend: str | None,
           loader: str | None, config: str | None, workdir: Any, no_color: bool,
           quiet: bool, version: bool, skip_checks: bool) -> None:
    """Run a task-queue command: start workers or beat, call tasks, inspect workers."""
    if version:
        click.echo(_version_banner())
        ctx.exit()
    elif ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit()
    if loader:
        os.environ['CELERY_LOADER'] = loader
    if broker:
        os.environ['CELERY_BROKER_URL'] = broker
    if result_backend:
        os.environ['CELERY_RESULT_BACKEND'] = result_backend
    if config:
        os.environ['CELERY_CONFIG_MODULE'] = config
    if skip_checks:
        os.environ['CELERY_SKIP_CHECKS'] = 'true'
    if isinstance(app, str):
        app = _load_app(app)
    if app is None:
        from celery._state import get_current_app
        app = get_current_app()
    ctx.obj = CLIContext(app=app, no_color=no_color, workdir=workdir, quiet=quiet)
    ctx.command.add_user_options(ctx, ctx.invoked_subcommand)


@celery.command(cls=CeleryCommand)
@click.pass_context
def report(ctx: click.Context, **kwargs: Any) -> None:
    """Print versions and settings, for a bug report."""
    app = ctx.obj.app
    app.loader.import_default_modules()
    ctx.obj.echo(app.bugreport())


def main() -> int:
    """Run the ``celery`` command line; return its exit status."""
    return celery(prog_name='celery', auto_envvar_prefix='CELERY')

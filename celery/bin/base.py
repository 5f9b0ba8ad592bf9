"""Building blocks shared by the ``celery`` sub-commands.

``ctx.obj`` of every sub-command is a :class:`CLIContext`: the loaded app
plus the output helpers that honour ``--no-color`` and ``--quiet``. Options
carry a ``help_group`` so that ``--help`` lists them by topic.
"""
from __future__ import annotations

import json
from functools import wraps
from pprint import pformat
from typing import Any, Callable

import click

from celery.signals import user_preload_options
from celery.utils.text import indent, str_to_list

__all__ = (
    'CLIContext', 'CLIError', 'CeleryOption', 'CeleryCommand', 'CeleryDaemonCommand',
    'DaemonOption', 'CommaSeparatedList', 'LogLevel', 'LOG_LEVEL', 'COMMA_SEPARATED_LIST',
    'handle_preload_options',
)

#: Log level names accepted on the command line, in increasing severity.
LOG_LEVEL_NAMES = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL', 'FATAL')


class CLIError(click.ClickException):
    """A failure reported as a single ``Error: ...`` line on stderr (exit status 1)."""

    exit_code = 1


class CLIContext:
    """What every sub-command receives as ``ctx.obj``."""

    def __init__(self, app: Any, no_color: bool, workdir: Any, quiet: bool = False) -> None:
        self.app = app
        self.no_color = no_color
        self.quiet = quiet
        self.workdir = workdir

    # -- output --------------------------------------------------------------

    def style(self, message: Any = None, **styles: Any) -> Any:
        """Return ``message`` with ANSI styles, unless colour is off."""
        return message if self.no_color else click.style(message, **styles)

    @property
    def OK(self) -> str:
        return self.style('OK', fg='green', bold=True)

    @property
    def ERROR(self) -> str:
        return self.style('ERROR', fg='red', bold=True)

    def echo(self, message: Any = None, **kwargs: Any) -> None:
        click.echo(message, color=False if self.no_color else None, **kwargs)

    def secho(self, message: Any = None, **styles: Any) -> None:
        err = styles.pop('err', False)
        self.echo(self.style(message, **styles) if styles else message, err=err)

    def error(self, message: Any = None, **styles: Any) -> None:
        """Print ``message`` on stderr."""
        self.secho(message, err=True, **styles)

    def pretty(self, reply: Any) -> tuple:
        """Return ``(status, text)`` for a worker's reply to a control command.

        ``{'ok': x}`` and ``{'error': x}`` replies give OK/ERROR and ``x``;
        lists become bullet lists, other mappings indented JSON.
        """
        if isinstance(reply, dict) and ('ok' in reply or 'error' in reply):
            status = self.OK if 'ok' in reply else self.ERROR
            inner = reply['ok'] if 'ok' in reply else reply['error']
            return status, indent(self.pretty(inner)[1], 4)
        if isinstance(reply, list):
            if not reply:
                return self.OK, '- empty -'
            bullet = self.style('*', fg='white')
            return self.OK, '\n'.join(f'{bullet} {item}' for item in reply)
        if isinstance(reply, dict):
            return self.OK, json.dumps(reply, sort_keys=True, indent=4)
        if isinstance(reply, str):
            return self.OK, reply
        return self.OK, pformat(reply)

    def say_chat(self, direction: str, title: str, body: str = '',
                 show_body: bool = False) -> None:
        """Print one exchange with the workers: ``->`` sent, ``<-`` received."""
        if self.quiet:
            if direction == '<-':
                return
            self.echo(f' {title}')
        else:
            self.echo(f'{self.style(direction, fg="white", bold=True)}  {title}')
        if body and show_body:
            self.echo(body)


def handle_preload_options(command: Callable) -> Callable:
    """Decorate a command so ``user_preload_options`` fires with the user's values."""
    @wraps(command)
    def run(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        app = ctx.obj.app
        names = {option.name for option in app.user_options.get('preload', ())}
        if names:
            user_preload_options.send(
                sender=command, app=app,
                options={name: value for name, value in kwargs.items() if name in names})
        return command(ctx, *args, **kwargs)
    return run


class CeleryOption(click.Option):
    """A click option that belongs to a ``help_group`` section of ``--help``."""

    def __init__(self, *args: Any, help_group: str | None = None, **kwargs: Any) -> None:
        self.help_group = help_group
        super().__init__(*args, **kwargs)


class CeleryCommand(click.Command):
    """A command whose ``--help`` shows one section per ``help_group``."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(getattr(param, 'help_group', None) or 'Options',
                                    []).append(record)
        for title, records in sections.items():
            with formatter.section(title):
                formatter.write_dl(records)


class DaemonOption(CeleryOption):
    """A daemonization option whose default is the ``<command>_<option>`` setting.

    ``celery beat --pidfile`` falls back to ``beat_pidfile``, for example.
    """

    def __init__(self, *decls: str, **kwargs: Any) -> None:
        kwargs.setdefault('help_group', 'Daemonization Options')
        kwargs.setdefault('callback', self._from_settings)
        super().__init__(decls, **kwargs)

    def _from_settings(self, ctx: click.Context, param: Any, value: Any) -> Any:
        if value:
            return value
        return ctx.obj.app.conf.get(f'{ctx.command.name}_{self.name}')


class CeleryDaemonCommand(CeleryCommand):
    """A command that can run detached: adds logfile, pidfile, uid, gid, umask, executable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend([
            DaemonOption('--logfile', '-f', help='Write the log to this file (default: stderr).'),
            DaemonOption('--pidfile', help='Write the process id to this file.'),
            DaemonOption('--uid', help='Run as this user (name or id) after start-up.'),
            DaemonOption('--gid', help='Run as this group (name or id) after start-up.'),
            DaemonOption('--umask', help='File mode creation mask of the process.'),
            DaemonOption('--executable',
                         help='Python interpreter to run the detached process with.'),
        ])


class CommaSeparatedList(click.ParamType):
    """``a,b,c`` on the command line, a list in Python."""

    name = 'comma separated list'

    def convert(self, value: Any, param: Any, ctx: Any) -> list:
        return value if isinstance(value, list) else str_to_list(value)


class LogLevel(click.Choice):
    """A log level by name (any case) or number; converts to the number."""

    def __init__(self) -> None:
        super().__init__(LOG_LEVEL_NAMES, case_sensitive=False)

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
        from celery.utils.log import mlevel
        return mlevel(super().convert(value, param, ctx).upper())


LOG_LEVEL = LogLevel()
COMMA_SEPARATED_LIST = CommaSeparatedList()

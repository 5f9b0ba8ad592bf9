"""The ``celery inspect``, ``celery control`` and ``celery status`` commands.

Each sends one remote-control command (see :mod:`celery.app.control`) and
prints the replies as they arrive::

    ->  celery@host: OK
            pong

    1 node online.

The commands and their arguments are those the worker registers in
:class:`celery.worker.control.Panel`; positional arguments after the
command name are converted to the types it declares.  When no worker
answers in time the command fails with exit code 69 (``EX_UNAVAILABLE``).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Iterator

import click
from kombu.utils.json import dumps

from celery.bin.base import (COMMA_SEPARATED_LIST, CeleryCommand, CeleryOption,
                             handle_preload_options)
from celery.exceptions import CeleryCommandException
from celery.platforms import EX_UNAVAILABLE
from celery.utils import text

__all__ = ('status', 'inspect', 'control')

NO_REPLY = 'No nodes replied within time constraint'


def _panel_meta() -> dict:
    # imported late: the registry lives in the worker package
    from celery.worker.control import Panel
    return Panel.meta


def _commands_of_type(type_: str) -> dict:
    """``{name: info}`` of the visible commands of ``type_``, sorted."""
    return dict(sorted((name, info) for name, info in _panel_meta().items()
                       if info.type == type_ and info.visible))


def _verify_command_name(type_: str, command: str) -> None:
    choices = _commands_of_type(type_)
    if command not in choices:
        raise click.UsageError(
            f'Command {command} not recognized. Available {type_} commands: '
            f'{", ".join(choices)}')


def _convert(command: str, name: str, typ: Any, value: str) -> Any:
    if typ is None:
        return value
    try:
        return typ(value)
    except (TypeError, ValueError):
        kind = getattr(typ, '__name__', str(typ))
        raise click.UsageError(
            f'Command {command!r}: argument {name!r} must be of type {kind}, '
            f'not {value!r}') from None


def _consume_arguments(meta: Any, command: str, args: list) -> Iterator[tuple[str, Any]]:
    used = 0
    try:
        for index, value in enumerate(args):
            try:
                name, typ = meta.args[index]
            except IndexError:
                if meta.variadic:
                    break
                raise click.UsageError(
                    f'Command {command!r} takes arguments: {meta.signature}') from None
            used = index + 1
            yield name, _convert(command, name, typ, value)
    finally:
        args[:] = args[used:]


def _compile_arguments(command: str, args: list) -> dict:
    """Turn the words after the command into its keyword arguments."""
    meta = _panel_meta()[command]
    args = list(args)
    arguments = {}
    if meta.args:
        arguments.update(_consume_arguments(meta, command, args))
    if meta.variadic:
        arguments[meta.variadic] = args
    elif args:
        raise click.UsageError(
            f'Command {command!r} takes arguments: {meta.signature or "none"}')
    return arguments


def _say_remote_command_reply(ctx: click.Context, replies: dict,
                              show_reply: bool = False) -> None:
    node = next(iter(replies))
    reply = replies[node]
    status, body = ctx.obj.pretty(reply)
    title = ctx.obj.style(f'{node}: ', fg='cyan', bold=True) + status
    ctx.obj.say_chat('->', title, text.indent(body, 4) if show_reply else '',
                     show_body=show_reply)


def _list_option(type_: str) -> Any:
    def callback(ctx: click.Context, param: Any, value: bool) -> None:
        if not value:
            return
        formatter = click.HelpFormatter()
        with formatter.section(f'{type_.capitalize()} Commands'):
            formatter.write_dl([
                (f'{name} {info.signature}' if info.signature else name, info.help or '')
                for name, info in _commands_of_type(type_).items()])
        click.echo(formatter.getvalue(), nl=False)
        ctx.exit()
    return click.option('--list', is_flag=True, expose_value=False, is_eager=True,
                        callback=callback,
                        help=f'List available {type_} commands and exit.')


def _remote_options(fun: Any) -> Any:
    fun = click.option('-j', '--json', cls=CeleryOption, is_flag=True,
                       help_group='Remote Control Options',
                       help='Use json as output format.')(fun)
    fun = click.option('-d', '--destination', cls=CeleryOption,
                       type=COMMA_SEPARATED_LIST, help_group='Remote Control Options',
                       help='Comma separated list of destination node names.')(fun)
    fun = click.option('-t', '--timeout', cls=CeleryOption, type=float, default=1.0,
                       help_group='Remote Control Options',
                       help='Timeout in seconds waiting for reply.')(fun)
    return fun


def _no_reply() -> CeleryCommandException:
    return CeleryCommandException(message=NO_REPLY, exit_code=EX_UNAVAILABLE)


def _say_online(ctx: click.Context, replies: Any) -> None:
    if not ctx.obj.quiet:
        count = len(replies)
        ctx.obj.echo(f'\n{count} {text.pluralize(count, "node")} online.')


@click.command(cls=CeleryCommand)
@_remote_options
@click.pass_context
@handle_preload_options
def status(ctx: click.Context, timeout: float, destination: Any, json: bool,
           **kwargs: Any) -> None:
    """Show list of workers that are online."""
    callback = None if json else partial(_say_remote_command_reply, ctx)
    replies = ctx.obj.app.control.inspect(
        timeout=timeout, destination=destination, callback=callback).ping()
    if not replies:
        raise _no_reply()
    if json:
        ctx.obj.echo(dumps(replies))
    _say_online(ctx, replies)


@click.command(cls=CeleryCommand, context_settings={'allow_extra_args': True})
@click.argument('command')
@_list_option('inspect')
@_remote_options
@click.pass_context
@handle_preload_options
def inspect(ctx: click.Context, command: str, timeout: float, destination: Any,
            json: bool, **kwargs: Any) -> None:
    """Inspect the workers by sending them the COMMAND inspect command.

    Availability: RabbitMQ (AMQP) and Redis transports.
    """
    _verify_command_name('inspect', command)
    arguments = _compile_arguments(command, ctx.args)
    callback = None if json else partial(_say_remote_command_reply, ctx,
                                         show_reply=True)
    replies = ctx.obj.app.control.inspect(
        timeout=timeout, destination=destination, callback=callback,
    )._request(command, **arguments)
    if not replies:
        raise _no_reply()
    if json:
        ctx.obj.echo(dumps(replies))
        return
    _say_online(ctx, replies)


@click.command(cls=CeleryCommand, context_settings={'allow_extra_args': True})
@click.argument('command')
@_list_option('control')
@_remote_options
@click.pass_context
@handle_preload_options
def control(ctx: click.Context, command: str, timeout: float, destination: Any,
            json: bool, **kwargs: Any) -> None:
    """Send the COMMAND control command to the workers.

    Availability: RabbitMQ (AMQP), Redis, and MongoDB transports.
    """
    _verify_command_name('control', command)
    arguments = _compile_arguments(command, ctx.args)
    callback = None if json else partial(_say_remote_command_reply, ctx,
                                         show_reply=True)
    replies = ctx.obj.app.control.broadcast(
        command, timeout=timeout, destination=destination, callback=callback,
        reply=True, arguments=arguments)
    if not replies:
        raise _no_reply()
    if json:
        ctx.obj.echo(dumps(replies))

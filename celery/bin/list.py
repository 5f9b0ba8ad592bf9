"""The ``celery list`` command: ask the broker what it holds.

``celery list bindings`` prints the queue/exchange/routing-key bindings,
after declaring the app's task queues.  It needs a transport that can list
them: the virtual transports (Redis, memory, filesystem, SQS, ...) can;
RabbitMQ needs its management plugin and a manager client, and otherwise
reports that it cannot (exit status 69).
"""
from __future__ import annotations

import builtins
from typing import Any

import click

from celery.bin.base import CeleryCommand, handle_preload_options

__all__ = ('list',)

EX_UNAVAILABLE = 69


class _Unavailable(click.ClickException):
    exit_code = EX_UNAVAILABLE


@click.group(name='list')
@click.pass_context
@handle_preload_options
def list_(ctx: click.Context, **kwargs: Any) -> None:
    """Get information from the broker (for RabbitMQ: the management plugin)."""


@list_.command(cls=CeleryCommand)
@click.pass_context
def bindings(ctx: click.Context) -> None:
    """List the bindings of the broker's queues."""
    from kombu.exceptions import OperationalError
    obj = ctx.obj
    app = obj.app
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            for queue in app.amqp.queues.values():
                queue(channel).declare()
            try:
                rows = builtins.list(conn.manager.get_bindings())
            except (NotImplementedError, ImportError):
                raise _Unavailable(
                    f'the {conn.transport_cls!s} transport cannot list bindings') from None
            except Exception as exc:  # the management API client's own errors
                raise _Unavailable(f'cannot list bindings: {exc!r}') from None
    except (OperationalError, OSError) as exc:
        raise _Unavailable(f'cannot reach the broker: {exc}') from None

    width = 28
    obj.echo(f'{"Queue":<{width}} {"Exchange":<{width}} Routing Key')
    obj.echo(f'{"-" * 16:<{width}} {"-" * 16:<{width}} {"-" * 16}')
    for row in sorted(rows, key=lambda b: (b['destination'], b['source'], b['routing_key'])):
        obj.echo(f'{row["destination"]:<{width}} {row["source"]:<{width}} '
                 f'{row["routing_key"]}')


list = list_  # noqa: A001 - the command is called ``list``

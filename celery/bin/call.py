"""The ``celery call`` command: send a task message by name and print its id.

The task does not have to be registered in this process: only its name is
needed, as with ``app.send_task``.  Arguments are JSON (``-a '[2, 2]'``,
``-k '{"x": 1}'``); a malformed value is a usage error (exit status 64).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from celery.bin.base import CeleryCommand, CeleryOption, handle_preload_options

__all__ = ('call',)

EX_USAGE, EX_UNAVAILABLE = 64, 69


class _BadParameter(click.BadParameter):
    exit_code = EX_USAGE


class _CommandError(click.ClickException):
    """A one-line error with the exit status of its kind."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _JSON(click.ParamType):
    """A JSON value of one type (``list`` for arguments, ``dict`` for keywords)."""

    def __init__(self, kind: type, label: str) -> None:
        self.kind = kind
        self.name = label

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, self.kind):
            return value
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise _BadParameter(f'{value!r} is not valid JSON ({exc})',
                                ctx=ctx, param=param) from None
        if not isinstance(parsed, self.kind):
            raise _BadParameter(f'{value!r} is not a JSON {self.name}',
                                ctx=ctx, param=param)
        return parsed


class _ISO8601(click.ParamType):
    """A date and time in ISO 8601 (``2030-01-01T12:00:00+00:00``), or seconds."""

    name = 'iso-8601'

    def __init__(self, allow_seconds: bool = False) -> None:
        self.allow_seconds = allow_seconds
        if allow_seconds:
            self.name = 'iso-8601|seconds'

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, (datetime, float, int)):
            return value
        if self.allow_seconds:
            try:
                return float(value)
            except ValueError:
                pass
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            what = 'an ISO 8601 date and time or a number of seconds' \
                if self.allow_seconds else 'an ISO 8601 date and time'
            raise _BadParameter(f'{value!r} is not {what}', ctx=ctx, param=param) from None


JSON_ARRAY = _JSON(list, 'array')
JSON_OBJECT = _JSON(dict, 'object')


@click.command(cls=CeleryCommand, name='call')
@click.argument('name')
@click.option('-a', '--args', cls=CeleryOption, type=JSON_ARRAY, default='[]',
              help_group='Calling Options', help='Positional arguments, as a JSON array.')
@click.option('-k', '--kwargs', cls=CeleryOption, type=JSON_OBJECT, default='{}',
              help_group='Calling Options', help='Keyword arguments, as a JSON object.')
@click.option('--eta', cls=CeleryOption, type=_ISO8601(), help_group='Calling Options',
              help='Scheduled time, ISO 8601 (e.g. 2030-01-01T12:00:00+00:00).')
@click.option('--countdown', cls=CeleryOption, type=float, help_group='Calling Options',
              help='Seconds to wait before the task may run.')
@click.option('--expires', cls=CeleryOption, type=_ISO8601(allow_seconds=True),
              help_group='Calling Options',
              help='Expiry: ISO 8601 date and time, or seconds from now.')
@click.option('--serializer', cls=CeleryOption, default='json', help_group='Calling Options',
              help='Serializer of the message body.')
@click.option('--queue', cls=CeleryOption, help_group='Routing Options',
              help='Queue to send the task to.')
@click.option('--exchange', cls=CeleryOption, help_group='Routing Options',
              help='Exchange to send the task to.')
@click.option('--routing-key', cls=CeleryOption, help_group='Routing Options',
              help='Routing key of the message.')
@click.pass_context
@handle_preload_options
def call(ctx: click.Context, name: str, args: list, kwargs: dict,
         eta: datetime | None, countdown: float | None, expires: Any,
         serializer: str, queue: str | None, exchange: str | None,
         routing_key: str | None, **options: Any) -> None:
    """Send the task NAME and print its id."""
    from kombu.exceptions import EncodeError, OperationalError, SerializerNotInstalled
    obj = ctx.obj
    app = obj.app
    try:
        result = app.send_task(
            name, args=args, kwargs=kwargs, eta=eta, countdown=countdown,
            expires=expires, serializer=serializer, queue=queue,
            exchange=exchange, routing_key=routing_key)
    except (OperationalError, OSError) as exc:
        raise _CommandError(f'cannot send {name!r}: broker unreachable ({exc})',
                            EX_UNAVAILABLE) from None
    except (SerializerNotInstalled, EncodeError) as exc:
        raise _CommandError(f'cannot send {name!r}: {exc}', EX_USAGE) from None
    obj.echo(result.id)

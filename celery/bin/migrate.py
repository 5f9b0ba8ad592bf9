"""The ``celery migrate SOURCE DEST`` command: copy task messages to another broker.

Reads the task queues of the app (or ``--queues``) on the SOURCE broker and
publishes every message, unchanged, to the DEST broker. Messages are removed
from SOURCE only with ``--ack-messages``. Stops after ``--timeout`` seconds
without a message, or ``--limit`` messages, unless ``--forever``.
"""
from __future__ import annotations

from typing import Any

import click

from celery.bin.base import CeleryCommand, CeleryOption, CLIError, handle_preload_options

__all__ = ('migrate',)


@click.command(cls=CeleryCommand)
@click.argument('source')
@click.argument('destination')
@click.option('-n', '--limit', cls=CeleryOption, type=int, help_group='Migration Options',
              help='Number of tasks to consume.')
@click.option('-t', '--timeout', cls=CeleryOption, type=float, help_group='Migration Options',
              help='Timeout in seconds waiting for tasks.')
@click.option('-a', '--ack-messages', cls=CeleryOption, is_flag=True,
              help_group='Migration Options', help='Ack messages from source broker.')
@click.option('-T', '--tasks', cls=CeleryOption, help_group='Migration Options',
              help='List of task names to filter on.')
@click.option('-Q', '--queues', cls=CeleryOption, help_group='Migration Options',
              help='List of queues to migrate.')
@click.option('-F', '--forever', cls=CeleryOption, is_flag=True,
              help_group='Migration Options', help='Continually migrate tasks until killed.')
@click.pass_context
@handle_preload_options
def migrate(ctx: click.Context, source: str, destination: str, **kwargs: Any) -> None:
    """Migrate tasks from one broker to another.

    Warning: this command is experimental, make sure you have a backup of
    the tasks before you continue.
    """
    from kombu import Connection
    from kombu.exceptions import OperationalError

    from celery.contrib.migrate import migrate_tasks

    obj = ctx.obj
    options = {key: value for key, value in kwargs.items() if value is not None}

    def on_migrate_task(state: Any, body: Any, message: Any) -> None:
        obj.echo(f'Migrating task {state.count}/{state.strtotal}: {body}')

    try:
        with Connection(source) as src, Connection(destination) as dest:
            migrate_tasks(src, dest, app=obj.app, callback=on_migrate_task, **options)
    except (OperationalError, OSError) as exc:
        raise CLIError(f'cannot reach the broker: {exc}') from None

"""The ``celery purge`` command: delete every waiting message of the task queues.

The queues are the app's task queues (``task_queues``, or the default
queue), or those named with ``-Q``, minus those named with ``-X``.  A
queue named with ``-Q`` or ``-X`` must be one of the app's task queues or
exist on the broker, else nothing is purged and the command fails (exit
status 64).  Asks for confirmation unless ``-f``.  Messages already
delivered to a worker (unacknowledged) are not touched.  There is no undo.
"""
from __future__ import annotations

from typing import Any, Iterable

import click

from celery.bin.base import (COMMA_SEPARATED_LIST, CeleryCommand, CeleryOption,
                             handle_preload_options)
from celery.utils.text import pluralize

__all__ = ('purge',)

EX_USAGE, EX_UNAVAILABLE = 64, 69


class _Error(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _on_own_channel(conn: Any, method: str, name: str, **kwargs: Any) -> Any:
    """Call a channel method on a fresh channel (a broker error closes it).

    Raises the transport's channel error, e.g. when the queue does not exist.
    """
    channel = conn.channel()
    try:
        return getattr(channel, method)(queue=name, **kwargs)
    finally:
        try:
            channel.close()
        except conn.channel_errors + conn.connection_errors:
            pass


def _missing_queues(conn: Any, names: Iterable[str]) -> list[str]:
    """The queues of ``names`` the broker does not know."""
    missing = []
    for name in names:
        try:
            _on_own_channel(conn, 'queue_declare', name, passive=True)
        except conn.channel_errors:
            missing.append(name)
    return missing


def _purge_one(conn: Any, name: str) -> int:
    try:
        return _on_own_channel(conn, 'queue_purge', name) or 0
    except conn.channel_errors:  # a task queue never declared on the broker
        return 0


@click.command(cls=CeleryCommand, name='purge',
               context_settings={'allow_extra_args': True})
@click.option('-f', '--force', cls=CeleryOption, is_flag=True, help_group='Purging Options',
              help='Do not ask for confirmation.')
@click.option('-Q', '--queues', cls=CeleryOption, type=COMMA_SEPARATED_LIST,
              help_group='Purging Options',
              help='Comma separated list of queues to purge (default: all task queues).')
@click.option('-X', '--exclude-queues', cls=CeleryOption, type=COMMA_SEPARATED_LIST,
              help_group='Purging Options',
              help='Comma separated list of queues to leave alone.')
@click.pass_context
@handle_preload_options
def purge(ctx: click.Context, force: bool, queues: list[str] | None,
          exclude_queues: list[str] | None, **kwargs: Any) -> None:
    """Delete all waiting messages from the task queues (no undo)."""
    from kombu.exceptions import OperationalError
    obj = ctx.obj
    app = obj.app
    known = set(app.amqp.queues)
    wanted = set(queues or known)
    excluded = set(exclude_queues or ())
    names = sorted(wanted - excluded)
    try:
        with app.connection_for_write() as conn:
            named = (set(queues or ()) | excluded) - known
            unknown = _missing_queues(conn, sorted(named)) if named else []
            if unknown:
                raise _Error(f'unknown {pluralize(len(unknown), "queue")}: '
                             f'{", ".join(unknown)} (not a task queue of this app, '
                             f'and not on the broker)', EX_USAGE)
            if not names:
                obj.echo('No queues to purge.')
                return
            headline = pluralize(len(names), 'queue')
            if not force:
                click.confirm(
                    f'{obj.style("WARNING", fg="red")}: every waiting task in {headline} '
                    f'{", ".join(names)} is about to be deleted.\n'
                    f'There is no undo for this operation! (-f skips this question)\n'
                    f'Delete them all?', abort=True)
            messages = sum(_purge_one(conn, name) for name in names)
    except (OperationalError, OSError) as exc:
        raise _Error(f'cannot reach the broker: {exc}', EX_UNAVAILABLE) from None
    if messages:
        obj.echo(f'Purged {messages} {pluralize(messages, "message")} from '
                 f'{len(names)} known task {headline}.')
    else:
        obj.echo(f'No messages purged from {len(names)} {headline}.')

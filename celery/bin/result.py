"""The ``celery result`` command: wait for a task's result and print it.

Reads the app's result backend; with ``--traceback`` prints the stored
traceback of a failed task instead.  Like ``AsyncResult.get()``, it waits
until the task is done.  A task that failed is reported on stderr (exit
status 1).
"""
from __future__ import annotations

from typing import Any

import click

from celery.bin.base import CeleryCommand, CeleryOption, CLIError, handle_preload_options

__all__ = ('result',)

EX_UNAVAILABLE = 69


class _Unavailable(click.ClickException):
    exit_code = EX_UNAVAILABLE


@click.command(cls=CeleryCommand, name='result')
@click.argument('task_id')
@click.option('-t', '--task', cls=CeleryOption, help_group='Result Options',
              help='Name of the task (its own result backend is used).')
@click.option('--traceback', cls=CeleryOption, is_flag=True, default=False,
              help_group='Result Options', help='Show the traceback instead.')
@click.pass_context
@handle_preload_options
def result(ctx: click.Context, task_id: str, task: str | None, traceback: bool,
           **kwargs: Any) -> None:
    """Print the result of the task TASK_ID (waits until it is ready)."""
    from kombu.exceptions import OperationalError
    obj = ctx.obj
    app = obj.app
    if task:
        try:
            result_cls = app.tasks[task].AsyncResult
        except KeyError:
            raise CLIError(f'Unknown task {task!r}: not registered with this app') from None
    else:
        result_cls = app.AsyncResult
    res = result_cls(task_id)
    try:
        if traceback:
            obj.echo(res.traceback)
            return
        value = res.get(propagate=False)
        failed = res.failed()
    except NotImplementedError as exc:  # no result backend configured
        raise CLIError(str(exc).strip() or 'no result backend configured') from None
    except (OperationalError, OSError) as exc:
        raise _Unavailable(f'cannot reach the result backend: {exc}') from None
    if failed:
        raise CLIError(f'task {task_id} failed: {type(value).__name__}: {value}')
    obj.echo(value)

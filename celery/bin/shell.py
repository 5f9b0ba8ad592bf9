"""The ``celery shell`` command: a Python shell with the app loaded.

The shell's namespace holds ``app`` (also as ``celery``), ``Task``, the
canvas helpers (``chain``, ``chord``, ``chunks``, ``group``, ``signature``,
``subtask``, ``xmap``, ``xstarmap``) and, unless ``--without-tasks``, every
task of the app by its short name (Celery's own ``celery.*`` tasks left
out).  IPython is used when installed, else bpython, else the standard
interactive interpreter; ``--ipython``, ``--bpython`` and ``--python``
choose one.
"""
from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import Any

import click

from celery.bin.base import CeleryCommand, CeleryOption, CLIError, handle_preload_options

__all__ = ('shell', 'shell_namespace')


def shell_namespace(app: Any, with_tasks: bool = True) -> dict[str, Any]:
    """The names a ``celery shell`` starts with."""
    import celery
    namespace = {
        'app': app,
        'celery': app,
        'Task': celery.Task,
        'chord': celery.chord,
        'group': celery.group,
        'chain': celery.chain,
        'chunks': celery.chunks,
        'xmap': celery.xmap,
        'xstarmap': celery.xstarmap,
        'subtask': celery.subtask,
        'signature': celery.signature,
    }
    if with_tasks:
        for task in app.tasks.values():
            if not task.name.startswith('celery.'):
                namespace[task.name.rsplit('.', 1)[-1]] = task
    return namespace


def _run_ipython(namespace: dict[str, Any]) -> None:
    from IPython import start_ipython
    start_ipython(argv=[], user_ns=namespace)


def _run_bpython(namespace: dict[str, Any]) -> None:
    import bpython
    bpython.embed(namespace)


def _run_python(namespace: dict[str, Any]) -> None:
    import code
    try:
        import readline
        import rlcompleter
    except ImportError:  # pragma: no cover - e.g. Windows without pyreadline
        pass
    else:
        readline.set_completer(rlcompleter.Completer(namespace).complete)
        readline.parse_and_bind('tab:complete')
    startup = os.environ.get('PYTHONSTARTUP')
    if startup and os.path.isfile(startup):
        with open(startup) as fh:
            exec(compile(fh.read(), startup, 'exec'), namespace)  # noqa: S102 - user's file
    code.interact(local=namespace, banner=f'Python {sys.version} (celery shell)')


_SHELLS = {'ipython': _run_ipython, 'bpython': _run_bpython, 'python': _run_python}


@click.command(cls=CeleryCommand, name='shell', context_settings={'allow_extra_args': True})
@click.option('-I', '--ipython', cls=CeleryOption, is_flag=True, help_group='Shell Options',
              help='Use IPython.')
@click.option('-B', '--bpython', cls=CeleryOption, is_flag=True, help_group='Shell Options',
              help='Use bpython.')
@click.option('--python', cls=CeleryOption, is_flag=True, help_group='Shell Options',
              help='Use the standard Python shell.')
@click.option('-T', '--without-tasks', cls=CeleryOption, is_flag=True,
              help_group='Shell Options', help='Do not add the tasks to the namespace.')
@click.option('--eventlet', cls=CeleryOption, is_flag=True, help_group='Shell Options',
              help='Patch the standard library for eventlet first.')
@click.option('--gevent', cls=CeleryOption, is_flag=True, help_group='Shell Options',
              help='Patch the standard library for gevent first.')
@click.pass_context
@handle_preload_options
def shell(ctx: click.Context, ipython: bool = False, bpython: bool = False,
          python: bool = False, without_tasks: bool = False, eventlet: bool = False,
          gevent: bool = False, **kwargs: Any) -> None:
    """Start a Python shell with the app, its tasks and the canvas loaded."""
    if sum((ipython, bpython, python)) > 1:
        raise click.UsageError('choose one of --ipython, --bpython and --python')
    sys.path.insert(0, os.getcwd())
    for wanted, module in ((eventlet, 'celery.concurrency.eventlet'),
                           (gevent, 'celery.concurrency.gevent')):
        if wanted:
            try:
                import_module(module)
            except ImportError as exc:
                raise CLIError(f'cannot use {module.rsplit(".", 1)[-1]}: {exc}') from None
    app = ctx.obj.app
    app.loader.import_default_modules()
    namespace = shell_namespace(app, with_tasks=not without_tasks)

    chosen = 'ipython' if ipython else 'bpython' if bpython else 'python' if python else None
    if chosen is not None:
        try:
            _SHELLS[chosen](namespace)
        except ImportError as exc:
            raise CLIError(f'{chosen} is not installed ({exc})') from None
        return
    for name in ('ipython', 'bpython'):
        try:
            _SHELLS[name](namespace)
        except ImportError:
            continue
        return
    _run_python(namespace)

"""Process-wide state: the current and default app, and the stack of running tasks.

Kept free of heavy imports: everything here is needed by ``import celery``-time
proxies, so it must stay cheap.
"""
from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable

from celery.local import Proxy
from celery.utils.threads import LocalStack

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery
    from celery.app.task import Task

__all__ = (
    'set_default_app', 'get_current_app', 'get_current_task',
    'get_current_worker_task', 'current_app', 'current_task',
    'connect_on_app_finalize', 'app_or_default',
)

#: Global default app used when no other app has been set.
default_app: Celery | None = None

#: Function returning the app provided or the default app if none.
app_or_default: Callable[..., Celery] = None  # set below

#: Every app ever created (weakly), so shared tasks reach them all.
_apps: weakref.WeakSet = weakref.WeakSet()

#: Callbacks run for each app when it finalizes (shared tasks, built-ins).
_on_app_finalizers: set = set()

_task_join_will_block = False


class _TLS(threading.local):
    #: The app last made current in this thread.
    current_app: Celery | None = None


_tls = _TLS()

#: Stack of tasks executing in this thread (eager calls push too).
_task_stack = LocalStack()


def connect_on_app_finalize(callback: Callable) -> Callable:
    """Run ``callback(app)`` for every app as it finalizes (usable as a decorator)."""
    _on_app_finalizers.add(callback)
    return callback


def _announce_app_finalized(app: Celery) -> None:
    for callback in set(_on_app_finalizers):
        callback(app)


def _set_task_join_will_block(blocks: bool) -> None:
    global _task_join_will_block
    _task_join_will_block = blocks


def task_join_will_block() -> bool:
    return _task_join_will_block


def set_default_app(app: Celery) -> None:
    """Make ``app`` the default for threads that set no app of their own."""
    global default_app
    default_app = app


def _get_current_app() -> Celery:
    if default_app is None:
        # Create the fallback app on first use, as Celery does.
        from celery.app.base import Celery
        set_default_app(Celery('default', fixups=[], set_as_current=False,
                               loader=os.environ.get('CELERY_LOADER') or 'default'))
    return _tls.current_app or default_app


def _set_current_app(app: Celery | None) -> None:
    _tls.current_app = app


if os.environ.get('C_STRICT_APP'):  # pragma: no cover - debugging aid
    def get_current_app() -> Celery:
        """Return the current app, refusing to fall back to the default one."""
        if _tls.current_app is None:
            raise RuntimeError('USES CURRENT APP')
        return _get_current_app()
else:
    get_current_app = _get_current_app


def get_current_task() -> Task | None:
    """Return the task being executed in this thread, if any."""
    return _task_stack.top


def get_current_worker_task() -> Task | None:
    """Return the task the worker is executing, ignoring eager calls made from it."""
    for task in reversed(_task_stack.stack):
        if not task.request.called_directly and not task.request.is_eager:
            return task
    return None


def _register_app(app: Celery) -> None:
    _apps.add(app)


def _deregister_app(app: Celery) -> None:
    _apps.discard(app)


def _get_active_apps() -> weakref.WeakSet:
    return _apps


def _app_or_default(app: Celery | None = None) -> Celery:
    return get_current_app() if app is None else app


app_or_default = _app_or_default

#: Proxy to the current app.
current_app: Any = Proxy(get_current_app)

#: Proxy to the task being executed in this thread.
current_task: Any = Proxy(get_current_task)


def _debugging_enabled() -> bool:  # pragma: no cover
    return bool(sys.flags.dev_mode)


def push_current_task(task: Task) -> None:
    """Put ``task`` on this thread's task stack."""
    _task_stack.push(task)


def pop_current_task() -> Task | None:
    return _task_stack.pop()


def enable_trace() -> None:  # pragma: no cover - debugging aid
    global app_or_default
    app_or_default = _app_or_default_trace


def disable_trace() -> None:  # pragma: no cover - debugging aid
    global app_or_default
    app_or_default = _app_or_default


def _app_or_default_trace(app: Celery | None = None) -> Celery:  # pragma: no cover
    import traceback
    if app is None:
        if getattr(_tls, 'current_app', None):
            print('-- RETURNING TO CURRENT APP --')
            traceback.print_stack()
            return _tls.current_app
        print('-- RETURNING TO DEFAULT APP --')
        traceback.print_stack()
        return default_app
    return app

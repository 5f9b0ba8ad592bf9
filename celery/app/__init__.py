"""The app package: ``shared_task`` and the helpers apps are built from."""
from __future__ import annotations

from typing import Any, Callable

from celery import _state
from celery._state import (app_or_default, disable_trace, enable_trace,
                           pop_current_task, push_current_task)
from celery.local import Proxy

__all__ = (
    'Celery', 'AppPickler', 'app_or_default', 'default_app', 'bugreport',
    'enable_trace', 'disable_trace', 'shared_task', 'push_current_task',
    'pop_current_task',
)

#: Proxy to the default app.
default_app = Proxy(lambda: _state.default_app)


def __getattr__(name: str) -> Any:
    if name in ('Celery', 'AppPickler'):
        from celery.app import base
        return getattr(base, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def bugreport(app: Any = None) -> str:
    """Return a report of versions and settings, for bug reports."""
    try:
        return app_or_default(app).bugreport()
    except Exception as exc:  # pragma: no cover - best effort
        return f'Error while generating bug report: {exc!r}'


def shared_task(*args: Any, **kwargs: Any) -> Any:
    """Declare a task that every app gets, without needing an app instance.

    Returns a proxy to the task of the current app, so that reusable modules
    can define tasks and a project's app picks them up when it finalizes.
    """
    def create_shared_task(**options: Any) -> Callable:
        def __inner(fun: Callable) -> Any:
            name = options.get('name')
            # Register with every app that finalizes from now on...
            _state.connect_on_app_finalize(
                lambda app: app._task_from_fun(fun, **options))
            # ...and with the apps that already have.
            for app in _state._get_active_apps():
                if app.finalized:
                    with app._finalize_mutex:
                        app._task_from_fun(fun, **options)

            def task_by_cons() -> Any:
                app = _state.get_current_app()
                return app.tasks[name or app.gen_task_name(fun.__name__, fun.__module__)]
            return Proxy(task_by_cons)
        return __inner

    if len(args) == 1 and callable(args[0]):
        return create_shared_task(**kwargs)(args[0])
    return create_shared_task(*args, **kwargs)

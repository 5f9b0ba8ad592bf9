"""The registry of tasks an app knows, by name."""
from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from celery._state import get_current_app
from celery.exceptions import InvalidTaskError, NotRegistered

__all__ = ('TaskRegistry',)


class TaskRegistry(dict):
    """A dict of task name -> task instance; a missing name raises :exc:`NotRegistered`."""

    NotRegistered = NotRegistered

    def __missing__(self, key: str) -> Any:
        raise self.NotRegistered(key)

    def register(self, task: Any) -> None:
        """Register ``task`` (a class or an instance) under its name."""
        if task.name is None:
            raise InvalidTaskError(
                f'Task class {type(task).__name__!r} must specify a .name attribute')
        task = task() if inspect.isclass(task) else task
        add_autoretry_behaviour(task)
        self[task.name] = task

    def unregister(self, name: Any) -> None:
        """Remove a task (by name or by the task itself); unknown names raise."""
        try:
            self.pop(getattr(name, 'name', name))
        except KeyError:
            raise self.NotRegistered(name) from None

    def regular(self) -> dict:
        return self.filter_types('regular')

    def periodic(self) -> dict:
        return self.filter_types('periodic')

    def filter_types(self, type: str) -> dict:
        return {name: task for name, task in self.items()
                if getattr(task, 'type', 'regular') == type}


def add_autoretry_behaviour(task: Any, **options: Any) -> None:
    from celery.app.autoretry import add_autoretry_behaviour as add
    add(task, **options)


def _unpickle_task(name: str) -> Any:
    return get_current_app().tasks[name]


def _unpickle_task_v2(name: str, module: str | None = None) -> Any:
    if module:
        import_module(module)
    return get_current_app().tasks[name]

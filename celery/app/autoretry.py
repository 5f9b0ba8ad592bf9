"""Automatic retries: ``autoretry_for`` and its backoff options."""
from __future__ import annotations

from functools import wraps
from typing import Any

from celery.exceptions import Ignore, Retry

__all__ = ('add_autoretry_behaviour',)


def add_autoretry_behaviour(task: Any, **options: Any) -> None:
    """Wrap ``task.run`` so the exceptions in ``autoretry_for`` retry the task.

    Options (or task attributes) read: ``autoretry_for``, ``dont_autoretry_for``,
    ``retry_kwargs``, ``retry_backoff`` (True or the backoff factor in seconds),
    ``retry_backoff_max`` (600) and ``retry_jitter`` (True).
    """
    def option(name: str, default: Any) -> Any:
        return options.get(name, getattr(task, name, default))

    autoretry_for = tuple(option('autoretry_for', ()))
    if not autoretry_for or hasattr(task, '_orig_run'):
        return
    dont_autoretry_for = tuple(option('dont_autoretry_for', ()))
    retry_kwargs = dict(option('retry_kwargs', {}))
    retry_backoff = float(option('retry_backoff', False))
    retry_backoff_max = int(option('retry_backoff_max', 600))
    retry_jitter = option('retry_jitter', True)

    @wraps(task.run)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return task._orig_run(*args, **kwargs)
        except (Ignore, Retry):
            raise
        except dont_autoretry_for:
            raise
        except autoretry_for as exc:
            call_kwargs = dict(retry_kwargs)
            if retry_backoff:
                from celery.utils.time import get_exponential_backoff_interval
                call_kwargs['countdown'] = get_exponential_backoff_interval(
                    factor=int(max(1.0, retry_backoff)),
                    retries=task.request.retries,
                    maximum=retry_backoff_max,
                    full_jitter=retry_jitter)
            if hasattr(task, 'override_max_retries'):
                call_kwargs['max_retries'] = task.override_max_retries
            try:
                ret = task.retry(exc=exc, **call_kwargs)
            finally:
                task.__dict__.pop('override_max_retries', None)
            raise ret

    task._orig_run, task.run = task.run, run

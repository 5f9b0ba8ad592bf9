"""Execution pools: where the worker runs its tasks.

``ALIASES`` maps the names users give (``-P prefork``, :setting:`worker_pool`)
to pool classes; :func:`get_implementation` resolves a name or a user's
``'module:Class'`` string to the class.
"""
from __future__ import annotations

import os
from typing import Any

from kombu.utils.imports import symbol_by_name

__all__ = ('get_implementation', 'get_available_pool_names', 'ALIASES')

#: Pool names (as given on the command line) -> the class implementing them.
ALIASES = {
    'prefork': 'celery.concurrency.prefork:TaskPool',
    'processes': 'celery.concurrency.prefork:TaskPool',  # old name
    'solo': 'celery.concurrency.solo:TaskPool',
    'threads': 'celery.concurrency.thread:TaskPool',
}

#: Celery's green-thread pools, which this package does not provide.
UNAVAILABLE = ('eventlet', 'gevent')

_custom = os.environ.get('CELERY_CUSTOM_WORKER_POOL')
if _custom:
    ALIASES['custom'] = _custom
del _custom


def get_implementation(cls: Any) -> type:
    """Return the pool class named ``cls`` (an alias, a dotted name or a class)."""
    if cls in UNAVAILABLE:
        from celery.exceptions import ImproperlyConfigured
        raise ImproperlyConfigured(
            f'The {cls} pool is not available in this package: '
            f'use one of {", ".join(get_available_pool_names())}.')
    return symbol_by_name(cls, ALIASES)


def get_available_pool_names() -> tuple[str, ...]:
    """Return the names accepted by ``celery worker --pool``."""
    return tuple(ALIASES)

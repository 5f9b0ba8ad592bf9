"""Distributed task queue: a pure-Python drop-in replacement for Celery 5.

The public names are resolved lazily (PEP 562 ``__getattr__``) so that
``import celery`` loads neither kombu, a broker client nor click.
"""
from __future__ import annotations

import re
from importlib import import_module
from typing import TYPE_CHECKING, Any, NamedTuple

SERIES = 'opalescent'
__version__ = '5.7.0'
__author__ = 'The project authors'
__contact__ = ''
__homepage__ = ''
__docformat__ = 'restructuredtext'
__keywords__ = 'task job queue distributed messaging actor'


class version_info_t(NamedTuple):
    """The version as a tuple, comparable like ``sys.version_info``."""

    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: str


_match = re.match(r'(\d+)\.(\d+)\.(\d+)(.+)?', __version__)
VERSION = version_info = version_info_t(
    int(_match.group(1)), int(_match.group(2)), int(_match.group(3)),
    (_match.group(4) or '').lstrip('.'), '')
del _match

#: Public name -> module that defines it.
_LAZY = {
    'Celery': 'celery.app.base',
    'Task': 'celery.app.task',
    'shared_task': 'celery.app',
    'current_app': 'celery._state',
    'current_task': 'celery._state',
    'Signature': 'celery.canvas',
    'chain': 'celery.canvas',
    'chord': 'celery.canvas',
    'chunks': 'celery.canvas',
    'group': 'celery.canvas',
    'maybe_signature': 'celery.canvas',
    'signature': 'celery.canvas',
    'subtask': 'celery.canvas',
    'xmap': 'celery.canvas',
    'xstarmap': 'celery.canvas',
    'uuid': 'celery.utils.uuid',
}

__all__ = (
    'Celery', 'Task', 'shared_task', 'current_app', 'current_task',
    'Signature', 'chain', 'chord', 'chunks', 'group', 'maybe_signature',
    'signature', 'subtask', 'xmap', 'xstarmap', 'uuid',
    'VERSION', 'version_info', '__version__', 'SERIES',
)

if TYPE_CHECKING:  # pragma: no cover - for static analysis only
    from celery._state import current_app, current_task
    from celery.app import shared_task
    from celery.app.base import Celery
    from celery.app.task import Task
    from celery.canvas import (Signature, chain, chord, chunks, group,
                               maybe_signature, signature, subtask, xmap,
                               xstarmap)
    from celery.utils.uuid import uuid


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}') from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))


def maybe_patch_concurrency(argv: list | None = None) -> None:
    """Apply green-thread monkey patches early when ``-P`` asks for them.

    Kept for code that calls it as with Celery: the eventlet and gevent
    pools are not provided here, so there is nothing to patch, and
    ``-P eventlet`` / ``-P gevent`` are refused with a clear message.
    """

"""The worker (:class:`~celery.worker.worker.WorkController`).

Imported lazily so that ``celery.worker.state`` (used by pool children and
the tracer) stays cheap to import.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ('WorkController',)

if TYPE_CHECKING:  # pragma: no cover
    from celery.worker.worker import WorkController


def __getattr__(name: str) -> Any:
    if name == 'WorkController':
        from celery.worker.worker import WorkController
        return WorkController
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')

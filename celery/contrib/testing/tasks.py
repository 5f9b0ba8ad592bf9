"""Tasks used by the test helpers: ``celery.ping``."""
from __future__ import annotations

from celery import shared_task

__all__ = ('ping',)


@shared_task(name='celery.ping')
def ping() -> str:
    """Return ``'pong'``: proves a worker runs tasks."""
    return 'pong'

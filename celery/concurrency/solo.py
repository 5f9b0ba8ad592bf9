"""The solo pool: tasks run one at a time, inline, in the worker's loop.

No child processes and no time limits; while a task runs the worker does
nothing else (no heartbeats, no remote control), so keep tasks short.
"""
from __future__ import annotations

import os
from typing import Any

from celery.concurrency.base import BasePool, apply_target
from celery.signals import worker_process_init

__all__ = ('TaskPool',)


class TaskPool(BasePool):
    """Run each task in the calling thread."""

    body_can_be_buffer = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_apply = apply_target
        self.limit = 1
        if worker_process_init.receivers:
            worker_process_init.send(sender=None)

    def _get_info(self) -> dict:
        info = super()._get_info()
        info.update({
            'max-concurrency': 1,
            'processes': [os.getpid()],
            'max-tasks-per-child': None,
            'put-guarded-by-semaphore': True,
            'timeouts': (),
        })
        return info

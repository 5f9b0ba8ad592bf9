"""Consumer step: remote control (the pidbox consumer)."""
from __future__ import annotations

from typing import Any

from celery import bootsteps
from celery.utils.log import get_logger
from celery.worker import pidbox
from celery.worker.consumer.tasks import Tasks

__all__ = ('Control',)

logger = get_logger(__name__)


class Control(bootsteps.StartStopStep):
    """Answer ``celery inspect``/``control`` (off with :setting:`worker_enable_remote_control`)."""

    requires = (Tasks,)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        self.is_green = c.pool is not None and c.pool.is_green
        self.box = pidbox.Pidbox(c)
        self.start = self.box.start
        self.stop = self.box.stop
        self.shutdown = self.box.shutdown
        super().__init__(c, **kwargs)

    def include_if(self, c: Any) -> bool:
        return bool(c.app.conf.worker_enable_remote_control and
                    c.conninfo.supports_exchange_type('fanout'))

"""Consumer step: the worker heartbeat (``c.heart``)."""
from __future__ import annotations

from typing import Any

from celery import bootsteps
from celery.worker.consumer.events import Events
from celery.worker.heartbeat import Heart as _Heart

__all__ = ('Heart',)


class Heart(bootsteps.StartStopStep):
    """Send ``worker-heartbeat`` events every few seconds (``--without-heartbeat`` to disable)."""

    requires = (Events,)

    def __init__(self, c: Any, without_heartbeat: bool = False,
                 heartbeat_interval: float | None = None, **kwargs: Any) -> None:
        self.enabled = not without_heartbeat
        self.heartbeat_interval = heartbeat_interval
        c.heart = None
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        if c.event_dispatcher is None:
            return
        c.heart = _Heart(c.timer, c.event_dispatcher, self.heartbeat_interval)
        c.heart.start()

    def stop(self, c: Any) -> None:
        heart, c.heart = c.heart, None
        if heart is not None:
            heart.stop()

    shutdown = stop

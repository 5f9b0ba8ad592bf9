"""Consumer step: the event dispatcher (``c.event_dispatcher``).

Worker events (heartbeats, online/offline) are sent when heartbeats or
gossip are on; task events only with ``-E`` (or ``enable_events``).
If the app has no events support the step does nothing.
"""
from __future__ import annotations

from typing import Any

from kombu.common import ignore_errors

from celery import bootsteps
from celery.utils.log import get_logger
from celery.worker.consumer.connection import Connection

__all__ = ('Events',)

logger = get_logger(__name__)


class Events(bootsteps.StartStopStep):
    """Create the event dispatcher on its own connection."""

    requires = (Connection,)

    def __init__(self, c: Any, task_events: bool = True, without_heartbeat: bool = False,
                 without_gossip: bool = False, **kwargs: Any) -> None:
        self.groups = None if task_events else ['worker']
        self.send_events = bool(task_events or not without_gossip or not without_heartbeat)
        self.enabled = self.send_events
        c.event_dispatcher = None
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        prev = self._close(c)  # events buffered while the connection was down
        try:
            Dispatcher = c.app.events.Dispatcher
        except (ImportError, AttributeError) as exc:
            logger.debug('events: not available (%r)', exc)
            return
        dis = c.event_dispatcher = Dispatcher(
            c.connection_for_write(), hostname=c.hostname,
            enabled=self.send_events, groups=self.groups,
        )
        if prev is not None and hasattr(dis, 'extend_buffer'):
            dis.extend_buffer(prev)
            dis.flush()

    def stop(self, c: Any) -> None:
        pass

    def _close(self, c: Any) -> Any:
        dispatcher = c.event_dispatcher
        if dispatcher is None:
            return None
        self.groups = getattr(dispatcher, 'groups', self.groups)  # enable/disable_events
        connection = getattr(dispatcher, 'connection', None)
        if connection is not None:
            ignore_errors(c, connection.close)
        ignore_errors(c, dispatcher.close)
        c.event_dispatcher = None
        return dispatcher

    def shutdown(self, c: Any) -> None:
        self._close(c)

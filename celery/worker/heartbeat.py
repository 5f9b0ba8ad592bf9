"""The worker heartbeat: ``worker-online``, ``worker-heartbeat``, ``worker-offline``.

Runs on the worker's timer (event loop thread).  Monitors (and gossip) use
the heartbeats to know which workers are alive; ``freq`` tells them how
often to expect one.
"""
from __future__ import annotations

import os
from typing import Any

from celery.signals import heartbeat_sent
from celery.worker.state import SOFTWARE_INFO, active_requests, all_total_count

__all__ = ('Heart',)


def load_average() -> tuple:
    """Return the 1, 5 and 15 minute load averages, rounded (zeros if unknown)."""
    try:
        return tuple(round(load, 2) for load in os.getloadavg())
    except (AttributeError, OSError):  # pragma: no cover - not on this platform
        return (0.0, 0.0, 0.0)


class Heart:
    """Send heartbeat events every ``interval`` seconds while events are on.

    Arguments:
        timer: the timer to schedule on.
        eventer: the event dispatcher.
        interval: seconds between heartbeats (default 2).
    """

    def __init__(self, timer: Any, eventer: Any, interval: float | None = None) -> None:
        self.timer = timer
        self.eventer = eventer
        self.interval = float(interval or 2.0)
        self.tref: Any = None
        on_enabled = getattr(eventer, 'on_enabled', None)
        on_disabled = getattr(eventer, 'on_disabled', None)
        if on_enabled is not None:  # remote enable/disable of events starts/stops us
            on_enabled.add(self.start)
        if on_disabled is not None:
            on_disabled.add(self.stop)

    def _send(self, event: str, retry: bool = True) -> Any:
        if heartbeat_sent.receivers:
            heartbeat_sent.send(sender=self)
        return self.eventer.send(event, freq=self.interval,
                                 active=len(active_requests),
                                 processed=all_total_count[0],
                                 loadavg=load_average(),
                                 retry=retry, **SOFTWARE_INFO)

    def start(self) -> None:
        if self.eventer.enabled and self.tref is None:
            self._send('worker-online')
            self.tref = self.timer.call_repeatedly(
                self.interval, self._send, ('worker-heartbeat',))

    def stop(self) -> None:
        if self.tref is not None:
            self.timer.cancel(self.tref)
            self.tref = None
            if self.eventer.enabled:
                self._send('worker-offline', retry=False)

"""``celery events --dump``: print every event as one readable line.

Lines look like::

    celery@host [2024-01-01 12:00:00.000001] heartbeat: active=0, clock=5, ...
    celery@host [2024-01-01 12:00:01.000001] task received: \
tasks.add(<uuid>) args=[2, 2] kwargs={} clock=7, ...

Task names arrive only with ``task-received``/``task-sent``; they are
remembered (for the last 4095 tasks) to label the later events of a task.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from kombu.utils.functional import LRUCache

from celery import _state
from celery.utils.time import humanize_seconds

__all__ = ('Dumper', 'evdump', 'humanize_type')

#: uuid -> ``'name(uuid) args=... kwargs=...'`` of tasks seen recently.
TASK_NAMES = LRUCache(limit=0xFFF)

HUMAN_TYPES = {
    'worker-offline': 'shutdown',
    'worker-online': 'started',
    'worker-heartbeat': 'heartbeat',
}

CONNECTION_ERROR = """\
-> Cannot connect to %s: %s.
Trying again %s
"""


def humanize_type(type: str) -> str:
    """Return a readable name for an event type (``'task received'``)."""
    type = type.lower()
    return HUMAN_TYPES.get(type) or type.replace('-', ' ')


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def _fields(event: dict) -> str:
    return ', '.join(f'{key}={event[key]}' for key in sorted(event))


class Dumper:
    """Write one line per event to ``out``."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out

    def say(self, msg: str) -> None:
        print(msg, file=self.out)
        try:
            self.out.flush()
        except (AttributeError, ValueError):
            pass

    def on_event(self, ev: dict) -> None:
        """Print ``ev`` (a received event)."""
        ev = dict(ev)
        timestamp = _utc(ev.pop('timestamp'))
        type = ev.pop('type').lower()
        hostname = ev.pop('hostname', None)
        if type.startswith('task-'):
            uuid = ev.pop('uuid', None)
            if type in ('task-received', 'task-sent'):
                task = TASK_NAMES[uuid] = '{}({}) args={} kwargs={}'.format(
                    ev.pop('name', None), uuid, ev.pop('args', None),
                    ev.pop('kwargs', None))
            else:
                task = TASK_NAMES.get(uuid, '')
            return self.format_task_event(hostname, timestamp, type, task, ev)
        fields = _fields(ev)
        sep = ':' if fields else ''
        self.say(f'{hostname} [{timestamp}] {humanize_type(type)}{sep} {fields}')

    def format_task_event(self, hostname: str | None, timestamp: datetime,
                          type: str, task: str, event: dict) -> None:
        fields = _fields(event)
        sep = ':' if fields else ''
        self.say(f'{hostname} [{timestamp}] {humanize_type(type)}{sep} {task} {fields}')


def evdump(app: Any = None, out: TextIO = sys.stdout) -> None:
    """Print the events of the cluster until interrupted, reconnecting
    when the connection is lost."""
    app = _state.app_or_default(app)
    dumper = Dumper(out=out)
    dumper.say('-> evdump: starting capture...')
    conn = app.connection_for_read().clone()

    def _error_handler(exc: Exception, interval: float) -> None:
        dumper.say(CONNECTION_ERROR % (
            conn.as_uri(), exc, humanize_seconds(interval, 'in', ' ')))

    while True:
        try:
            conn.ensure_connection(_error_handler)
            recv = app.events.Receiver(conn, handlers={'*': dumper.on_event})
            recv.capture()
        except (KeyboardInterrupt, SystemExit):
            conn.close()
            return
        except conn.connection_errors + conn.channel_errors:
            dumper.say('-> Connection lost, attempting reconnect')

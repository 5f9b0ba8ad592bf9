"""Monitoring events: send them, receive them, keep a picture of the cluster.

Workers (and clients, for ``task-sent``) publish events to the ``celeryev``
exchange; :class:`EventReceiver` consumes them and
:class:`celery.events.state.State` turns them into workers and tasks.
"""
from __future__ import annotations

from .dispatcher import EventDispatcher
from .event import Event, event_exchange, get_exchange, group_from
from .receiver import EventReceiver

__all__ = (
    'Event', 'EventDispatcher', 'EventReceiver', 'event_exchange',
    'get_exchange', 'group_from',
)

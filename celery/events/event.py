"""The event record: how one monitoring event is built and where it is sent.

An event is a plain ``dict`` with at least ``type`` and ``timestamp``; it
travels as the body of a message to the topic exchange ``celeryev`` (fanout
on Redis, whose topic emulation cannot express ``#``), routed by its type
with dashes turned into dots (``task-succeeded`` -> ``task.succeeded``).
"""
from __future__ import annotations

import time
from copy import copy
from typing import Any, Callable

from kombu import Exchange

__all__ = (
    'Event', 'event_exchange', 'get_exchange', 'group_from',
    'EVENT_EXCHANGE_NAME',
)

#: Default name of the events exchange (the ``event_exchange`` setting).
EVENT_EXCHANGE_NAME = 'celeryev'

#: The events exchange as every Celery 5 client declares it: a durable topic
#: exchange (redeclaring it with other options would fail on RabbitMQ).
event_exchange = Exchange(EVENT_EXCHANGE_NAME, type='topic')

#: Transports whose topic exchanges cannot be used for events.
_FANOUT_DRIVERS = frozenset({'redis'})


def Event(type: str, _fields: dict | None = None, __dict__: Callable = dict,
          __now__: Callable[[], float] = time.time, **fields: Any) -> dict:
    """Build an event of ``type`` from ``_fields`` and keyword fields.

    ``timestamp`` is set to now unless given.
    """
    event = __dict__(_fields, **fields) if _fields else fields
    if 'timestamp' not in event:
        event['timestamp'] = __now__()
    event['type'] = type
    return event


def group_from(type: str) -> str:
    """Return the group of an event type: ``'task'`` for ``'task-sent'``."""
    return type.split('-', 1)[0]


def routing_key_for(type: str) -> str:
    """Return the routing key events of ``type`` are published with."""
    return type.replace('-', '.')


def get_exchange(conn: Any, name: str = EVENT_EXCHANGE_NAME) -> Exchange:
    """Return the events exchange suited to the transport of ``conn``."""
    exchange = copy(event_exchange)
    if conn.transport.driver_type in _FANOUT_DRIVERS:
        exchange.type = 'fanout'
    if name != exchange.name:
        exchange.name = name
    return exchange

"""Sending events: :class:`EventDispatcher`.

A dispatcher stamps each event with the sender's node name, UTC offset, pid
and Lamport clock and publishes it to the events exchange.  It is safe to
share between threads (publishing holds a lock).  Events that cannot be
sent while the broker is away are kept (``buffer_while_offline``) and sent by
:meth:`EventDispatcher.flush`; groups named in ``buffer_group`` are batched
and published as one list per group under ``<group>.multi``.
"""
from __future__ import annotations

import os
import threading
import time
from collections import defaultdict, deque
from typing import Any, Callable, Iterable

from kombu import Producer

from celery import _state
from celery.utils.nodenames import anon_nodename
from celery.utils.time import utcoffset

from .event import Event, get_exchange, group_from, routing_key_for

__all__ = ('EventDispatcher',)


class EventDispatcher:
    """Send events to the events exchange.

    Arguments:
        connection: broker connection (or give ``channel``).
        hostname: node name put in every event (default ``gen<pid>@host``).
        enabled: start enabled; a disabled dispatcher drops events.
        groups: only send events of these groups (``{'task', 'worker'}``).
        buffer_group: groups to batch instead of sending one by one.
        buffer_limit: batch size at which a group buffer is flushed.
        on_send_buffered: called when an event was buffered, not sent.
    """

    #: Transports that cannot carry events (no fanout/topic routing).
    DISABLED_TRANSPORTS = {'sql'}

    app: Any = None

    def __init__(self, connection: Any = None, hostname: str | None = None,
                 enabled: bool = True, channel: Any = None,
                 buffer_while_offline: bool = True, app: Any = None,
                 serializer: str | None = None, groups: Iterable[str] | None = None,
                 delivery_mode: int = 1, buffer_group: Iterable[str] | None = None,
                 buffer_limit: int = 24,
                 on_send_buffered: Callable[[], Any] | None = None) -> None:
        self.app = _state.app_or_default(app or self.app)
        self.connection = connection
        self.channel = channel
        if connection is None and channel is not None:
            self.connection = channel.connection.client
        self.hostname = hostname or anon_nodename()
        self.buffer_while_offline = buffer_while_offline
        self.buffer_group = frozenset(buffer_group or ())
        self.buffer_limit = buffer_limit
        self.on_send_buffered = on_send_buffered
        self.serializer = serializer or self.app.conf.event_serializer
        self.groups = set(groups or ())
        self.delivery_mode = delivery_mode
        self.clock = self.app.clock
        self.tzoffset = [-time.timezone, -time.altzone]
        self.pid = os.getpid()
        self.headers = {'hostname': self.hostname}
        self.mutex = threading.Lock()
        self.producer: Producer | None = None
        self.on_enabled: set[Callable[[], Any]] = set()
        self.on_disabled: set[Callable[[], Any]] = set()
        self._outbound_buffer: deque = deque()
        self._group_buffer: defaultdict[str, list] = defaultdict(list)

        conninfo = self.connection or self.app.connection_for_write()
        self.exchange = get_exchange(conninfo, name=self.app.conf.event_exchange)
        self.enabled = enabled
        if conninfo.transport.driver_type in self.DISABLED_TRANSPORTS:
            self.enabled = False
        if self.enabled:
            self.enable()

    def __enter__(self) -> EventDispatcher:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- switching on and off ------------------------------------------------

    def enable(self) -> None:
        """Start sending events (creates the producer)."""
        self.producer = Producer(self.channel or self.connection,
                                 exchange=self.exchange,
                                 serializer=self.serializer,
                                 auto_declare=False)
        self.enabled = True
        for callback in self.on_enabled:
            callback()

    def disable(self) -> None:
        """Stop sending events."""
        if self.enabled:
            self.enabled = False
            self.close()
            for callback in self.on_disabled:
                callback()

    def close(self) -> None:
        """Drop the producer; the dispatcher can be enabled again later."""
        self.producer = None

    @property
    def publisher(self) -> Producer | None:
        """Alias of :attr:`producer` (older name)."""
        return self.producer

    @publisher.setter
    def publisher(self, producer: Producer | None) -> None:
        self.producer = producer

    # -- sending -------------------------------------------------------------

    def _make(self, type: str, fields: dict, blind: bool,
              utcoffset: Callable[[], float], Event: Callable) -> dict:
        clock = None if blind else self.clock.forward()
        return Event(type, hostname=self.hostname, utcoffset=utcoffset(),
                     pid=self.pid, clock=clock, **fields)

    def publish(self, type: str, fields: dict, producer: Producer,
                blind: bool = False, Event: Callable = Event,
                utcoffset: Callable[[], float] = utcoffset, **kwargs: Any) -> None:
        """Publish an event of ``type`` with ``producer``.

        ``blind`` events carry no clock value (and do not advance it).
        Extra keyword arguments (``retry``, ``retry_policy``) go to
        :meth:`kombu.Producer.publish`.
        """
        event = self._make(type, fields, blind, utcoffset, Event)
        with self.mutex:
            self._publish(event, producer, routing_key_for(type), **kwargs)

    def _publish(self, event: Any, producer: Producer | None, routing_key: str,
                 retry: bool = False, retry_policy: dict | None = None) -> None:
        exchange = self.exchange
        try:
            if producer is None:
                raise RuntimeError('event dispatcher is closed')
            producer.publish(
                event, routing_key=routing_key, exchange=exchange.name,
                retry=retry, retry_policy=retry_policy, declare=[exchange],
                serializer=self.serializer, headers=self.headers,
                delivery_mode=self.delivery_mode)
        except Exception as exc:
            if not self.buffer_while_offline:
                raise
            self._outbound_buffer.append((event, routing_key, exc))

    def send(self, type: str, blind: bool = False,
             utcoffset: Callable[[], float] = utcoffset, retry: bool = False,
             retry_policy: dict | None = None, Event: Callable = Event,
             **fields: Any) -> None:
        """Send an event of ``type`` with ``fields``, if enabled.

        Events of a group not in :attr:`groups` (when set) are dropped;
        events of a buffered group are batched.
        """
        if not self.enabled:
            return
        group = group_from(type)
        if self.groups and group not in self.groups:
            return
        if group in self.buffer_group:
            buf = self._group_buffer[group]
            buf.append(self._make(type, fields, False, utcoffset, Event))
            if len(buf) >= self.buffer_limit:
                self.flush()
            elif self.on_send_buffered is not None:
                self.on_send_buffered()
            return
        self.publish(type, fields, self.producer, blind=blind, Event=Event,
                     utcoffset=utcoffset, retry=retry, retry_policy=retry_policy)

    def flush(self, errors: bool = True, groups: bool = True) -> None:
        """Send what was buffered: events that failed, and batched groups."""
        if errors:
            pending = list(self._outbound_buffer)
            self._outbound_buffer.clear()
            with self.mutex:
                for event, routing_key, _ in pending:
                    self._publish(event, self.producer, routing_key)
        if groups:
            with self.mutex:
                for group, events in self._group_buffer.items():
                    if events:
                        batch = list(events)
                        events.clear()
                        self._publish(batch, self.producer, f'{group}.multi')

    def extend_buffer(self, other: EventDispatcher) -> None:
        """Take over the unsent events of another dispatcher."""
        self._outbound_buffer.extend(other._outbound_buffer)

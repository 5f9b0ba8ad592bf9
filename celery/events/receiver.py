"""Receiving events: :class:`EventReceiver`.

A receiver binds its own queue (``<event_queue_prefix>.<node id>``, short
lived, auto-deleted) to the events exchange and calls a handler per event
type (``'*'`` catches all).  Incoming events are made comparable across
hosts first: the timestamp is moved into local time using the sender's
``utcoffset``, and the local Lamport clock is synchronised with the event's
clock.  One receiver is meant to be used by one thread.
"""
from __future__ import annotations

import time
from operator import itemgetter
from typing import Any, Callable, Iterator

from kombu import Queue
from kombu.connection import maybe_channel
from kombu.mixins import ConsumerMixin

from celery import _state
from celery.exceptions import ImproperlyConfigured
from celery.utils.time import adjust_timestamp
from celery.utils.uuid import uuid

from .event import get_exchange

__all__ = ('EventReceiver',)

#: Clock correction for ``task-sent`` events: clients never synchronise
#: their clocks, so their value cannot be trusted.
CLIENT_CLOCK_SKEW = -1

_tzfields = itemgetter('utcoffset', 'timestamp')


class EventReceiver(ConsumerMixin):
    """Capture events from the events exchange.

    Arguments:
        channel: a connection or channel to the broker.
        handlers: ``{event_type: callback(event)}``; ``'*'`` for the rest.
        routing_key: which events to bind (``'#'`` all, ``'task.#'``...).
        node_id: unique part of the queue name (default a new uuid).
    """

    app: Any = None

    def __init__(self, channel: Any, handlers: dict[str, Callable] | None = None,
                 routing_key: str = '#', node_id: str | None = None,
                 app: Any = None, queue_prefix: str | None = None,
                 accept: Any = None, queue_ttl: float | None = None,
                 queue_expires: float | None = None,
                 queue_exclusive: bool | None = None,
                 queue_durable: bool | None = None) -> None:
        self.app = _state.app_or_default(app or self.app)
        conf = self.app.conf
        self.channel = maybe_channel(channel)
        self.handlers = {} if handlers is None else handlers
        self.routing_key = routing_key
        self.node_id = node_id or uuid()
        self.queue_prefix = queue_prefix or conf.event_queue_prefix
        self.exchange = get_exchange(
            self.connection or self.app.connection_for_write(),
            name=conf.event_exchange)
        queue_ttl = conf.event_queue_ttl if queue_ttl is None else queue_ttl
        queue_expires = (conf.event_queue_expires if queue_expires is None
                         else queue_expires)
        queue_exclusive = (conf.event_queue_exclusive if queue_exclusive is None
                           else queue_exclusive)
        queue_durable = (conf.event_queue_durable if queue_durable is None
                         else queue_durable)
        if queue_exclusive and queue_durable:
            raise ImproperlyConfigured(
                'event_queue_exclusive and event_queue_durable cannot both be '
                'enabled: an exclusive queue is deleted with its connection.')
        self.queue = Queue(
            f'{self.queue_prefix}.{self.node_id}',
            exchange=self.exchange, routing_key=self.routing_key,
            auto_delete=not queue_durable, durable=queue_durable,
            exclusive=queue_exclusive,
            message_ttl=queue_ttl, expires=queue_expires)
        self.clock = self.app.clock
        self.adjust_clock = self.clock.adjust
        self.forward_clock = self.clock.forward
        if accept is None:
            accept = {conf.event_serializer, 'json'}
        self.accept = accept

    @property
    def connection(self) -> Any:
        """The connection the receiver was created with (or ``None``)."""
        return self.channel.connection.client if self.channel else None

    # -- ConsumerMixin hooks -------------------------------------------------

    def get_consumers(self, Consumer: Callable, channel: Any) -> list:
        return [Consumer(queues=[self.queue], callbacks=[self._receive],
                         no_ack=True, accept=self.accept)]

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any,
                         wakeup: bool = True, **kwargs: Any) -> None:
        if wakeup:
            self.wakeup_workers(channel=channel)

    # -- public API ----------------------------------------------------------

    def itercapture(self, limit: int | None = None, timeout: float | None = None,
                    wakeup: bool = True) -> Iterator[None]:
        """Consume events, yielding after each message received.

        Raises :exc:`socket.timeout` when nothing came for ``timeout`` seconds.
        """
        return self.consume(limit=limit, timeout=timeout, wakeup=wakeup)

    def capture(self, limit: int | None = None, timeout: float | None = None,
                wakeup: bool = True) -> None:
        """Consume events until ``limit`` messages or ``timeout`` (forever
        when both are ``None``); with ``wakeup`` workers are first asked to
        send a heartbeat so that they show up at once."""
        for _ in self.consume(limit=limit, timeout=timeout, wakeup=wakeup):
            pass

    def wakeup_workers(self, channel: Any = None) -> None:
        """Ask every worker to send a heartbeat now."""
        self.app.control.broadcast('heartbeat', connection=self.connection,
                                   channel=channel)

    def process(self, type: str, event: dict) -> None:
        """Call the handler registered for ``type`` (or ``'*'``)."""
        handler = self.handlers.get(type) or self.handlers.get('*')
        if handler is not None:
            handler(event)

    def event_from_message(self, body: dict, localize: bool = True,
                           now: Callable[[], float] = time.time,
                           tzfields: Callable = _tzfields,
                           adjust_timestamp: Callable = adjust_timestamp,
                           CLIENT_CLOCK_SKEW: int = CLIENT_CLOCK_SKEW) -> tuple[str, dict]:
        """Return ``(type, event)`` with clock and timestamp made local.

        Adds ``local_received``, the time the event arrived here.
        """
        type = body['type']
        if type == 'task-sent':
            clock = body['clock'] = (self.clock.value or 1) + CLIENT_CLOCK_SKEW
            self.adjust_clock(clock)
        else:
            try:
                clock = body['clock']
            except KeyError:
                body['clock'] = self.forward_clock()
            else:
                if clock is not None:
                    self.adjust_clock(clock)
        if localize:
            try:
                offset, timestamp = tzfields(body)
            except KeyError:
                pass
            else:
                body['timestamp'] = adjust_timestamp(timestamp, offset)
        body['local_received'] = now()
        return type, body

    def _receive(self, body: Any, message: Any) -> None:
        if isinstance(body, list):  # a batch: '<group>.multi'
            for item in body:
                self.process(*self.event_from_message(item))
        else:
            self.process(*self.event_from_message(body))

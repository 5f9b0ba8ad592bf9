"""Batched acknowledgements for the task channel.

AMQP (:class:`AckBatcher`): ``basic.ack(multiple=True)``.  Redis
(:class:`RedisAckBatcher`): the unacked-index removals of many messages in
one pipeline.

Acks asked for while the event loop handles a burst of messages and pool
results are sent together, before the loop waits again: one
``basic.ack(multiple=True)`` for the longest run of deliveries, in delivery
order, that are all acked.  A delivery still held (an ETA task, a running
late-ack task) ends the run; acks after it are sent one by one, so nothing
is ever acknowledged that was not meant to be.  Rejects are never batched.

Outside the event loop (shutdown) acks are sent at once.  Loop thread only.
"""
from __future__ import annotations

import struct
from collections import deque
from typing import Any, Callable

from amqp.channel import Channel as _AmqpChannel
from amqp.exceptions import RecoverableConnectionError

from celery.utils import _pins
from celery.utils.log import get_logger

__all__ = ('AckBatcher', 'RedisAckBatcher', 'for_channel')

logger = get_logger(__name__)

#: Pending deliveries kept before the settled ones behind a held one are dropped.
COMPACT_AFTER = 1000

#: A ``basic.ack`` method frame: type 1, channel, payload size 13, class 60 method 80,
#: delivery tag, the ``multiple`` bit, frame end (checked against py-amqp's own in tests).
_ACK_FRAME = struct.Struct('>BHIHHQBB')
_AMQP_BASIC_ACK = _AmqpChannel.basic_ack


def _ack_frames_writer(channel: Any) -> Callable[[list], None] | None:
    """A function sending ``basic.ack`` frames of ``channel`` in one write, or None.

    py-amqp builds and writes each ack frame on its own through several
    layers; a batch flush needs only fixed-size frames, written together.
    Only for py-amqp channels whose ``basic_ack`` is py-amqp's (else None:
    the channel's ``basic_ack`` is used).
    """
    if (not isinstance(channel, _AmqpChannel) or type(channel).basic_ack is not _AMQP_BASIC_ACK
            or not _pins.verified('amqp-ack')):
        return None
    pack = _ACK_FRAME.pack

    def write(acks: list) -> None:
        connection = channel.connection
        transport = getattr(connection, 'transport', None)
        if transport is None:
            raise RecoverableConnectionError('connection already closed')
        number = channel.channel_id
        transport.write(b''.join([pack(1, number, 13, 60, 80, tag, multiple, 206)
                                  for tag, multiple in acks]))
        connection.bytes_sent += 1  # what py-amqp's heartbeat check looks at
    return write


class AckBatcher:
    """Collects the acks of one channel's deliveries and sends them in batches."""

    def __init__(self, channel: Any, connection_errors: tuple = (),
                 threshold: int = 1) -> None:
        self.channel = channel
        #: Send as soon as this many acks are waiting (keeps the broker busy).
        self.threshold = max(1, threshold)
        self.connection_errors = connection_errors
        #: Messages delivered and not yet known to be settled, in delivery order.
        self.pending: deque = deque()
        #: Delivery tags acked by us, not yet sent.
        self.ready: set = set()
        #: False outside the event loop: acks go out immediately.
        self.batching = True
        self._compact_at = COMPACT_AFTER
        self._write_acks = _ack_frames_writer(channel)

    def delivered(self, message: Any) -> None:
        """Record a delivery (call for every message of the channel, in order)."""
        self.pending.append(message)

    def ack(self, message: Any) -> None:
        """Acknowledge ``message`` (now, or at the next :meth:`flush`)."""
        if message.acknowledged:
            return
        if not self.batching:
            message.ack_log_error(logger, self.connection_errors)
            return
        message._state = 'ACK'  # kombu: the message counts as acknowledged now
        ready = self.ready
        ready.add(message.delivery_tag)
        if len(ready) >= self.threshold:
            self.flush()

    def flush(self) -> None:
        """Send the acks collected so far."""
        ready = self.ready
        if not ready:
            return
        pending = self.pending
        last = None
        while pending:
            message = pending[0]
            tag = message.delivery_tag
            if tag in ready:
                ready.discard(tag)
                last = tag
            elif not message.acknowledged:
                break  # still held: later acks can't be folded into one
            pending.popleft()
        try:
            if self._write_acks is not None:
                acks = [(last, True)] if last is not None else []
                acks.extend((tag, False) for tag in ready)  # behind a held delivery
                self._write_acks(acks)
            else:
                if last is not None:
                    self.channel.basic_ack(last, multiple=True)
                for tag in ready:  # behind a held delivery: one by one
                    self.channel.basic_ack(tag)
        except self.connection_errors as exc:
            logger.critical("Couldn't ack %r, reason:%r", last, exc, exc_info=True)
        ready.clear()
        if len(pending) > self._compact_at:
            # a long-held delivery: forget the settled ones queued behind it
            self.pending = deque(m for m in pending if not m.acknowledged)
            self._compact_at = max(COMPACT_AFTER, 2 * len(self.pending))

    def stop_batching(self) -> None:
        """Send what is collected; from now on ack immediately."""
        self.flush()
        self.batching = False


class RedisAckBatcher:
    """Acks of kombu's Redis transport, sent in one pipeline per batch.

    kombu acks a Redis message by removing it from the unacked index (a
    round trip each); here those removals are pipelined.  Order does not
    matter for Redis, so there is no held-delivery rule.
    """

    def __init__(self, channel: Any, connection_errors: tuple = (),
                 threshold: int = 1) -> None:
        self.channel = channel
        self.qos = channel.qos
        self.connection_errors = connection_errors
        self.threshold = max(1, threshold)
        self.ready: list = []
        self.batching = True

    def delivered(self, message: Any) -> None:
        pass

    def ack(self, message: Any) -> None:
        if message.acknowledged:
            return
        if not self.batching:
            message.ack_log_error(logger, self.connection_errors)
            return
        message._state = 'ACK'
        ready = self.ready
        ready.append(message.delivery_tag)
        if len(ready) >= self.threshold:
            self.flush()

    def flush(self) -> None:
        tags = self.ready
        if not tags:
            return
        self.ready = []
        qos = self.qos
        try:
            with qos.pipe_or_acquire() as pipe:
                for tag in tags:
                    qos._remove_from_indices(tag, pipe)
                pipe.execute()
        except self.connection_errors as exc:
            logger.critical("Couldn't ack %r, reason:%r", tags, exc, exc_info=True)
            return
        forget = super(type(qos), qos).ack  # the in-memory part of kombu's ack
        for tag in tags:
            forget(tag)

    def stop_batching(self) -> None:
        self.flush()
        self.batching = False


def for_channel(channel: Any, driver_type: str, connection_errors: tuple,
                threshold: int) -> Any:
    """Return the batcher for the task channel, or None to ack one by one."""
    if driver_type == 'amqp':
        return AckBatcher(channel, connection_errors, threshold)
    qos = getattr(channel, 'qos', None)
    if driver_type == 'redis' and hasattr(qos, '_remove_from_indices') and \
            hasattr(qos, 'pipe_or_acquire'):
        _reuse_sync_client(channel)
        return RedisAckBatcher(channel, connection_errors, threshold)
    return None


def _reuse_sync_client(channel: Any) -> None:
    """Make kombu's Redis channel reuse one client for its synchronous commands.

    kombu builds a new ``redis.Redis`` object (and its ~170 response
    callbacks) for every delivery and ack; the client is only a front for
    the channel's connection pool, so one per channel does the same.
    """
    create = getattr(channel, '_create_client', None)
    if create is None or getattr(create, '_celery_cached', False):
        return
    cache: dict = {}

    def _create_client(asynchronous: bool = False) -> Any:
        if asynchronous:
            return create(asynchronous=True)
        client = cache.get('client')
        if client is None:
            client = cache['client'] = create()
        return client

    _create_client._celery_cached = True  # type: ignore[attr-defined]
    channel._create_client = _create_client

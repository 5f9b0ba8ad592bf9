"""Consumer step: the task consumer (``c.task_consumer``) and its prefetch (``c.qos``).

On kombu's Redis transport the step also keeps the messages the worker
holds unacknowledged (ETA tasks on the timer, reserved and running
late-ack tasks) visible to no one else: a Redis message not acked within
``visibility_timeout`` is put back in its queue by whichever consumer
sweeps first, so a live worker re-stamps the delivery time of its unacked
messages every quarter of the timeout.  A worker that dies stops doing so,
and its messages come back after the timeout as before.

With our Redis transport (:mod:`celery.transports.redis`) the channel
collects acks itself and sends them once per loop tick, so no ack batcher
sits in front of it; when the step stops, what it collected goes out and
later acks are sent at once.

With :setting:`worker_disable_prefetch` (Redis only, as in Celery) the
channel takes a message only while a pool process is free: the worker holds
no task it cannot start, so waiting tasks stay in the queue for other
workers.
"""
from __future__ import annotations

from time import time
from typing import Any

from kombu.common import QoS, ignore_errors

from celery import bootsteps
from celery.utils.log import get_logger
from celery.worker import state
from celery.worker.consumer import acks
from celery.worker.consumer.mingle import Mingle

__all__ = ('Tasks',)

logger = get_logger(__name__)


class Tasks(bootsteps.StartStopStep):
    """Consume the task queues with ``prefetch_count = concurrency * multiplier``."""

    requires = (Mingle,)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        c.task_consumer = c.qos = c.acker = None
        self._visibility_tref: Any = None
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        qos_global = self.qos_global(c)
        # the first basic.qos goes out now, before consuming starts
        c.connection.default_channel.basic_qos(0, c.initial_prefetch_count, qos_global)
        c.task_consumer = c.app.amqp.TaskConsumer(c.connection, on_decode_error=c.on_decode_error)
        c.acker = None if batches_acks(c.task_consumer.channel) else acks.for_channel(
            c.task_consumer.channel, c.connection.transport.driver_type,
            c.connection_errors, threshold=max(1, c.initial_prefetch_count // 2))
        c.update_strategies()

        def set_prefetch_count(prefetch_count: int) -> Any:
            return c.task_consumer.qos(prefetch_count=prefetch_count, apply_global=qos_global)

        eta_limit = c.app.conf.worker_eta_task_limit
        c.qos = QoS(set_prefetch_count, c.initial_prefetch_count,
                    max_prefetch=eta_limit if eta_limit else None)
        if getattr(c.controller, 'disable_prefetch', False):
            fetch_only_for_free_processes(c)
        self._cancel_refresh()  # a restart without stop: not the old channel's too
        self._visibility_tref = keep_unacked_visible(c)

    @staticmethod
    def qos_global(c: Any) -> bool:
        """RabbitMQ >= 3.3 applies ``basic.qos`` per consumer unless asked globally."""
        if c.app.conf.worker_detect_quorum_queues:
            for queue in c.app.amqp.queues.values():
                arguments = getattr(queue, 'queue_arguments', None) or {}
                if arguments.get('x-queue-type') == 'quorum':
                    return False
        return not c.connection.qos_semantics_matches_spec

    def _cancel_refresh(self) -> None:
        if self._visibility_tref is not None:
            self._visibility_tref.cancel()
            self._visibility_tref = None

    def stop(self, c: Any) -> None:
        self._cancel_refresh()
        if c.acker is not None:
            c.acker.stop_batching()
        if c.task_consumer is not None:
            stop_transport_ack_batching(c.task_consumer.channel)
        if c.task_consumer:
            logger.debug('Canceling task consumer...')
            ignore_errors(c, c.task_consumer.cancel)

    def shutdown(self, c: Any) -> None:
        if c.task_consumer:
            self.stop(c)
            logger.debug('Closing consumer channel...')
            ignore_errors(c, c.task_consumer.close)
            c.task_consumer = None

    def info(self, c: Any) -> dict:
        return {'prefetch_count': c.qos.value if c.qos else 'N/A'}


def batches_acks(channel: Any) -> bool:
    """True if the channel's QoS collects acks itself (``celery.transports.redis``)."""
    return getattr(getattr(channel, 'qos', None), 'batches_acks', False) is True


def stop_transport_ack_batching(channel: Any) -> None:
    """Send the acks the transport collected; from now on it sends them at once.

    The event loop that flushed them every tick has ended (shutdown, or a
    restart on a new connection).
    """
    if not batches_acks(channel):
        return
    cycle = getattr(channel.connection, 'cycle', None)
    if cycle is not None:
        cycle.batch_acks = False
    try:
        channel.qos.flush_acks()
    except Exception as exc:  # the broker is gone: they come back after its timeout
        logger.warning('Could not send collected acks: %r', exc)


#: Fraction of the visibility timeout between two refreshes, and the least interval (s).
REFRESH_FRACTION = 4
MIN_REFRESH_INTERVAL = 0.25


def keep_unacked_visible(c: Any) -> Any:
    """On Redis, refresh the unacked messages' delivery times periodically.

    Returns the timer entry (cancel it when the channel goes), or None when
    the transport has no visibility timeout to keep ahead of.
    """
    if c.connection.transport.driver_type != 'redis':
        return None
    channel = c.task_consumer.channel
    qos = getattr(channel, 'qos', None)
    timeout = getattr(channel, 'visibility_timeout', None)
    if not timeout or not all(hasattr(qos, name) for name in (
            '_delivered', '_dirty', 'pipe_or_acquire', 'unacked_index_key')):
        return None
    interval = max(float(timeout) / REFRESH_FRACTION, MIN_REFRESH_INTERVAL)
    return c.timer.call_repeatedly(interval, refresh_unacked, (qos,), priority=5)


def refresh_unacked(qos: Any) -> int:
    """Stamp the unacked messages of ``qos`` (kombu's Redis QoS) as delivered now.

    Only entries still in the unacked index are touched (``ZADD XX``): a
    message acked or restored meanwhile stays so.  Returns how many were sent.
    """
    try:
        tags = [tag for tag in list(qos._delivered) if tag not in qos._dirty]
    except RuntimeError:  # changed while copied (another thread): next time
        return 0
    if not tags:
        return 0
    try:
        with qos.pipe_or_acquire() as pipe:
            pipe.zadd(qos.unacked_index_key, dict.fromkeys(tags, time()), xx=True)
            pipe.execute()
    except Exception as exc:  # the connection step deals with a lost broker
        logger.warning('Could not refresh the visibility of %d unacked messages: %r',
                       len(tags), exc)
        return 0
    return len(tags)


def fetch_only_for_free_processes(c: Any) -> bool:
    """Limit the task channel's fetches to the free pool processes (Redis only).

    kombu's Redis transports ask the channel's QoS whether, and how many,
    messages they may take before each fetch: both answers are capped here
    by the processes not busy with (or reserved for) a received task.
    """
    if c.connection.transport.driver_type != 'redis':
        logger.warning('worker_disable_prefetch is only supported with Redis as the broker: '
                       'ignored, the prefetch limit applies')
        return False
    qos = c.task_consumer.channel.qos
    can_consume, max_estimate = qos.can_consume, qos.can_consume_max_estimate

    def free() -> int:
        autoscaler = getattr(c.controller, 'autoscaler', None)
        limit = autoscaler.max_concurrency if autoscaler else c.pool.num_processes
        return max((limit or 1) - len(state.reserved_requests), 0)

    def can_consume_if_free() -> bool:
        return free() > 0 and can_consume()

    def max_estimate_if_free() -> int:
        room = max_estimate()
        return free() if room is None else min(room, free())

    qos.can_consume = can_consume_if_free
    qos.can_consume_max_estimate = max_estimate_if_free
    return True

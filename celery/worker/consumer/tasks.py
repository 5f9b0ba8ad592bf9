"""Consumer step: the task consumer (``c.task_consumer``) and its prefetch (``c.qos``)."""
from __future__ import annotations

from typing import Any

from kombu.common import QoS, ignore_errors

from celery import bootsteps
from celery.utils.log import get_logger
from celery.worker.consumer import acks
from celery.worker.consumer.mingle import Mingle

__all__ = ('Tasks',)

logger = get_logger(__name__)


class Tasks(bootsteps.StartStopStep):
    """Consume the task queues with ``prefetch_count = concurrency * multiplier``."""

    requires = (Mingle,)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        c.task_consumer = c.qos = c.acker = None
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        qos_global = self.qos_global(c)
        # the first basic.qos goes out now, before consuming starts
        c.connection.default_channel.basic_qos(0, c.initial_prefetch_count, qos_global)
        c.task_consumer = c.app.amqp.TaskConsumer(c.connection, on_decode_error=c.on_decode_error)
        c.acker = acks.for_channel(c.task_consumer.channel,
                                   c.connection.transport.driver_type,
                                   c.connection_errors,
                                   threshold=max(1, c.initial_prefetch_count // 2))
        c.update_strategies()

        def set_prefetch_count(prefetch_count: int) -> Any:
            return c.task_consumer.qos(prefetch_count=prefetch_count, apply_global=qos_global)

        eta_limit = c.app.conf.worker_eta_task_limit
        c.qos = QoS(set_prefetch_count, c.initial_prefetch_count,
                    max_prefetch=eta_limit if eta_limit else None)

    @staticmethod
    def qos_global(c: Any) -> bool:
        """RabbitMQ >= 3.3 applies ``basic.qos`` per consumer unless asked globally."""
        if c.app.conf.worker_detect_quorum_queues:
            for queue in c.app.amqp.queues.values():
                arguments = getattr(queue, 'queue_arguments', None) or {}
                if arguments.get('x-queue-type') == 'quorum':
                    return False
        return not c.connection.qos_semantics_matches_spec

    def stop(self, c: Any) -> None:
        if c.acker is not None:
            c.acker.stop_batching()
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

"""What the worker does with a received task message: the task strategy.

The consumer keeps one strategy per registered task (``task.Strategy``,
by default :class:`Strategy`).  Called with a message, it builds the
:class:`~celery.worker.request.Request`, drops revoked and expired tasks,
sends ``task-received``, parks ETA tasks on the timer (raising the
prefetch count while they wait), queues rate-limited tasks in the task's
token bucket, and hands the rest to the pool.

A redelivered message that this worker still holds (same channel, same
delivery tag: kombu's Redis transport restores a message whose visibility
timeout passed, and it comes back to the worker that holds it) is not
scheduled a second time: the copy is dropped unacknowledged, and the ack
of the held request (by delivery tag) settles both.  Only messages marked
``redelivered`` pay for that check.

Everything that is the same for every message of the task is looked up
once, when the strategy is made.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Callable
from weakref import WeakValueDictionary

from kombu.utils.imports import symbol_by_name

from celery import signals
from celery.app.amqp import hybrid_to_proto2, proto1_to_proto2
from celery.app.trace import LOG_RECEIVED
from celery.utils.log import get_logger
from celery.worker import state

__all__ = ('default', 'Strategy', 'hybrid_to_proto2', 'proto1_to_proto2')

logger = get_logger(__name__)


class Strategy:
    """Turns messages of one task into requests and routes them.

    Arguments:
        task: the task.
        app: the app.
        consumer: the :class:`~celery.worker.consumer.Consumer`.
    """

    def __init__(self, task: Any, app: Any, consumer: Any,
                 info: Callable = logger.info, error: Callable = logger.error,
                 task_reserved: Callable = state.task_reserved, **kwargs: Any) -> None:
        self.task = task
        self.app = app
        self.consumer = consumer
        self.error = error
        self.task_reserved = task_reserved
        self.Request = symbol_by_name(task.Request)
        self.hostname = consumer.hostname
        self.connection_errors = consumer.connection_errors
        eventer = consumer.event_dispatcher
        enabled = bool(eventer is not None and eventer.enabled and task.send_events)
        #: The dispatcher, or None when task events are off for this task.
        self.eventer = eventer if enabled else None
        self.timer = consumer.timer
        self.rate_limits = not consumer.disable_rate_limits
        self.task_buckets = consumer.task_buckets
        self.handle = consumer.on_task_request
        self.utc = app.uses_utc_timezone()
        #: ``info`` when the worker logs at INFO, else None (checked once).
        self.info = info if logger.isEnabledFor(logging.INFO) else None
        #: Requests held unreserved (ETA on the timer, rate limited): task id -> request.
        self._held: WeakValueDictionary = WeakValueDictionary()

    def __call__(self, message: Any, body: Any, ack: Callable | None,
                 reject: Callable | None, callbacks: Any = None, **kwargs: Any) -> Any:
        if body is None:  # protocol 2: the pool process decodes the body
            headers, decoded, utc = message.headers, False, self.utc
        else:             # protocol 1 or hybrid: already decoded
            body, headers, decoded, utc = hybrid_to_proto2(message, body)
        req = self.Request(
            message, on_ack=ack, on_reject=reject, acker=self.consumer.acker, app=self.app,
            hostname=self.hostname, eventer=self.eventer, task=self.task,
            connection_errors=self.connection_errors, body=body,
            headers=headers, decoded=decoded, utc=utc,
        )
        if message.delivery_info.get('redelivered') and self._holds_already(req, message):
            return None
        if (req._expires is not None or req.id in state.revoked) and req.revoked():
            return None

        if self.info is not None:
            self.info(LOG_RECEIVED, {'name': req.name, 'id': req.id})
        if signals.task_received.receivers:
            signals.task_received.send(sender=self.consumer, request=req)
        if self.eventer is not None:
            self._send_received(req)

        bucket = self.task_buckets[self.task.name] if self.rate_limits else None
        if req._eta is not None:
            return self._on_eta(req, bucket)
        if bucket is not None:
            self._held[req.id] = req
            return self.consumer._limit_task(req, bucket, 1)
        self.task_reserved(req)
        if callbacks:
            for callback in callbacks:
                callback(req)
        return self.handle(req)

    def _on_eta(self, req: Any, bucket: Any) -> None:
        """Hold the request on the timer until its ETA (unacked, window raised)."""
        consumer = self.consumer
        try:
            delay = (req._eta - datetime.now(timezone.utc)).total_seconds()
        except (OverflowError, ValueError, TypeError) as exc:
            self.error("Couldn't convert ETA %r to timestamp: %r. Task: %r",
                       req._eta, exc, req.info(safe=True), exc_info=True)
            req.reject(requeue=False)
            return None
        consumer.qos.increment_eventually()
        self._held[req.id] = req
        # reserved only when due (apply_eta_task): not listed while it waits
        delay = max(delay, 0.0)
        if bucket is not None:
            self.timer.call_after(delay, consumer._limit_post_eta, (req, bucket, 1), priority=6)
        else:
            self.timer.call_after(delay, consumer.apply_eta_task, (req,), priority=6)
        return None

    def _holds_already(self, req: Any, message: Any) -> bool:
        """Whether ``message`` is a second delivery of a request this worker holds.

        It is if an unsettled request of the same task id came with the same
        delivery tag on the same channel: nothing else can be sent that way.
        """
        task_id = req.id
        held = self._held.get(task_id) or state.requests.get(task_id)
        if held is None or held.acknowledged:
            return False
        first = held.message
        if first is message or first is None or first.channel is not message.channel \
                or first.delivery_tag != message.delivery_tag:
            return False
        logger.info('Task %s[%s] was delivered again (visibility timeout) while this worker '
                    'holds it: not scheduled twice', req.name, task_id)
        return True

    def _send_received(self, req: Any) -> None:
        self.eventer.send(
            'task-received',
            uuid=req.id, name=req.name,
            args=req.argsrepr, kwargs=req.kwargsrepr,
            root_id=req.root_id, parent_id=req.parent_id,
            retries=req.request_dict.get('retries', 0),
            eta=req.eta and req.eta.isoformat(),
            expires=req.expires and req.expires.isoformat(),
        )


#: ``task.Strategy`` names this: ``default(task, app, consumer)``.
default = Strategy

"""RPC result backend (``rpc://``): results travel back as broker messages.

The client sends each task with ``reply_to`` set to its own queue (named by
``app.thread_oid``: one per app and thread, auto-deleted).  The worker
publishes every state change to that queue through the default exchange
with ``correlation_id`` set to the task id; the payload is the result
record (``{status, result, traceback, children, date_done, ..., task_id}``).  Only the client that
sent a task can read its result, and only while it runs; groups and chords
are not supported.
"""
from __future__ import annotations

import logging
import socket
from collections import OrderedDict
from typing import Any

import kombu
from kombu.common import maybe_declare
from kombu.utils.objects import cached_property

from celery import states
from celery._state import current_task, task_join_will_block
from celery.backends.asynchronous import AsyncBackendMixin, BaseResultConsumer
from celery.backends.base import Backend

__all__ = ('RPCBackend', 'ResultConsumer', 'BacklogLimitExceeded')

logger = logging.getLogger(__name__)

E_NO_CHORD_SUPPORT = (
    'The "rpc" result backend does not support chords: a chord (and a group '
    'chained to a task) needs a stored result. Use Redis, a database or '
    'Memcached as result_backend for chords.')

#: How many recent task states a client remembers for ``result.state``.
STATE_MEMORY = 4096


class BacklogLimitExceeded(Exception):
    """Too much state history to fast-forward."""


class ResultConsumer(BaseResultConsumer):
    """Consumes the client's reply queue."""

    _connection: Any = None
    _consumer: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latest: OrderedDict = OrderedDict()

    def start(self, initial_task_id: str, no_ack: bool = True, **kwargs: Any) -> None:
        self._connection = self.app.connection_for_read()
        queue = self.backend.binding
        self._consumer = kombu.Consumer(
            self._connection.default_channel, [queue], callbacks=[self.on_state_change],
            no_ack=no_ack, accept=self.accept, auto_declare=True)
        self._consumer.consume()

    def stop(self) -> None:
        try:
            if self._consumer is not None:
                self._consumer.cancel()
        finally:
            if self._connection is not None:
                self._connection.close()
            self._consumer = self._connection = None

    def on_after_fork(self) -> None:
        super().on_after_fork()
        self._consumer = None
        if self._connection is not None:
            self._connection.collect()
            self._connection = None

    def drain_events(self, timeout: float | None = None) -> None:
        if self._connection is None:
            return
        try:
            self._connection.drain_events(timeout=timeout)
        except socket.timeout:
            pass
        except self._connection.connection_errors:
            logger.warning('RPC result backend: connection lost, reconnecting.')
            self._consumer = self._connection = None
            raise

    def drain_pending(self) -> None:
        """Take every message already waiting, without blocking."""
        if self._connection is None:
            return
        for _ in range(10000):
            try:
                self._connection.drain_events(timeout=0)
            except socket.timeout:
                return

    def consume_from(self, task_id: str) -> None:
        if self._consumer is None:
            self.start(task_id)

    def cancel_for(self, task_id: str) -> None:
        # One queue serves every task of this client: nothing to cancel.
        pass

    def on_state_change(self, meta: Any, message: Any) -> None:
        if not isinstance(meta, dict) or 'status' not in meta:
            logger.warning('RPC result backend: ignoring a reply that is not a '
                           'result record: %r', meta)
            return
        task_id = meta.get('task_id')
        if task_id is None and message is not None:
            task_id = meta['task_id'] = message.properties.get('correlation_id')
        meta = self.backend.meta_from_decoded(meta)
        self.latest[task_id] = meta
        self.latest.move_to_end(task_id)
        while len(self.latest) > STATE_MEMORY:
            self.latest.popitem(last=False)
        super().on_state_change(meta, message)


class RPCBackend(Backend, AsyncBackendMixin):
    """Results sent as messages to the client's reply queue."""

    ResultConsumer = ResultConsumer
    BacklogLimitExceeded = BacklogLimitExceeded
    persistent = False
    supports_autoexpire = True
    supports_native_join = True

    retry_policy = {
        'max_retries': 20, 'interval_start': 0, 'interval_step': 1, 'interval_max': 1,
    }

    def __init__(self, app: Any, connection: Any = None, exchange: str | None = None,
                 exchange_type: str | None = None, persistent: bool | None = None,
                 serializer: str | None = None, auto_delete: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(app, serializer=serializer, **kwargs)
        conf = self.app.conf
        self._connection = connection
        self.persistent = self.prepare_persistent(persistent)
        self.delivery_mode = 2 if self.persistent else 1
        self.exchange = kombu.Exchange(None)  # the default exchange: direct to queue
        self._exchange_name = exchange or conf.get('result_exchange')
        self._exchange_type = exchange_type or conf.get('result_exchange_type')
        self.auto_delete = auto_delete
        self._init_pending()
        self.result_consumer = self.ResultConsumer(
            self, self.app, self.accept, self._pending_results, self._pending_messages)

    @cached_property
    def oid(self) -> str:
        """This client's reply queue name (``app.thread_oid``)."""
        return self.app.thread_oid

    @property
    def binding(self) -> kombu.Queue:
        """The client's reply queue."""
        return kombu.Queue(self.oid, self.exchange, self.oid, durable=True,
                           auto_delete=True, expires=self.expires)

    def _create_binding(self, task_id: str) -> kombu.Queue:
        return self.binding

    def as_uri(self, include_password: bool = True) -> str:
        return 'rpc://'

    def ensure_chords_allowed(self) -> None:
        raise NotImplementedError(E_NO_CHORD_SUPPORT)

    def on_task_call(self, producer: Any, task_id: str) -> dict:
        # Declare the reply queue before the task goes out, so no reply is
        # lost; a worker process sending subtasks has no use for replies.
        if not task_join_will_block():
            maybe_declare(self.binding(producer.channel), retry=True)
        return {}

    def destination_for(self, task_id: str, request: Any) -> tuple:
        """``(reply_to, correlation_id)`` for the result of ``task_id``."""
        if request is None:
            request = getattr(current_task, 'request', None)
            if request is None:
                raise RuntimeError(f'RPC backend missing task request for {task_id!r}')
        return request.reply_to, request.correlation_id or task_id

    def _to_result(self, task_id: str, state: str, result: Any, traceback: str | None,
                   request: Any) -> dict:
        meta = self._get_result_meta(result=self.encode_result(result, state), state=state,
                                     traceback=traceback, request=request)
        meta['task_id'] = task_id
        return meta

    def store_result(self, task_id: str, result: Any, state: str,
                     traceback: str | None = None, request: Any = None,
                     **kwargs: Any) -> Any:
        """Publish the task's state to the client's reply queue."""
        routing_key, correlation_id = self.destination_for(task_id, request)
        if not routing_key:
            return result
        with self.app.amqp.producer_pool.acquire(block=True) as producer:
            producer.publish(
                self._to_result(task_id, state, result, traceback, request),
                exchange=self.exchange, routing_key=routing_key,
                correlation_id=correlation_id, serializer=self.serializer,
                retry=True,
                retry_policy=self.retry_policy, declare=None,
                delivery_mode=self.delivery_mode)
        return result

    def get_task_meta(self, task_id: str, cache: bool = True) -> dict:
        """The latest state received for ``task_id`` (PENDING if none yet)."""
        consumer = self.result_consumer
        if consumer._consumer is None:
            consumer.consume_from(task_id)
        consumer.drain_pending()
        meta = consumer.latest.get(task_id)
        if meta is not None:
            return meta
        try:
            return self._cache[task_id]
        except KeyError:
            return {'status': states.PENDING, 'result': None}

    poll = get_task_meta

    def get_many(self, task_ids: Any, timeout: float | None = None, interval: float = 0.5,
                 no_ack: bool = True, on_message: Any = None, on_interval: Any = None,
                 max_iterations: int | None = None,
                 READY_STATES: frozenset = states.READY_STATES) -> Any:
        for task_id in set(task_ids):
            meta = dict(self.get_task_meta(task_id), task_id=task_id)
            if meta['status'] in READY_STATES:
                yield task_id, meta

    def reload_task_result(self, task_id: str) -> None:
        raise NotImplementedError('reload_task_result is not supported by the RPC backend.')

    def reload_group_result(self, group_id: str) -> None:
        raise NotImplementedError('reload_group_result is not supported by the RPC backend.')

    def save_group(self, group_id: str, result: Any) -> Any:
        raise NotImplementedError('save_group is not supported by the RPC backend.')

    def restore_group(self, group_id: str, cache: bool = True) -> Any:
        raise NotImplementedError('restore_group is not supported by the RPC backend.')

    def delete_group(self, group_id: str) -> None:
        raise NotImplementedError('delete_group is not supported by the RPC backend.')

    def _forget(self, task_id: str) -> None:
        self.result_consumer.latest.pop(task_id, None)

    def __reduce__(self, args: tuple = (), kwargs: dict | None = None) -> tuple:
        return super().__reduce__(args, dict(
            kwargs or {}, connection=self._connection, persistent=self.persistent,
            serializer=self.serializer, auto_delete=self.auto_delete,
            expires=self.expires))

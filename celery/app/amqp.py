"""The task message wire protocol and queue set-up of an app (``app.amqp``).

This is the one place that knows how a task call becomes a kombu message:

* :class:`Queues` - the queues a worker consumes from and the client
  publishes to (``task_queues``, created on demand when
  ``task_create_missing_queues`` is on);
* :meth:`AMQP.as_task_v2` / :meth:`AMQP.as_task_v1` - build the headers,
  properties and body of protocol 2 (or 1) messages;
* :meth:`AMQP.send_task_message` - publish one with the app's retry
  policy, serializer, compression and delivery mode;
* :func:`hybrid_to_proto2` / :func:`proto1_to_proto2` - read any received
  task message into the protocol 2 request shape (used by the worker).

Settings are read once, the first time a message is built or sent; change
configuration before sending the first task. Safe to use from several
threads: the only shared state is that snapshot and the kombu pools.
"""
from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterable

from kombu import Connection, Consumer, Exchange, Producer, Queue, pools
from kombu import compression as _compression
from kombu.common import Broadcast
from kombu.exceptions import EncodeError, SerializerNotInstalled
from kombu.serialization import registry as serializer_registry
from kombu.utils.functional import ChannelPromise

from celery import signals
from celery.app import _publish
from celery.app import routes as _routes
from celery.app._protocol import (INT_MIN, QUEUE_FORMAT, QUEUE_TYPES, Queues,
                                  add_seconds, check_args, check_kwargs,
                                  hybrid_to_proto2, isoformat, normalize_datetime,
                                  proto1_to_proto2, task_message, verify_seconds)
from celery.utils._pool_queue import pool_queue
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = (
    'AMQP', 'Queues', 'task_message', 'hybrid_to_proto2', 'proto1_to_proto2',
    'INT_MIN', 'QUEUE_FORMAT', 'utf8dict',
)

_DELIVERY_MODES = {'transient': 1, 'persistent': 2}


def utf8dict(d: Mapping, encoding: str = 'utf-8') -> dict:
    """Return ``d`` with bytes keys decoded (headers of some transports)."""
    return {k.decode(encoding) if isinstance(k, bytes) else k: v for k, v in d.items()}


class _Defaults:
    """Settings used for every message, read once from ``app.conf``."""

    __slots__ = ('retry', 'retry_policy', 'delivery_mode', 'serializer',
                 'compression', 'routing_key', 'utc', 'repr_maxlevels')

    def __init__(self, conf: Any) -> None:
        self.retry = conf.task_publish_retry
        self.retry_policy = dict(conf.task_publish_retry_policy or {})
        self.delivery_mode = _delivery_mode(conf.task_default_delivery_mode)
        self.serializer = conf.task_serializer
        self.compression = conf.task_compression
        self.routing_key = conf.task_default_routing_key or conf.task_default_queue
        self.utc = conf.enable_utc
        self.repr_maxlevels = conf.get('task_repr_maxlevels', 3) or 3


def _delivery_mode(mode: Any) -> int | None:
    if mode is None or isinstance(mode, int):
        return mode
    if isinstance(mode, str) and mode.isdigit():
        return int(mode)
    try:
        return _DELIVERY_MODES[mode]
    except KeyError:
        raise ValueError(
            f"Unknown delivery_mode {mode!r}: use 'persistent' (2) or 'transient' (1)"
        ) from None


_ORIGIN: list[str] = []  # this process's node name, once known


def _origin() -> str:
    """``gen<pid>@host``, the ``origin`` of messages sent by this process."""
    try:
        return _ORIGIN[0]
    except IndexError:
        _ORIGIN[:] = [anon_nodename()]
        return _ORIGIN[0]


if hasattr(os, 'register_at_fork'):  # pragma: no branch - a child has another pid
    os.register_at_fork(after_in_child=_ORIGIN.clear)


def _check_compression(task_name: str, method: str) -> None:
    try:
        _compression.get_encoder(method)
    except KeyError:
        raise ValueError(
            f'Cannot send task {task_name!r}: unknown compression {method!r} '
            f'(known: {", ".join(sorted(_compression.encoders()))})') from None


def _recoverable(connection: Any, exc: BaseException) -> bool:
    """True for an error kombu's ``retry`` would retry (connection or channel lost)."""
    return isinstance(exc, (*connection.recoverable_connection_errors,
                            *connection.recoverable_channel_errors))


class ProducerPool(pools.ProducerPool):
    """kombu's producer pool, minus the re-binding of a producer on every acquire.

    kombu hands a producer's connection back to the connection pool on
    release and, on the next acquire, binds the producer to a fresh
    connection: a new channel promise, a copy of its exchange, and a
    connection check on the first publish. That is most of the cost of
    sending one task. The connection pool is last-in first-out, so a
    producer nearly always gets its own connection back: then it keeps the
    channel it had, provided that channel is still the connection's default
    channel and the connection is up (what ``Connection.default_channel``
    would return). Otherwise, or for another connection, kombu's way.
    Connections still go back to the pool on every release, as in kombu.
    Idle producers wait in a :class:`~celery.utils._pool_queue.PoolQueue`.
    """

    def setup(self) -> None:
        self._resource = pool_queue(self._resource)
        super().setup()

    def prepare(self, p: Any) -> Any:
        if callable(p):
            p = p()
        if p._channel is None:
            conn = self._acquire_connection()
            try:
                channel = p.__dict__.pop('_last_channel', None)
                if (channel is not None and p.__connection__ is conn
                        and conn._default_channel is channel and conn.connected):
                    p._channel = channel
                else:
                    p.revive(conn)
            except BaseException:
                conn.release()
                raise
        return p

    def release(self, resource: Any) -> None:
        channel = resource._channel
        if channel is not None and not isinstance(channel, ChannelPromise):
            resource._last_channel = channel
        super().release(resource)


class AMQP:
    """Messages, queues, routing and producers of one app (``app.amqp``)."""

    Connection = Connection
    BrokerConnection = Connection
    Consumer = Consumer
    Producer = Producer
    queues_cls = Queues

    #: Callable making the exchange of queues created on the fly (``None``: direct).
    autoexchange: Callable[[str], Exchange] | None = None

    #: Longest ``argsrepr`` / ``kwargsrepr`` header, in characters.
    argsrepr_maxsize = 1024
    kwargsrepr_maxsize = 1024

    _rtable: list | None = None
    _queues: Queues | None = None
    _router: _routes.Router | None = None
    _producer_pool: Any = None

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.task_protocols = {1: self.as_task_v1, 2: self.as_task_v2}

    # -- settings ------------------------------------------------------------

    @cached_property
    def _defaults(self) -> _Defaults:
        return _Defaults(self.app.conf)

    @cached_property
    def utc(self) -> bool:
        """``enable_utc``: datetimes in messages are converted to UTC."""
        return self.app.conf.enable_utc

    @cached_property
    def create_task_message(self) -> Callable[..., task_message]:
        """:meth:`as_task_v2`, or :meth:`as_task_v1` when ``task_protocol`` is 1."""
        protocol = self.app.conf.task_protocol
        try:
            return self.task_protocols[int(protocol)]
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f'Unsupported task_protocol {protocol!r}: use 1 or 2') from None

    # -- queues and routing --------------------------------------------------

    def Queues(self, queues: Iterable[Queue] | Mapping | None,
               create_missing: bool | None = None,
               create_missing_queue_type: str | None = None,
               create_missing_queue_exchange_type: str | None = None,
               autoexchange: Callable[[str], Exchange] | None = None,
               max_priority: int | None = None) -> Queues:
        """Make a :class:`Queues` with the app's defaults.

        Without ``queues``, holds the default queue (``task_default_queue``;
        a quorum queue when ``task_default_queue_type`` is ``'quorum'``).
        """
        conf = self.app.conf
        default_routing_key = conf.task_default_routing_key or conf.task_default_queue
        if create_missing is None:
            create_missing = conf.task_create_missing_queues
        if create_missing_queue_type is None:
            create_missing_queue_type = conf.get('task_create_missing_queue_type')
        if create_missing_queue_exchange_type is None:
            create_missing_queue_exchange_type = conf.get(
                'task_create_missing_queue_exchange_type')
        if max_priority is None:
            max_priority = conf.task_queue_max_priority
        if not queues and conf.task_default_queue:
            queue_type = conf.get('task_default_queue_type') or 'classic'
            if queue_type not in QUEUE_TYPES:
                raise ValueError(
                    f'Invalid task_default_queue_type {queue_type!r}: '
                    f"use 'classic' or 'quorum'")
            queue_arguments = {'x-queue-type': 'quorum'} if queue_type == 'quorum' else None
            queues = (Queue(conf.task_default_queue, exchange=self.default_exchange,
                            routing_key=default_routing_key,
                            queue_arguments=queue_arguments),)
        return self.queues_cls(
            queues,
            default_exchange=self.default_exchange,
            create_missing=create_missing,
            create_missing_queue_type=create_missing_queue_type,
            create_missing_queue_exchange_type=create_missing_queue_exchange_type,
            autoexchange=self.autoexchange if autoexchange is None else autoexchange,
            max_priority=max_priority,
            default_routing_key=default_routing_key,
        )

    @property
    def queues(self) -> Queues:
        """The app's :class:`Queues`, from ``task_queues`` (assign to replace them)."""
        queues = self._queues
        if queues is None:
            queues = self._queues = self.Queues(self.app.conf.task_queues)
        return queues

    @queues.setter
    def queues(self, queues: Any) -> None:
        self._queues = self.Queues(queues)
        self.__dict__.pop('default_queue', None)

    @cached_property
    def default_queue(self) -> Queue:
        """The queue named by ``task_default_queue``."""
        return self.queues[self.app.conf.task_default_queue]

    @cached_property
    def default_exchange(self) -> Exchange:
        """``task_default_exchange`` (default: the default queue's name), of
        ``task_default_exchange_type``."""
        conf = self.app.conf
        return Exchange(conf.task_default_exchange or conf.task_default_queue,
                        conf.task_default_exchange_type)

    def Router(self, queues: Mapping | None = None,
               create_missing: bool | None = None) -> _routes.Router:
        """Make a :class:`~celery.app.routes.Router` over ``task_routes``."""
        if create_missing is None:
            create_missing = self.app.conf.task_create_missing_queues
        return _routes.Router(self.routes, queues or self.queues, create_missing, app=self.app)

    @property
    def routes(self) -> list:
        """The prepared ``task_routes`` routers."""
        if self._rtable is None:
            self.flush_routes()
        return self._rtable  # type: ignore[return-value]

    def flush_routes(self) -> None:
        """Read ``task_routes`` again (the router made next uses the new routes)."""
        self._rtable = _routes.prepare(self.app.conf.task_routes)
        self._router = None

    @property
    def router(self) -> _routes.Router:
        """The app's router, made on first use (assign to replace it)."""
        router = self._router
        if router is None:
            router = self._router = self.Router()
        return router

    @router.setter
    def router(self, value: _routes.Router) -> None:
        self._router = value

    # -- producers and consumers -----------------------------------------------

    @property
    def producer_pool(self) -> Any:
        """kombu producer pool over ``app.connection_for_write()`` (``app.pool`` sized)."""
        if self._producer_pool is None:
            self._producer_pool = ProducerPool(
                pools.connections[self.app.connection_for_write()],
                limit=self.app.pool.limit)
        return self._producer_pool

    publisher_pool = producer_pool

    def TaskConsumer(self, channel: Any, queues: Iterable[Queue] | None = None,
                     accept: Iterable[str] | None = None, **kw: Any) -> Consumer:
        """A consumer of task messages from the selected queues, accepting
        ``accept_content`` unless ``accept`` says otherwise."""
        if accept is None:
            accept = self.app.conf.accept_content
        return self.Consumer(channel, accept=accept,
                             queues=queues or list(self.queues.consume_from.values()), **kw)

    @cached_property
    def _event_dispatcher(self) -> Any:
        return self.app.events.Dispatcher(enabled=False)

    # -- building messages -------------------------------------------------------

    def _times(self, countdown: Any, eta: Any, expires: Any, now: datetime | None,
               timezone: Any) -> tuple[str | None, str | None]:
        """Resolve countdown/eta/expires into ISO 8601 strings (or ``None``)."""
        if countdown is not None and eta is not None:
            raise ValueError('Give eta or countdown, not both')
        if countdown is None and eta is None and expires is None:
            return None, None
        utc = self._defaults.utc
        tz = timezone or self.app.timezone
        if countdown:
            verify_seconds(countdown, 'countdown')
            now = now or self.app.now()
            eta = add_seconds(now, countdown)
        if isinstance(expires, timedelta):
            expires = expires.total_seconds()
        if isinstance(expires, numbers.Real) and not isinstance(expires, bool):
            verify_seconds(expires, 'expires')
            now = now or self.app.now()
            expires = add_seconds(now, expires)
        elif expires is not None and not isinstance(expires, (str, datetime)):
            raise TypeError(
                f'expires must be seconds, a datetime or an ISO 8601 string, not {expires!r}')
        if eta is not None and not isinstance(eta, (str, datetime)):
            raise TypeError(f'eta must be a datetime or an ISO 8601 string, not {eta!r}')
        if isinstance(eta, datetime):
            eta = normalize_datetime(eta, tz, utc)
        if isinstance(expires, datetime):
            expires = normalize_datetime(expires, tz, utc)
        return isoformat(eta), isoformat(expires)

    def as_task_v2(self, task_id: str, name: str, args: Any = None, kwargs: Any = None,
                   countdown: float | None = None, eta: Any = None,
                   group_id: str | None = None, group_index: int | None = None,
                   expires: Any = None, retries: int = 0, chord: Any = None,
                   callbacks: Any = None, errbacks: Any = None, reply_to: str | None = None,
                   time_limit: float | None = None, soft_time_limit: float | None = None,
                   create_sent_event: bool = False, root_id: str | None = None,
                   parent_id: str | None = None, shadow: str | None = None,
                   chain: Any = None, now: datetime | None = None, timezone: Any = None,
                   origin: str | None = None, ignore_result: bool = False,
                   argsrepr: str | None = None, kwargsrepr: str | None = None,
                   stamped_headers: list | None = None, replaced_task_nesting: int = 0,
                   **options: Any) -> task_message:
        """Build a protocol 2 task message.

        Raises :exc:`TypeError` for args that are not a sequence or kwargs
        that are not a mapping, :exc:`ValueError` for both eta and
        countdown or an out-of-range countdown/expires.
        """
        args = check_args(args)
        kwargs = check_kwargs(kwargs)
        eta, expires = self._times(countdown, eta, expires, now, timezone)
        if argsrepr is None:
            argsrepr = saferepr(args, self.argsrepr_maxsize, self._defaults.repr_maxlevels)
        if kwargsrepr is None:
            kwargsrepr = saferepr(kwargs, self.kwargsrepr_maxsize, self._defaults.repr_maxlevels)
        if not root_id:
            root_id = task_id
        stamps = {header: options.get(header) for header in stamped_headers} \
            if stamped_headers else {}
        headers = {
            'lang': 'py',
            'task': name,
            'id': task_id,
            'shadow': shadow,
            'eta': eta,
            'expires': expires,
            'group': group_id,
            'group_index': group_index,
            'retries': retries,
            'timelimit': [time_limit, soft_time_limit],
            'root_id': root_id,
            'parent_id': parent_id,
            'argsrepr': argsrepr,
            'kwargsrepr': kwargsrepr,
            'origin': origin or _origin(),
            'ignore_result': ignore_result,
            'replaced_task_nesting': replaced_task_nesting,
            'stamped_headers': stamped_headers,
            'stamps': stamps,
        }
        embed = {'callbacks': callbacks, 'errbacks': errbacks, 'chain': chain, 'chord': chord}
        sent_event = None
        if create_sent_event:
            sent_event = {
                'uuid': task_id, 'root_id': root_id, 'parent_id': parent_id,
                'name': name, 'args': argsrepr, 'kwargs': kwargsrepr,
                'retries': retries, 'eta': eta, 'expires': expires,
            }
        return task_message(
            headers=headers,
            properties={'correlation_id': task_id, 'reply_to': reply_to or ''},
            body=(args, kwargs, embed),
            sent_event=sent_event,
        )

    def as_task_v1(self, task_id: str, name: str, args: Any = None, kwargs: Any = None,
                   countdown: float | None = None, eta: Any = None,
                   group_id: str | None = None, group_index: int | None = None,
                   expires: Any = None, retries: int = 0, chord: Any = None,
                   callbacks: Any = None, errbacks: Any = None, reply_to: str | None = None,
                   time_limit: float | None = None, soft_time_limit: float | None = None,
                   create_sent_event: bool = False, root_id: str | None = None,
                   parent_id: str | None = None, shadow: str | None = None,
                   now: datetime | None = None, timezone: Any = None,
                   **compat_kwargs: Any) -> task_message:
        """Build a protocol 1 task message (every field in the body, no headers)."""
        args = check_args(args)
        kwargs = check_kwargs(kwargs)
        eta, expires = self._times(countdown, eta, expires, now, timezone)
        body = {
            'task': name,
            'id': task_id,
            'args': args,
            'kwargs': kwargs,
            'group': group_id,
            'group_index': group_index,
            'retries': retries,
            'eta': eta,
            'expires': expires,
            'utc': self._defaults.utc,
            'callbacks': callbacks,
            'errbacks': errbacks,
            'timelimit': (time_limit, soft_time_limit),
            'taskset': group_id,
            'chord': chord,
        }
        sent_event = None
        if create_sent_event:
            sent_event = {
                'uuid': task_id, 'name': name,
                'args': saferepr(args), 'kwargs': saferepr(kwargs),
                'retries': retries, 'eta': eta, 'expires': expires,
            }
        return task_message(
            headers={},
            properties={'correlation_id': task_id, 'reply_to': reply_to or ''},
            body=body,
            sent_event=sent_event,
        )

    # -- sending messages ----------------------------------------------------------

    def send_task_message(self, producer: Producer, name: str, message: task_message,
                          exchange: Exchange | str | None = None,
                          routing_key: str | None = None,
                          queue: Queue | str | None = None,
                          event_dispatcher: Any = None,
                          retry: bool | None = None, retry_policy: Mapping | None = None,
                          serializer: str | None = None, delivery_mode: Any = None,
                          compression: str | None = None, declare: list | None = None,
                          headers: Mapping | None = None, exchange_type: str | None = None,
                          timeout: float | None = None, confirm_timeout: float | None = None,
                          **properties: Any) -> Any:
        """Publish ``message`` (from :attr:`create_task_message`) with ``producer``.

        Without ``queue`` and ``exchange`` the default queue is used. On a
        direct exchange the message goes through the default exchange with
        the queue name as routing key; the queue is declared first (once per
        connection) unless ``declare`` says otherwise. ``headers`` are
        merged into the message headers, extra keyword arguments
        (``priority``, ``expiration``...) become message properties.
        Publishing is retried as ``task_publish_retry_policy`` (updated by
        ``retry_policy``) says; a broker still unreachable after that raises
        :exc:`kombu.exceptions.OperationalError`.
        """
        d = self._defaults
        msg_headers, msg_properties, body, sent_event = message
        if headers:
            msg_headers.update(headers)
        if properties:
            msg_properties.update(properties)

        qname = queue
        if queue is None and exchange is None:
            queue = self.default_queue
        if queue is not None:
            if isinstance(queue, str):
                qname, queue = queue, self.queues[queue]
            else:
                qname = queue.name
        queue_exchange = getattr(queue, 'exchange', None)

        if delivery_mode is None:
            delivery_mode = getattr(queue_exchange, 'delivery_mode', None) or d.delivery_mode
        else:
            delivery_mode = _delivery_mode(delivery_mode)

        if exchange_type is None:
            exchange_type = getattr(queue_exchange, 'type', None) or 'direct'

        if (not exchange or not routing_key) and exchange_type == 'direct':
            # Direct routing by queue name through the default exchange.
            exchange, routing_key = '', qname
        elif exchange is None:
            exchange = queue.exchange.name or self.default_exchange  # type: ignore[union-attr]
            routing_key = routing_key or queue.routing_key or d.routing_key  # type: ignore
        connection = producer.connection
        publish_declare = declare
        if declare is None and queue is not None and not isinstance(queue, Broadcast):
            declare = publish_declare = [queue]
            # kombu declares once per connection, but binds a copy of the
            # queue on every publish to find that out: skip that when we can.
            declared = getattr(connection, 'declared_entities', None)
            if declared and queue.can_cache_declaration and hash(queue) in declared:
                publish_declare = None

        retry = d.retry if retry is None else retry
        policy = dict(d.retry_policy, **retry_policy) if retry_policy else dict(d.retry_policy)
        serializer = serializer or d.serializer
        compression = compression or d.compression
        if compression:
            _check_compression(name, compression)

        if signals.before_task_publish.receivers:
            signals.before_task_publish.send(
                sender=name, body=body, exchange=exchange, routing_key=routing_key,
                declare=declare, headers=msg_headers, properties=msg_properties,
                retry_policy=policy,
            )
        try:
            fast = publish_declare is None and _publish.can_publish(producer, msg_properties)
            if fast:
                # Nothing to declare: kombu's publish, unrolled. With ``retry``
                # the first attempt goes without kombu's retry loop (a closure,
                # a context manager and a loop per call, for the rare publish
                # that fails); a recoverable error hands over to that loop, as
                # if the first attempt had been its own.
                if retry:
                    connection.transport_options.update(policy)  # as kombu's retry does
                try:
                    result = _publish.publish(
                        producer, body, exchange, routing_key, serializer, compression,
                        delivery_mode, msg_headers, timeout, confirm_timeout, msg_properties)
                except Exception as exc:
                    if not (retry and _recoverable(connection, exc)):
                        raise
                    fast = False
            if not fast:
                result = producer.publish(
                    body, exchange=exchange, routing_key=routing_key,
                    serializer=serializer, compression=compression,
                    retry=retry, retry_policy=policy, delivery_mode=delivery_mode,
                    declare=publish_declare, headers=msg_headers, timeout=timeout,
                    confirm_timeout=confirm_timeout, **msg_properties,
                )
        except SerializerNotInstalled as exc:
            raise SerializerNotInstalled(
                f'Cannot send task {name!r}: serializer {serializer!r} is not registered '
                f'with kombu (known: {", ".join(sorted(serializer_registry._encoders))})'
            ) from exc
        except EncodeError as exc:
            raise EncodeError(
                f'Cannot send task {name!r}: its arguments cannot be serialized '
                f'with {serializer!r}: {exc}') from exc
        except Exception:
            # A transport error becomes kombu's OperationalError, as with
            # ``retry``; translated here, so the call costs nothing when all goes well.
            with connection._reraise_as_library_errors():
                raise
        if signals.after_task_publish.receivers:
            signals.after_task_publish.send(
                sender=name, body=body, headers=msg_headers,
                exchange=exchange, routing_key=routing_key,
            )
        if sent_event:
            dispatcher = event_dispatcher or self._event_dispatcher
            exname = exchange.name if isinstance(exchange, Exchange) else exchange
            sent_event.update({'queue': qname, 'exchange': exname, 'routing_key': routing_key})
            dispatcher.publish('task-sent', sent_event, producer,
                               retry=retry, retry_policy=retry_policy)
        return result

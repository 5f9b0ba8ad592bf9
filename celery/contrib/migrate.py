"""Moving task messages between brokers and queues.

* :func:`migrate_tasks` copies every task message from one broker to another
  (``celery migrate SOURCE DEST``), optionally renaming queues.
* :func:`move` and its shortcuts (:func:`move_task_by_id`,
  :func:`move_by_idmap`, :func:`move_by_taskmap`, ``move_direct*``) move the
  messages a predicate selects to another exchange/queue on the same broker.

Messages are republished byte for byte (body, content type, headers and
properties), so signed or compressed messages stay intact. The task name and
id are read from the headers (protocol 2) or the body (protocol 1).

A message is removed from its source queue only when it is acknowledged:
``move`` acks what it moved; ``migrate_tasks`` acks only with
``ack_messages=True`` (otherwise the source keeps its copy).
"""
from __future__ import annotations

from functools import partial
from itertools import cycle, islice
from typing import Any, Callable, Iterable, Mapping

from kombu import Queue, eventloop
from kombu.common import maybe_declare
from kombu.utils.encoding import ensure_bytes

from celery._state import app_or_default
from celery.utils.nodenames import worker_direct
from celery.utils.text import str_to_list

__all__ = (
    'StopFiltering', 'State', 'republish', 'migrate_task', 'migrate_tasks', 'move',
    'task_id_eq', 'task_id_in', 'start_filter', 'move_task_by_id', 'move_by_idmap',
    'move_by_taskmap', 'move_direct', 'move_direct_by_id', 'move_direct_by_idmap',
    'move_direct_by_taskmap', 'Filterer', 'filter_callback', 'prepare_queues',
    'expand_dest', 'filter_status',
)

MOVING_PROGRESS_FMT = 'Moving task {state.filtered}/{state.strtotal}: {name}[{id}]'

#: Message properties never copied as-is when republishing.
_TRANSPORT_PROPS = ('application_headers', 'content_type', 'content_encoding', 'headers',
                    'delivery_info', 'delivery_tag', 'body_encoding')


class StopFiltering(Exception):
    """Raised by a filter callback to end the filtering early."""


class State:
    """Progress of a migration: messages seen, moved, and the approximate total."""

    count = 0
    filtered = 0
    total_apx = 0

    @property
    def strtotal(self) -> str:
        """The approximate total, or ``'?'`` when unknown."""
        return str(self.total_apx) if self.total_apx else '?'

    def __repr__(self) -> str:
        if self.filtered:
            return f'^{self.filtered}'
        return f'{self.count}/{self.strtotal}'


def _task_field(body: Any, message: Any, field: str) -> Any:
    """Read ``task``/``id`` from the headers (protocol 2) or the body (protocol 1)."""
    headers = getattr(message, 'headers', None) or {}
    value = headers.get(field)
    if value is None and isinstance(body, Mapping):
        value = body.get(field)
    if value is None and field == 'id':
        value = (getattr(message, 'properties', None) or {}).get('correlation_id')
    return value


def task_name_of(body: Any, message: Any) -> str | None:
    """The name of the task a message calls."""
    return _task_field(body, message, 'task')


def task_id_of(body: Any, message: Any) -> str | None:
    """The id of the task a message carries."""
    return _task_field(body, message, 'id')


def republish(producer: Any, message: Any, exchange: Any = None, routing_key: str | None = None,
              remove_props: Iterable[str] | None = None) -> None:
    """Publish ``message`` again, unchanged, to ``exchange``/``routing_key``.

    Both default to where the message was originally sent.
    """
    info = message.delivery_info
    headers = dict(message.headers or {})
    props = dict(message.properties or {})
    exchange = info['exchange'] if exchange is None else exchange
    routing_key = info['routing_key'] if routing_key is None else routing_key
    # The compression header is added again when the body is sent compressed.
    compression = headers.pop('compression', None)
    expiration = props.pop('expiration', None)
    # Transport-level properties are never copied; ``remove_props`` names more.
    for key in (*_TRANSPORT_PROPS, *(remove_props or ())):
        props.pop(key, None)
    producer.publish(
        ensure_bytes(message.body), exchange=exchange, routing_key=routing_key,
        compression=compression, headers=headers, content_type=message.content_type,
        content_encoding=message.content_encoding,
        expiration=float(expiration) if expiration is not None else None, **props)


def migrate_task(producer: Any, body_: Any, message: Any,
                 queues: Mapping[str, str] | None = None) -> None:
    """Republish one message with ``producer``, renaming exchange/queue per ``queues``."""
    info = message.delivery_info
    queues = {} if queues is None else queues
    republish(producer, message, exchange=queues.get(info['exchange']),
              routing_key=queues.get(info['routing_key']))


def filter_callback(callback: Callable, tasks: Iterable[str]) -> Callable:
    """Wrap ``callback(body, message)`` to run only for messages of ``tasks``."""
    wanted = set(tasks or ())

    def filtered(body: Any, message: Any) -> Any:
        if wanted and task_name_of(body, message) not in wanted:
            return None
        return callback(body, message)
    return filtered


def prepare_queues(queues: Any) -> dict[str, str]:
    """Normalize ``'a,b:c'`` / ``['a', 'b:c']`` / mapping to ``{source: dest}``."""
    if isinstance(queues, str):
        queues = queues.split(',')
    if isinstance(queues, (list, tuple)):
        queues = dict(tuple(islice(cycle(q.split(':')), None, 2)) for q in queues if q)
    return {} if queues is None else dict(queues)


def migrate_tasks(source: Any, dest: Any, migrate: Callable = migrate_task, app: Any = None,
                  queues: Any = None, **kwargs: Any) -> State:
    """Copy the task messages of connection ``source`` to connection ``dest``.

    Arguments:
        queues: Queues to migrate, optionally renamed: ``'a,b:c'`` moves
            ``a`` to ``a`` and ``b`` to ``c`` (default: the app's queues).
        **kwargs: Options of :func:`start_filter` (``limit``, ``timeout``,
            ``ack_messages``, ``tasks``, ``callback``, ``forever``).
    """
    app = app_or_default(app)
    queues = prepare_queues(queues)
    producer = app.amqp.Producer(dest, auto_declare=False)
    migrate = partial(migrate, producer, queues=queues)

    def on_declare_queue(queue: Queue) -> None:
        new_queue = queue(producer.channel)
        new_queue.name = queues.get(queue.name, queue.name)
        if new_queue.routing_key == queue.name:
            new_queue.routing_key = queues.get(queue.name, new_queue.routing_key)
        if new_queue.exchange.name == queue.name:
            new_queue.exchange.name = queues.get(queue.name, queue.name)
        new_queue.declare()

    return start_filter(app, source, migrate, queues=queues,
                        on_declare_queue=on_declare_queue, **kwargs)


def _maybe_queue(app: Any, q: Any) -> Queue:
    if isinstance(q, str):
        return app.amqp.queues[q]
    return q


def expand_dest(ret: Any, exchange: Any, routing_key: str | None) -> tuple:
    """``(exchange, routing_key)`` from a predicate's return value, or the defaults."""
    try:
        ex, rk = ret
    except (TypeError, ValueError):
        ex, rk = exchange, routing_key
    return ex, rk


def move(predicate: Callable, connection: Any = None, exchange: Any = None,
         routing_key: str | None = None, source: Iterable[Any] | None = None, app: Any = None,
         callback: Callable | None = None, limit: int | None = None,
         transform: Callable | None = None, **kwargs: Any) -> State:
    """Move the messages ``predicate(body, message)`` selects to another queue.

    The predicate returns where a message goes: a :class:`~kombu.Queue`, an
    ``(exchange, routing_key)`` pair, or any other true value for the
    ``exchange``/``routing_key`` arguments; a false value leaves the message
    where it is. ``transform`` may rewrite that value first (for example a
    worker name into its direct queue).

    Arguments:
        source: Queues (names or :class:`~kombu.Queue`) to read; default:
            the app's task queues.
        callback: Called as ``callback(state, body, message)`` after each move.
        limit: Stop after moving this many messages.
        **kwargs: Options of :func:`start_filter`.
    """
    app = app_or_default(app)
    queues = [_maybe_queue(app, queue) for queue in source or []] or None
    with app.connection_or_acquire(connection, pool=False) as conn:
        producer = app.amqp.Producer(conn)
        state = State()

        def on_task(body: Any, message: Any) -> None:
            ret = predicate(body, message)
            if not ret:
                return
            if transform:
                ret = transform(ret)
            if isinstance(ret, Queue):
                maybe_declare(ret, conn.default_channel)
                ex, rk = ret.exchange.name, ret.routing_key
            else:
                ex, rk = expand_dest(ret, exchange, routing_key)
            republish(producer, message, exchange=ex, routing_key=rk)
            message.ack()
            state.filtered += 1
            if callback:
                callback(state, body, message)
            if limit and state.filtered >= limit:
                raise StopFiltering()

        return start_filter(app, conn, on_task, consume_from=queues, state=state, **kwargs)


def task_id_eq(task_id: str, body: Any, message: Any) -> bool:
    """Predicate: the message carries task ``task_id``."""
    return task_id_of(body, message) == task_id


def task_id_in(ids: Iterable[str], body: Any, message: Any) -> bool:
    """Predicate: the message carries one of the task ids ``ids``."""
    return task_id_of(body, message) in ids


class Filterer:
    """Consumes task messages and runs a filter on each (see :func:`start_filter`)."""

    def __init__(self, app: Any, conn: Any, filter: Callable, limit: int | None = None,
                 timeout: float = 1.0, ack_messages: bool = False, tasks: Any = None,
                 queues: Any = None, callback: Callable | None = None, forever: bool = False,
                 on_declare_queue: Callable | None = None, consume_from: Any = None,
                 state: State | None = None, accept: Iterable[str] | None = None,
                 **kwargs: Any) -> None:
        self.app = app
        self.conn = conn
        self.filter = filter
        self.limit = limit
        self.timeout = timeout
        self.ack_messages = ack_messages
        self.tasks = set(str_to_list(tasks) or [])
        self.queues = prepare_queues(queues)
        self.callback = callback
        self.forever = forever
        self.on_declare_queue = on_declare_queue
        self.consume_from = [_maybe_queue(self.app, q)
                             for q in consume_from or list(self.queues)]
        self.state = state or State()
        self.accept = accept

    def start(self) -> State:
        """Consume until ``timeout`` seconds pass without a message (or ``limit``)."""
        with self.prepare_consumer(self.create_consumer()):
            try:
                for _ in eventloop(self.conn, timeout=self.timeout,
                                   ignore_timeouts=self.forever):
                    pass
            except (TimeoutError, StopFiltering):
                pass
        return self.state

    def update_state(self, body: Any, message: Any) -> None:
        """Count a message; stop at the limit."""
        self.count_message(body, message)
        self.check_limit(body, message)

    def count_message(self, body: Any, message: Any) -> None:
        self.state.count += 1

    def check_limit(self, body: Any, message: Any) -> None:
        if self.limit and self.state.count >= self.limit:
            raise StopFiltering()

    def ack_message(self, body: Any, message: Any) -> None:
        message.ack()

    def create_consumer(self) -> Any:
        return self.app.amqp.TaskConsumer(self.conn, queues=self.consume_from or None,
                                          accept=self.accept)

    def prepare_consumer(self, consumer: Any) -> Any:
        """Register, in order: the filter, counting, acking, the callback, the limit."""
        steps = [self.filter, self.count_message]
        if self.ack_messages:
            steps.append(self.ack_message)
        if self.callback is not None:
            steps.append(partial(self.callback, self.state))
        # The limit is checked last, so the message that reaches it is
        # handled (acked, reported) like the others.
        steps.append(self.check_limit)
        for step in steps:
            consumer.register_callback(
                filter_callback(step, self.tasks) if self.tasks else step)
        self.declare_queues(consumer)
        return consumer

    def declare_queues(self, consumer: Any) -> None:
        """Declare the queues on the destination and add up their message counts."""
        for queue in consumer.queues:
            if self.queues and queue.name not in self.queues:
                continue
            if self.on_declare_queue is not None:
                self.on_declare_queue(queue)
            try:
                _, mcount, _ = queue(consumer.channel).queue_declare(passive=True)
            except self.conn.channel_errors:
                continue
            if mcount:
                self.state.total_apx += mcount


def start_filter(app: Any, conn: Any, filter: Callable, limit: int | None = None,
                 timeout: float = 1.0, ack_messages: bool = False, tasks: Any = None,
                 queues: Any = None, callback: Callable | None = None, forever: bool = False,
                 on_declare_queue: Callable | None = None, consume_from: Any = None,
                 state: State | None = None, accept: Iterable[str] | None = None,
                 **kwargs: Any) -> State:
    """Run ``filter(body, message)`` on the task messages of ``conn``; return the State.

    Arguments:
        limit: Stop after this many messages.
        timeout: Stop after this many seconds without a message.
        ack_messages: Acknowledge (remove) each message after filtering it.
        tasks: Only these task names (list or comma-separated string).
        queues: Queue names to consume (``{source: dest}`` or ``'a,b:c'``).
        callback: Called as ``callback(state, body, message)`` after the filter.
        forever: Keep going after timeouts.
        consume_from: Queues to consume (names or Queues), instead of ``queues``.
        accept: Content types to accept (default: ``accept_content``).
    """
    return Filterer(
        app, conn, filter, limit=limit, timeout=timeout, ack_messages=ack_messages,
        tasks=tasks, queues=queues, callback=callback, forever=forever,
        on_declare_queue=on_declare_queue, consume_from=consume_from, state=state,
        accept=accept, **kwargs).start()


def move_task_by_id(task_id: str, dest: Any, **kwargs: Any) -> State:
    """Move the task ``task_id`` to ``dest`` (a Queue or an (exchange, routing_key))."""
    return move_by_idmap({task_id: dest}, **kwargs)


def move_by_idmap(map: Mapping[str, Any], **kwargs: Any) -> State:
    """Move tasks by id: ``{task_id: destination}``; stops once all were found."""
    def task_id_in_map(body: Any, message: Any) -> Any:
        return map.get(task_id_of(body, message))
    return move(task_id_in_map, limit=len(map), **kwargs)


def move_by_taskmap(map: Mapping[str, Any], **kwargs: Any) -> State:
    """Move tasks by name: ``{task_name: destination}``."""
    def task_name_in_map(body: Any, message: Any) -> Any:
        return map.get(task_name_of(body, message))
    return move(task_name_in_map, **kwargs)


def filter_status(state: State, body: Any, message: Any, **kwargs: Any) -> None:
    """A ``callback`` printing progress."""
    print(MOVING_PROGRESS_FMT.format(state=state, name=task_name_of(body, message),
                                     id=task_id_of(body, message), **kwargs))


move_direct = partial(move, transform=worker_direct)
move_direct_by_id = partial(move_task_by_id, transform=worker_direct)
move_direct_by_idmap = partial(move_by_idmap, transform=worker_direct)
move_direct_by_taskmap = partial(move_by_taskmap, transform=worker_direct)

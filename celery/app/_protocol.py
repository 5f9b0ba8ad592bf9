"""Wire-level pieces of :mod:`celery.app.amqp`: message fields, readers, queues.

Private: :mod:`celery.app.amqp` re-exports the public names
(:data:`task_message`, :class:`Queues`, :func:`hybrid_to_proto2`,
:func:`proto1_to_proto2`), and ``Queues`` reports that module as its home.

Sending side: ETA and expiry become ISO 8601 strings with an explicit UTC
offset; task arguments are checked before anything is serialized.

Receiving side: the readers turn a message of protocol 1 (everything in a
dict body), a "hybrid" (protocol 1 body plus headers) or protocol 2 into one
request shape, ``((args, kwargs, embed), headers, decoded, utc)`` where
``headers`` has the protocol 2 keys. They run in the worker's consumer for
old-protocol messages only, and never mutate the decoded body they get.

Queues: :class:`Queues` is the name -> :class:`kombu.Queue` mapping behind
``task_queues`` and the worker's ``-Q``/``-X`` selection.
"""
from __future__ import annotations

import numbers
from collections import namedtuple
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Iterable
from weakref import WeakValueDictionary

from kombu import Exchange, Queue
from kombu.utils.functional import maybe_list

from celery.exceptions import InvalidTaskError
from celery.utils.saferepr import saferepr
from celery.utils.time import make_aware

__all__ = (
    'task_message', 'INT_MIN', 'verify_seconds', 'normalize_datetime',
    'add_seconds', 'isoformat', 'check_args', 'check_kwargs',
    'hybrid_to_proto2', 'proto1_to_proto2', 'Queues', 'QUEUE_FORMAT', 'QUEUE_TYPES',
)

#: What ``create_task_message`` returns: ``sent_event`` is the ``task-sent``
#: event body, or ``None`` when no event should be sent.
task_message = namedtuple('task_message', ('headers', 'properties', 'body', 'sent_event'),
                          module='celery.app.amqp')

#: Smallest countdown/expires accepted (the earliest date ``time.mktime`` handles).
INT_MIN = -2147483648

_EMPTY_TIMELIMIT = (None, None)


def verify_seconds(value: Any, what: str) -> float:
    """Check that ``value`` is a usable number of seconds for option ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f'{what} must be a number of seconds, not {type(value).__name__}: {value!r}')
    if value < INT_MIN:
        raise ValueError(f'{what} is out of range: {value!r}')
    return value


def normalize_datetime(dt: datetime, tz: tzinfo | None, utc: bool) -> datetime:
    """Make ``dt`` aware (naive means: wall time in ``tz``); when ``utc``, convert it to UTC."""
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        dt = make_aware(dt.replace(tzinfo=None), tz or timezone.utc)
    if utc:
        dt = dt.astimezone(timezone.utc)
    return dt


def add_seconds(dt: datetime, seconds: float) -> datetime:
    """Add elapsed seconds to ``dt`` (across DST changes for aware datetimes)."""
    delta = timedelta(seconds=seconds)
    if dt.tzinfo is None:
        return dt + delta
    return (dt.astimezone(timezone.utc) + delta).astimezone(dt.tzinfo)


def isoformat(value: datetime | str | None) -> str | None:
    """ISO 8601 text of a datetime; strings (already on the wire) pass through."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def check_args(args: Any) -> list | tuple:
    """Return task positional arguments as a list or tuple, or raise TypeError."""
    if isinstance(args, (tuple, list)):
        return args if args else ()  # an empty list travels as () too, as in Celery
    if args is None:
        return ()
    if isinstance(args, Sequence) and not isinstance(args, (str, bytes, bytearray)):
        return tuple(args)
    raise TypeError(
        f'task args must be a list or tuple, not {type(args).__name__}: {args!r}')


def check_kwargs(kwargs: Any) -> dict:
    """Return task keyword arguments as a dict, or raise TypeError."""
    if kwargs is None:
        return {}
    if isinstance(kwargs, dict):
        return kwargs
    if isinstance(kwargs, Mapping):
        return dict(kwargs)
    raise TypeError(
        f'task keyword arguments must be a mapping, not {type(kwargs).__name__}: {kwargs!r}')


# -- reading received messages -------------------------------------------------

def _v1_args(body: Any) -> tuple[Any, Any]:
    if not isinstance(body, Mapping):
        raise InvalidTaskError(
            f'Task message body must be a mapping (protocol 1), not {type(body).__name__}')
    args, kwargs = body.get('args', ()), body.get('kwargs', {})
    if not isinstance(kwargs, Mapping):
        raise InvalidTaskError('Task keyword arguments must be a mapping')
    if args is None:
        args = ()
    elif not isinstance(args, (list, tuple)):
        raise InvalidTaskError('Task positional arguments must be a list or tuple')
    return args, kwargs


def _v1_embed(body: Mapping) -> dict:
    return {
        'callbacks': body.get('callbacks'),
        'errbacks': body.get('errbacks'),
        'chord': body.get('chord'),
        'chain': None,
    }


def _v1_headers(body: Mapping, args: Any, kwargs: Any) -> dict:
    """The protocol 2 headers that a protocol 1 body describes."""
    group = body.get('group')
    if group is None:
        group = body.get('taskset')
    argsrepr = body.get('argsrepr')
    kwargsrepr = body.get('kwargsrepr')
    return {
        'lang': body.get('lang', 'py'),
        'task': body.get('task'),
        'id': body.get('id'),
        'root_id': body.get('root_id'),
        'parent_id': body.get('parent_id'),
        'group': group,
        'group_index': body.get('group_index'),
        'meth': body.get('meth'),
        'shadow': body.get('shadow'),
        'eta': body.get('eta'),
        'expires': body.get('expires'),
        'retries': body.get('retries', 0) or 0,
        'timelimit': body.get('timelimit') or _EMPTY_TIMELIMIT,
        'argsrepr': saferepr(args) if argsrepr is None else argsrepr,
        'kwargsrepr': saferepr(kwargs) if kwargsrepr is None else kwargsrepr,
        'origin': body.get('origin'),
        'ignore_result': body.get('ignore_result', False),
    }


def proto1_to_proto2(message: Any, body: Any) -> tuple[tuple, dict, bool, bool]:
    """Read a protocol 1 message (``body`` is its decoded dict).

    Returns ``((args, kwargs, embed), headers, True, utc)``: ``headers`` are
    protocol 2 headers built from the body (``taskset`` becomes ``group``),
    with the message's own headers laid over them; ``utc`` is the body's
    ``utc`` flag (default true). Raises :exc:`~celery.exceptions.InvalidTaskError`
    when the body is not a mapping or its args/kwargs have the wrong type.
    """
    args, kwargs = _v1_args(body)
    headers = _v1_headers(body, args, kwargs)
    extra = getattr(message, 'headers', None)
    if extra:
        headers.update(extra)
    return (args, kwargs, _v1_embed(body)), headers, True, bool(body.get('utc', True))


def hybrid_to_proto2(message: Any, body: Any) -> tuple[tuple, dict, bool, bool]:
    """Read any task message: protocol 1, hybrid (v1 body + headers) or protocol 2.

    ``body`` is the decoded payload. A protocol 2 payload (a 3-item
    ``(args, kwargs, embed)`` sequence with a ``task`` header) is returned
    as is, with a copy of the headers; a dict payload is read like
    :func:`proto1_to_proto2`, the message headers taking precedence.
    Returns ``((args, kwargs, embed), headers, True, utc)``.
    """
    headers = getattr(message, 'headers', None) or {}
    if isinstance(body, (list, tuple)):
        if 'task' not in headers:
            raise InvalidTaskError('Task message has no task header (protocol 2)')
        if len(body) != 3:
            raise InvalidTaskError(
                f'Task message body must be (args, kwargs, embed), got {len(body)} items')
        args, kwargs, embed = body
        if args is None:
            args = ()
        if not isinstance(args, (list, tuple)):
            raise InvalidTaskError('Task positional arguments must be a list or tuple')
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, Mapping):
            raise InvalidTaskError('Task keyword arguments must be a mapping')
        if embed is None:
            embed = {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}
        elif not isinstance(embed, Mapping):
            raise InvalidTaskError('Task embed (callbacks/errbacks/chain/chord) must be a mapping')
        return (args, kwargs, embed), dict(headers), True, True
    return proto1_to_proto2(message, body)


# -- queue declarations ------------------------------------------------------

#: One line of the worker banner's queue list.
QUEUE_FORMAT = '.> {0.name:<16} exchange={0.exchange.name}({0.exchange.type}) key={0.routing_key}'

QUEUE_TYPES = ('classic', 'quorum')


def _indent(text: str, n: int) -> str:
    pad = ' ' * n
    return '\n'.join(pad + line for line in text.split('\n'))


def _is_quorum(queue: Queue) -> bool:
    return (queue.queue_arguments or {}).get('x-queue-type') == 'quorum'


class Queues(dict):
    """Queue name -> :class:`kombu.Queue` mapping, with the worker's selection.

    Arguments:
        queues: initial queues, an iterable of :class:`kombu.Queue` or a
            mapping of name to queue (or to a dict of queue options).
        default_exchange: exchange given to queues that have none.
        create_missing: create unknown queues on lookup (``queues[name]``)
            instead of raising :exc:`KeyError`.
        create_missing_queue_type: ``'classic'`` or ``'quorum'`` for
            queues created on the fly.
        create_missing_queue_exchange_type: exchange type for those queues
            (default: what ``autoexchange`` makes, a direct exchange).
        autoexchange: callable making the exchange of a missing queue.
        max_priority: ``x-max-priority`` for queues without one (never
            for quorum queues, which do not support it).
        default_routing_key: routing key for queues without one.
    """

    __module__ = 'celery.app.amqp'

    _consume_from: dict | None = None

    def __init__(self, queues: Iterable[Queue] | Mapping | None = None,
                 default_exchange: Exchange | None = None,
                 create_missing: bool = True,
                 create_missing_queue_type: str | None = None,
                 create_missing_queue_exchange_type: str | None = None,
                 autoexchange: Callable[[str], Exchange] | None = None,
                 max_priority: int | None = None,
                 default_routing_key: str | None = None) -> None:
        super().__init__()
        self.aliases: WeakValueDictionary = WeakValueDictionary()
        self.default_exchange = default_exchange
        self.default_routing_key = default_routing_key
        self.create_missing = create_missing
        if create_missing_queue_type not in (None, '', *QUEUE_TYPES):
            raise ValueError(
                f'Invalid queue type {create_missing_queue_type!r}: '
                f"task_create_missing_queue_type must be 'classic' or 'quorum'")
        self.create_missing_queue_type = create_missing_queue_type
        self.create_missing_queue_exchange_type = create_missing_queue_exchange_type
        self.autoexchange = Exchange if autoexchange is None else autoexchange
        self.max_priority = max_priority
        if queues is not None and not isinstance(queues, Mapping):
            queues = {q.name: q for q in queues}
        for name, q in (queues or {}).items():
            if isinstance(q, Queue):
                self.add(q)
            else:
                self.add_compat(name, **q)
        # What the worker consumes from until select()/deselect() say otherwise.
        self._default_consume_from = dict(self)

    def __getitem__(self, name: str) -> Queue:
        if self.aliases:  # most apps have none: skip the weak mapping's KeyError
            queue = self.aliases.get(name)
            if queue is not None:
                return queue
        return super().__getitem__(name)

    def __setitem__(self, name: str, queue: Queue) -> None:
        if self.default_exchange and not queue.exchange:
            queue.exchange = self.default_exchange
        if not queue.routing_key:
            queue.routing_key = self.default_routing_key
        if self.max_priority is not None and not _is_quorum(queue):
            if queue.queue_arguments is None:
                queue.queue_arguments = {}
            queue.queue_arguments.setdefault('x-max-priority', self.max_priority)
        super().__setitem__(name, queue)
        if queue.alias:
            self.aliases[queue.alias] = queue

    def __missing__(self, name: str) -> Queue:
        if self.create_missing:
            return self.add(self.new_missing(name))
        raise KeyError(name)

    def add(self, queue: Queue | str, **kwargs: Any) -> Queue:
        """Add a queue: a :class:`kombu.Queue`, or a name plus queue options."""
        if not isinstance(queue, Queue):
            return self.add_compat(queue, **kwargs)
        return self._add(queue)

    def add_compat(self, name: str, **options: Any) -> Queue:
        """Add the queue ``name`` described by keyword options (old dict style).

        ``binding_key`` is accepted for ``routing_key``; the routing key
        defaults to the queue name.
        """
        options.setdefault('routing_key', options.pop('binding_key', None))
        if options['routing_key'] is None:
            options['routing_key'] = name
        return self._add(Queue.from_dict(name, **options))

    def _add(self, queue: Queue) -> Queue:
        if self.default_exchange and (queue.exchange is None or queue.exchange.name == ''):
            queue.exchange = self.default_exchange
        self[queue.name] = queue
        return queue

    def new_missing(self, name: str) -> Queue:
        """Make the queue for an unknown ``name``: exchange and routing key ``name``."""
        queue_arguments = None
        if self.create_missing_queue_type == 'quorum':
            queue_arguments = {'x-queue-type': 'quorum'}
        if self.create_missing_queue_exchange_type:
            exchange = Exchange(name, self.create_missing_queue_exchange_type)
        else:
            exchange = self.autoexchange(name)
        return Queue(name, exchange, name, queue_arguments=queue_arguments)

    def format(self, indent: int = 0, indent_first: bool = True) -> str:
        """The queues consumed from, one ``.> name exchange=... key=...`` line each."""
        active = self.consume_from
        if not active:
            return ''
        lines = [QUEUE_FORMAT.format(q) for _, q in sorted(active.items())]
        if indent_first:
            return _indent('\n'.join(lines), indent)
        if len(lines) == 1:
            return lines[0]
        return lines[0] + '\n' + _indent('\n'.join(lines[1:]), indent)

    def select_add(self, queue: Queue | str, **kwargs: Any) -> Queue:
        """Add a queue and consume from it, whatever the current selection."""
        q = self.add(queue, **kwargs)
        if self._consume_from is not None:
            self._consume_from[q.name] = q
        else:
            self._default_consume_from[q.name] = q
        return q

    def select(self, include: str | Iterable[str] | None) -> None:
        """Consume only from the queues named in ``include`` (``celery worker -Q``)."""
        if include:
            selected = {}
            for name in maybe_list(include):
                q = self[name]
                selected[q.name] = q
            self._consume_from = selected

    def deselect(self, exclude: str | Iterable[str] | None) -> None:
        """Stop consuming from the queues named in ``exclude`` (``celery worker -X``)."""
        if exclude:
            consume_from = (self._default_consume_from if self._consume_from is None
                            else self._consume_from)
            for name in maybe_list(exclude):
                queue = self.aliases.get(name)
                consume_from.pop(queue.name if queue is not None else name, None)

    @property
    def consume_from(self) -> dict:
        """The queues a worker consumes from: the selection, or all queues."""
        if self._consume_from is not None:
            return self._consume_from
        return self._default_consume_from

"""``app.control``: the client side of remote control.

Commands travel over the app's kombu pidbox mailbox: a message
``{'method', 'arguments', 'destination', 'pattern', 'matcher'}`` (plus
``reply_to`` and ``ticket`` when replies are wanted) is published to the
fanout exchange ``<control_exchange>.pidbox``; each worker answers
``{nodename: reply}`` on the direct exchange ``reply.<control_exchange>.pidbox``.
:class:`Control` sends commands; :class:`Inspect` asks questions and merges
the answers into one ``{nodename: reply}`` dict.  The handlers live in the
worker (:mod:`celery.worker.control`).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

from kombu.matcher import match
from kombu.pidbox import Mailbox
from kombu.utils.compat import register_after_fork
from kombu.utils.functional import lazy
from kombu.utils.objects import cached_property

from celery.exceptions import DuplicateNodenameWarning, ImproperlyConfigured
from celery.utils.log import get_logger
from celery.utils.text import pluralize

__all__ = ('Inspect', 'Control', 'flatten_reply')

logger = get_logger(__name__)

#: Default signal of ``revoke(terminate=True)``.
TERM_SIGNAME = 'SIGTERM'

W_DUPNODE = """\
Received multiple replies from node {0}: {1}.
Please make sure you give each node a unique nodename using
the celery worker `-n` option.\
"""


def flatten_reply(reply: Sequence[dict]) -> dict:
    """Merge a list of ``{nodename: reply}`` dicts into one dict.

    Warns (:class:`~celery.exceptions.DuplicateNodenameWarning`) when two
    workers answered under the same name.
    """
    nodes: dict = {}
    dupes: set = set()
    for item in reply:
        dupes.update(name for name in item if name in nodes)
        nodes.update(item)
    if dupes:
        warnings.warn(DuplicateNodenameWarning(W_DUPNODE.format(
            pluralize(len(dupes), 'name'), ', '.join(sorted(dupes)))))
    return nodes


def _after_fork_cleanup_control(control: Control) -> None:
    try:
        control._after_fork()
    except Exception as exc:  # never break a fork over this
        logger.info('after fork raised exception: %r', exc, exc_info=True)


class Inspect:
    """Ask workers questions (commands without side effects).

    Every method returns ``{nodename: reply}``, or ``None`` when no worker
    answered within ``timeout``; with a single ``destination`` (a string)
    just that node's reply.
    """

    app: Any = None

    def __init__(self, destination: str | Sequence[str] | None = None,
                 timeout: float = 1.0, callback: Callable | None = None,
                 connection: Any = None, app: Any = None, limit: int | None = None,
                 pattern: str | None = None, matcher: str | None = None) -> None:
        self.app = app or self.app
        self.destination = destination
        self.timeout = timeout
        self.callback = callback
        self.connection = connection
        self.limit = limit
        self.pattern = pattern
        self.matcher = matcher

    def _prepare(self, reply: list | None) -> Any:
        if not reply:
            return None
        by_node = flatten_reply(reply)
        if self.destination and not isinstance(self.destination, (list, tuple)):
            return by_node.get(self.destination)
        if self.pattern:
            return {node: value for node, value in by_node.items()
                    if match(node, self.pattern, self.matcher)}
        return by_node

    def _request(self, command: str, **kwargs: Any) -> Any:
        """Send the inspect ``command`` with ``kwargs`` and collect replies."""
        destination = self.destination
        if isinstance(destination, str):
            destination = [destination]
        return self._prepare(self.app.control.broadcast(
            command, arguments=kwargs, destination=destination,
            callback=self.callback, connection=self.connection,
            limit=self.limit, timeout=self.timeout, reply=True,
            pattern=self.pattern, matcher=self.matcher))

    def report(self) -> Any:
        """``{node: {'ok': report_text}}``: each worker's bug report."""
        return self._request('report')

    def clock(self) -> Any:
        """``{node: {'clock': value}}``: each worker's logical clock."""
        return self._request('clock')

    def active(self, safe: bool | None = None) -> Any:
        """``{node: [task_info, ...]}``: tasks being executed."""
        return self._request('active', safe=safe)

    def scheduled(self, safe: bool | None = None) -> Any:
        """``{node: [{'eta', 'priority', 'request'}, ...]}``: ETA tasks held."""
        return self._request('scheduled')

    def reserved(self, safe: bool | None = None) -> Any:
        """``{node: [task_info, ...]}``: prefetched tasks waiting to run."""
        return self._request('reserved')

    def stats(self) -> Any:
        """``{node: stats}``: worker statistics (pool, broker, rusage, totals)."""
        return self._request('stats')

    def revoked(self) -> Any:
        """``{node: [task_id, ...]}``: ids revoked."""
        return self._request('revoked')

    def registered(self, *taskinfoitems: str) -> Any:
        """``{node: [task_name, ...]}``; task attributes named in
        ``taskinfoitems`` are shown next to each name."""
        return self._request('registered', taskinfoitems=taskinfoitems)

    registered_tasks = registered

    def ping(self, destination: Sequence[str] | None = None) -> Any:
        """``{node: {'ok': 'pong'}}`` for every live worker."""
        if destination:
            self.destination = destination
        return self._request('ping')

    def active_queues(self) -> Any:
        """``{node: [queue_info, ...]}``: queues consumed from."""
        return self._request('active_queues')

    def query_task(self, *ids: Any) -> Any:
        """``{node: {task_id: [state, task_info]}}`` for the given ids.

        Also accepts a single list of ids.
        """
        if len(ids) == 1 and isinstance(ids[0], (list, tuple)):
            ids = tuple(ids[0])
        return self._request('query_task', ids=ids)

    def conf(self, with_defaults: bool = False) -> Any:
        """``{node: settings}``: each worker's configuration."""
        return self._request('conf', with_defaults=with_defaults)

    def hello(self, from_node: str, revoked: Any = None) -> Any:
        """Mingle's greeting: ``{node: {'revoked': ..., 'clock': ...}}``."""
        return self._request('hello', from_node=from_node, revoked=revoked)

    def memsample(self) -> Any:
        """Sample each worker's RSS memory (needs psutil there)."""
        return self._request('memsample')

    def memdump(self, samples: int = 10) -> Any:
        """Report the memory samples taken (needs psutil there)."""
        return self._request('memdump', samples=samples)

    def objgraph(self, type: str = 'Request', n: int = 200, max_depth: int = 10) -> Any:
        """Graph uncollected objects of ``type`` (needs objgraph there)."""
        return self._request('objgraph', num=n, max_depth=max_depth, type=type)


class Control:
    """Send remote control commands to workers."""

    Mailbox = Mailbox

    def __init__(self, app: Any = None) -> None:
        self.app = app
        conf = app.conf
        if conf.control_queue_durable and conf.control_queue_exclusive:
            raise ImproperlyConfigured(
                'control_queue_durable and control_queue_exclusive cannot both '
                'be enabled: an exclusive queue is deleted with its connection.')
        self.mailbox = self.Mailbox(
            conf.control_exchange,
            type='fanout',
            accept=conf.accept_content,
            serializer=conf.task_serializer,
            producer_pool=lazy(lambda: self.app.amqp.producer_pool),
            queue_ttl=conf.control_queue_ttl,
            reply_queue_ttl=conf.control_queue_ttl,
            queue_expires=conf.control_queue_expires,
            reply_queue_expires=conf.control_queue_expires,
            queue_durable=conf.control_queue_durable,
            queue_exclusive=conf.control_queue_exclusive,
        )
        register_after_fork(self, _after_fork_cleanup_control)

    def _after_fork(self) -> None:
        # the producer pool of the parent must not be used in the child
        self.mailbox.__dict__.pop('producer_pool', None)

    @cached_property
    def inspect(self) -> type[Inspect]:
        """:class:`Inspect` bound to the app: ``app.control.inspect(...)``."""
        return self.app.subclass_with_self(Inspect, reverse='control.inspect')

    def purge(self, connection: Any = None) -> int:
        """Delete every waiting message of the configured task queues and
        return how many were deleted."""
        with self.app.connection_or_acquire(connection) as conn:
            return self.app.amqp.TaskConsumer(conn).purge()

    discard_all = purge

    def election(self, id: str, topic: str, action: Any = None,
                 connection: Any = None) -> None:
        """Start an election among workers (for gossip)."""
        self.broadcast('election', connection=connection, destination=None,
                       arguments={'id': id, 'topic': topic, 'action': action})

    def revoke(self, task_id: str | Sequence[str], destination: Sequence[str] | None = None,
               terminate: bool = False, signal: str = TERM_SIGNAME, **kwargs: Any) -> Any:
        """Tell workers to skip a task (or list of tasks) by id; with
        ``terminate`` also kill the process running it with ``signal``."""
        return self.broadcast('revoke', destination=destination, arguments={
            'task_id': task_id, 'terminate': terminate, 'signal': signal,
        }, **kwargs)

    def revoke_by_stamped_headers(self, headers: dict, destination: Sequence[str] | None = None,
                                  terminate: bool = False, signal: str = TERM_SIGNAME,
                                  **kwargs: Any) -> Any:
        """Tell workers to revoke the tasks whose stamped headers match
        ``headers`` (``{header: value or [values]}``)."""
        result = self.broadcast('revoke_by_stamped_headers', destination=destination,
                                arguments={'headers': headers, 'terminate': terminate,
                                           'signal': signal}, **kwargs)
        task_ids: set = set()
        for node_reply in result or ():
            for response in node_reply.values():
                ok = response.get('ok') if isinstance(response, dict) else None
                if isinstance(ok, (set, frozenset)):
                    task_ids.update(ok)
        if task_ids:
            return self.revoke(list(task_ids), destination=destination,
                               terminate=terminate, signal=signal, **kwargs)
        return result

    def terminate(self, task_id: str | Sequence[str], destination: Sequence[str] | None = None,
                  signal: str = TERM_SIGNAME, **kwargs: Any) -> Any:
        """Revoke and kill the process running the task(s)."""
        return self.revoke(task_id, destination=destination, terminate=True,
                           signal=signal, **kwargs)

    def ping(self, destination: Sequence[str] | None = None, timeout: float = 1.0,
             **kwargs: Any) -> Any:
        """``[{node: {'ok': 'pong'}}, ...]`` from every live worker."""
        return self.broadcast('ping', reply=True, arguments={},
                              destination=destination, timeout=timeout, **kwargs)

    def rate_limit(self, task_name: str, rate_limit: Any,
                   destination: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """Set the rate limit of a task type (``'100/m'``, ``10``, ...)."""
        return self.broadcast('rate_limit', destination=destination, arguments={
            'task_name': task_name, 'rate_limit': rate_limit}, **kwargs)

    def add_consumer(self, queue: str, exchange: str | None = None,
                     exchange_type: str = 'direct', routing_key: str | None = None,
                     options: dict | None = None, destination: Sequence[str] | None = None,
                     **kwargs: Any) -> Any:
        """Start consuming from ``queue`` (declared like an automatic queue
        unless ``exchange``/``routing_key``/``options`` say otherwise)."""
        arguments = {'queue': queue, 'exchange': exchange,
                     'exchange_type': exchange_type, 'routing_key': routing_key}
        arguments.update(options or {})
        return self.broadcast('add_consumer', destination=destination,
                              arguments=arguments, **kwargs)

    def cancel_consumer(self, queue: str, destination: Sequence[str] | None = None,
                        **kwargs: Any) -> Any:
        """Stop consuming from ``queue``."""
        return self.broadcast('cancel_consumer', destination=destination,
                              arguments={'queue': queue}, **kwargs)

    def time_limit(self, task_name: str, soft: float | None = None,
                   hard: float | None = None, destination: Sequence[str] | None = None,
                   **kwargs: Any) -> Any:
        """Set the soft and hard time limits of a task type."""
        return self.broadcast('time_limit', arguments={
            'task_name': task_name, 'hard': hard, 'soft': soft,
        }, destination=destination, **kwargs)

    def enable_events(self, destination: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """Make workers send task events."""
        return self.broadcast('enable_events', arguments={},
                              destination=destination, **kwargs)

    def disable_events(self, destination: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """Make workers stop sending task events."""
        return self.broadcast('disable_events', arguments={},
                              destination=destination, **kwargs)

    def pool_grow(self, n: int = 1, destination: Sequence[str] | None = None,
                  **kwargs: Any) -> Any:
        """Add ``n`` processes to the pools."""
        return self.broadcast('pool_grow', arguments={'n': n},
                              destination=destination, **kwargs)

    def pool_shrink(self, n: int = 1, destination: Sequence[str] | None = None,
                    **kwargs: Any) -> Any:
        """Remove ``n`` processes from the pools."""
        return self.broadcast('pool_shrink', arguments={'n': n},
                              destination=destination, **kwargs)

    def autoscale(self, max: int, min: int, destination: Sequence[str] | None = None,
                  **kwargs: Any) -> Any:
        """Change the autoscaler's bounds."""
        return self.broadcast('autoscale', arguments={'max': max, 'min': min},
                              destination=destination, **kwargs)

    def shutdown(self, destination: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """Warm shutdown of the workers."""
        return self.broadcast('shutdown', arguments={},
                              destination=destination, **kwargs)

    def pool_restart(self, modules: Sequence[str] | None = None, reload: bool = False,
                     reloader: Any = None, destination: Sequence[str] | None = None,
                     **kwargs: Any) -> Any:
        """Restart the pools (needs ``worker_pool_restarts``), optionally
        importing or reloading ``modules`` first."""
        return self.broadcast('pool_restart', arguments={
            'modules': modules, 'reload': reload, 'reloader': reloader,
        }, destination=destination, **kwargs)

    def heartbeat(self, destination: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """Make workers send a ``worker-heartbeat`` event now."""
        return self.broadcast('heartbeat', arguments={},
                              destination=destination, **kwargs)

    def broadcast(self, command: str, arguments: dict | None = None,
                  destination: Sequence[str] | None = None, connection: Any = None,
                  reply: bool = False, timeout: float = 1.0, limit: int | None = None,
                  callback: Callable | None = None, channel: Any = None,
                  pattern: str | None = None, matcher: str | None = None,
                  **extra_kwargs: Any) -> list | None:
        """Send ``command`` to all workers, or to those in ``destination``
        (or whose name matches ``pattern`` with ``matcher``: ``'glob'``,
        ``'pcre'``).

        With ``reply`` wait up to ``timeout`` seconds (or for ``limit``
        replies; the number of destinations by default) and return the list
        of ``{nodename: reply}``; ``callback`` is called with each reply as
        it arrives.  Unknown keyword arguments are added to ``arguments``.
        """
        with self.app.connection_or_acquire(connection) as conn:
            arguments = dict(arguments or {}, **extra_kwargs)
            mailbox = self.mailbox(conn)
            if pattern and matcher:
                return mailbox._broadcast(
                    command, arguments, destination, reply, timeout, limit,
                    callback, channel=channel, pattern=pattern, matcher=matcher)
            return mailbox._broadcast(
                command, arguments, destination, reply, timeout, limit,
                callback, channel=channel)

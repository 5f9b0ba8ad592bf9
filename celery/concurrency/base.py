"""The pool interface every execution pool implements.

A pool runs ``target(*args, **kwargs)`` somewhere (a child process, a
thread, inline) and reports back through callbacks: ``accept_callback(pid,
time_accepted)`` when execution starts, ``callback(retval)`` with the
result, ``error_callback(exc_info)`` when the pool itself failed the job and
``timeout_callback(soft, timeout)`` at a time limit.

Callbacks always run in the thread of the worker's event loop: a pool whose
jobs finish elsewhere hands them over with :meth:`BasePool.post`.

A process forked from the worker (a prefork child) must not keep the
worker's broker sockets: :func:`keep_from_children` names the connections
of this process, and right after every fork the child closes its copies of
their sockets (:func:`drop_inherited_connections`), without a word to the
broker.  Otherwise children orphaned by a killed worker keep its connection
up, and the broker holds on to the worker's unacked messages.
"""
from __future__ import annotations

import os
import socket
import time
import weakref
from contextlib import suppress
from threading import get_ident
from typing import Any, Callable, Iterator

from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from kombu import Connection

from celery.exceptions import WorkerShutdown, WorkerTerminate, reraise
from celery.utils.log import get_logger

__all__ = ('BasePool', 'apply_target', 'keep_from_children',
           'keep_app_connections_from_children', 'drop_inherited_connections')

logger = get_logger('celery.pool')

#: What forked children must let go of: broker connections of this process
#: (:class:`kombu.Connection`), pools and pool groups of them; by ``id``.
_parent_connections: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def keep_from_children(*held: Any) -> None:
    """Have processes forked from now on drop their copies of these connections' sockets.

    Each of ``held`` is a :class:`kombu.Connection`, a pool of them (such
    as ``app.pool``) or a group of pools (such as ``kombu.pools.connections``):
    of a pool, the connections it holds at the fork.
    """
    for item in held:
        if item is not None:
            _parent_connections[id(item)] = item


def keep_app_connections_from_children(app: Any) -> None:
    """Forked children drop the connections ``app`` publishes with (its pools)."""
    from kombu import pools  # what app.amqp.producer_pool takes its connections from
    keep_from_children(app.pool, pools.connections)


def _connections_in(held: Any) -> list:
    """The connections of a connection, a kombu connection pool or a group of pools."""
    if isinstance(held, Connection):
        return [held]
    if isinstance(held, dict):  # kombu.pools.PoolGroup
        return [conn for pool in list(held.values()) for conn in _connections_in(pool)]
    queue = getattr(getattr(held, '_resource', None), 'queue', None)
    if queue is None:
        return []
    return [conn for conn in [*getattr(held, '_dirty', ()), *queue]
            if isinstance(conn, Connection)]


def drop_inherited_connections() -> int:
    """In a forked child: let go of the parent's broker connections; return the sockets closed.

    Each socket is closed through its socket object, never shut down, so
    nothing reaches the broker and the parent's connection stays up (the
    parent still holds the socket).  A closed socket object fails every
    later call (``EBADF``) instead of using a descriptor number that may
    have been reused.  The connection objects are told they are
    disconnected, so a child that did use one would connect again.
    """
    held = list(_parent_connections.values())
    _parent_connections.clear()  # the child's own connections are its business
    closed = 0
    for connection in _all_connections_in(held):
        try:
            closed += _drop_connection(connection)
        except Exception as exc:  # noqa: BLE001 - must never break a new child
            logger.debug('could not drop inherited connection %r: %r', connection, exc)
    return closed


def _all_connections_in(held: list) -> list:
    """The distinct connections of every item kept from children."""
    found: dict[int, Any] = {}
    for item in held:
        try:
            found.update((id(conn), conn) for conn in _connections_in(item))
        except Exception as exc:  # noqa: BLE001 - not a pool after all
            logger.debug('could not list connections of %r: %r', item, exc)
    return list(found.values())


def _drop_connection(connection: Any) -> int:
    """Close the sockets of one :class:`kombu.Connection`, then make it forget them."""
    raw = connection.__dict__.get('_connection')
    closed = 0
    if raw is not None:
        amqp_transport = getattr(raw, '_transport', None)  # py-amqp
        if amqp_transport is not None:
            closed += _drop_amqp_transport(amqp_transport)
        for channel in list(getattr(raw, 'channels', None) or ()):  # virtual transports
            for client in _redis_connections_of(channel):
                closed += _drop_redis_connection(client)
        poller = getattr(raw, 'cycle', None)  # the redis transport's own poller
        for sock in list(getattr(poller, '_chan_to_sock', {}).values()):
            closed += _close_socket(sock)
    transport = connection.__dict__.get('_transport')
    if transport is not None:
        transport.client = None
    connection._connection = connection._default_channel = connection._transport = None
    with suppress(AttributeError):
        connection.declared_entities.clear()
    return closed


def _drop_amqp_transport(transport: Any) -> int:
    """Forget the socket of a py-amqp transport (whose ``close`` would shut it down)."""
    sock = getattr(transport, 'sock', None)
    transport.sock = None
    transport.connected = False
    return _close_socket(sock)


def _redis_connections_of(channel: Any) -> Iterator[Any]:
    """The redis-py connections a kombu redis channel holds (pools, clients, poll state)."""
    state = getattr(channel, '__dict__', {})
    for name in ('_pool', '_async_pool'):
        pool = state.get(name)
        if pool is not None:
            yield from list(getattr(pool, '_available_connections', ()))
            yield from list(getattr(pool, '_in_use_connections', ()))
    for name in ('client', 'subclient'):  # cached properties
        holder = state.get(name)
        if holder is not None:
            yield getattr(holder, 'connection', None)
    for name in ('_in_poll', '_in_listen'):
        yield state.get(name)


def _drop_redis_connection(client: Any) -> int:
    """Forget the socket of a redis-py connection (redis-py sends nothing on close)."""
    sock = getattr(client, '_sock', None)
    if not isinstance(sock, socket.socket):
        return 0
    client._sock = None
    with suppress(Exception):
        client._parser.on_disconnect()
    return _close_socket(sock)


def _close_socket(sock: Any) -> int:
    """Close this process's descriptor of ``sock``: no shutdown, no goodbye."""
    if not isinstance(sock, socket.socket) or sock.fileno() < 0:
        return 0
    with suppress(OSError):
        sock.close()
    return 1


if hasattr(os, 'register_at_fork'):  # pragma: no branch
    os.register_at_fork(after_in_child=drop_inherited_connections)


def apply_target(target: Callable, args: tuple = (), kwargs: dict | None = None,
                 callback: Callable | None = None,
                 accept_callback: Callable | None = None,
                 pid: int | None = None, getpid: Callable[[], int] = os.getpid,
                 propagate: tuple = (), monotonic: Callable[[], float] = time.monotonic,
                 **_: Any) -> None:
    """Run ``target`` here and now, calling the pool callbacks around it."""
    if accept_callback:
        accept_callback(pid or getpid(), monotonic())
    try:
        ret = target(*args, **(kwargs or {}))
    except propagate:
        raise
    except Exception:
        raise
    except (WorkerShutdown, WorkerTerminate):
        raise
    except BaseException as exc:  # SystemExit, KeyboardInterrupt from the task
        try:
            reraise(WorkerLostError, WorkerLostError(repr(exc)), exc.__traceback__)
        except WorkerLostError:
            if callback:
                callback(ExceptionInfo())
    else:
        if callback:
            callback(ret)


class BasePool:
    """Base class of execution pools; subclasses override the ``on_*`` hooks."""

    RUN = 0x1
    CLOSE = 0x2
    TERMINATE = 0x3

    #: True if the pool's methods may be called from a signal handler.
    signal_safe = True
    #: True for eventlet/gevent pools.
    is_green = False
    #: True if only a limited number of jobs is accepted at a time.
    uses_semaphore = False
    #: True if waiting for a result in a task would block the pool.
    task_join_will_block = True
    #: True if the pool accepts a memoryview as the message body.
    body_can_be_buffer = False
    #: True if tasks run in other processes (set up by the pool for the app).
    in_child_process = False

    _state: int | None = None
    _pool: Any = None
    _loop: Any = None
    _loop_ident: int | None = None

    def __init__(self, limit: int | None = None, putlocks: bool = True,
                 forking_enable: bool = True, callbacks_propagate: tuple = (),
                 app: Any = None, **options: Any) -> None:
        self.limit = limit
        self.putlocks = putlocks
        self.options = options
        self.forking_enable = forking_enable
        self.callbacks_propagate = callbacks_propagate
        self.app = app

    # -- hooks -------------------------------------------------------------

    def on_start(self) -> None:
        pass

    def did_start_ok(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def on_stop(self) -> None:
        pass

    def on_terminate(self) -> None:
        pass

    def on_close(self) -> None:
        pass

    def on_soft_timeout(self, job: Any) -> None:
        pass

    def on_hard_timeout(self, job: Any) -> None:
        pass

    def on_apply(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError('subclass responsibility')

    def maintain_pool(self, *args: Any, **kwargs: Any) -> None:
        pass

    def starts_now(self) -> bool:
        """Return true if a job applied now would start at once (a process is idle)."""
        return False

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        raise NotImplementedError(f'{type(self)} does not implement kill_job')

    def restart(self) -> None:
        raise NotImplementedError(f'{type(self)} does not implement restart')

    def grow(self, n: int = 1) -> None:
        raise NotImplementedError(f'{type(self)} cannot grow')

    def shrink(self, n: int = 1) -> None:
        raise NotImplementedError(f'{type(self)} cannot shrink')

    # -- event loop ----------------------------------------------------------

    def register_with_event_loop(self, loop: Any) -> None:
        """Attach the pool to the worker's event loop (a kombu ``Hub``)."""
        self._loop = loop
        self._loop_ident = get_ident()

    def post(self, fun: Callable, *args: Any) -> None:
        """Run ``fun(*args)`` in the event loop's thread (now, if already there)."""
        loop = self._loop
        if loop is None or get_ident() == self._loop_ident:
            fun(*args)
        else:
            loop.call_soon(fun, *args)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self._does_debug = logger.isEnabledFor(10)
        self.on_start()
        self._state = self.RUN

    def close(self) -> None:
        self._state = self.CLOSE
        self.on_close()

    def stop(self) -> None:
        self.on_stop()
        self._state = self.TERMINATE

    def terminate(self) -> None:
        self._state = self.TERMINATE
        self.on_terminate()

    def apply_async(self, target: Callable, args: tuple | None = None,
                    kwargs: dict | None = None, **options: Any) -> Any:
        """Run ``target(*args, **kwargs)`` in the pool."""
        return self.on_apply(target, args or (), kwargs or {},
                             waitforslot=self.putlocks,
                             callbacks_propagate=self.callbacks_propagate,
                             **options)

    def _get_info(self) -> dict:
        return {
            'implementation': f'{type(self).__module__}:{type(self).__name__}',
            'max-concurrency': self.limit,
        }

    @property
    def info(self) -> dict:
        return self._get_info()

    @property
    def active(self) -> bool:
        return self._state == self.RUN

    @property
    def num_processes(self) -> int | None:
        return self.limit

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: limit={self.limit}>'


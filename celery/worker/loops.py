"""The consumer's event loop.

:func:`asynloop` runs the worker on a kombu :class:`~kombu.asynchronous.Hub`
in one thread: broker sockets, the pool's result pipe, timers (ETA tasks,
heartbeats, rate limits) and callbacks posted from other threads all wake
the same loop, so acks and every other broker operation happen in this
thread.  Transports without event-loop support (filesystem, memory,
SQLAlchemy) are polled at their ``polling_interval`` from the same loop.

:func:`synloop` is the plain blocking loop, used only when the consumer was
created without a hub.
"""
from __future__ import annotations

import errno
import select
import socket
import ssl
import struct
from contextlib import suppress
from time import monotonic
from typing import Any

from amqp.exceptions import RecoverableConnectionError, UnexpectedFrame
from amqp.transport import TCPTransport
from kombu.common import ignore_errors

from celery import bootsteps
from celery.concurrency.base import keep_app_connections_from_children, keep_from_children
from celery.exceptions import WorkerLostError, WorkerTerminate
from celery.utils import _pins
from celery.utils.log import get_logger
from celery.worker import _amqp_decode, state

__all__ = ('asynloop', 'synloop', 'register_connection', 'Wakeup')

logger = get_logger(__name__)

#: py-amqp's frame reading that the plain TCP reader stands in for (see _plain_tcp).
_TCP_READ = TCPTransport._read
_TCP_READ_FRAME = TCPTransport.read_frame

#: Frames read from an AMQP socket per wake-up before other work gets a turn.
AMQP_FRAMES_PER_WAKEUP = 300
#: Messages taken from a polled transport per loop iteration.
POLLED_MESSAGES_PER_ITERATION = 100


class Wakeup:
    """A socket pair registered in the hub: :meth:`wake` makes the loop run now.

    Safe to call from signal handlers and other threads (one non-blocking
    send, skipped while a wake-up is pending).
    """

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        self.pending = False

    def fileno(self) -> int:
        return self.reader.fileno()

    def wake(self) -> None:
        if not self.pending:
            self.pending = True
            with suppress(OSError):
                self.writer.send(b'\0')

    def drain(self, *args: Any) -> None:
        self.pending = False
        with suppress(OSError):
            self.reader.recv(4096)

    def register(self, hub: Any) -> None:
        hub.add_reader(self.reader, self.drain)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


class _AmqpReader:
    """Reads the frames waiting on an AMQP connection, without per-message callbacks.

    The hub says the socket is readable; frames are then read for as long
    as bytes are waiting (buffered by py-amqp or on the socket), so no
    socket timeout is set and reset for every frame.

    On plain TCP (py-amqp's ``TCPTransport``) the reader takes what the
    socket holds with one non-blocking ``recv`` and cuts the complete frames
    from that buffer itself, handing each to py-amqp's frame handler: no
    per-frame ``read_frame``, three ``_read`` calls and timeout context.
    While a frame is handled, the unread rest stays where py-amqp would look
    for it: a call that waits for a reply from inside a callback
    (``basic_consume`` of a control command, say) reads through the
    transport, which first takes back the rest of this buffer
    (:meth:`_nested_read`), so frames are never reordered.  Other
    transports (TLS) use py-amqp's ``blocking_read``, with the transport
    reading ahead in chunks.
    """

    __slots__ = ('connection', 'hub', 'wakeup', 'sock', 'has_data', 'transport',
                 'fast', '_buf', '_pos', '__weakref__')

    def __init__(self, connection: Any, hub: Any, wakeup: Wakeup | None) -> None:
        self.connection = connection
        self.hub = hub
        self.wakeup = wakeup
        self.sock = connection.sock
        self.transport = transport = connection.transport
        self.fast = False
        self._buf, self._pos = b'', None
        if isinstance(self.sock, ssl.SSLSocket):
            self.has_data = _ssl_has_data
        else:
            self.has_data = _has_data
            if hasattr(transport, '_quick_recv'):
                transport._quick_recv = _read_ahead(self.sock.recv)
            if _plain_tcp(transport):
                self.fast = True
                transport._read = self._nested_read

    def __call__(self, *args: Any) -> None:
        connection = self.connection
        if not connection.connected:
            raise RecoverableConnectionError('Socket was disconnected')
        if self.fast:
            return self._read_frames(connection)
        blocking_read = connection.blocking_read
        sock, has_data, transport = self.sock, self.has_data, connection.transport
        for _ in range(AMQP_FRAMES_PER_WAKEUP):
            if not (transport._read_buffer or has_data(sock)):
                return None
            try:
                blocking_read(None)
            except socket.timeout:  # EINTR before the first byte
                return None
        # more is waiting (maybe only in the buffer): read again next round
        self._again()
        return None

    def _read_frames(self, connection: Any) -> None:
        """Handle the complete frames buffered and waiting on the socket (plain TCP)."""
        transport, on_frame = self.transport, connection.on_inbound_frame
        recv, unpack = self.sock.recv, _FRAME_HEADER.unpack_from
        handled, want = 0, AMQP_READ_SIZE
        while handled < AMQP_FRAMES_PER_WAKEUP:
            buf, asked = transport._read_buffer, want
            try:
                data = recv(asked, _DONTWAIT)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError as exc:
                if exc.errno not in _UNAVAILABLE:
                    transport.connected = False
                raise
            else:
                if not data:
                    transport.connected = False
                    raise OSError('Server unexpectedly closed connection')
                buf = buf + data if buf else data
            pos, size = 0, len(buf)
            self._buf, self._pos = buf, 0  # this buffer holds the unread stream now
            try:
                while size - pos >= 8:
                    frame_type, channel, length = unpack(buf, pos)
                    end = pos + 7 + length
                    if end >= size:
                        want = max(AMQP_READ_SIZE, end + 1 - size)
                        break
                    if buf[end] != 206:
                        raise UnexpectedFrame(
                            f'Received frame_end {buf[end]:#04x} while expecting 0xce')
                    payload = buf[pos + 7:end]
                    pos = self._pos = end + 1
                    on_frame((frame_type, channel, payload))
                    handled += 1
                    if self._pos is None:  # a call in the handler read on: its buffer now
                        buf = self._buf = transport._read_buffer
                        pos, size, self._pos = 0, len(buf), 0
                    if handled >= AMQP_FRAMES_PER_WAKEUP:
                        break
                else:
                    want = AMQP_READ_SIZE
            finally:
                if self._pos is not None:  # (None: a call in a handler took it over)
                    transport._read_buffer = buf[pos:] if pos else buf
                self._buf, self._pos = b'', None
            if handled < AMQP_FRAMES_PER_WAKEUP and (data is None or len(data) < asked):
                return None  # the socket is drained: what is buffered is not a whole frame
        self._again()  # more is waiting: read again next round
        return None

    def _nested_read(self, n: int, initial: bool = False) -> bytes:
        """``transport._read``: give py-amqp back the rest of this reader's buffer first."""
        transport = self.transport
        if self._pos is not None:
            transport._read_buffer = self._buf[self._pos:]
            self._pos = None
        return type(transport)._read(transport, n, initial)

    def on_tick(self) -> None:
        """Hub tick: read frames that are buffered while the socket is quiet.

        Calls waiting for a broker reply outside this reader (``basic_qos``,
        ``basic_consume``, ``basic_cancel``) read ahead too; frames that
        came in the same ``recv`` sit in the transport's buffer, and the
        socket will not wake the loop for them.
        """
        transport = self.connection.transport
        if transport is not None and transport._read_buffer:
            self._again()

    def _again(self) -> None:
        self.hub.call_soon(self)
        if self.wakeup is not None:
            self.wakeup.wake()


#: Bytes asked for per ``recv`` of an AMQP socket by the reader (plain TCP).
AMQP_READ_SIZE = 16384
_FRAME_HEADER = struct.Struct('>BHI')
_DONTWAIT = socket.MSG_DONTWAIT
_UNAVAILABLE = frozenset({errno.EAGAIN, errno.EINTR, errno.ENOENT, errno.EWOULDBLOCK})


def _plain_tcp(transport: Any) -> bool:
    """Whether ``transport`` is py-amqp's plain TCP transport, reading as the reader expects."""
    return (type(transport) is TCPTransport and TCPTransport._read is _TCP_READ
            and TCPTransport.read_frame is _TCP_READ_FRAME and _pins.verified('amqp-read'))


def _read_ahead(recv: Any, size: int = 4096) -> Any:
    """``recv`` asking for at least ``size`` bytes: py-amqp keeps the rest buffered."""
    def read(n: int) -> bytes:
        return recv(n if n > size else size)
    return read


def _has_data(sock: socket.socket, _flags: int = socket.MSG_PEEK | socket.MSG_DONTWAIT) -> bool:
    try:
        sock.recv(1, _flags)
    except (BlockingIOError, InterruptedError):
        return False
    return True  # data, or end of file (the next read raises)


def _ssl_has_data(sock: Any) -> bool:
    if sock.pending():
        return True
    return bool(select.select([sock], [], [], 0)[0])


def register_connection(conn: Any, hub: Any, wakeup: Wakeup | None = None) -> None:
    """Make the hub read ``conn`` (a :class:`kombu.Connection`) when it has data.

    Pool children forked from now on close their copies of its sockets.
    """
    keep_from_children(conn)
    transport = conn.transport
    if not transport.implements.asynchronous:
        return  # polled by asynloop
    if transport.driver_type == 'amqp' and hasattr(conn.connection, 'sock'):
        _amqp_decode.install()  # message headers: a faster decoder for py-amqp
        amqp_connection = conn.connection
        amqp_connection.transport.raise_on_initial_eintr = True
        reader = _AmqpReader(amqp_connection, hub, wakeup)
        hub.add_reader(amqp_connection.sock, reader)
        conn._celery_reader = reader  # asynloop reads once at start (buffered frames)
    else:
        transport.register_with_event_loop(conn.connection, hub)


def _keep_connections_from_children(obj: Any, connection: Any) -> None:
    """Pool children forked from now on close the consumer's broker sockets."""
    dispatcher = getattr(obj, 'event_dispatcher', None)
    keep_from_children(connection, getattr(dispatcher, 'connection', None))
    app = getattr(obj, 'app', None)
    if app is not None:  # its pools: replies, broadcasts, ...
        keep_app_connections_from_children(app)


def _enable_amqheartbeats(timer: Any, connection: Any, rate: float = 2.0) -> list:
    heartbeat_error: list = [None]
    if not connection:
        return heartbeat_error
    heartbeat = connection.get_heartbeat_interval()  # negotiated
    if not (heartbeat and connection.supports_heartbeats):
        return heartbeat_error

    def tick(rate: float) -> None:
        try:
            connection.heartbeat_check(rate)
        except Exception as exc:
            heartbeat_error[0] = exc

    timer.call_repeatedly(heartbeat / rate, tick, (rate,))
    return heartbeat_error


class _BrokerPoller:
    """Drains a transport that has no event-loop support (filesystem, memory, ...)."""

    def __init__(self, connection: Any, hub: Any, wakeup: Wakeup) -> None:
        self.drain = connection.drain_events
        self.wakeup = wakeup
        interval = getattr(connection.transport, 'polling_interval', None)
        options = connection.transport_options or {}
        interval = options.get('polling_interval', interval)
        self.interval = float(interval) if interval else 1.0
        # the loop sleeps at most this long between polls
        self.tref = hub.call_repeatedly(self.interval, _noop)

    def __call__(self) -> None:
        drain = self.drain
        for _ in range(POLLED_MESSAGES_PER_ITERATION):
            try:
                drain(timeout=0)
            except socket.timeout:
                return
        self.wakeup.wake()  # still busy: don't sleep before the next poll

    def cancel(self) -> None:
        self.tref.cancel()


def _noop() -> None:
    pass


class _ShutdownCheck:
    """Raise the shutdown asked for by a signal; a cold one may be soft first.

    With :setting:`worker_soft_shutdown_timeout`, a cold shutdown stops
    consuming and lets running tasks finish for that long (if there are any,
    or always with :setting:`worker_enable_soft_shutdown_on_idle`).
    """

    def __init__(self, obj: Any, hub: Any) -> None:
        conf = obj.app.conf
        self.obj = obj
        self.hub = hub
        self.timeout = float(conf.worker_soft_shutdown_timeout or 0.0)
        self.on_idle = bool(conf.worker_enable_soft_shutdown_on_idle)
        self.deadline: float | None = None

    def __call__(self) -> None:
        should_terminate = state.should_terminate
        if should_terminate is None or should_terminate is False or self.timeout <= 0:
            return state.maybe_shutdown()
        busy = bool(state.active_requests) or self.on_idle
        if self.deadline is None:
            if not busy:
                raise WorkerTerminate(should_terminate)
            logger.warning('Initiating Soft Shutdown, terminating in %s seconds',
                           self.timeout)
            self.deadline = monotonic() + self.timeout
            self.hub.call_later(self.timeout, _noop)  # wake up at the deadline
            task_consumer = self.obj.task_consumer
            if task_consumer is not None:
                ignore_errors(self.obj.connection, task_consumer.cancel)
        elif monotonic() >= self.deadline or not busy:
            raise WorkerTerminate(should_terminate)
        return None


def asynloop(obj: Any, connection: Any, consumer: Any, blueprint: Any, hub: Any,
             qos: Any, heartbeat: Any, clock: Any, hbrate: float = 2.0) -> None:
    """Run the consumer ``obj`` on ``hub`` until it stops or the connection fails."""
    RUN = bootsteps.RUN
    update_qos = qos.update
    errors = connection.connection_errors
    _keep_connections_from_children(obj, connection)
    consumer.on_message = obj.create_task_handler()
    heartbeat_error = _enable_amqheartbeats(hub.timer, connection, rate=hbrate)
    wakeup = obj.wakeup
    wakeup.register(hub)
    obj.controller.register_with_event_loop(hub)
    obj.register_with_event_loop(hub)
    poll_broker = None
    if not connection.transport.implements.asynchronous:
        poll_broker = _BrokerPoller(connection, hub, wakeup)
    consumer.consume()
    obj.on_ready()
    if not obj.restart_count and not obj.pool.did_start_ok():
        raise WorkerLostError('Could not start worker processes')
    reader = getattr(connection, '_celery_reader', None)
    if reader is not None:  # frames read ahead before the loop (e.g. by mingle)
        hub.call_soon(reader)
        hub.on_tick.add(reader.on_tick)  # and those read ahead by calls in the loop
    hub.propagate_errors = errors
    maybe_shutdown = _ShutdownCheck(obj, hub)
    acker = obj.acker
    flush_acks = acker.flush if acker is not None else _noop
    if acker is not None:  # also acks made by callbacks run before the poll
        hub.on_tick.add(flush_acks)
    loop = hub.create_loop()
    try:
        while blueprint.state == RUN and obj.connection:
            maybe_shutdown()
            if heartbeat_error[0] is not None:
                raise heartbeat_error[0]
            # acks and prefetch changes are batched: sent once per iteration
            flush_acks()
            if qos.prev != qos.value:
                update_qos()
            if poll_broker is not None:
                poll_broker()
            try:
                next(loop)
            except StopIteration:
                loop = hub.create_loop()
        flush_acks()
    finally:
        if acker is not None:
            acker.batching = False
            hub.on_tick.discard(flush_acks)
        if reader is not None:
            hub.on_tick.discard(reader.on_tick)
        if poll_broker is not None:
            poll_broker.cancel()
        try:
            hub.reset()
        except Exception as exc:
            logger.exception('Error cleaning up after event loop: %r', exc)


def synloop(obj: Any, connection: Any, consumer: Any, blueprint: Any, hub: Any,
            qos: Any, heartbeat: Any, clock: Any, hbrate: float = 2.0, **kwargs: Any) -> None:
    """A blocking loop without a hub (pool results must not need the loop)."""
    RUN = bootsteps.RUN
    consumer.on_message = obj.create_task_handler()
    perform_pending_operations = obj.perform_pending_operations
    process_results = getattr(obj.pool, 'process_results', None)
    _keep_connections_from_children(obj, connection)
    consumer.consume()
    obj.on_ready()
    while blueprint.state == RUN and obj.connection:
        state.maybe_shutdown()
        if qos.prev != qos.value:
            qos.update()
        try:
            perform_pending_operations()
            connection.drain_events(timeout=0.1 if process_results else 2.0)
        except socket.timeout:
            pass
        except OSError:
            if blueprint.state == RUN:
                raise
        if process_results is not None:
            process_results(0)

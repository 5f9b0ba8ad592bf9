"""The event loop's parts: wake-ups, the AMQP reader, shutdown checks, broker polling."""
from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any

import pytest
from amqp.exceptions import UnexpectedFrame
from amqp.transport import TCPTransport
from kombu.asynchronous import Hub

from celery.exceptions import WorkerShutdown, WorkerTerminate
from celery.worker import loops, state


def test_wakeup_makes_the_hub_poll_return() -> None:
    hub = Hub()
    wakeup = loops.Wakeup()
    wakeup.register(hub)
    threading.Timer(0.05, wakeup.wake).start()
    events = hub.poller.poll(5)
    assert events and events[0][0] == wakeup.fileno()
    wakeup.drain()
    assert not wakeup.pending
    wakeup.wake()
    wakeup.wake()  # one byte while pending
    assert wakeup.reader.recv(10) == b'\0'
    wakeup.close()
    hub.close()


class FakeAmqpTransport:
    def __init__(self) -> None:
        self._read_buffer = b''
        self.raise_on_initial_eintr = False


class FakeAmqpConnection:
    """Frames are bytes in a socket pair; each read takes one."""

    connected = True

    def __init__(self, frames: int) -> None:
        self.sock, self.peer = socket.socketpair()
        self.transport = FakeAmqpTransport()
        self.read: list = []
        self.peer.sendall(b'f' * frames)

    def blocking_read(self, timeout: Any = None) -> None:
        assert timeout is None  # never sets a socket timeout
        self.read.append(self.sock.recv(1))


def test_amqp_reader_reads_while_data_is_waiting() -> None:
    conn = FakeAmqpConnection(frames=5)
    hub = Hub()
    reader = loops._AmqpReader(conn, hub, None)
    reader()
    assert len(conn.read) == 5
    reader()  # nothing waiting: returns without blocking
    assert len(conn.read) == 5


def test_amqp_reader_yields_after_its_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loops, 'AMQP_FRAMES_PER_WAKEUP', 3)
    conn = FakeAmqpConnection(frames=5)
    hub = Hub()
    wakeup = loops.Wakeup()
    reader = loops._AmqpReader(conn, hub, wakeup)
    reader()
    assert len(conn.read) == 3
    assert wakeup.pending and hub._ready  # comes back for the rest soon


def test_amqp_reader_raises_on_a_lost_connection() -> None:
    conn = FakeAmqpConnection(frames=0)
    conn.connected = False
    with pytest.raises(Exception, match='disconnected'):
        loops._AmqpReader(conn, Hub(), None)()


def test_read_ahead_asks_for_a_chunk() -> None:
    asked = []
    read = loops._read_ahead(lambda n: asked.append(n) or b'', size=4096)
    read(7)
    read(10000)
    assert asked == [4096, 10000]


class Obj:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.task_consumer = None
        self.connection = None


@pytest.fixture(autouse=True)
def reset_flags() -> Any:
    yield
    state.should_stop = state.should_terminate = None
    state.active_requests.clear()


def test_shutdown_check_raises_the_requested_shutdown(app: Any) -> None:
    check = loops._ShutdownCheck(Obj(app), Hub())
    check()  # nothing asked
    state.should_stop = 0
    with pytest.raises(WorkerShutdown):
        check()
    state.should_stop = None
    state.should_terminate = 1
    with pytest.raises(WorkerTerminate):
        check()


def test_soft_shutdown_waits_for_running_tasks(app: Any) -> None:
    app.conf.worker_soft_shutdown_timeout = 30.0

    class Req:
        pass
    req = Req()
    state.active_requests.add(req)
    check = loops._ShutdownCheck(Obj(app), Hub())
    state.should_terminate = 1
    check()  # starts the soft shutdown, does not raise
    assert check.deadline is not None
    check()
    state.active_requests.discard(req)
    with pytest.raises(WorkerTerminate):
        check()  # nothing left to wait for


def test_soft_shutdown_skipped_when_idle(app: Any) -> None:
    app.conf.worker_soft_shutdown_timeout = 30.0
    check = loops._ShutdownCheck(Obj(app), Hub())
    state.should_terminate = 1
    with pytest.raises(WorkerTerminate):
        check()


def test_broker_poller_drains_and_stays_awake_while_busy(app: Any) -> None:
    app.conf.broker_transport_options = {'polling_interval': 0.25}
    delivered = []
    with app.connection_for_read() as conn:
        hub = Hub()
        wakeup = loops.Wakeup()
        poller = loops._BrokerPoller(conn, hub, wakeup)
        assert poller.interval == 0.25
        calls = {'n': 0}

        def drain(timeout: Any = None) -> None:
            calls['n'] += 1
            if calls['n'] > 3:
                raise socket.timeout()
            delivered.append(calls['n'])
        poller.drain = drain
        poller()
        assert delivered == [1, 2, 3] and not wakeup.pending
        poller.cancel()


class BufferedAmqpConnection(FakeAmqpConnection):
    """Reads take a frame from the transport's buffer first, as py-amqp does."""

    def blocking_read(self, timeout: Any = None) -> None:
        buf = self.transport._read_buffer
        if buf:
            self.read.append(buf[:1])
            self.transport._read_buffer = buf[1:]
        else:
            super().blocking_read(timeout)


def test_amqp_reader_reads_frames_left_in_the_buffer_on_a_quiet_socket() -> None:
    # Given a loop reading a connection whose socket has nothing to read
    hub, wakeup = Hub(), loops.Wakeup()
    wakeup.register(hub)
    conn = BufferedAmqpConnection(frames=0)
    reader = loops._AmqpReader(conn, hub, wakeup)
    hub.add_reader(conn.sock, reader)
    hub.on_tick.add(reader.on_tick)
    hub.call_later(60, lambda: None)  # the poll would wait a minute
    # When a call waiting for a reply read two more frames ahead
    conn.transport._read_buffer = b'ff'
    loop = hub.create_loop()
    next(loop)  # the tick schedules the reader and wakes the poll
    hub.on_tick.add(lambda: conn.read and wakeup.wake())  # (test only: end the poll)
    next(loop)
    # Then the loop reads them at once
    assert conn.read == [b'f', b'f']
    assert conn.transport._read_buffer == b''
    # and an empty buffer schedules nothing
    reader.on_tick()
    assert not wakeup.pending
    conn.sock.close()
    conn.peer.close()
    wakeup.close()
    hub.close()


# -- the plain-TCP AMQP reader: frames cut from one buffer -------------------------

def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return struct.pack('>BHI', kind, channel, len(payload)) + payload + b'\xce'


class TcpAmqpConnection:
    """py-amqp's real TCP transport on one end of a socket pair; frames are recorded."""

    connected = True

    def __init__(self, on_frame: Any = None) -> None:
        self.sock, self.peer = socket.socketpair()
        transport = TCPTransport.__new__(TCPTransport)
        transport.sock = self.sock
        transport.connected = True
        transport.raise_on_initial_eintr = True
        transport._read_buffer = b''
        transport._quick_recv = self.sock.recv
        self.transport = transport
        self.frames: list = []
        self.on_inbound_frame = on_frame or self.frames.append

    def close(self) -> None:
        self.sock.close()
        self.peer.close()


@pytest.fixture
def tcp_conn() -> Any:
    conn = TcpAmqpConnection()
    yield conn
    conn.close()


def test_tcp_reader_cuts_frames_from_the_buffer(tcp_conn: TcpAmqpConnection) -> None:
    reader = loops._AmqpReader(tcp_conn, Hub(), None)
    assert reader.fast
    frames = [(1, 1, b'method'), (2, 1, b'header' * 10), (3, 1, b''), (8, 0, b'')]
    data = b''.join(_frame(*f) for f in frames)
    tcp_conn.peer.sendall(data[:20])  # a frame and a bit
    reader()
    assert tcp_conn.frames == frames[:1]
    tcp_conn.peer.sendall(data[20:])
    reader()
    assert tcp_conn.frames == frames
    assert tcp_conn.transport._read_buffer == b''
    reader()  # nothing waiting: returns at once
    assert len(tcp_conn.frames) == 4


def test_tcp_reader_reads_a_frame_larger_than_its_reads(
        tcp_conn: TcpAmqpConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loops, 'AMQP_READ_SIZE', 64)
    reader = loops._AmqpReader(tcp_conn, Hub(), None)
    body = bytes(range(256)) * 40
    sender = threading.Thread(target=tcp_conn.peer.sendall,
                              args=(_frame(3, 1, body) + _frame(1, 1, b'next'),))
    sender.start()
    deadline = time.monotonic() + 10
    while len(tcp_conn.frames) < 2 and time.monotonic() < deadline:
        reader()
    sender.join()
    assert tcp_conn.frames == [(3, 1, body), (1, 1, b'next')]


def test_tcp_reader_gives_the_rest_to_a_call_reading_in_a_handler() -> None:
    # Given a handler that waits for a reply itself (py-amqp's read_frame)
    nested: list = []

    def on_frame(frame: tuple) -> None:
        conn.frames.append(frame)
        if frame[2] == b'sync':
            nested.append(conn.transport.read_frame())
    conn = TcpAmqpConnection(on_frame)
    reader = loops._AmqpReader(conn, Hub(), None)
    frames = [(1, 1, b'a'), (1, 1, b'sync'), (1, 1, b'reply'), (1, 1, b'b'), (1, 1, b'c')]
    conn.peer.sendall(b''.join(_frame(*f) for f in frames))
    # When the reader handles them
    reader()
    # Then the handler got the frame after it, and the reader went on after that
    assert nested == [(1, 1, b'reply')]
    assert conn.frames == [(1, 1, b'a'), (1, 1, b'sync'), (1, 1, b'b'), (1, 1, b'c')]
    assert conn.transport._read_buffer == b''
    conn.close()


def test_tcp_reader_keeps_the_rest_when_a_handler_raises() -> None:
    def on_frame(frame: tuple) -> None:
        conn.frames.append(frame)
        if frame[2] == b'boom':
            raise KeyError('boom')
    conn = TcpAmqpConnection(on_frame)
    reader = loops._AmqpReader(conn, Hub(), None)
    conn.peer.sendall(_frame(1, 1, b'boom') + _frame(1, 1, b'after'))
    with pytest.raises(KeyError):
        reader()
    reader()
    assert conn.frames == [(1, 1, b'boom'), (1, 1, b'after')]
    conn.close()


def test_tcp_reader_yields_after_its_share(tcp_conn: TcpAmqpConnection,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loops, 'AMQP_FRAMES_PER_WAKEUP', 2)
    hub, wakeup = Hub(), loops.Wakeup()
    reader = loops._AmqpReader(tcp_conn, hub, wakeup)
    tcp_conn.peer.sendall(b''.join(_frame(1, 1, bytes([i])) for i in range(5)))
    reader()
    assert len(tcp_conn.frames) == 2
    assert wakeup.pending and hub._ready  # comes back for the rest soon
    reader()
    reader()
    assert [f[2] for f in tcp_conn.frames] == [bytes([i]) for i in range(5)]
    wakeup.close()


def test_tcp_reader_raises_on_a_bad_frame_end(tcp_conn: TcpAmqpConnection) -> None:
    reader = loops._AmqpReader(tcp_conn, Hub(), None)
    tcp_conn.peer.sendall(_frame(1, 1, b'x')[:-1] + b'\x00')
    with pytest.raises(UnexpectedFrame):
        reader()


def test_tcp_reader_raises_when_the_broker_closes(tcp_conn: TcpAmqpConnection) -> None:
    reader = loops._AmqpReader(tcp_conn, Hub(), None)
    tcp_conn.peer.sendall(_frame(1, 1, b'last'))
    tcp_conn.peer.close()
    reader()
    assert tcp_conn.frames == [(1, 1, b'last')]
    with pytest.raises(OSError, match='closed'):  # the socket is readable: at its end
        reader()
    assert tcp_conn.transport.connected is False


def test_tcp_reader_only_for_pyamqp_plain_tcp(monkeypatch: pytest.MonkeyPatch) -> None:
    class OtherTransport(TCPTransport):
        pass
    conn = TcpAmqpConnection()
    conn.transport.__class__ = OtherTransport
    assert not loops._AmqpReader(conn, Hub(), None).fast
    conn.transport.__class__ = TCPTransport
    monkeypatch.setattr(TCPTransport, 'read_frame', lambda self: None)
    assert not loops._AmqpReader(conn, Hub(), None).fast  # py-amqp changed: its own reads
    conn.close()

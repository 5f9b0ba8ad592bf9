"""The remote debugger binds, accepts a client and runs a pdb session over it."""
from __future__ import annotations

import io
import socket
import sys
import threading
import time

import pytest

from celery.contrib import rdb
from celery.contrib.rdb import Rdb

DEADLINE = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def connect(port: int) -> socket.socket:
    """Connect to the debugger, retrying until it listens."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            return socket.create_connection(('127.0.0.1', port), timeout=DEADLINE)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b''
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class Started:
    """Runs ``target`` in a thread, keeping its result or error."""

    def __init__(self, target):
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self.thread.start()

    def _run(self, target):
        try:
            self.result = target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def join(self):
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), 'debugger thread did not finish'
        if self.error:
            raise self.error
        return self.result


@pytest.fixture(autouse=True)
def restore_stdio():
    stdin, stdout = sys.stdin, sys.stdout
    yield
    sys.stdin, sys.stdout = stdin, stdout
    rdb._current[0] = None


class test_Rdb:

    def test_binds_announces_and_accepts(self):
        # Given a debugger waiting on a free port
        port, out = free_port(), io.StringIO()
        started = Started(lambda: Rdb(port=port, port_skew=0, out=out))
        # When a client connects
        client = connect(port)
        debugger = started.join()
        try:
            # Then the banner told where to connect, and the session began
            text = out.getvalue()
            assert f'Remote Debugger:{port}: Please telnet 127.0.0.1 {port}.' in text
            assert 'Type `exit` in session to continue.' in text
            assert 'Waiting for client...' in text
            assert 'In session with 127.0.0.1:' in text
            assert debugger.active and debugger.port == port
        finally:
            debugger._close_session()
            client.close()
        assert not debugger.active
        assert 'ended' in out.getvalue()

    def test_session(self):
        # Given a function that stops at a breakpoint
        port, out = free_port(), io.StringIO()

        def task():
            value = 42
            rdb._current[0] = Rdb(port=port, port_skew=0, out=out)
            rdb.set_trace()  # reuses the debugger in session
            return value * 2

        started = Started(task)
        client = connect(port)
        try:
            # When the client inspects a variable and continues
            assert b'(Pdb)' in read_until(client, b'(Pdb) ')
            client.sendall(b'p value\n')
            assert b'42' in read_until(client, b'(Pdb) ')
            client.sendall(b'c\n')
            # Then the function finishes and the session ends
            assert started.join() == 84
            assert client.recv(100) == b''
        finally:
            client.close()
        assert 'Session with' in out.getvalue()

    def test_skips_ports_in_use(self):
        busy = socket.socket()
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        try:
            sock = None
            chosen, sock = Rdb.get_avail_port(Rdb.__new__(Rdb), '127.0.0.1', port, 20)
            assert chosen != port and port < chosen < port + 20
        finally:
            busy.close()
            if sock:
                sock.close()

    def test_port_skew(self):
        port = free_port()
        chosen, sock = Rdb.get_avail_port(Rdb.__new__(Rdb), '127.0.0.1', port - 3, 10, skew=3)
        sock.close()
        assert chosen == port

    def test_no_free_port(self):
        busy = socket.socket()
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        try:
            with pytest.raises(OSError, match='CELERY_RDB_PORT'):
                Rdb.get_avail_port(Rdb.__new__(Rdb), '127.0.0.1',
                                   busy.getsockname()[1], 1)
        finally:
            busy.close()

    def test_environment(self, monkeypatch):
        port = free_port()
        monkeypatch.setenv('CELERY_RDB_HOST', '127.0.0.1')
        monkeypatch.setenv('CELERY_RDB_PORT', str(port))
        out = io.StringIO()
        started = Started(lambda: Rdb(port_skew=0, out=out))
        client = connect(port)
        debugger = started.join()
        debugger._close_session()
        client.close()
        assert debugger.port == port

    def test_process_skew(self, monkeypatch):
        from billiard import process
        monkeypatch.setattr(process.current_process(), 'name', 'ForkPoolWorker-7')
        assert rdb._process_skew() == 7
        monkeypatch.setattr(process.current_process(), 'name', 'MainProcess')
        assert rdb._process_skew() == 0


def test_debugger_is_reused():
    fake = type('FakeRdb', (), {'active': True})()
    rdb._current[0] = fake
    assert rdb.debugger() is fake

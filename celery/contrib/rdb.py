"""A remote :mod:`pdb`: debug a task in a worker process over a TCP socket.

Call :func:`set_trace` in a task; the process binds a socket, logs where to
connect, and waits for a client (``telnet 127.0.0.1 6900``). The session is
an ordinary pdb session; ``continue`` (or ``exit``) ends it and the task
resumes.

Environment variables (read when a debugger starts):

``CELERY_RDB_HOST``
    Address to bind (default ``127.0.0.1``: local connections only).
``CELERY_RDB_PORT``
    Base port (default 6899). Pool process *N* starts searching at the base
    port + *N*, trying up to 100 ports, so several processes can debug at
    once.

The debugger blocks the process until a client connects: never leave a
breakpoint in production code.
"""
from __future__ import annotations

import errno
import os
import socket
import sys
from pdb import Pdb
from types import FrameType
from typing import Any, TextIO

__all__ = ('CELERY_RDB_HOST', 'CELERY_RDB_PORT', 'DEFAULT_PORT', 'Rdb', 'debugger', 'set_trace')

DEFAULT_PORT = 6899

#: Address and base port at import time (see the module docs; read again
#: for every new debugger).
CELERY_RDB_HOST = os.environ.get('CELERY_RDB_HOST') or '127.0.0.1'
CELERY_RDB_PORT = int(os.environ.get('CELERY_RDB_PORT') or DEFAULT_PORT)

BANNER = """\
{ident}: Please telnet {host} {port}.  Type `exit` in session to continue.
{ident}: Waiting for client...\
"""
SESSION_STARTED = '{ident}: In session with {remote_addr}.'
SESSION_ENDED = '{ident}: Session with {remote_addr} ended.'
NO_AVAILABLE_PORT = """\
{ident}: Couldn't find an available port (tried {first}-{last}).
Please specify one using the CELERY_RDB_PORT environment variable.\
"""

#: The debugger of this process, reused while its session lasts.
_current: list[Rdb | None] = [None]


def _process_skew() -> int:
    """The pool process number (``ForkPoolWorker-3`` -> 3), 0 elsewhere."""
    try:
        from billiard.process import current_process
        name = current_process().name
    except ImportError:  # pragma: no cover
        return 0
    _, _, number = name.rpartition('-')
    return int(number) if number.isdigit() else 0


class Rdb(Pdb):
    """A pdb whose console is a TCP connection.

    Creating one binds the first free port from ``port + port_skew`` and
    blocks until a client connects.
    """

    me = 'Remote Debugger'
    _prev_outs: tuple | None = None
    _sock: socket.socket | None = None
    _client: socket.socket | None = None

    def __init__(self, host: str | None = None, port: int | None = None,
                 port_search_limit: int = 100, port_skew: int | None = None,
                 out: TextIO | None = None) -> None:
        self.active = True
        self.out = sys.stdout if out is None else out
        host = host or os.environ.get('CELERY_RDB_HOST') or CELERY_RDB_HOST
        port = port or int(os.environ.get('CELERY_RDB_PORT') or CELERY_RDB_PORT)
        skew = _process_skew() if port_skew is None else port_skew
        self.host = host
        self.port, self._sock = self.get_avail_port(host, port, port_search_limit, skew)
        self._sock.listen(1)
        self.ident = f'{self.me}:{self.port}'
        self.say(BANNER.format(ident=self.ident, host=host, port=self.port))

        self._client, address = self._sock.accept()
        self._client.setblocking(True)
        self.remote_addr = ':'.join(str(part) for part in address[:2])
        self.say(SESSION_STARTED.format(ident=self.ident, remote_addr=self.remote_addr))
        self._handle = self._client.makefile('rw')
        self._prev_handles = sys.stdin, sys.stdout
        sys.stdin = sys.stdout = self._handle
        super().__init__(completekey='tab', stdin=self._handle, stdout=self._handle,
                         nosigint=True)

    def get_avail_port(self, host: str, port: int, search_limit: int = 100,
                       skew: int = 0) -> tuple[int, socket.socket]:
        """Bind the first free port of ``port + skew`` and the next ones."""
        first = port + skew
        for this_port in range(first, first + search_limit):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, this_port))
            except OSError as exc:
                sock.close()
                if exc.errno in (errno.EADDRINUSE, errno.EINVAL, errno.EACCES):
                    continue
                raise
            return this_port, sock
        raise OSError(NO_AVAILABLE_PORT.format(
            ident=self.me, first=first, last=first + search_limit - 1))

    def say(self, message: str) -> None:
        """Tell the process's log/console (not the remote client)."""
        print(message, file=self.out)
        try:
            self.out.flush()
        except (AttributeError, OSError, ValueError):  # pragma: no cover
            pass

    def _close_session(self) -> None:
        if not self.active:
            return
        self.stdin, self.stdout = sys.stdin, sys.stdout = self._prev_handles
        for closeable in (self._handle, self._client, self._sock):
            try:
                closeable.close()
            except OSError:  # pragma: no cover - the peer is gone already
                pass
        self.active = False
        self.say(SESSION_ENDED.format(ident=self.ident, remote_addr=self.remote_addr))

    def do_continue(self, arg: str) -> bool:
        """Continue execution and end the remote session."""
        self._close_session()
        self.set_continue()
        return True
    do_c = do_cont = do_continue

    def do_quit(self, arg: str) -> bool:
        """End the remote session and stop debugging (the task resumes)."""
        self._close_session()
        self.set_quit()
        return True
    do_q = do_exit = do_quit

    def set_quit(self) -> None:
        # Quitting must not raise BdbQuit into the task: just stop tracing.
        sys.settrace(None)

    def set_trace(self, frame: FrameType | None = None) -> None:
        """Break at ``frame`` (default: the caller's)."""
        if frame is None:
            frame = sys._getframe().f_back
        try:
            super().set_trace(frame)
        except OSError as exc:
            if exc.errno != errno.ECONNRESET:
                raise
            self._close_session()


def debugger() -> Rdb:
    """Return the debugger of this process, starting one if none is in session."""
    rdb = _current[0]
    if rdb is None or not rdb.active:
        rdb = _current[0] = Rdb()
    return rdb


def set_trace(frame: FrameType | None = None) -> Any:
    """Break into the remote debugger at ``frame`` (default: the caller's)."""
    if frame is None:
        frame = sys._getframe().f_back
    return debugger().set_trace(frame)

"""The pipes between the prefork pool and its children, minus billiard's layers.

Billiard frames every message on its pipes as a 4-byte big-endian length
and a pickle.  This module keeps that framing and makes the common cases
cheap: the parent reads the result pipe with one ``read`` per wake-up
(:class:`ResultReader`), children read jobs and write results with plain
``os.read``/``os.write`` under the pipes' locks (:func:`read_message`,
:func:`write_message`), and those locks are ``flock`` locks that die with
their holder (:class:`FileLock`).

Runs in the worker (reader, job writer) and in its pool children.
"""
from __future__ import annotations

import os
import pickle
import select
import struct
import tempfile
import threading
from time import monotonic, sleep
from typing import Any, Callable

from billiard.reduction import ForkingPickler

try:
    import fcntl
except ImportError:  # pragma: no cover - not on this platform
    fcntl = None

__all__ = ('ResultReader', 'INCOMPLETE', 'FileLock', 'remove_lock_files',
           'dump_message', 'write_message', 'read_message', 'HEADER')

#: Bytes asked for per read of the result pipe (its default capacity).
RESULT_READ_SIZE = 65536
#: The length prefix of billiard's pipe messages (big-endian signed int).
HEADER = struct.Struct('!i')
#: What the pool sends the children with (the child unpickles any protocol).
PROTOCOL = pickle.HIGHEST_PROTOCOL


class ResultReader:
    """Reads the children's messages from the result pipe, many per ``read``.

    The children write length-prefixed pickles (billiard's framing) to one
    pipe that only this process reads.  Billiard reads each message with a
    ``poll`` and two ``read`` calls; here one ``read`` takes whatever is
    waiting, and the complete messages are cut from the buffer (a message
    still being written stays buffered until the rest arrives).  Every
    reader of the pipe in this process goes through this object, so the
    buffer never loses its place in the stream.
    """

    __slots__ = ('conn', 'fd', '_buf', '_pos', '_poller')

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.fd = conn.fileno()
        self._buf = bytearray()
        self._pos = 0
        self._poller = select.poll()
        self._poller.register(self.fd, select.POLLIN)

    def has_message(self) -> bool:
        """Whether a complete message is buffered."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return False
        return pos + 4 + HEADER.unpack_from(buf, pos)[0] <= len(buf)

    def next_message(self) -> Any:
        """The next buffered message, or :data:`INCOMPLETE` if none is complete."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return INCOMPLETE
        start = pos + 4
        end = start + HEADER.unpack_from(buf, pos)[0]
        if end > len(buf):
            return INCOMPLETE
        self._pos = end
        return pickle.loads(buf[start:end])

    def fill(self) -> None:
        """Read what the pipe holds (call only when it is readable: it may block)."""
        data = os.read(self.fd, RESULT_READ_SIZE)
        if not data:
            raise EOFError('result pipe closed')
        buf = self._buf
        if self._pos:  # drop what was handled (a big message grows without copies)
            del buf[:self._pos]
            self._pos = 0
        buf += data

    def readable(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) for the pipe to be readable."""
        return bool(self._poller.poll(None if timeout is None else timeout * 1000.0))

    def poll_result(self, timeout: float | None) -> tuple[bool, Any]:
        """Billiard's ``_poll_result``: ``(True, message)`` or ``(False, None)``."""
        message = self.next_message()
        if message is INCOMPLETE:
            if not self.readable(timeout):
                return False, None
            self.fill()
            message = self.next_message()
            if message is INCOMPLETE:
                return False, None
        return True, message

    def recv(self) -> Any:
        """The next message, waiting for it (billiard's ``_quick_get``)."""
        while True:
            message = self.next_message()
            if message is not INCOMPLETE:
                return message
            self.fill()


#: What :meth:`ResultReader.next_message` returns while no message is complete.
INCOMPLETE = object()


#: How many times this process is a fork of the first one (``FileLock`` checks it).
_forks = [0]


def _count_fork() -> None:
    _forks[0] += 1


if hasattr(os, 'register_at_fork'):  # pragma: no branch - POSIX (the lock needs flock)
    os.register_at_fork(after_in_child=_count_fork)


class FileLock:
    """A lock shared by the pool's processes that dies with its holder.

    Billiard guards the children's side of the pipes with semaphores: a
    child killed (``SIGKILL``) while it holds one - an idle child holds the
    job pipe's read lock while it waits - keeps it taken for good, and no
    child gets a job again.  This lock is an ``flock`` on a small file that
    every process opens itself (after the fork), and the kernel drops an
    ``flock`` when the last descriptor of its holder goes away.  A thread
    lock on top keeps the threads of one process apart (``flock`` does not).
    """

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix='celery-pool-', suffix='.lock')
        self._fd, self._pid, self._mutex = fd, os.getpid(), threading.Lock()
        self._forks = _forks[0]

    def __getstate__(self) -> str:  # for children started without fork
        return self.path

    def __setstate__(self, path: str) -> None:
        self.path, self._fd, self._pid, self._mutex = path, -1, None, None
        self._forks = -1

    def _local(self) -> int:
        """The descriptor of this process (opened on first use after a fork)."""
        if self._forks != _forks[0]:  # forked since (cheaper than a getpid per call)
            # the inherited descriptor is the parent's: one lock for both
            self._fd = os.open(self.path, os.O_RDWR)
            self._mutex = threading.Lock()  # may have been copied taken
            self._pid = os.getpid()
            self._forks = _forks[0]
        return self._fd

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        fd = self._local()
        mutex = self._mutex
        if not mutex.acquire(block, -1 if timeout is None or not block else timeout):
            return False
        try:
            if block and timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
                return True
            deadline = monotonic() + (timeout or 0.0)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if not block or monotonic() >= deadline:
                        mutex.release()
                        return False
                sleep(0.01)
        except BaseException:
            mutex.release()
            raise

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()

    __enter__ = acquire

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def remove(self) -> None:
        """Delete the file (no process may start using the lock after this)."""
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def __del__(self, _getpid: Callable[[], int] = os.getpid,
                _close: Callable[[int], None] = os.close) -> None:
        # bound at definition: at interpreter exit the module globals may be gone
        if self._pid == _getpid() and self._fd >= 0:
            try:
                _close(self._fd)
            except OSError:
                pass
            self._fd = -1


def remove_lock_files(*queues: Any) -> None:
    for queue in queues:
        for lock in (getattr(queue, '_rlock', None), getattr(queue, '_wlock', None)):
            if isinstance(lock, FileLock):
                lock.remove()


def dump_message(job: tuple) -> bytes:
    """Pickle a message for the pipes: the C pickler, billiard's for what it can't do."""
    try:
        return pickle.dumps(job, PROTOCOL)
    except Exception:  # noqa: BLE001 - sockets, pipes: billiard's reducers
        return bytes(ForkingPickler.dumps(job))


def write_message(queue: Any, obj: Any) -> None:
    """``put`` of the result queue: one framed ``write`` under the queue's lock.

    Children send their ACK and READY messages this way (and the pool its
    shutdown sentinel).  Pickling errors reach the caller, as with billiard.
    """
    data = dump_message(obj)
    framed = HEADER.pack(len(data)) + data
    fd = queue._writer._handle
    if fd is None:
        raise OSError('handle is closed')
    view = memoryview(framed)
    with queue._wlock:
        while view:
            view = view[os.write(fd, view):]


def read_message(queue: Any) -> bytes:
    """``get_payload`` of the job queue (in a child): one message, under the read lock."""
    with queue._rlock:
        fd = queue._reader._handle
        if fd is None:
            raise OSError('handle is closed')
        size = HEADER.unpack(_read_exactly(fd, 4))[0]
        return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytes:
    data = os.read(fd, size)
    if len(data) == size:
        return data
    if not data:
        raise EOFError
    parts, left = [data], size - len(data)
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise OSError('got end of file during message')
        parts.append(chunk)
        left -= len(chunk)
    return b''.join(parts)

"""Machinery of the reliability suite: workers, private servers, a cuttable proxy, the ledger.

Everything here runs in the test process.  Workers are real
``python -m celery worker`` subprocesses, each in its own session (so
teardown can kill the worker *and* whatever children it left behind by
process-group id).  Tasks write what they do to a *ledger*: one
append-only file per process, one line per event (``S <id>`` when a task
starts, ``D <id>`` when it is done), so counting needs no service that a
scenario might be breaking.  Waiting is always polling with a deadline.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = (
    'REPO', 'TASKS', 'wait_for', 'free_port', 'Ledger', 'WorkerProcess', 'RedisServer',
    'TcpProxy', 'Figures', 'FIGURES', 'children_of', 'group_pids', 'rss_kb', 'fd_count',
    'zombies_in_group', 'publish', 'client_app', 'tcp_sockets_to',
)

REPO = Path(__file__).resolve().parents[2]

#: The tasks module every worker of the suite imports (written to a temp dir).
TASKS = '''
"""Tasks of the reliability suite; each one writes what it does to the ledger."""
import json
import os
import time

from celery import Celery

app = Celery('reltasks')
app.conf.update(json.loads(os.environ['REL_CONF']))
LEDGER = os.environ['REL_LEDGER']

_fd = None
_fd_pid = None


def _record(kind, task_id):
    global _fd, _fd_pid
    pid = os.getpid()
    if _fd is None or _fd_pid != pid:
        _fd = os.open(os.path.join(LEDGER, f'{pid}.log'),
                      os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fd_pid = pid
    os.write(_fd, f'{kind} {task_id}\\n'.encode())


def _run(request, ms):
    _record('S', request.id)
    if ms:
        time.sleep(ms / 1000.0)
    _record('D', request.id)
    return ms


@app.task(bind=True, name='rel.work')
def work(self, ms=0):
    return _run(self.request, ms)


@app.task(bind=True, name='rel.late', acks_late=True, reject_on_worker_lost=True)
def late(self, ms=0):
    return _run(self.request, ms)


def _echo(request, args, kwargs):
    keys = {str(request.id)}
    if args and isinstance(args[0], str):
        keys.add(args[0])
    for key in keys:
        _record('S', key)
        _record('D', key)
    return [list(args), kwargs]


@app.task(bind=True, name='rel.echo')
def echo(self, *args, **kwargs):
    """Records its id, and its first argument (the fuzz suite's body mark)."""
    return _echo(self.request, args, kwargs)


@app.task(bind=True, name='rel.echo_late', acks_late=True)
def echo_late(self, *args, **kwargs):
    return _echo(self.request, args, kwargs)


@app.task(bind=True, name='rel.hang', time_limit=0.3)
def hang(self, seconds=30):
    _record('S', self.request.id)
    time.sleep(seconds)
    _record('D', self.request.id)


@app.task(bind=True, name='rel.late_hang_once', acks_late=True)
def late_hang_once(self, seconds=30):
    """Hangs the first time it runs; a redelivered copy returns at once."""
    mark = f'S {self.request.id}\\n'
    first = not any(mark in open(os.path.join(LEDGER, name)).read()
                    for name in os.listdir(LEDGER))
    _record('S', self.request.id)
    if first:
        time.sleep(seconds)
    _record('D', self.request.id)
'''


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
             what: str = 'condition', detail: Callable[[], str] | None = None) -> Any:
    """Poll ``predicate`` until it returns a true value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f'\n{detail()}' if detail is not None else ''
            raise AssertionError(f'timed out after {timeout}s waiting for {what}{extra}')
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# -- the ledger -----------------------------------------------------------------------------

class Ledger:
    """What the tasks recorded: starts and completions per task id, and where they ran."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def read(self) -> tuple[Counter, Counter, dict[str, set[int]]]:
        """``(started, done, pids)``: counts per task id, and the pids that started each."""
        started: Counter = Counter()
        done: Counter = Counter()
        pids: dict[str, set[int]] = {}
        for path in self.folder.glob('*.log'):
            pid = int(path.stem)
            for line in path.read_bytes().decode().splitlines():
                kind, _, task_id = line.partition(' ')
                if kind == 'S':
                    started[task_id] += 1
                    pids.setdefault(task_id, set()).add(pid)
                elif kind == 'D':
                    done[task_id] += 1
        return started, done, pids

    def done_count(self, ids: Iterable[str] | None = None) -> int:
        """How many distinct tasks (of ``ids``, if given) completed at least once."""
        done = self.read()[1]
        if ids is None:
            return len(done)
        return sum(1 for i in ids if done[i])

    def tally(self, sent: Iterable[str]) -> dict[str, Any]:
        """Executed, duplicated and lost, for the task ids in ``sent``."""
        sent = list(sent)
        started, done, pids = self.read()
        executed = [i for i in sent if done[i]]
        lost = [i for i in sent if not done[i]]
        return {
            'sent': len(sent),
            'executed': len(executed),
            'duplicated': sum(done[i] - 1 for i in executed),
            'lost': len(lost),
            'lost_ids': lost,
            'started_not_done': [i for i in sent if started[i] and not done[i]],
            'started': started, 'done': done, 'pids': pids,
        }


# -- processes ------------------------------------------------------------------------------

def children_of(pid: int) -> set[int]:
    """The direct children of ``pid`` (from /proc)."""
    found: set[int] = set()
    try:
        for task in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{task}/children') as fh:
                found.update(int(p) for p in fh.read().split())
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, pgrp)`` of a process, or None if it is gone."""
    try:
        with open(f'/proc/{pid}/stat') as fh:
            fields = fh.read().rsplit(')', 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[2])


def group_pids(pgid: int, include_zombies: bool = True) -> set[int]:
    """Every process whose process group is ``pgid``."""
    found = set()
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[1] == pgid and (include_zombies or stat[0] != 'Z'):
                found.add(int(entry))
    return found


def zombies_in_group(pgid: int) -> set[int]:
    """The zombie processes of process group ``pgid``."""
    return {pid for pid in group_pids(pgid) if (_stat(pid) or ('', 0))[0] == 'Z'}


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (0 if it is gone)."""
    try:
        with open(f'/proc/{pid}/status') as fh:
            for line in fh:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tcp_sockets_to(pid: int, port: int) -> set[str]:
    """Inodes of the TCP sockets ``pid`` has open to a remote ``port`` (from /proc)."""
    remote = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[2].rsplit(':', 1)[1], 16) == port:
                remote.add(fields[9])
    mine = set()
    try:
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                target = os.readlink(f'/proc/{pid}/fd/{fd}')
            except OSError:
                continue
            if target.startswith('socket:['):
                mine.add(target[8:-1])
    except FileNotFoundError:
        pass
    return mine & remote


def fd_count(pid: int) -> int:
    """How many file descriptors ``pid`` has open."""
    return len(os.listdir(f'/proc/{pid}/fd'))


# -- workers --------------------------------------------------------------------------------

class WorkerProcess:
    """A ``python -m celery worker`` subprocess on its own queue, in its own session.

    ``conf`` is applied to the app of the tasks module (JSON); ``args`` are
    extra command-line options.  :meth:`kill_all` kills the whole process
    group, so a killed main process leaves no pool children behind.
    """

    def __init__(self, workdir: Path, ledger: Ledger, queue: str, conf: dict,
                 *args: str, name: str | None = None) -> None:
        self.workdir = workdir
        self.ledger = ledger
        self.queue = queue
        self.conf = dict(conf)
        self.args = args
        self.name = name or f'rel-{uuid.uuid4().hex[:8]}'
        (workdir / 'reltasks.py').write_text(textwrap.dedent(TASKS).lstrip())
        self.log = workdir / f'{self.name}.log'
        self.proc: subprocess.Popen | None = None
        self.env = dict(os.environ, REL_CONF=json.dumps(self.conf),
                        REL_LEDGER=str(ledger.folder),
                        PYTHONPATH=os.pathsep.join([str(REPO), str(workdir)]))

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, wait: bool = True, env: dict | None = None) -> WorkerProcess:
        cmd = [sys.executable, '-m', 'celery', '-A', 'reltasks', 'worker', '-l', 'INFO',
               '-Q', self.queue, '-n', f'{self.name}@%h',
               '--without-gossip', '--without-mingle', '--without-heartbeat', *self.args]
        with open(self.log, 'ab') as fh:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=dict(self.env, **(env or {})),
                                         stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self.output().count('ready.') >= 1 or self.proc.poll() is not None,
                 timeout=timeout, what=f'worker {self.name} ready', detail=self.tail)
        assert self.proc.poll() is None, self.tail()
        wait_for(lambda: len(self.children()) >= 1, timeout=timeout,
                 what='pool children', detail=self.tail)

    def output(self) -> str:
        return self.log.read_text(errors='replace') if self.log.exists() else ''

    def tail(self, size: int = 4000) -> str:
        return f'--- {self.name} log (tail) ---\n{self.output()[-size:]}'

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> set[int]:
        return children_of(self.pid) if self.alive() else set()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'worker {self.name} did not exit in {timeout}s\n'
                                 f'{self.tail()}') from None

    def stop(self, timeout: float = 60.0) -> int | None:
        """Warm shutdown; returns the exit code."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill_all(self) -> None:
        """SIGKILL every process of the worker's process group (teardown)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


# -- private servers ------------------------------------------------------------------------

class RedisServer:
    """A private ``redis-server`` on a free loopback port, restartable in place.

    With ``persistent`` the append-only file is fsynced on every write, so a
    restart (even after SIGKILL) keeps everything the server acknowledged;
    otherwise nothing survives a restart.
    """

    def __init__(self, folder: Path, persistent: bool = True) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def url(self, db: int = 0) -> str:
        return f'redis://127.0.0.1:{self.port}/{db}'

    def client(self, db: int = 0) -> Any:
        import redis
        return redis.Redis(host='127.0.0.1', port=self.port, db=db, socket_timeout=10)

    def start(self) -> RedisServer:
        binary = shutil.which('redis-server')
        assert binary, 'redis-server is not installed'
        persistence = (['--appendonly', 'yes', '--appendfsync', 'always'] if self.persistent
                       else ['--appendonly', 'no'])
        cmd = [binary, '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
               '--dir', str(self.folder), '--daemonize', 'no', '--protected-mode', 'no',
               '--loglevel', 'warning', *persistence]
        with open(self.folder / 'redis.log', 'ab') as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for(self._ping, timeout=20, what=f'redis-server on {self.port}')
        return self

    def _ping(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, (self.folder / 'redis.log').read_text()
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=1) as sock:
                sock.sendall(b'PING\r\n')
                return sock.recv(64).startswith(b'+PONG')
        except OSError:
            return False

    def aof_commands(self) -> list[list[bytes]]:
        """Every command in the append-only files, in order (persistent servers only)."""
        commands: list[list[bytes]] = []
        for path in sorted((self.folder / 'appendonlydir').glob('*.incr.aof')):
            data, pos = path.read_bytes(), 0
            while pos < len(data) and data[pos:pos + 1] == b'*':
                end = data.index(b'\r\n', pos)
                count, pos, args = int(data[pos + 1:end]), end + 2, []
                for _ in range(count):
                    end = data.index(b'\r\n', pos)
                    size, pos = int(data[pos + 1:end]), end + 2
                    args.append(data[pos:pos + size])
                    pos += size + 2
                commands.append(args)
        return commands

    def fate_of(self, queue: str, task_ids: Iterable[str]) -> dict[str, str]:
        """What the server did with each task message of ``queue``, replayed from its AOF.

        Tells apart a message never pushed, one still queued, and one popped
        by a consumer with or without an ``unacked`` entry (the worker's fetch
        script writes both in one step, replicated as MULTI/EXEC).
        """
        wanted = set(task_ids)
        key = queue.encode()
        pending: list[str] = []
        fate = {i: 'never pushed' for i in wanted}
        for args in self.aof_commands():
            op = args[0].upper()
            if op == b'LPUSH' and args[1] == key:
                for raw in args[2:]:
                    task_id = json.loads(raw)['headers']['id']
                    pending.insert(0, task_id)
                    if task_id in fate:
                        fate[task_id] = 'queued'
            elif op == b'RPOP' and args[1] == key and pending:
                task_id = pending.pop()
                if task_id in fate:
                    fate[task_id] = 'popped, never recorded as unacked'
            elif op == b'HSET' and args[1] == b'unacked':
                for raw in args[3::2]:
                    task_id = json.loads(raw)[0]['headers']['id']
                    if task_id in fate:
                        fate[task_id] = 'popped, recorded as unacked'
        return fate

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self, sig: int = signal.SIGTERM,
                while_down: Callable[[], None] | None = None) -> None:
        """Stop the server, run ``while_down`` (e.g. wait until clients noticed), start it."""
        self.stop(sig)
        if while_down is not None:
            while_down()
        self.start()
        self.restarts += 1


class TcpProxy:
    """A loopback TCP proxy to ``target`` that can be cut (a broker outage) and restored.

    :meth:`cut` resets every connection (RST, buffered bytes are dropped)
    and stops listening, as a broker that dies would; :meth:`restore`
    listens again on the same port.  One thread does all the work.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.cuts = 0
        self.connections_made = 0
        self._sel = selectors.DefaultSelector()
        self._peers: dict[socket.socket, socket.socket] = {}
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, 'wake')
        self._commands: list[tuple[str, threading.Event]] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._listen()
        self._thread = threading.Thread(target=self._run, name='rel-proxy', daemon=True)
        self._thread.start()

    def url(self, user: str = 'guest', password: str = 'guest', vhost: str = '/') -> str:
        return f'amqp://{user}:{password}@127.0.0.1:{self.port}/{vhost}'

    def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', self.port))
        sock.listen(64)
        sock.setblocking(False)
        self._listener = sock
        self._sel.register(sock, selectors.EVENT_READ, 'accept')

    def _command(self, name: str) -> None:
        done = threading.Event()
        with self._lock:
            self._commands.append((name, done))
        self._wake_w.send(b'x')
        assert done.wait(10), f'proxy did not {name}'

    def cut(self) -> None:
        self._command('cut')

    def restore(self) -> None:
        self._command('restore')

    def close(self) -> None:
        self._command('close')
        self._thread.join(10)

    def _drop(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._peers.pop(s, None)
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
            except OSError:
                pass
            s.close()

    def _do(self, name: str) -> None:
        if name in ('cut', 'close'):
            for sock in list(self._peers):
                self._drop(sock)
            if self._listener is not None:
                self._sel.unregister(self._listener)
                self._listener.close()
                self._listener = None
            if name == 'cut':
                self.cuts += 1
            else:
                self._stopped = True
        elif name == 'restore' and self._listener is None:
            self._listen()

    def _run(self) -> None:
        while not self._stopped:
            for key, _ in self._sel.select(0.5):
                tag = key.data
                if tag == 'wake':
                    self._wake_r.recv(4096)
                    with self._lock:
                        commands, self._commands = self._commands, []
                    for name, done in commands:
                        self._do(name)
                        done.set()
                elif tag == 'accept':
                    if self._listener is None:
                        continue
                    try:
                        client, _ = self._listener.accept()
                    except OSError:
                        continue
                    try:
                        upstream = socket.create_connection(self.target, timeout=5)
                    except OSError:
                        client.close()
                        continue
                    for s in (client, upstream):
                        s.setblocking(True)
                        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._peers[client], self._peers[upstream] = upstream, client
                    self._sel.register(client, selectors.EVENT_READ, 'pipe')
                    self._sel.register(upstream, selectors.EVENT_READ, 'pipe')
                    self.connections_made += 1
                else:
                    sock = key.fileobj
                    peer = self._peers.get(sock)
                    if peer is None:
                        continue
                    try:
                        data = sock.recv(65536)
                        if data:
                            peer.sendall(data)
                            continue
                    except OSError:
                        pass
                    self._drop(sock)
        for sock in list(self._peers):
            self._drop(sock)


# -- clients --------------------------------------------------------------------------------

def client_app(broker: str, backend: str | None = None, **conf: Any) -> Any:
    """A client app (not current) sending to ``broker``."""
    from celery import Celery
    app = Celery('relclient', broker=broker, backend=backend, set_as_current=False,
                 fixups=[])
    app.conf.update(conf)
    return app


def publish(app: Any, name: str, count: int, queue: str, args: tuple = (),
            **options: Any) -> list[str]:
    """Send ``count`` tasks ``name`` to ``queue`` on one producer; return their ids."""
    ids = []
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            task_id = str(uuid.uuid4())
            app.send_task(name, args, task_id=task_id, queue=queue, producer=producer,
                          ignore_result=True, **options)
            ids.append(task_id)
    return ids


# -- figures --------------------------------------------------------------------------------

@dataclass
class Figures:
    """The figures one scenario reports: printed, and listed at the end of the run."""

    scenario: str
    sent: int = 0
    executed: int = 0
    duplicated: int = 0
    lost: int = 0
    elapsed: float = 0.0
    extra: dict = field(default_factory=dict)
    _start: float = field(default_factory=time.monotonic, repr=False)

    def take(self, tally: dict) -> Figures:
        self.sent, self.executed = tally['sent'], tally['executed']
        self.duplicated, self.lost = tally['duplicated'], tally['lost']
        return self

    def line(self) -> str:
        extra = ' '.join(f'{k}={v}' for k, v in self.extra.items())
        return (f'{self.scenario}: sent={self.sent} executed={self.executed} '
                f'duplicated={self.duplicated} lost={self.lost} '
                f'elapsed={self.elapsed:.1f}s {extra}').rstrip()

    def report(self) -> None:
        self.elapsed = time.monotonic() - self._start
        FIGURES.append(self)
        print('\n[reliability] ' + self.line(), flush=True)
        path = os.environ.get('REL_FIGURES_JSON')
        if path:
            with open(path, 'a') as fh:
                fh.write(json.dumps({'scenario': self.scenario, 'sent': self.sent,
                                     'executed': self.executed, 'duplicated': self.duplicated,
                                     'lost': self.lost, 'elapsed': round(self.elapsed, 2),
                                     **self.extra}, default=str) + '\n')


#: Figures of every scenario run in this session, in order.
FIGURES: list[Figures] = []

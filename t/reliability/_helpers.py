"""Machinery of the reliability suite: workers, private servers, the ledger.

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
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from t.waiting import wait_for

__all__ = (
    'REPO', 'TASKS', 'wait_for', 'free_port', 'Ledger', 'WorkerProcess', 'RedisServer',
    'RabbitNode', 'rabbitmq_scripts', 'Figures', 'FIGURES', 'children_of', 'group_pids',
    'rss_kb', 'fd_count', 'zombies_in_group', 'publish', 'client_app', 'tcp_sockets_to',
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


def rabbitmq_scripts() -> tuple[str, str] | None:
    """``(rabbitmq-server, rabbitmqctl)`` to run directly, or None if RabbitMQ is not installed.

    Debian's ``/usr/sbin`` wrappers switch to the ``rabbitmq`` user through
    ``su`` (so the node's files would have to belong to that user, and the
    node would leave the test's process group); the scripts they wrap run as
    any user, with everything in the node's own folder.
    """
    for folder in ('/usr/lib/rabbitmq/bin', os.path.dirname(os.path.realpath(
            shutil.which('rabbitmq-server') or '/nonexistent/rabbitmq-server'))):
        server, ctl = os.path.join(folder, 'rabbitmq-server'), os.path.join(folder, 'rabbitmqctl')
        if os.access(server, os.X_OK) and os.access(ctl, os.X_OK):
            return server, ctl
    return None


class RabbitNode:
    """A private RabbitMQ node on free loopback ports, restartable in place.

    Its database, logs, configuration and Erlang cookie (``HOME``) all live
    in ``folder``; the node has a name of its own and registers with the
    machine's ``epmd``, next to the shared node, which it never touches.
    Durable queues and persistent messages survive :meth:`stop` and
    :meth:`kill` alike: the node confirms such a message once it is on disk.
    """

    def __init__(self, folder: Path) -> None:
        scripts = rabbitmq_scripts()
        assert scripts, 'RabbitMQ is not installed (rabbitmq-server, rabbitmqctl)'
        self.server, self.ctl = scripts
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.dist_port = self.port
        while self.dist_port == self.port:
            self.dist_port = free_port()
        self.name = f'rel-{uuid.uuid4().hex[:10]}@localhost'
        self.proc: subprocess.Popen | None = None
        self.beam_pid: int | None = None
        self.log = folder / 'node.log'
        (folder / 'rabbitmq.conf').write_text(
            f'listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n')
        (folder / 'enabled_plugins').write_text('[].\n')
        self.env = dict(
            os.environ, HOME=str(folder), RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port), RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(folder / 'mnesia'), RABBITMQ_LOG_BASE=str(folder / 'log'),
            RABBITMQ_CONFIG_FILE=str(folder / 'rabbitmq.conf'),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(folder / 'enabled_plugins'),
            RABBITMQ_PID_FILE=str(folder / 'pid'))

    def url(self) -> str:
        return f'amqp://guest:guest@127.0.0.1:{self.port}//'

    def start(self, timeout: float = 120.0) -> RabbitNode:
        """Boot the node (foreground, own session); return once it serves AMQP."""
        self.beam_pid = None
        (self.folder / 'pid').unlink(missing_ok=True)  # a killed node leaves it behind
        with open(self.log, 'ab') as fh:
            self.proc = subprocess.Popen([self.server], cwd=self.folder, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=fh,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._serves_amqp, timeout=timeout, interval=0.2,
                 what=f'RabbitMQ node {self.name} on {self.port}', detail=self.tail)
        self.beam_pid = self._pid_from_file()
        return self

    def _pid_from_file(self) -> int | None:
        try:
            return int((self.folder / 'pid').read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _serves_amqp(self) -> bool:
        """True once an AMQP connection opens (the port listens a little earlier)."""
        import amqp
        assert self.proc is not None and self.proc.poll() is None, \
            f'RabbitMQ node {self.name} exited\n{self.tail()}'
        try:
            conn = amqp.Connection(f'127.0.0.1:{self.port}', userid='guest', password='guest',
                                   connect_timeout=2)
            conn.connect()
        except Exception:
            return False
        conn.close()
        return True

    def tail(self, size: int = 3000) -> str:
        """The end of the node's console output and of its log file."""
        parts = [self.log] + sorted((self.folder / 'log').glob('*.log'))
        return '\n'.join(f'--- {path.name} (tail) ---\n{path.read_text(errors="replace")[-size:]}'
                         for path in parts if path.exists())

    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (declared passively: fails if the queue is gone)."""
        import amqp
        with amqp.Connection(f'127.0.0.1:{self.port}', userid='guest', password='guest',
                             connect_timeout=5) as conn:
            return conn.channel().queue_declare(queue, passive=True).message_count

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node cleanly (``rabbitmqctl stop``); kill it if that does not work."""
        if self.alive():
            try:
                done = subprocess.run([self.ctl, '-n', self.name, 'stop'], env=self.env,
                                      cwd=self.folder, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      timeout=timeout)
                if done.returncode == 0:
                    assert self.proc is not None
                    self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL the node (a crash, or what a failed stop leaves); return once its VM is gone."""
        if self.proc is None:
            return
        beam = self.beam_pid or self._pid_from_file()
        if self.proc.poll() is None or (beam is not None and _stat(beam) is not None):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(30)
        if beam is not None:
            wait_for(lambda: (_stat(beam) or ('Z',))[0] == 'Z', timeout=30,
                     what=f'the VM of node {self.name} (pid {beam}) to exit')


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

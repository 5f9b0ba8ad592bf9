"""Processes of the interop matrix: a mixed fleet of real Celery 5 and ours.

A :class:`Fleet` owns a scratch directory holding a tasks module that both
packages load (plain Celery API), and starts, as subprocesses:

* one real Celery worker (interop venv) consuming only the "real" queue,
* one of our workers (project venv) consuming only the "ours" queue,
* on demand, a client of each package (:class:`Driver`, a long-running
  interpreter that runs code snippets sent over stdin, so that one snippet
  exercises either package), and beat, ``celery events``, Flower or any other
  ``celery`` command of either package.

Every process runs in its own session (process group), writes to a log file
in the scratch directory, and is killed with its children at teardown, or at
interpreter exit when a test run is interrupted.  Nothing here sleeps to
synchronise: waits poll with deadlines and fail with the process log.
"""
from __future__ import annotations

import atexit
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import celery_venv  # noqa: E402

from t.waiting import wait_for  # noqa: E402

__all__ = (
    'SIDES', 'OTHER', 'PROJECT_PYTHON', 'ZONE', 'ZONE_UTCOFFSET', 'Proc', 'Driver',
    'DriverError', 'Fleet', 'free_port',
)

#: The two packages of a mixed fleet.
SIDES = ('ours', 'real')
#: The side opposite to each side.
OTHER = {'ours': 'real', 'real': 'ours'}

PROJECT_PYTHON = Path(sys.executable)

#: The local time zone of every fleet process (UTC+05:30, no DST).
ZONE = 'Asia/Kolkata'
#: Its ``utcoffset`` as Celery 5 events carry it: hours west of UTC.
ZONE_UTCOFFSET = -5.5

_LIVE: set[Proc] = set()



def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _python(side: str) -> Path:
    return celery_venv.ensure_venv() if side == 'real' else PROJECT_PYTHON


class Proc:
    """One subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str],
                 log: Path, stdin: bool = False) -> None:
        self.name, self.argv, self.log = name, argv, log
        self._log_file = open(log, 'ab')
        self.popen = subprocess.Popen(
            argv, cwd=str(cwd), env=env, start_new_session=True,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdin else self._log_file,
            stderr=self._log_file,
        )
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        """Everything the process logged so far."""
        try:
            return self.log.read_text(errors='replace')
        except OSError:
            return ''

    def tail(self, lines: int = 40) -> str:
        body = '\n'.join(self.text().splitlines()[-lines:])
        return f'--- last lines of {self.name} ({self.log}) ---\n{body}'

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match:
        """Wait until the log matches the regular expression ``pattern``."""
        regex = re.compile(pattern, re.M)

        def seen() -> re.Match | None:
            if not self.alive():
                raise AssertionError(
                    f'{self.name} exited ({self.popen.returncode}) before logging '
                    f'{pattern!r}\n{self.tail()}')
            return regex.search(self.text())
        return wait_for(seen, timeout, what=f'{self.name} to log {pattern!r}', detail=self.tail)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (a warm shutdown), then SIGKILL the whole group after ``timeout``."""
        try:
            if self.alive():
                _signal_group(self.pid, signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    print(f'interop fleet: {self.name} ignored SIGTERM for {timeout}s; '
                          f'killing it\n{self.tail(15)}', file=sys.stderr)
            _signal_group(self.pid, signal.SIGKILL)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
        finally:
            for stream in (self.popen.stdin, self.popen.stdout):
                if stream is not None:
                    stream.close()
            self._log_file.close()
            _LIVE.discard(self)
        return self.popen.returncode


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        _signal_group(proc.pid, signal.SIGKILL)


class DriverError(AssertionError):
    """A snippet raised in a client driver; the message holds its traceback."""


#: The client driver: runs snippets sent as JSON lines, answers with JSON lines.
#: A snippet sees ``app`` (the tasks module's app), ``tasks``, ``spec`` (the
#: request's data) and the canvas names, and leaves its answer in ``out``.
DRIVER = r'''
import importlib, json, os, sys, traceback
sys.path.insert(0, os.getcwd())
replies = os.fdopen(os.dup(1), 'w')
os.dup2(2, 1)
tasks = importlib.import_module(os.environ['MX_MODULE'])
ns = {'tasks': tasks, 'app': tasks.app, 'json': json}
exec('import time\nfrom celery import Celery, chain, chord, group, signature', ns)
replies.write(json.dumps({'ok': True, 'out': 'ready'}) + '\n')
replies.flush()
for line in sys.stdin:
    request = json.loads(line)
    ns['spec'] = request.get('spec')
    ns.pop('out', None)
    try:
        exec(request['code'], ns)
        reply = {'ok': True, 'out': ns.get('out')}
    except BaseException:
        reply = {'ok': False, 'error': traceback.format_exc()}
    replies.write(json.dumps(reply, default=repr) + '\n')
    replies.flush()
'''


class Driver:
    """A client of one package (``side``) that runs snippets against the fleet."""

    def __init__(self, fleet: Fleet, side: str) -> None:
        self.fleet, self.side = fleet, side
        self.proc: Proc | None = None
        self._lines: queue.Queue = queue.Queue()

    def _start(self) -> Proc:
        proc = self.fleet.spawn(self.side, f'{self.side}-client', ['-c', DRIVER], stdin=True)
        lines = self._lines = queue.Queue()

        def pump() -> None:
            for raw in proc.popen.stdout:
                lines.put(raw)
            lines.put(None)
        threading.Thread(target=pump, daemon=True).start()
        self.proc = proc
        self._reply(60.0)
        return proc

    def _reply(self, timeout: float) -> Any:
        assert self.proc is not None
        try:
            raw = self._lines.get(timeout=timeout)
        except queue.Empty:
            tail = self.proc.tail()
            self.close()
            raise AssertionError(f'{self.side} client gave no answer in {timeout}s\n{tail}')
        if raw is None:
            tail = self.proc.tail()
            self.close()
            raise AssertionError(f'{self.side} client exited\n{tail}')
        reply = json.loads(raw)
        if not reply['ok']:
            raise DriverError(f'in the {self.side} client:\n{reply["error"]}')
        return reply['out']

    def run(self, code: str, spec: Any = None, timeout: float = 30.0) -> Any:
        """Run ``code`` in this client; return the value it left in ``out``."""
        proc = self.proc if self.proc is not None and self.proc.alive() else self._start()
        request = json.dumps({'code': textwrap.dedent(code), 'spec': spec})
        proc.popen.stdin.write((request + '\n').encode())
        proc.popen.stdin.flush()
        return self._reply(timeout)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=3)
            self.proc = None


# The tasks module both packages load.  Each task exists twice, once per side
# (``mx.ours.<name>`` and ``mx.real.<name>``), routed to that side's queue.
TASKS_MODULE = r'''
"""Tasks of the interop matrix: plain Celery API, loaded by both packages."""
import json
import os
import time
from pathlib import Path

import redis
from celery import Celery

CONFIG = json.loads(Path(__file__).with_name('fleet.json').read_text())
SIDE = os.environ.get('MX_SIDE', 'client')

app = Celery(__name__, broker=CONFIG['broker'], backend=CONFIG['backend'],
             set_as_current=False)
app.conf.update(
    result_extended=True,
    result_expires=3600,
    task_default_queue=CONFIG['default_queue'],
    broker_connection_retry_on_startup=True,
)
ROUTES = {}
_store = []


class MxError(Exception):
    """An exception class that only this module defines."""


def record(tag, value):
    """Append ``value`` to the run's Redis list ``tag`` (the tests read it)."""
    if not _store:
        _store.append(redis.Redis.from_url(CONFIG['records']))
    _store[0].rpush(CONFIG['prefix'] + tag, json.dumps(value))


def task(fun=None, **options):
    def register(fun):
        for side in ('ours', 'real'):
            name = 'mx.%s.%s' % (side, fun.__name__)
            app.task(name=name, **options)(fun)
            ROUTES[name] = {'queue': CONFIG[side + '_queue']}
        return fun
    return register(fun) if fun is not None else register


@task
def add(x, y):
    return x + y


@task
def mul(x, y):
    return x * y


@task
def tsum(numbers):
    return sum(numbers)


@task
def fail(message):
    raise ValueError(message)


@task
def fail_custom(message):
    raise MxError(message)


@task(bind=True)
def flaky(self, times):
    if self.request.retries < times:
        raise self.retry(countdown=0.1, max_retries=times + 1)
    return {'retries': self.request.retries, 'hostname': self.request.hostname}


@task(bind=True)
def info(self, *args, **kwargs):
    request = self.request
    headers = getattr(request, 'headers', None)
    headers = headers if isinstance(headers, dict) else {}
    return {
        'hostname': request.hostname, 'id': request.id, 'args': list(args),
        'kwargs': kwargs, 'retries': request.retries, 'eta': request.eta,
        'expires': request.expires, 'shadow': getattr(request, 'shadow', None),
        'priority': (request.delivery_info or {}).get('priority'),
        'mx_header': getattr(request, 'mx_header', None),
        'headers_mx_header': headers.get('mx_header'),
        'root_id': request.root_id, 'parent_id': request.parent_id,
        'ran_at': time.time(),
    }


@task(bind=True)
def note(self, tag, *args):
    record(tag, {'hostname': self.request.hostname, 'args': list(args),
                 'id': self.request.id, 'side': SIDE})
    return tag


@task
def errback_plain(task_id):
    record('errback-id:' + task_id, {'side': SIDE})


@task(bind=True)
def errback_bound(self, task_id, note=None):
    record('errback-id:' + task_id, {'side': SIDE, 'note': note})


@task
def on_error(request, exc, traceback):
    record('errback:' + request.id, {
        'side': SIDE, 'exc_type': type(exc).__name__,
        'exc_args': [str(a) for a in exc.args], 'task': request.task})


@task(bind=True)
def sleeper(self, seconds, tag):
    record('started:' + tag, {'hostname': self.request.hostname, 'id': self.request.id})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return tag


@task
def stamp():
    return time.time()


@task(bind=True)
def beat_tick(self, by):
    record('beat:' + by, {'hostname': self.request.hostname, 'id': self.request.id})


app.conf.task_routes = (ROUTES,)
if os.environ.get('MX_BEAT_TARGET'):
    app.conf.beat_schedule = {
        'mx-tick': {'task': 'mx.%s.beat_tick' % os.environ['MX_BEAT_TARGET'],
                    'schedule': 1.0, 'args': (os.environ['MX_BEAT_BY'],)},
    }
'''


class Fleet:
    """A real Celery worker and one of ours sharing one broker and backend.

    ``broker`` is ``'redis'`` or ``'amqp'``; the result backend is Redis for
    both.  Queues, node names and record keys carry a per-fleet run id.
    """

    def __init__(self, kind: str, broker: str, backend: str, records: str,
                 root: Path) -> None:
        self.kind, self.broker, self.backend, self.records = kind, broker, backend, records
        self.run_id = uuid.uuid4().hex[:10]
        self.dir = root
        self.dir.mkdir(parents=True, exist_ok=True)
        self.module = f'mxtasks_{kind}_{self.run_id}'
        self.queues = {side: f'mx-{side}-{self.run_id}' for side in SIDES}
        self.default_queue = f'mx-default-{self.run_id}'
        self.prefix = f'mx:{self.run_id}:'
        host = socket.gethostname()
        self.nodes = {side: f'{side}-{self.run_id}@{host}' for side in SIDES}
        self.workers: dict[str, Proc] = {}
        self.extra_queues: list[str] = []
        self.clients = {side: Driver(self, side) for side in SIDES}
        self._procs: list[Proc] = []
        (self.dir / 'fleet.json').write_text(json.dumps({
            'broker': broker, 'backend': backend, 'records': records,
            'prefix': self.prefix, 'default_queue': self.default_queue,
            'ours_queue': self.queues['ours'], 'real_queue': self.queues['real'],
        }))
        (self.dir / f'{self.module}.py').write_text(TASKS_MODULE)

    # -- processes ---------------------------------------------------------------------

    def env(self, side: str, **extra: str) -> dict[str, str]:
        """The environment of the fleet's processes of ``side``.

        Every process runs in a zone half an hour off a whole number of hours
        (``TZ``, :data:`ZONE`), as many users' machines do: UTC hides mistakes
        in local-time handling.
        """
        return celery_venv._clean_env({'MX_SIDE': side, 'MX_MODULE': self.module,
                                       'PYTHONUNBUFFERED': '1', 'TZ': ZONE, **extra})

    def spawn(self, side: str, name: str, args: list[str], stdin: bool = False,
              **env: str) -> Proc:
        """Start ``python -I <args>`` of ``side``'s venv in the fleet directory."""
        argv = [str(_python(side)), '-I', *args]
        proc = Proc(name, argv, self.dir, self.env(side, **env),
                    self.dir / f'{name}.log', stdin=stdin)
        self._procs.append(proc)
        return proc

    def celery(self, side: str, name: str, *args: str, **env: str) -> Proc:
        """Start ``celery -A <tasks module> <args>`` of ``side``'s package."""
        return self.spawn(side, name, ['-m', 'celery', '-A', self.module, *args], **env)

    def cli(self, side: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run a ``celery`` command of ``side`` to completion; return its output."""
        argv = [str(_python(side)), '-I', '-m', 'celery', '-A', self.module, *args]
        try:
            return subprocess.run(argv, cwd=str(self.dir), env=self.env(side),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f'{" ".join(args)} ({side}) ran over {timeout}s: '
                                 f'{exc.stdout!r} {exc.stderr!r}') from None

    def worker(self, side: str, node: str, queue: str, name: str) -> Proc:
        """Start a prefork worker of ``side`` named ``node`` consuming ``queue``."""
        if queue not in self.queues.values():
            self.extra_queues.append(queue)
        return self.celery(side, name, 'worker', '-Q', queue, '-n', node,
                           '-P', 'prefork', '-c', '2', '-E',
                           '--without-gossip', '--without-mingle', '-l', 'info')

    @staticmethod
    def wait_ready(proc: Proc, node: str, timeout: float = 60.0) -> None:
        proc.wait_for_log(rf'{re.escape(node)} ready\.', timeout)

    def start(self, timeout: float = 60.0) -> None:
        """Start both workers and wait until each has logged that it is ready."""
        for side in SIDES:
            self.workers[side] = self.worker(side, self.nodes[side], self.queues[side],
                                             f'{side}-worker')
        for side in SIDES:
            self.wait_ready(self.workers[side], self.nodes[side], timeout)

    def logs(self) -> str:
        return '\n'.join(proc.tail() for proc in self.workers.values())

    def close(self) -> None:
        """Stop every process of the fleet; remove its queues and records."""
        try:
            for client in self.clients.values():
                client.close()
            for proc in reversed(self._procs):
                proc.stop()
        finally:
            self._purge()

    def _purge(self) -> None:
        import redis
        from kombu import Connection
        try:
            with Connection(self.broker, connect_timeout=5) as conn:
                channel = conn.default_channel
                for name in (*self.queues.values(), self.default_queue, *self.extra_queues):
                    channel.queue_delete(name)
        except Exception as exc:  # cleanup is best effort: never mask a test result
            print(f'interop fleet: could not delete queues: {exc!r}', file=sys.stderr)
        client = redis.Redis.from_url(self.records)
        try:
            keys = list(client.scan_iter(match=f'{self.prefix}*'))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    # -- helpers for tests -------------------------------------------------------------

    def read(self, tag: str) -> list:
        """The values recorded under ``tag`` by the tasks' ``record()``."""
        import redis
        client = redis.Redis.from_url(self.records)
        try:
            return [json.loads(v) for v in client.lrange(self.prefix + tag, 0, -1)]
        finally:
            client.close()

    def wait_records(self, tag: str, count: int = 1, timeout: float = 20.0) -> list:
        """Wait until ``tag`` holds at least ``count`` records; return them."""
        return wait_for(lambda: (lambda v: v if len(v) >= count else None)(self.read(tag)),
                        timeout, what=f'{count} record(s) under {tag!r}', detail=self.logs)

    def backend_keys(self, task_ids: Iterable[str]) -> list[str]:
        """Which of ``task_ids`` have a result record in the Redis backend."""
        import redis
        client = redis.Redis.from_url(self.backend)
        try:
            return [tid for tid in task_ids if client.exists(f'celery-task-meta-{tid}')]
        finally:
            client.close()

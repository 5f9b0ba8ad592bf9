"""One benchmark scenario, run under whichever Celery the interpreter imports.

This file is the only code that runs on both sides of the comparison: the
runner (:mod:`t.benchmarks.runner`) copies it into a scratch directory and
runs it with the project's venv (our package) and with the interop venv
(real Celery 5.7, ``python -I`` so nothing of ours can be imported).  It may
therefore import only the standard library, ``celery``, ``kombu`` and
``redis``, and nothing from this repository.

Usage::

    python bench_scenarios.py SCENARIO '{"n": 20000, ...}'

It prints one JSON object on its last line of stdout: ``{"ok": true,
"metrics": {...}, "details": {...}, "versions": {...}}`` or ``{"ok": false,
"error": "..."}``.  Every scenario has a deadline and stops (and cleans up
its queue and worker) when it passes.

How things are measured (the same code for both implementations):

* **drain** -- the queue is filled with ``n`` protocol-2 messages of the
  no-op task (``ignore_result``) while no worker runs: one message is sent
  with ``send_task``, read back raw, and published ``n`` times with fresh
  ids through a bare kombu producer, so filling costs the same on both
  sides.  Then ``celery worker -P POOL -c 2`` starts (``prefork``,
  ``solo`` or ``threads``; for ``solo``, ``-c 2`` only sets the prefetch
  count to 8, as for the others).  Executions are counted by the task
  itself: it appends one byte to a counter file (``O_APPEND``, one
  ``write`` syscall per task, about a microsecond, atomic so pool threads
  may share it), so the file size is the number of tasks executed.  The
  runner polls the size every 2 ms; the rate is ``(n - c0) / (t_end -
  t0)``, where ``t0`` is when the first executions were seen (``c0`` of
  them) and ``t_end`` when the size reached ``n``.  Worker start-up is
  therefore not part of the rate.  At the end the queue must be empty.
* **enqueue** -- ``noop.delay()`` ``n`` times from this one process after
  200 warm-up calls; rate = ``n`` / elapsed.
* **roundtrip** -- Redis broker and result backend, a prefork ``-c 2``
  worker, 50 warm-up calls, then ``add.delay(1, 1).get()`` ``n`` times in
  sequence; percentiles of the individual round trips.
* **chord** -- Redis broker and backend, prefork ``-c 2`` worker, a 10-task
  warm-up chord, then ``chord(add.s(i, i) for i in range(size))(tsum.s())``
  timed from the call to ``.get()`` returning.
* **coldstart** -- a task is sent (Redis broker, or RabbitMQ for
  ``coldstart-amqp``; Redis backend), then ``celery
  worker -P prefork -c 2`` is spawned; the time from spawning to the task's
  result key appearing in Redis (polled every 2 ms).  Then, after the
  worker has been idle for ``idle_s`` seconds, the resident memory (VmRSS)
  of the worker and all its descendants is summed.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable

__all__ = ('SCENARIOS', 'main')

AMQP_URL = os.environ.get('BENCH_AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672//')
REDIS_URL = os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379/14')
BROKERS = {'amqp': AMQP_URL, 'redis': REDIS_URL}

#: Flags that keep the worker to the task path (no mingle wait, no event chatter).
LEAN = ('--without-mingle', '--without-gossip', '--without-heartbeat')

TASKS_MODULE = '''\
"""Tasks of the benchmark (written by bench_scenarios.py)."""
import os

from celery import Celery

app = Celery('bench_tasks', broker=os.environ['BENCH_BROKER'],
             backend=os.environ.get('BENCH_BACKEND') or None)
app.conf.task_default_queue = os.environ['BENCH_QUEUE']
app.conf.broker_connection_retry_on_startup = True
app.conf.result_expires = 600

_COUNTER = os.environ.get('BENCH_COUNTER')
_fd = None


@app.task(ignore_result=True)
def noop():
    global _fd
    if _COUNTER:
        if _fd is None:
            _fd = os.open(_COUNTER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(_fd, b'.')


@app.task
def add(x, y):
    return x + y


@app.task
def tsum(numbers):
    return sum(numbers)
'''


class ScenarioError(RuntimeError):
    """A scenario could not finish (worker died, deadline passed, bad state)."""


# -- helpers -------------------------------------------------------------------

class Bench:
    """The scratch directory, the tasks module and the worker of one scenario."""

    def __init__(self, workdir: str, broker: str, backend: str | None,
                 deadline: float) -> None:
        self.workdir = Path(workdir)
        self.queue = f'bench.{uuid.uuid4().hex[:10]}'
        self.broker = broker
        self.backend = backend
        self.deadline = deadline
        self.counter = self.workdir / f'counter-{self.queue}'
        self.log = self.workdir / f'worker-{self.queue}.log'
        self.proc: subprocess.Popen | None = None
        os.environ.update(BENCH_BROKER=broker, BENCH_BACKEND=backend or '',
                          BENCH_QUEUE=self.queue, BENCH_COUNTER=str(self.counter))
        (self.workdir / 'bench_tasks.py').write_text(TASKS_MODULE)
        if str(self.workdir) not in sys.path:
            sys.path.insert(0, str(self.workdir))
        sys.modules.pop('bench_tasks', None)
        import bench_tasks
        self.tasks = bench_tasks
        self.app = bench_tasks.app

    def left(self) -> float:
        """Seconds until the deadline; raises when it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ScenarioError('deadline passed')
        return left

    def declare(self) -> None:
        with self.app.connection_for_write() as conn:
            self.app.amqp.queues[self.queue](conn.default_channel).declare()

    def depth(self) -> int:
        """Messages ready in the queue (not counting delivered, unacked ones)."""
        with self.app.connection_for_read() as conn:
            channel = conn.default_channel
            if conn.transport.driver_type == 'redis':
                return channel.client.llen(self.queue)
            return channel.queue_declare(queue=self.queue, passive=True).message_count

    def delete_queue(self) -> None:
        try:
            with self.app.connection_for_write() as conn:
                conn.default_channel.queue_delete(self.queue)
        except Exception:  # noqa: BLE001 - already gone or unreachable
            pass

    def fill(self, n: int) -> float:
        """Put ``n`` no-op task messages in the queue; returns the seconds it took."""
        from kombu import Queue
        started = time.perf_counter()
        self.declare()
        self.app.send_task('bench_tasks.noop', queue=self.queue, ignore_result=True)
        with self.app.connection_for_write() as conn:
            raw = Queue(self.queue, no_declare=True)(conn.default_channel)
            template = None
            while template is None:
                self.left()
                template = raw.get(no_ack=True)
                if template is None:
                    time.sleep(0.01)
            headers = dict(template.headers)
            props = template.properties
            producer = conn.Producer(serializer='json')
            body = template.body
            for _ in range(n):
                tid = str(uuid.uuid4())
                headers['id'] = headers['root_id'] = tid
                producer.publish(
                    body, exchange='', routing_key=self.queue,
                    content_type=template.content_type,
                    content_encoding=template.content_encoding,
                    headers=headers, correlation_id=tid,
                    reply_to=props.get('reply_to'), delivery_mode=2, retry=True,
                )
        while self.depth() < n:
            self.left()
            time.sleep(0.01)
        return time.perf_counter() - started

    def start_worker(self, pool: str, concurrency: int, extra: tuple = (),
                     prefix: tuple = ()) -> float:
        """Spawn ``celery worker``; returns ``perf_counter()`` right before spawning."""
        python = [sys.executable, '-I'] if sys.flags.isolated else [sys.executable]
        cmd = [*python, *prefix, '-m', 'celery', '-A', 'bench_tasks', 'worker',
               '-P', pool, '-c', str(concurrency), '-Q', self.queue, '-l', 'WARNING',
               '-n', f'bench-{self.queue}@%h', *extra]
        env = dict(os.environ)
        if not sys.flags.isolated:  # our package: the tasks module from the scratch dir
            env['PYTHONPATH'] = os.pathsep.join(
                filter(None, [str(self.workdir), env.get('PYTHONPATH')]))
        logfile = open(self.log, 'wb')
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=str(self.workdir), env=env,
                                     stdout=logfile, stderr=subprocess.STDOUT)
        logfile.close()
        return started

    def check_worker(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ScenarioError(
                f'worker exited with {self.proc.returncode}:\n{self.log_tail()}')

    def log_tail(self, lines: int = 30) -> str:
        try:
            return '\n'.join(self.log.read_text(errors='replace').splitlines()[-lines:])
        except OSError:
            return ''

    def stop_worker(self, grace: float = 8.0) -> float | None:
        """Warm-stop the worker (SIGTERM), cold after ``grace`` s, then kill its tree."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        family = descendants(proc.pid)
        started = time.perf_counter()
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGQUIT, 5.0),
                          (signal.SIGKILL, None)):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        took = time.perf_counter() - started
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return took

    def count(self) -> int:
        try:
            return self.counter.stat().st_size
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        self.stop_worker()
        self.delete_queue()
        try:
            self.app.close()
        except Exception:  # noqa: BLE001
            pass


def descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (from the ppid field of /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f'/proc/{entry}/stat').read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(')', 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) of one process in kB (Pss is 0 if unreadable)."""
    rss = pss = 0
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1])
        for line in Path(f'/proc/{pid}/smaps_rollup').read_text().splitlines():
            if line.startswith('Pss:'):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _worker_prefix(profile: str | None) -> tuple:
    return ('-m', 'cProfile', '-o', profile) if profile else ()


class _ClientProfile:
    """cProfile around the timed part of a scenario when ``path`` is given."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.profiler = None

    def __enter__(self) -> _ClientProfile:
        if self.path:
            import cProfile
            self.profiler = cProfile.Profile()
            self.profiler.enable()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.profiler is not None:
            self.profiler.disable()
            self.profiler.dump_stats(self.path)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def redis_client(url: str) -> Any:
    import redis
    return redis.Redis.from_url(url)


# -- scenarios -----------------------------------------------------------------

def drain(workdir: str, deadline: float, broker: str = 'amqp', pool: str = 'prefork',
          concurrency: int = 2, n: int = 20000, profile: str | None = None) -> dict:
    """Fill a queue with ``n`` no-op tasks, then time a worker draining it."""
    bench = Bench(workdir, BROKERS[broker], None, deadline)
    try:
        fill_s = bench.fill(n)
        spawned = bench.start_worker(pool, concurrency, LEAN, _worker_prefix(profile))
        while (c0 := bench.count()) == 0:
            bench.check_worker()
            bench.left()
            time.sleep(0.002)
        t0 = time.perf_counter()
        while (done := bench.count()) < n:
            bench.check_worker()
            bench.left()
            time.sleep(0.002)
        t1 = time.perf_counter()
        left = bench.depth()
        stop_s = bench.stop_worker()
        if left or done != n:
            raise ScenarioError(f'queue not empty ({left}) or wrong count ({done}/{n})')
        rate = (n - c0) / (t1 - t0)
        return {'metrics': {'tasks_per_s': rate},
                'details': {'n': n, 'first_seen': c0, 'seconds': t1 - t0,
                            'spawn_to_first_task_s': t0 - spawned, 'fill_s': fill_s,
                            'stop_s': stop_s, 'broker': broker, 'pool': pool,
                            'concurrency': concurrency}}
    finally:
        bench.close()


def enqueue(workdir: str, deadline: float, broker: str = 'amqp', n: int = 20000,
            warmup: int = 200, client_profile: str | None = None) -> dict:
    """``noop.delay()`` ``n`` times from this process."""
    bench = Bench(workdir, BROKERS[broker], None, deadline)
    try:
        bench.declare()
        delay = bench.tasks.noop.delay
        for _ in range(warmup):
            delay()
        with _ClientProfile(client_profile):
            started = time.perf_counter()
            for i in range(n):
                delay()
                if not i % 1000:
                    bench.left()
            elapsed = time.perf_counter() - started
        while bench.depth() < n + warmup:  # all arrived (RabbitMQ publishes are async)
            bench.left()
            time.sleep(0.01)
        return {'metrics': {'tasks_per_s': n / elapsed},
                'details': {'n': n, 'seconds': elapsed, 'broker': broker}}
    finally:
        bench.close()


def roundtrip(workdir: str, deadline: float, n: int = 1000, warmup: int = 50,
              pool: str = 'prefork', concurrency: int = 2, profile: str | None = None,
              client_profile: str | None = None) -> dict:
    """Sequential ``add.delay(1, 1).get()`` round trips (Redis broker and backend)."""
    bench = Bench(workdir, REDIS_URL, REDIS_URL, deadline)
    try:
        bench.declare()
        bench.start_worker(pool, concurrency, LEAN, _worker_prefix(profile))
        add = bench.tasks.add
        assert add.delay(2, 2).get(timeout=min(60, bench.left())) == 4
        for _ in range(warmup):
            add.delay(1, 1).get(timeout=10)
        times = []
        with _ClientProfile(client_profile):
            for i in range(n):
                t0 = time.perf_counter()
                result = add.delay(i, 1).get(timeout=10)
                times.append(time.perf_counter() - t0)
                if result != i + 1:
                    raise ScenarioError(f'wrong result {result!r}')
                if not i % 100:
                    bench.left()
        ms = [t * 1000 for t in times]
        return {'metrics': {'p50_ms': statistics.median(ms)},
                'details': {'n': n, 'p95_ms': percentile(ms, 0.95),
                            'p99_ms': percentile(ms, 0.99), 'mean_ms': statistics.fmean(ms),
                            'min_ms': min(ms), 'pool': pool, 'concurrency': concurrency}}
    finally:
        bench.close()


def chord(workdir: str, deadline: float, size: int = 1000, rounds: int = 1,
          pool: str = 'prefork', concurrency: int = 2, profile: str | None = None,
          client_profile: str | None = None) -> dict:
    """``chord(add.s(i, i) for i in range(size))(tsum.s()).get()`` (Redis)."""
    from celery import chord as Chord
    bench = Bench(workdir, REDIS_URL, REDIS_URL, deadline)
    try:
        bench.declare()
        bench.start_worker(pool, concurrency, LEAN, _worker_prefix(profile))
        add, tsum = bench.tasks.add, bench.tasks.tsum
        Chord(add.s(i, i) for i in range(10))(tsum.s()).get(timeout=min(60, bench.left()))
        totals, sends = [], []
        profiler = _ClientProfile(client_profile).__enter__()
        for _ in range(rounds):
            t0 = time.perf_counter()
            result = Chord(add.s(i, i) for i in range(size))(tsum.s())
            t1 = time.perf_counter()
            value = result.get(timeout=bench.left())
            totals.append(time.perf_counter() - t0)
            sends.append(t1 - t0)
            if value != sum(2 * i for i in range(size)):
                raise ScenarioError(f'wrong chord result {value!r}')
        profiler.__exit__(None, None, None)
        return {'metrics': {'seconds': statistics.median(totals)},
                'details': {'size': size, 'rounds': rounds, 'all_s': totals,
                            'send_s': statistics.median(sends), 'pool': pool,
                            'concurrency': concurrency}}
    finally:
        bench.close()


def coldstart(workdir: str, deadline: float, lean: bool = False, idle_s: float = 2.0,
              pool: str = 'prefork', concurrency: int = 2, profile: str | None = None,
              broker: str = 'redis') -> dict:
    """Spawn-to-first-result of a worker with a task waiting; then its idle RSS."""
    bench = Bench(workdir, BROKERS[broker], REDIS_URL, deadline)
    try:
        bench.declare()
        result = bench.tasks.add.delay(1, 2)
        key = f'celery-task-meta-{result.id}'
        client = redis_client(REDIS_URL)
        spawned = bench.start_worker(pool, concurrency, LEAN if lean else (),
                                     _worker_prefix(profile))
        while not client.exists(key):
            bench.check_worker()
            bench.left()
            time.sleep(0.002)
        startup = time.perf_counter() - spawned
        time.sleep(idle_s)
        bench.check_worker()
        pids = [bench.proc.pid, *descendants(bench.proc.pid)]
        mem = [rss_kb(pid) for pid in pids]
        return {'metrics': {'startup_s': startup,
                            'idle_rss_mb': sum(r for r, _ in mem) / 1024},
                'details': {'processes': len(pids),
                            'rss_mb_each': [round(r / 1024, 1) for r, _ in mem],
                            'idle_pss_mb': sum(p for _, p in mem) / 1024,
                            'flags': list(LEAN) if lean else [], 'pool': pool,
                            'concurrency': concurrency}}
    finally:
        bench.close()


SCENARIOS: dict[str, Callable[..., dict]] = {
    'drain': drain, 'enqueue': enqueue, 'roundtrip': roundtrip,
    'chord': chord, 'coldstart': coldstart,
}


def versions() -> dict:
    import billiard
    import celery
    import kombu
    out = {'python': sys.version.split()[0], 'celery': celery.__version__,
           'kombu': kombu.__version__, 'billiard': billiard.__version__,
           'celery_path': str(Path(celery.__file__).parent)}
    for name in ('redis', 'amqp'):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            out[name] = None
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name, params = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    timeout = float(params.pop('timeout', 300))
    workdir = params.pop('workdir', None) or os.getcwd()
    deadline = time.monotonic() + timeout
    try:
        out = {'ok': True, **SCENARIOS[name](workdir, deadline, **params)}
    except Exception as exc:  # noqa: BLE001 - reported to the runner as JSON
        out = {'ok': False, 'error': f'{type(exc).__name__}: {exc}',
               'traceback': traceback.format_exc()[-3000:]}
    out['versions'] = versions()
    print(json.dumps(out))
    return 0 if out['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())

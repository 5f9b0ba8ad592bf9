"""Benchmark: how fast a real worker drains a queue, starts, and how big it is idle.

Run: ``python t/benchmarks/drain.py [--brokers amqp,redis] [--pools prefork,solo,threads]
[-n 20000] [--skip-startup] [--skip-memory]``.

For each broker and pool, the queue (a fresh one) is filled with ``n``
no-op tasks (``ignore_result``), then ``python -m celery worker`` is
started on it; the drain rate is the number of tasks divided by the time
between the queue starting to shrink and the queue being empty.  Also
measured: cold start (process start to the first task executed, the task
touching a file) and the idle resident memory of ``prefork -c 2`` (the
worker and its children, RSS and PSS).

Targets: RabbitMQ prefork -c 2 >= 5,000/s, Redis prefork -c 2 >= 2,000/s,
RabbitMQ solo >= 6,000/s, cold start <= 0.5 s, idle prefork -c 2 <= 85 MB.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BROKERS = {
    'amqp': os.environ.get('BENCH_AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
    'redis': os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379/13'),
}

TASKS_MODULE = '''
import os
from celery import Celery

app = Celery('bench_tasks', broker=os.environ['BENCH_BROKER'])
app.conf.task_default_queue = os.environ['BENCH_QUEUE']
app.conf.task_ignore_result = True
app.conf.broker_connection_retry_on_startup = True


@app.task(ignore_result=True)
def noop():
    pass


@app.task(ignore_result=True)
def touch(path):
    with open(path, 'w') as fh:
        fh.write('x')
'''


def _env(broker: str, queue: str) -> dict:
    env = dict(os.environ)
    env['BENCH_BROKER'] = broker
    env['BENCH_QUEUE'] = queue
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    return env


def _app(workdir: str, broker: str, queue: str):
    os.environ['BENCH_BROKER'] = broker
    os.environ['BENCH_QUEUE'] = queue
    sys.path.insert(0, workdir)
    sys.modules.pop('bench_tasks', None)
    import bench_tasks
    sys.path.remove(workdir)
    return bench_tasks.app


def fill(app, queue: str, n: int) -> None:
    """Publish ``n`` noop task messages to ``queue``."""
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            app.send_task('bench_tasks.noop', queue=queue, producer=producer,
                          ignore_result=True)


class Depth:
    """Messages waiting in a queue (not counting unacked ones), on one connection."""

    def __init__(self, app, queue: str) -> None:
        self.conn = app.connection_for_read()
        self.channel = self.conn.default_channel
        self.queue = queue
        self.redis = self.conn.transport.driver_type == 'redis'

    def __call__(self) -> int:
        if self.redis:
            return self.channel.client.llen(self.queue)
        return self.channel.queue_declare(queue=self.queue, passive=True).message_count

    def close(self) -> None:
        self.conn.close()


def start_worker(workdir: str, broker: str, queue: str, pool: str, concurrency: int,
                 extra: tuple = ()) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'celery', '-A', 'bench_tasks', 'worker',
           '-P', pool, '-c', str(concurrency), '-Q', queue, '-l', 'WARNING',
           '--without-mingle', '--without-gossip', '--without-heartbeat', *extra]
    return subprocess.Popen(cmd, cwd=workdir, env=_env(broker, queue),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_worker(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def purge(app, queue: str) -> None:
    with app.connection_for_write() as conn:
        try:
            conn.default_channel.queue_delete(queue)
        except Exception:  # already gone
            pass


def bench_drain(workdir: str, broker: str, pool: str, concurrency: int, n: int) -> float:
    queue = f'bench.drain.{uuid.uuid4().hex[:8]}'
    app = _app(workdir, broker, queue)
    app.amqp.queues.select_add(queue)
    with app.connection_for_write() as conn:
        app.amqp.queues[queue].bind(conn.default_channel).declare()
    fill(app, queue, n)
    depth = Depth(app, queue)
    deadline = time.monotonic() + 30
    while depth() < n:  # the broker may still be storing the last ones
        if time.monotonic() > deadline:
            raise RuntimeError(f'queue was not filled: {depth()} of {n}')
        time.sleep(0.05)
    proc = start_worker(workdir, broker, queue, pool, concurrency)
    try:
        deadline = time.monotonic() + 300
        started = None
        while time.monotonic() < deadline:
            left = depth()
            now = time.monotonic()
            if started is None and left < n:
                started, first = now, left  # the worker's first prefetch is not timed
            if left == 0:
                break
            if proc.poll() is not None:
                raise RuntimeError(f'worker died: {proc.stderr.read().decode()[-2000:]}')
            time.sleep(0.01 if started is None else 0.05)
        else:
            raise RuntimeError('queue not drained in time')
        return first / (now - started)
    finally:
        depth.close()
        stop_worker(proc)
        purge(app, queue)


def bench_startup(workdir: str, broker: str, pool: str = 'prefork') -> float:
    queue = f'bench.start.{uuid.uuid4().hex[:8]}'
    app = _app(workdir, broker, queue)
    marker = Path(workdir) / f'started-{queue}'
    app.send_task('bench_tasks.touch', args=(str(marker),), queue=queue)
    t0 = time.monotonic()
    proc = start_worker(workdir, broker, queue, pool, 2)
    try:
        deadline = t0 + 60
        while not marker.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError('first task never ran')
            time.sleep(0.002)
        return time.monotonic() - t0
    finally:
        stop_worker(proc)
        purge(app, queue)


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f'/proc/{pid}/task').iterdir():
        try:
            kids += [int(p) for p in (task / 'children').read_text().split()]
        except OSError:
            pass
    return kids


def _mem_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            rss = int(line.split()[1])
    try:
        for line in Path(f'/proc/{pid}/smaps_rollup').read_text().splitlines():
            if line.startswith('Pss:'):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def bench_memory(workdir: str, broker: str) -> tuple[float, float]:
    queue = f'bench.mem.{uuid.uuid4().hex[:8]}'
    app = _app(workdir, broker, queue)
    marker = Path(workdir) / f'mem-{queue}'
    app.send_task('bench_tasks.touch', args=(str(marker),), queue=queue)
    proc = start_worker(workdir, broker, queue, 'prefork', 2)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if time.monotonic() > deadline:
                raise RuntimeError('worker never got ready')
            time.sleep(0.01)
        time.sleep(2.0)  # idle
        pids = [proc.pid] + _children(proc.pid)
        totals = [_mem_kb(pid) for pid in pids]
        return sum(r for r, _ in totals) / 1024, sum(p for _, p in totals) / 1024
    finally:
        stop_worker(proc)
        purge(app, queue)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--brokers', default='amqp,redis')
    parser.add_argument('--pools', default='prefork,solo,threads')
    parser.add_argument('-n', type=int, default=20000)
    parser.add_argument('-c', '--concurrency', type=int, default=2)
    parser.add_argument('--skip-startup', action='store_true')
    parser.add_argument('--skip-memory', action='store_true')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        (Path(workdir) / 'bench_tasks.py').write_text(textwrap.dedent(TASKS_MODULE))
        for name in args.brokers.split(','):
            broker = BROKERS[name]
            for pool in args.pools.split(','):
                rate = bench_drain(workdir, broker, pool, args.concurrency, args.n)
                print(f'drain  {name:6} {pool:8} -c {args.concurrency}: {rate:8.0f} tasks/s',
                      flush=True)
            if not args.skip_startup:
                print(f'start  {name:6} prefork  -c 2: '
                      f'{bench_startup(workdir, broker):8.3f} s to first task', flush=True)
            if not args.skip_memory:
                rss, pss = bench_memory(workdir, broker)
                print(f'memory {name:6} prefork  -c 2: {rss:8.1f} MB RSS, {pss:.1f} MB PSS (idle)',
                      flush=True)


if __name__ == '__main__':
    main()

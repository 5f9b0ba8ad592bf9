"""Round trip through a real worker: ``add.delay(2, 2).get()`` per result backend.

Run it by hand (it is not part of the test run)::

    .venv/bin/python t/benchmarks/roundtrip.py
    .venv/bin/python t/benchmarks/roundtrip.py --cases redis,rpc-amqp -n 500

For each case (broker + result backend) a ``celery worker`` (prefork -c 2
by default) is started on a fresh queue.  Measured:

* latency: sequential ``delay().get()`` round trips (median, p90, p99 in ms);
* throughput: ``n`` tasks sent at once, then all results collected
  (results per second, from the first send to the last result).

Celery 5.7 on a 2-core machine: ~3 ms round trip (Redis).  Prints one JSON
document; unreachable services are reported as errors, not measured.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if __package__ in (None, ''):  # run as a script: import the checkout's celery
    sys.path.insert(0, str(REPO))

__all__ = ('CASES', 'measure', 'main')

REDIS = os.environ.get('CELERY_BENCH_REDIS_URL', 'redis://127.0.0.1:6379/12')
AMQP = os.environ.get('CELERY_BENCH_AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672//')

#: Case name -> (broker URL, result backend URL or a function of a work dir).
CASES: dict[str, tuple[str, Any]] = {
    'redis': (REDIS, REDIS),
    'rpc-amqp': (AMQP, 'rpc://'),
    'rpc-redis': (REDIS, 'rpc://'),
    'redis-on-amqp': (AMQP, REDIS),
    'sqlite': (REDIS, lambda workdir: f'db+sqlite:///{workdir}/results.db'),
    'filesystem': (REDIS, lambda workdir: f'file://{workdir}'),
}

TASKS_MODULE = '''
import os
from celery import Celery

app = Celery('rt_tasks', broker=os.environ['RT_BROKER'], backend=os.environ['RT_BACKEND'])
app.conf.task_default_queue = os.environ['RT_QUEUE']
app.conf.broker_connection_retry_on_startup = True


@app.task
def add(x, y):
    return x + y
'''


def _env(broker: str, backend: str, queue: str) -> dict:
    env = dict(os.environ, RT_BROKER=broker, RT_BACKEND=backend, RT_QUEUE=queue)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    return env


def _start_worker(workdir: str, env: dict, pool: str, concurrency: int) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'celery', '-A', 'rt_tasks', 'worker', '-P', pool,
           '-c', str(concurrency), '-Q', env['RT_QUEUE'], '-l', 'WARNING',
           '--without-mingle', '--without-gossip', '--without-heartbeat']
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _stop_worker(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _load_tasks(workdir: str, env: dict) -> Any:
    for key in ('RT_BROKER', 'RT_BACKEND', 'RT_QUEUE'):
        os.environ[key] = env[key]
    sys.path.insert(0, workdir)
    sys.modules.pop('rt_tasks', None)
    try:
        import rt_tasks
    finally:
        sys.path.remove(workdir)
    return rt_tasks


def _ms(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 3)


def measure(case: str, rounds: int, n: int, pool: str, concurrency: int) -> dict[str, Any]:
    """Latency and throughput of one case."""
    broker, backend = CASES[case]
    with tempfile.TemporaryDirectory() as workdir:
        backend = backend(workdir) if callable(backend) else backend
        env = _env(broker, backend, f'rt-{uuid.uuid4().hex[:10]}')
        Path(workdir, 'rt_tasks.py').write_text(textwrap.dedent(TASKS_MODULE))
        tasks = _load_tasks(workdir, env)
        worker = _start_worker(workdir, env, pool, concurrency)
        try:
            started = time.perf_counter()
            assert tasks.add.delay(2, 2).get(timeout=60) == 4  # worker up and warm
            first = time.perf_counter() - started
            for _ in range(20):
                tasks.add.delay(1, 1).get(timeout=10)
            latencies = []
            for i in range(rounds):
                t0 = time.perf_counter()
                assert tasks.add.delay(i, i).get(timeout=10) == 2 * i
                latencies.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            results = [tasks.add.delay(i, 1) for i in range(n)]
            values = [r.get(timeout=120) for r in results]
            elapsed = time.perf_counter() - t0
            assert values == [i + 1 for i in range(n)]
        finally:
            _stop_worker(worker)
            with tasks.app.connection_for_write() as conn:
                try:
                    conn.default_channel.queue_delete(env['RT_QUEUE'])
                except Exception:  # noqa: BLE001 - already gone
                    pass
            tasks.app.close()
    return {
        'broker': broker.split('://')[0], 'backend': backend.split('://')[0],
        'pool': f'{pool} -c {concurrency}',
        'first_result_s': round(first, 3),
        'latency_ms': {'median': round(statistics.median(latencies) * 1000, 3),
                       'p90': _ms(latencies, 0.9), 'p99': _ms(latencies, 0.99)},
        'throughput': {'tasks': n, 'seconds': round(elapsed, 3),
                       'results_per_second': round(n / elapsed, 1)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cases', default=','.join(CASES),
                        help=f'comma-separated, of: {", ".join(CASES)}')
    parser.add_argument('--rounds', type=int, default=200, help='sequential round trips')
    parser.add_argument('-n', type=int, default=1000, help='tasks for the throughput run')
    parser.add_argument('--pool', default='prefork')
    parser.add_argument('-c', '--concurrency', type=int, default=2)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    for case in filter(None, args.cases.split(',')):
        try:
            report[case] = measure(case, args.rounds, args.n, args.pool, args.concurrency)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next case
            report[case] = {'error': f'{type(exc).__name__}: {exc}'}
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()

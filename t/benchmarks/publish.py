"""Publish rate from one client: tasks/s that ``app.send_task`` puts on a broker.

Run it by hand (it is not part of the test run)::

    .venv/bin/python t/benchmarks/publish.py                 # Redis and RabbitMQ
    .venv/bin/python t/benchmarks/publish.py --broker redis -n 20000

Each broker gets a fresh uniquely named queue, deleted afterwards. For each
broker it measures ``app.send_task`` (the full client path: routing, message
building, publishing with the retry policy) and, for comparison, a bare
kombu ``Producer.publish`` of the same body. Prints one JSON document.
Unreachable brokers are reported as errors, not measured.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ''):  # run as a script: import the checkout's celery
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kombu import Connection, Exchange, Queue  # noqa: E402

from celery import Celery  # noqa: E402

__all__ = ('BROKERS', 'measure', 'main')

BROKERS = {
    'redis': os.environ.get('CELERY_BENCH_REDIS_URL', 'redis://127.0.0.1:6379/0'),
    'amqp': os.environ.get('CELERY_BENCH_AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
}


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float('inf')


def _send_task_rate(url: str, qname: str, count: int, warmup: int) -> dict[str, Any]:
    app = Celery('bench', broker=url, set_as_current=False, fixups=[])
    app.conf.task_default_queue = qname
    try:
        with app.producer_or_acquire() as producer:
            for i in range(warmup):
                app.send_task('bench.noop', (i,), producer=producer, ignore_result=True)
            started = time.perf_counter()
            for i in range(count):
                app.send_task('bench.noop', (i,), producer=producer, ignore_result=True)
            elapsed = time.perf_counter() - started
    finally:
        app.close()
    return {'tasks': count, 'seconds': round(elapsed, 4), 'tasks_per_second': _rate(count, elapsed)}


def _kombu_rate(url: str, qname: str, count: int, warmup: int) -> dict[str, Any]:
    body = [[0], {}, {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}]
    queue = Queue(qname, Exchange(qname), qname)
    with Connection(url) as conn:
        producer = conn.Producer()
        for _ in range(warmup):
            producer.publish(body, exchange='', routing_key=qname, serializer='json',
                             declare=[queue], headers={'task': 'bench.noop'})
        started = time.perf_counter()
        for _ in range(count):  # declared during warm-up
            producer.publish(body, exchange='', routing_key=qname, serializer='json',
                             headers={'task': 'bench.noop'})
        elapsed = time.perf_counter() - started
    return {'tasks': count, 'seconds': round(elapsed, 4), 'tasks_per_second': _rate(count, elapsed)}


def _delete_queue(url: str, qname: str) -> int | None:
    with Connection(url) as conn:
        channel = conn.default_channel
        purged = channel.queue_purge(qname)
        channel.queue_delete(qname)
        return purged


def measure(name: str, url: str, count: int, warmup: int) -> dict[str, Any]:
    """Measure one broker; returns a dict of results (or ``{'error': ...}``)."""
    qname = f'bench.publish.{uuid.uuid4().hex[:12]}'
    result: dict[str, Any] = {'broker': name, 'url': url.split('@')[-1], 'queue': qname}
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        result['error'] = f'unreachable: {exc!r}'
        return result
    try:
        result['send_task'] = _send_task_rate(url, qname, count, warmup)
        result['kombu_publish'] = _kombu_rate(url, qname, count, warmup)
        result['overhead_vs_kombu'] = round(
            result['kombu_publish']['tasks_per_second']
            / result['send_task']['tasks_per_second'], 2)
    finally:
        try:
            result['purged'] = _delete_queue(url, qname)
        except Exception as exc:  # report, do not hide the measurement
            result['cleanup_error'] = repr(exc)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--broker', choices=[*BROKERS, 'all'], default='all')
    parser.add_argument('-n', '--count', type=int, default=5000,
                        help='messages to publish per measurement (default 5000)')
    parser.add_argument('--warmup', type=int, default=200,
                        help='messages published before measuring (at least 1)')
    args = parser.parse_args(argv)
    args.warmup = max(1, args.warmup)
    names = list(BROKERS) if args.broker == 'all' else [args.broker]
    report = {
        'benchmark': 'publish',
        'python': platform.python_version(),
        'results': [measure(name, BROKERS[name], args.count, args.warmup) for name in names],
    }
    print(json.dumps(report, indent=2))
    return 1 if any('error' in r for r in report['results']) else 0


if __name__ == '__main__':
    sys.exit(main())

"""Benchmark: a 1,000-task chord on Redis, end to end.

Run: ``python t/benchmarks/chord.py [--size N] [--rounds R] [--url redis://...]
[--concurrency C] [--pool threads|prefork|solo]``.

Measures ``chord(add.s(i, i) for i in range(N))(tsum.s()).get()`` with an
in-process worker: the time to send the chord (client side only), and the
time until the body's result is back.  Needs Redis (broker and backend).
"""
from __future__ import annotations

import argparse
import statistics
import time


def make_app(url: str, queue: str):
    from celery import Celery
    app = Celery('bench-chord', broker=url, backend=url, set_as_current=False, fixups=[])
    app.conf.update(task_default_queue=queue, worker_hijack_root_logger=False,
                    result_expires=300)

    @app.task(name='bench.add', shared=False)
    def add(x, y):
        return x + y

    @app.task(name='bench.tsum', shared=False)
    def tsum(numbers):
        return sum(numbers)
    return app, add, tsum


def run(size: int, rounds: int, url: str, concurrency: int, pool: str) -> dict:
    from celery import chord
    from celery.contrib.testing.worker import start_worker
    from celery.utils.uuid import uuid

    app, add, tsum = make_app(url, f'bench-chord-{uuid()}')
    expected = sum(i + i for i in range(size))
    sends, totals = [], []
    with start_worker(app, pool=pool, concurrency=concurrency, perform_ping_check=False):
        chord(add.s(i, i) for i in range(10))(tsum.s()).get(timeout=60)  # warm up
        for _ in range(rounds):
            start = time.perf_counter()
            result = chord(add.s(i, i) for i in range(size))(tsum.s())
            sent = time.perf_counter()
            value = result.get(timeout=300)
            done = time.perf_counter()
            assert value == expected, (value, expected)
            sends.append(sent - start)
            totals.append(done - start)
    app.close()
    return {'size': size, 'rounds': rounds, 'pool': pool, 'concurrency': concurrency,
            'send_median_s': statistics.median(sends),
            'total_median_s': statistics.median(totals),
            'tasks_per_s': size / statistics.median(totals)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=1000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--url', default='redis://127.0.0.1:6379/0')
    parser.add_argument('--concurrency', type=int, default=4)
    parser.add_argument('--pool', default='threads')
    args = parser.parse_args()
    report = run(args.size, args.rounds, args.url, args.concurrency, args.pool)
    for key, value in report.items():
        print(f'{key:>16}: {value:.4f}' if isinstance(value, float) else f'{key:>16}: {value}')


if __name__ == '__main__':
    main()

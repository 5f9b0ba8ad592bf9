"""Benchmark: the cost of one beat tick with 10,000 schedule entries.

Run: ``python t/benchmarks/beat_tick.py [--entries N] [--persistent]``.

Builds a scheduler on the in-memory broker with N entries (a mix of
intervals and crontabs), then measures:

* the first tick (building the heap: every entry asked ``is_due`` once);
* ticks that send a due task (1,000 entries made overdue);
* idle ticks (nothing due).

A tick must cost about the same with 10 or 10,000 entries: only the head
of the heap is looked at, and the check for a changed schedule compares
entries by identity first.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path


def build(n: int, persistent: bool, tmpdir: str):
    from celery import Celery
    from celery.beat import PersistentScheduler, Scheduler
    from celery.schedules import crontab

    app = Celery('bench', broker='memory://', set_as_current=False)
    app.conf.task_default_queue = 'beat-bench'
    app.conf.result_expires = None
    entries = {}
    for i in range(n):
        if i % 3 == 0:
            sched = crontab(minute=f'*/{i % 30 + 1}')
        else:
            sched = 60 + i % 3600
        entries[f'entry-{i}'] = {'task': 'bench.noop', 'schedule': sched,
                                 'args': (i,)}
    app.conf.beat_schedule = entries
    if persistent:
        return app, PersistentScheduler(
            app=app, schedule_filename=str(Path(tmpdir) / 'schedule'),
            max_interval=300)
    return app, Scheduler(app=app, max_interval=300)


def measure(n: int, persistent: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmpdir:
        app, s = build(n, persistent, tmpdir)
        t0 = time.perf_counter()
        s.tick()
        first = time.perf_counter() - t0

        # Make 1,000 entries overdue, and rebuild the heap once for them
        # (a changed last run time alone does not rebuild it).
        now = app.now()
        names = list(s.schedule)[:1000]
        for name in names:
            s.schedule[name] = s.schedule[name]._next_instance(
                now - timedelta(days=1))
        s._heap = None
        s.tick()

        sending = []
        for _ in range(len(names) - 1):
            t0 = time.perf_counter()
            wait = s.tick()
            sending.append(time.perf_counter() - t0)
            if wait:
                break

        idle = []
        for _ in range(1000):
            t0 = time.perf_counter()
            s.tick()
            idle.append(time.perf_counter() - t0)
        s.close()
        app.close()
    return {
        'entries': n,
        'first tick (heap build) ms': first * 1000,
        'sending tick median ms': statistics.median(sending) * 1000,
        'sending tick p99 ms': sorted(sending)[int(len(sending) * .99)] * 1000,
        'idle tick median ms': statistics.median(idle) * 1000,
        'idle tick p99 ms': sorted(idle)[int(len(idle) * .99)] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--entries', type=int, default=10_000)
    parser.add_argument('--persistent', action='store_true')
    args = parser.parse_args()
    for n in (10, args.entries):
        for key, value in measure(n, args.persistent).items():
            print(f'{key:>28}: {value:.3f}' if isinstance(value, float)
                  else f'{key:>28}: {value}')
        print()


if __name__ == '__main__':
    main()

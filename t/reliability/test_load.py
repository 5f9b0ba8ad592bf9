"""Load: many small tasks through two prefork workers (-c 2), on Redis and on RabbitMQ.

Counts must match exactly (each task once: no loss, no duplicate), the run
must finish (no deadlock), and the workers' memory must stay flat.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from t.reliability._helpers import (Figures, Ledger, WorkerProcess, client_app, publish,
                                    rss_kb, wait_for)

#: Scaled down from the issue's nominal 100,000 to keep the whole test run
#: short (docs/reliability.rst says so); 10,000 per broker still runs every
#: worker process through ~2,500 tasks.
LOAD_TASKS = 10_000
#: Tasks run before the starting RSS is taken: imports, caches and pools settle.
WARMUP_TASKS = 1_000
#: Allowed RSS growth per process from the warmed-up start to the end.  A leak
#: of 1 KiB per task would grow a main process by ~5 MiB here (it sees half
#: the tasks); allocator noise stays under 2 MiB.
MAX_GROWTH_KB = 4 * 1024


def _rss(workers: list[WorkerProcess]) -> dict[str, int]:
    sizes = {}
    for n, worker in enumerate(workers):
        sizes[f'w{n}.main'] = rss_kb(worker.pid)
        for c, child in enumerate(sorted(worker.children())):
            sizes[f'w{n}.child{c}'] = rss_kb(child)
    return sizes


@pytest.mark.parametrize('broker', ['redis', 'amqp'])
def test_load_through_two_workers(broker: str, request: Any, queue_name: str, ledger: Ledger,
                                  start_worker: Callable[..., WorkerProcess]) -> None:
    if broker == 'amqp':
        url = request.getfixturevalue('amqp_url')
        request.getfixturevalue('amqp_queues').append(queue_name)
    else:
        url = request.getfixturevalue('private_redis_db')
    conf = {'broker_url': url, 'task_ignore_result': True}
    figures = Figures(f'load [{broker}, 2 workers x prefork -c 2]')
    # Given two workers on one queue, warmed up
    workers = [start_worker(queue_name, conf, '-c', '2') for _ in range(2)]
    app = client_app(url)
    warmup = publish(app, 'rel.work', WARMUP_TASKS, queue_name)
    wait_for(lambda: ledger.done_count(warmup) == WARMUP_TASKS, timeout=60,
             what='warm-up tasks done')
    before = _rss(workers)
    # When many small tasks are sent
    started = time.monotonic()
    ids = publish(app, 'rel.work', LOAD_TASKS, queue_name)
    published = time.monotonic() - started
    app.close()
    # Then all of them run (no deadlock) ...
    wait_for(lambda: ledger.done_count(ids) == LOAD_TASKS, timeout=240, interval=0.2,
             what='every task done', detail=lambda: workers[0].tail(1500))
    drained = time.monotonic() - started
    after = _rss(workers)
    tally = ledger.tally(ids)
    per_worker = [len({t for t in ids if tally['pids'].get(t, set()) &
                       ({w.pid} | w.children())}) for w in workers]
    growth = {k: after.get(k, 0) - v for k, v in before.items()}
    figures.take(tally)
    figures.extra.update(
        publish_rate=f'{LOAD_TASKS / published:.0f}/s', drain_rate=f'{LOAD_TASKS / drained:.0f}/s',
        per_worker=per_worker, rss_start_kb=before, rss_end_kb=after)
    figures.report()
    # ... exactly once each
    assert (tally['executed'], tally['duplicated'], tally['lost']) == (LOAD_TASKS, 0, 0)
    assert all(w.alive() for w in workers)
    # and both workers took part
    assert all(n > 0 for n in per_worker), per_worker
    # and memory stayed flat (the same processes, no child replaced)
    assert set(after) == set(before)
    assert max(growth.values()) < MAX_GROWTH_KB, growth

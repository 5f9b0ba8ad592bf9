"""The Redis visibility timeout: ETA tasks held past it, and a dead worker's messages.

Both run on a private Redis: a short ``visibility_timeout`` restores the
unacked messages of *every* consumer of a database, so it must not be
pointed at a shared server.  kombu sweeps for expired messages every
``unacked_restore_interval * unacked_restore_throttle`` seconds (100 by
default); both are set to 1 here.
"""
from __future__ import annotations

import json
import os
import signal
import time
from typing import Callable

import redis

from t.reliability._helpers import (Figures, Ledger, WorkerProcess, client_app, publish,
                                    wait_for)

VISIBILITY_TIMEOUT = 2
TRANSPORT_OPTIONS = {'visibility_timeout': VISIBILITY_TIMEOUT, 'unacked_restore_interval': 1,
                     'unacked_restore_throttle': 1}
#: The countdown of the ETA task: held through several visibility timeouts.
COUNTDOWN = 4 * VISIBILITY_TIMEOUT
#: Tasks sent to the worker that is killed, and how long each runs (ms).
STRANDED_RUN = 20
STRANDED_MS = 200


def _unacked_task_ids(client: redis.Redis) -> dict[str, float]:
    """Task id -> delivery time of every message in the unacked hash."""
    scores = {tag.decode(): score for tag, score in
              client.zrange('unacked_index', 0, -1, withscores=True)}
    found = {}
    for tag, raw in client.hgetall('unacked').items():
        message = json.loads(raw)[0]
        found[message['headers']['id']] = scores.get(tag.decode(), 0.0)
    return found


def test_eta_task_held_past_the_visibility_timeout_runs_once(
        private_redis_db: str, queue_name: str, ledger: Ledger,
        start_worker: Callable[..., WorkerProcess]) -> None:
    conf = {'broker_url': private_redis_db, 'task_ignore_result': True,
            'broker_transport_options': TRANSPORT_OPTIONS}
    figures = Figures(f'redis visibility timeout: ETA task (countdown {COUNTDOWN}s, '
                      f'visibility {VISIBILITY_TIMEOUT}s)')
    worker = start_worker(queue_name, conf, '-c', '1')
    app = client_app(private_redis_db, broker_transport_options=TRANSPORT_OPTIONS)
    client = redis.Redis.from_url(private_redis_db)
    # Given an ETA task that the worker holds for several visibility timeouts
    sent_at = time.monotonic()
    eta_id = publish(app, 'rel.work', 1, queue_name, countdown=COUNTDOWN)[0]
    # When its time comes
    wait_for(lambda: ledger.done_count([eta_id]), timeout=COUNTDOWN + 30,
             what='the ETA task ran', detail=worker.tail)
    ran_after = time.monotonic() - sent_at
    # (a task sent afterwards runs behind every copy the timer released)
    after = publish(app, 'rel.work', 1, queue_name)
    wait_for(lambda: ledger.done_count(after), timeout=30, what='a later task ran')
    wait_for(lambda: not client.hlen('unacked') and not client.llen(queue_name), timeout=30,
             what='no message left unacked or queued')
    tally = ledger.tally([eta_id])
    figures.take(tally)
    figures.extra.update(ran_after=f'{ran_after:.1f}s')
    figures.report()
    app.close()
    # Then it ran at its time, and once
    assert ran_after >= COUNTDOWN - 0.5
    assert tally['executed'] == 1
    assert tally['duplicated'] == 0, f'the ETA task ran {tally["done"][eta_id]} times'


def test_unacked_messages_of_a_dead_worker_come_back_after_the_timeout(
        private_redis_db: str, queue_name: str, ledger: Ledger,
        start_worker: Callable[..., WorkerProcess]) -> None:
    conf = {'broker_url': private_redis_db, 'task_ignore_result': True,
            'broker_transport_options': TRANSPORT_OPTIONS}
    figures = Figures(f'redis visibility timeout: dead worker ({VISIBILITY_TIMEOUT}s)')
    client = redis.Redis.from_url(private_redis_db)
    # Given a worker holding unacknowledged (late-ack) tasks
    first = start_worker(queue_name, conf, '-c', '1')
    app = client_app(private_redis_db, broker_transport_options=TRANSPORT_OPTIONS)
    ids = publish(app, 'rel.late', STRANDED_RUN, queue_name, args=(STRANDED_MS,))
    app.close()
    wait_for(lambda: ledger.done_count(ids) >= 2 and len(_unacked_task_ids(client)) >= 2,
             timeout=30, what='the worker holds several tasks')
    # When the worker dies with all its processes (a power failure)
    os.killpg(first.pid, signal.SIGKILL)
    killed_at = time.time()
    first.wait_exit(10)
    stranded = _unacked_task_ids(client)
    # Then a new worker runs the queued tasks now and the stranded ones once
    # their visibility timeout has passed, not before
    second = start_worker(queue_name, conf, '-c', '1')
    seen: dict[str, float] = {}

    def all_done() -> bool:
        done = ledger.read()[1]
        for task_id in stranded:
            if done[task_id] and task_id not in seen:
                seen[task_id] = time.time()
        return all(done[i] for i in ids)

    wait_for(all_done, timeout=60, interval=0.02, what='every task done',
             detail=second.tail)
    tally = ledger.tally(ids)
    early = {i: round(seen[i] - stranded[i], 2) for i in stranded
             if seen[i] - stranded[i] < VISIBILITY_TIMEOUT}
    figures.take(tally)
    figures.extra.update(stranded=len(stranded),
                         back_after=f'{max(seen.values()) - killed_at:.1f}s')
    figures.report()
    assert stranded, 'the killed worker held no unacked message'
    assert tally['lost'] == 0, tally['lost_ids']
    assert not early, f'redelivered before the visibility timeout: {early}'

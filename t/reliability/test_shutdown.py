"""Shutdown under load: warm shutdown loses no reserved task; soft shutdown gives time.

Warm shutdown (SIGTERM) finishes the running tasks and gives back the
reserved ones: after a restart everything has run exactly once.  With
``worker_soft_shutdown_timeout`` a cold shutdown (SIGQUIT, or SIGTERM when
``REMAP_SIGTERM=SIGQUIT``) first lets running tasks go on for that long; a
late-acked task still running at the end is given back to the broker.
"""
from __future__ import annotations

import signal
import time
from typing import Any, Callable

import pytest

from t.reliability._helpers import (Figures, Ledger, WorkerProcess, client_app, publish,
                                    wait_for)

SHUTDOWN_TASKS = 2_000
TASK_MS = 5
#: Progress at which the worker is told to stop.
STOP_AT = 0.3
SOFT_TIMEOUT = 3.0
#: How long the task that must finish during the soft shutdown still runs.
FINISHING_MS = 1_500
REDIS_OPTIONS = {'visibility_timeout': 3600}  # the default: nothing may wait for it


def _broker(request: Any, broker: str, queue: str) -> dict:
    if broker == 'amqp':
        request.getfixturevalue('amqp_queues').append(queue)
        return {'broker_url': request.getfixturevalue('amqp_url')}
    return {'broker_url': request.getfixturevalue('private_redis_db'),
            'broker_transport_options': REDIS_OPTIONS}


@pytest.mark.parametrize('broker', ['amqp', 'redis'])
def test_warm_shutdown_under_load_loses_no_reserved_task(
        broker: str, request: Any, queue_name: str, ledger: Ledger,
        start_worker: Callable[..., WorkerProcess]) -> None:
    conf = dict(_broker(request, broker, queue_name), task_ignore_result=True)
    figures = Figures(f'warm shutdown under load [{broker}]')
    worker = start_worker(queue_name, conf, '-c', '2', '--prefetch-multiplier', '8')
    app = client_app(conf['broker_url'],
                     broker_transport_options=conf.get('broker_transport_options', {}))
    ids = publish(app, 'rel.work', SHUTDOWN_TASKS, queue_name, args=(TASK_MS,))
    app.close()
    # When the worker gets SIGTERM in the middle of the run
    wait_for(lambda: ledger.done_count(ids) >= STOP_AT * SHUTDOWN_TASKS, timeout=60,
             what='run under way', detail=worker.tail)
    worker.signal(signal.SIGTERM)
    code = worker.wait_exit(60)
    done_at_stop = ledger.done_count(ids)
    started, done, _ = ledger.read()
    unfinished = [i for i in ids if started[i] and not done[i]]
    # Then it exits cleanly, having finished what it was running ...
    assert code == 0, worker.tail()
    assert 'Warm shutdown' in worker.output()
    assert not unfinished, f'left running at exit: {unfinished[:5]}'
    # ... and a new worker runs everything else, each task exactly once
    second = start_worker(queue_name, conf, '-c', '2')
    wait_for(lambda: ledger.done_count(ids) == SHUTDOWN_TASKS, timeout=60,
             what='every task done',
             detail=lambda: f'{ledger.tally(ids)["lost"]} not done\n{second.tail()}')
    tally = ledger.tally(ids)
    figures.take(tally)
    figures.extra.update(done_by_first_worker=done_at_stop)
    figures.report()
    assert (tally['executed'], tally['duplicated'], tally['lost']) == (SHUTDOWN_TASKS, 0, 0)


@pytest.mark.parametrize('how', ['SIGQUIT', 'SIGTERM+REMAP_SIGTERM', 'SIGQUIT+worker_lost_wait=1'])
def test_soft_shutdown_gives_running_tasks_their_time(
        how: str, private_redis_db: str, queue_name: str, ledger: Ledger,
        start_worker: Callable[..., WorkerProcess]) -> None:
    conf = {'broker_url': private_redis_db, 'task_ignore_result': True,
            'broker_transport_options': REDIS_OPTIONS,
            'worker_soft_shutdown_timeout': SOFT_TIMEOUT}
    if 'worker_lost_wait' in how:
        conf['worker_lost_wait'] = 1.0
    env = {'REMAP_SIGTERM': 'SIGQUIT'} if 'REMAP' in how else {}
    figures = Figures(f'soft shutdown ({SOFT_TIMEOUT:g}s) on {how} [redis]')
    worker = start_worker(queue_name, conf, '-c', '2', env=env)
    app = client_app(private_redis_db, broker_transport_options=REDIS_OPTIONS)
    # Given a task that needs a little more time, and one that would run for ever
    finishing = publish(app, 'rel.late', 1, queue_name, args=(FINISHING_MS,))[0]
    endless = publish(app, 'rel.late_hang_once', 1, queue_name, args=(600,))[0]
    app.close()
    wait_for(lambda: all(ledger.read()[0][i] for i in (finishing, endless)), timeout=30,
             what='both tasks running', detail=worker.tail)
    # When a cold shutdown is asked for
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM if 'SIGTERM' in how else signal.SIGQUIT)
    wait_for(lambda: any(s in worker.output() for s in ('Soft Shutdown', 'Warm shutdown'))
             or not worker.alive(), timeout=10, what='shutdown started', detail=worker.tail)
    assert 'Soft Shutdown' in worker.output(), f'no soft shutdown on {how}:\n{worker.tail()}'
    worker.wait_exit(SOFT_TIMEOUT + 30)
    took = time.monotonic() - signalled
    finished_in_time = bool(ledger.read()[1][finishing])
    # Then the late-acked task cut short is given back, and runs again elsewhere
    second = start_worker(queue_name, conf, '-c', '2')
    try:
        wait_for(lambda: ledger.done_count([finishing, endless]) == 2, timeout=20,
                 what='both tasks done in the end', detail=second.tail)
    finally:
        tally = ledger.tally([finishing, endless])
        figures.take(tally)
        figures.extra.update(exit_after=f'{took:.1f}s', finished_in_soft_window=finished_in_time,
                             endless_runs=tally['started'][endless])
        figures.report()
    # the running task had its time ...
    assert finished_in_time, 'the task that needed 1.5 s was killed'
    assert tally['lost'] == 0
    # ... and the worker left soon after the soft window: terminating the
    # children and giving back their messages takes a second or two, while a
    # supervisor's patience ends soon (docker stop: 10 s, then SIGKILL, and
    # then the message waits for the visibility timeout, an hour by default)
    assert took < SOFT_TIMEOUT + 5, f'exit {took:.1f}s after the signal'

"""Hard time limits under load: children are killed and replaced again and again.

Nothing may leak: the worker keeps exactly its pool (no extra or zombie
processes), and its main process ends with the file descriptors and
threads it had before.  The tasks around the killed ones all complete.
"""
from __future__ import annotations

import os
import random
from typing import Callable

from t.reliability._helpers import (Figures, Ledger, WorkerProcess, client_app, fd_count,
                                    group_pids, publish, wait_for, zombies_in_group)

#: Tasks killed by their hard time limit (0.3 s), and ordinary tasks around them.
HARD_KILLS = 40
ORDINARY_TASKS = 2_000
#: Descriptors the main process may gain: none are expected (the pool's pipes
#: for a new child replace those of the dead one).
FD_SLACK = 0


def _snapshot(worker: WorkerProcess) -> dict[str, int]:
    return {
        'processes': len(group_pids(worker.pid, include_zombies=False)),
        'zombies': len(zombies_in_group(worker.pid)),
        'children': len(worker.children()),
        'fds': fd_count(worker.pid),
        'threads': len(os.listdir(f'/proc/{worker.pid}/task')),
    }


def test_hard_time_limits_replace_children_without_leaks(
        amqp_url: str, amqp_queues: list[str], queue_name: str, ledger: Ledger,
        start_worker: Callable[..., WorkerProcess]) -> None:
    amqp_queues.append(queue_name)
    conf = {'broker_url': amqp_url, 'task_ignore_result': True}
    figures = Figures('hard time limits under load [amqp, prefork -c 2]')
    worker = start_worker(queue_name, conf, '-c', '2')
    app = client_app(amqp_url)
    # Given a worker that has already killed one child for its time limit
    warm = publish(app, 'rel.hang', 1, queue_name) + publish(app, 'rel.work', 50, queue_name)
    wait_for(lambda: ledger.done_count(warm[1:]) == 50 and
             worker.output().count('Hard time limit') == 1, what='warm-up', detail=worker.tail)
    wait_for(lambda: _snapshot(worker)['children'] == 2, what='pool back to 2')
    before = _snapshot(worker)
    # When many tasks run past their hard limit, interleaved with ordinary ones
    rng = random.Random(7)
    kinds = ['hang'] * HARD_KILLS + ['work'] * ORDINARY_TASKS
    rng.shuffle(kinds)
    ordinary: list[str] = []
    hung: list[str] = []
    for kind in kinds:
        (hung if kind == 'hang' else ordinary).extend(
            publish(app, f'rel.{kind}', 1, queue_name))
    app.close()
    # Then every ordinary task completes and every hung one was killed
    wait_for(lambda: ledger.done_count(ordinary) == ORDINARY_TASKS, timeout=120,
             what='ordinary tasks done', detail=worker.tail)
    wait_for(lambda: worker.output().count('Hard time limit') == HARD_KILLS + 1, timeout=60,
             what='every hard time limit enforced', detail=worker.tail)
    wait_for(lambda: (lambda s: s['children'] == 2 and s['processes'] == before['processes']
                      and s['zombies'] == 0)(_snapshot(worker)), timeout=30,
             what='pool settled', detail=lambda: f'{_snapshot(worker)}\n{worker.tail()}')
    after = _snapshot(worker)
    tally = ledger.tally(ordinary)
    hung_tally = ledger.tally(hung)
    figures.take(tally)
    figures.extra.update(hard_kills=HARD_KILLS, hung_started=sum(1 for i in hung if hung_tally['started'][i]),
                         hung_finished=hung_tally['executed'], before=before, after=after)
    figures.report()
    assert (tally['executed'], tally['duplicated'], tally['lost']) == (ORDINARY_TASKS, 0, 0)
    assert hung_tally['executed'] == 0  # none ran to its end
    assert worker.alive()
    # and nothing leaked: processes, zombies, descriptors, threads
    assert after['processes'] == before['processes'] == 3, (before, after)
    assert after['zombies'] == 0
    assert after['fds'] <= before['fds'] + FD_SLACK, (before, after)
    assert after['threads'] <= before['threads'], (before, after)

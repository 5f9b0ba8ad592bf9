"""Result backend outage: a Redis result backend restarted while tasks run.

With ``result_backend_always_retry`` the worker keeps retrying to store
each result until the backend is back; no result is lost.  The backend is
a private, persistent ``redis-server`` (fsync on every write), so what it
had acknowledged before a restart is still there after it; the broker is
the shared RabbitMQ (a unique queue).
"""
from __future__ import annotations

import json
from typing import Any, Callable

from t.reliability._helpers import Figures, Ledger, WorkerProcess, client_app, wait_for

RESULT_TASKS = 600
TASK_MS = 5
#: Restarts of the backend, at these fractions of the run.
RESTART_AT = (0.25, 0.6)
LOST = 'Connection to the Redis result backend lost'


def test_results_survive_backend_restarts(
        amqp_url: str, amqp_queues: list[str], redis_servers: Callable[..., Any],
        queue_name: str, ledger: Ledger, start_worker: Callable[..., WorkerProcess]) -> None:
    amqp_queues.append(queue_name)
    backend = redis_servers(persistent=True)
    conf = {'broker_url': amqp_url, 'result_backend': backend.url(2),
            'result_backend_always_retry': True,
            'result_backend_max_retries': 10_000,
            'result_backend_base_sleep_between_retries_ms': 20,
            'result_backend_max_sleep_between_retries_ms': 250,
            'redis_backend_health_check_interval': 1,
            'result_expires': 3600}
    figures = Figures('result backend outage [redis restarted, always_retry]')
    worker = start_worker(queue_name, conf, '-c', '2')
    app = client_app(amqp_url)
    # Given tasks whose results go to the Redis backend
    ids = []
    with app.producer_or_acquire() as producer:
        import uuid
        for _ in range(RESULT_TASKS):
            task_id = str(uuid.uuid4())
            app.send_task('rel.work', (TASK_MS,), task_id=task_id, queue=queue_name,
                          producer=producer)
            ids.append(task_id)
    app.close()
    # When the backend is restarted (twice) while they run
    for fraction in RESTART_AT:
        wait_for(lambda: ledger.done_count(ids) >= fraction * RESULT_TASKS, timeout=60,
                 what=f'{fraction:.0%} done', detail=worker.tail)
        noticed = worker.output().count(LOST)
        backend.restart(while_down=lambda: wait_for(
            lambda: worker.output().count(LOST) > noticed, timeout=60,
            what='the worker noticed the backend outage', detail=worker.tail))
    # Then every task ran and every result is stored
    wait_for(lambda: ledger.done_count(ids) == RESULT_TASKS, timeout=90,
             what='every task done', detail=worker.tail)
    client = backend.client(2)

    def stored() -> dict[str, Any]:
        values = client.mget([f'celery-task-meta-{i}' for i in ids])
        return {i: json.loads(v) for i, v in zip(ids, values) if v is not None}

    wait_for(lambda: len(stored()) == RESULT_TASKS, timeout=60, what='every result stored',
             detail=lambda: f'{RESULT_TASKS - len(stored())} missing\n{worker.tail()}')
    records = stored()
    client.close()
    tally = ledger.tally(ids)
    wrong = {i: r for i, r in records.items() if (r['status'], r['result']) != ('SUCCESS', TASK_MS)}
    figures.take(tally)
    figures.extra.update(restarts=backend.restarts, results_stored=len(records),
                         results_lost=RESULT_TASKS - len(records),
                         store_retries_logged=worker.output().count(LOST))
    figures.report()
    assert tally['lost'] == 0
    assert len(records) == RESULT_TASKS
    assert not wrong, dict(list(wrong.items())[:5])
    assert worker.alive()

"""Broker outages while a client publishes and a worker consumes.

Redis: a private, persistent ``redis-server`` (append-only file, fsync on
every write) is restarted.  RabbitMQ: running a private RabbitMQ node costs
more time than the suite has, so the broker is cut off instead: worker and
client reach it through a loopback TCP proxy that resets every connection
and refuses new ones for the outage (to them, the broker died).  The
machine's shared servers are never touched.

The worker must reconnect on its own, the client's publish retry policy
must carry it through (RabbitMQ with publisher confirms, so "published"
means the broker acknowledged it), and every task whose publish returned
must run: duplicates are allowed, losses are not.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

from t.reliability._helpers import (Figures, Ledger, TcpProxy, WorkerProcess, client_app,
                                    wait_for)

#: Outages per run, and tasks published before the first and after the last.
OUTAGES = 2
PUBLISH_AROUND = 400
#: The client's publish retry policy: rides out ~15 s of outage.
RETRY_POLICY = {'max_retries': 60, 'interval_start': 0, 'interval_step': 0.25,
                'interval_max': 0.25}
#: Redis: messages a lost connection left unacked come back after this.
REDIS_OPTIONS = {'visibility_timeout': 5, 'unacked_restore_interval': 1,
                 'unacked_restore_throttle': 1}
LOST = re.compile(r'Connection to broker lost|Cannot connect to')


class Publisher(threading.Thread):
    """Sends ``rel.work`` tasks one after another until stopped; keeps the ids that returned."""

    def __init__(self, app: Any, queue: str) -> None:
        super().__init__(name='rel-publisher', daemon=True)
        self.app = app
        self.queue = queue
        self.sent: list[str] = []
        self.retries = 0
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def on_retry(self, exc: BaseException, interval: float) -> None:
        self.retries += 1

    def run(self) -> None:
        from uuid import uuid4
        policy = dict(RETRY_POLICY, errback=self.on_retry)
        try:
            while not self.stopping.is_set():
                task_id = str(uuid4())
                self.app.send_task('rel.work', task_id=task_id, queue=self.queue,
                                   ignore_result=True, retry=True, retry_policy=policy)
                self.sent.append(task_id)
        except BaseException as exc:  # the test reports it
            self.error = exc

    def wait_sent(self, count: int, timeout: float = 60.0) -> None:
        wait_for(lambda: len(self.sent) >= count or self.error is not None, timeout=timeout,
                 what=f'{count} tasks published')
        assert self.error is None, f'publishing failed: {self.error!r}'


def _outage_run(figures: Figures, worker: WorkerProcess, publisher: Publisher,
                ledger: Ledger, cut: Callable[[], None], restore: Callable[[], None],
                where: Callable[[list[str]], str] = lambda ids: '') -> None:
    """Run ``OUTAGES`` outages under load, then check that every published task ran.

    On Redis too nothing may be lost: the worker's transport pops a message
    and records it as unacked in one step, so no message is ever popped and
    forgotten when the server goes away in between.
    """
    publisher.start()
    publisher.wait_sent(PUBLISH_AROUND)
    downtime = 0.0
    for n in range(OUTAGES):
        noticed = len(LOST.findall(worker.output()))
        connected = worker.output().count('Connected to')
        # When the broker goes away ...
        cut()
        down_at = time.monotonic()
        # ... until the worker and the publisher have both noticed
        wait_for(lambda: len(LOST.findall(worker.output())) > noticed, timeout=60,
                 what=f'worker noticed outage {n + 1}', detail=worker.tail)
        retries = publisher.retries
        wait_for(lambda: publisher.retries > retries or publisher.error is not None,
                 timeout=30, what='publisher retrying')
        restore()
        downtime += time.monotonic() - down_at
        # Then the worker reconnects on its own, and the publisher goes on
        wait_for(lambda: worker.output().count('Connected to') > connected, timeout=60,
                 what=f'worker reconnected after outage {n + 1}', detail=worker.tail)
        publisher.wait_sent(len(publisher.sent) + PUBLISH_AROUND)
    publisher.stopping.set()
    publisher.join(60)
    assert publisher.error is None, f'publishing failed: {publisher.error!r}'
    ids = list(publisher.sent)

    wait_for(lambda: ledger.done_count(ids) == len(ids), timeout=90, interval=0.2,
             what='every published task done',
             detail=lambda: f'{ledger.tally(ids)["lost"]} not done: '
                            f'{where(ledger.tally(ids)["lost_ids"])}\n{worker.tail()}')
    tally = ledger.tally(ids)
    figures.take(tally)
    figures.extra.update(outages=OUTAGES, downtime=f'{downtime:.1f}s',
                         publish_retries=publisher.retries,
                         worker_reconnects=worker.output().count('Connected to') - 1)
    figures.report()
    assert worker.alive(), worker.tail()
    assert tally['lost'] == 0, tally['lost_ids'][:20]
    assert publisher.retries > 0  # the outage really hit the publisher


def _where_in_redis(server: Any, queue: str, ids: list[str]) -> str:
    """Where the broker has the given task ids now, and what it did with them (its AOF)."""
    import json
    client = server.client(1)
    queued = {json.loads(raw)['headers']['id'] for raw in client.lrange(queue, 0, -1)}
    unacked = {json.loads(raw)[0]['headers']['id'] for raw in client.hvals('unacked')}
    client.close()
    fate = server.fate_of(queue, ids[:10])
    return repr({i: ('queued' if i in queued else 'unacked' if i in unacked else 'nowhere',
                     fate[i]) for i in ids[:10]})


def test_redis_restarts_lose_nothing(redis_servers: Callable[..., Any], queue_name: str,
                                     ledger: Ledger,
                                     start_worker: Callable[..., WorkerProcess]) -> None:
    server = redis_servers(persistent=True)
    url = server.url(1)
    conf = {'broker_url': url, 'task_ignore_result': True,
            'broker_transport_options': REDIS_OPTIONS}
    figures = Figures('broker outage [redis restarted]')
    worker = start_worker(queue_name, conf, '-c', '2')
    app = client_app(url, broker_transport_options=REDIS_OPTIONS)
    publisher = Publisher(app, queue_name)
    try:
        _outage_run(figures, worker, publisher, ledger, cut=server.stop, restore=server.start,
                    where=lambda ids: _where_in_redis(server, queue_name, ids))
    finally:
        publisher.stopping.set()
        app.close()


def test_rabbitmq_cut_off_loses_nothing(amqp_url: str, amqp_queues: list[str],
                                        queue_name: str, ledger: Ledger,
                                        start_worker: Callable[..., WorkerProcess]) -> None:
    amqp_queues.append(queue_name)
    host, port = amqp_url.split('@', 1)[1].split('/', 1)[0].split(':')
    proxy = TcpProxy((host, int(port)))
    url = proxy.url()
    options = {'confirm_publish': True}
    conf = {'broker_url': url, 'task_ignore_result': True}
    figures = Figures('broker outage [rabbitmq cut off]')
    worker = start_worker(queue_name, conf, '-c', '2')
    app = client_app(url, broker_transport_options=options)
    publisher = Publisher(app, queue_name)
    try:
        _outage_run(figures, worker, publisher, ledger, cut=proxy.cut, restore=proxy.restore)
    finally:
        publisher.stopping.set()
        app.close()
        proxy.close()

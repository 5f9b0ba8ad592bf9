"""Broker outages while a client publishes and a worker consumes.

Each broker is a private server on ports of its own, restarted twice under
load; the machine's shared servers are never touched.  Redis: a persistent
``redis-server`` (append-only file, fsync on every write).  RabbitMQ: a
private node, stopped cleanly (``rabbitmqctl stop``) the first time and
killed (SIGKILL) the second.

The worker must reconnect on its own, the client's publish retry policy
must carry it through (RabbitMQ with publisher confirms, so "published"
means the broker acknowledged it), and every task whose publish returned
must run: duplicates are allowed, losses are not.  On RabbitMQ, tasks
confirmed into a queue nobody consumes before a restart must still be
there after it, and a publish whose retry policy runs out while the broker
is down must fail with a connection error.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

import pytest

from t.reliability._helpers import (Figures, Ledger, RabbitNode, WorkerProcess, client_app,
                                    publish, wait_for)

#: Outages per run, and tasks published before the first and after the last.
OUTAGES = 2
PUBLISH_AROUND = 400
#: The client's publish retry policy: rides out ~60 s of outage (a node boots in 5-15 s).
RETRY_POLICY = {'max_retries': 240, 'interval_start': 0, 'interval_step': 0.25,
                'interval_max': 0.25}
#: A policy that runs out long before a stopped broker is back.
SHORT_POLICY = {'max_retries': 2, 'interval_start': 0, 'interval_step': 0.1,
                'interval_max': 0.1}
#: Redis: messages a lost connection left unacked come back after this.
REDIS_OPTIONS = {'visibility_timeout': 5, 'unacked_restore_interval': 1,
                 'unacked_restore_throttle': 1}
#: RabbitMQ: publisher confirms, so a publish returns once the broker has the message.
AMQP_OPTIONS = {'confirm_publish': True}
#: RabbitMQ: tasks confirmed into the unconsumed queue before each restart.
HELD = 200
LOST = re.compile(r'Connection to broker lost|Cannot connect to')


class Publisher(threading.Thread):
    """Sends ``rel.work`` tasks one after another until stopped; keeps the ids that returned.

    ``retried`` lists the ids whose publish returned only after retrying.
    """

    def __init__(self, app: Any, queue: str) -> None:
        super().__init__(name='rel-publisher', daemon=True)
        self.app = app
        self.queue = queue
        self.sent: list[str] = []
        self.retried: list[str] = []
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
                task_id, retries = str(uuid4()), self.retries
                self.app.send_task('rel.work', task_id=task_id, queue=self.queue,
                                   ignore_result=True, retry=True, retry_policy=policy)
                self.sent.append(task_id)
                if self.retries > retries:
                    self.retried.append(task_id)
        except BaseException as exc:  # the test reports it
            self.error = exc

    def wait_sent(self, count: int, timeout: float = 60.0) -> None:
        wait_for(lambda: len(self.sent) >= count or self.error is not None, timeout=timeout,
                 what=f'{count} tasks published')
        assert self.error is None, f'publishing failed: {self.error!r}'


def _ride_out_outages(worker: WorkerProcess, publisher: Publisher,
                      cut: Callable[[int], None], restore: Callable[[int], None],
                      prepare: Callable[[int], None] = lambda n: None) -> float:
    """Publish through ``OUTAGES`` outages, then stop publishing; return the total downtime.

    For outage ``n`` (from 0), ``prepare(n)`` runs while the broker is up,
    ``cut(n)`` takes it down and ``restore(n)`` brings it back once the
    worker and the publisher have both noticed.
    """
    publisher.start()
    publisher.wait_sent(PUBLISH_AROUND)
    downtime = 0.0
    for n in range(OUTAGES):
        prepare(n)
        noticed = len(LOST.findall(worker.output()))
        connected = worker.output().count('Connected to')
        down_at = time.monotonic()
        cut(n)
        wait_for(lambda: len(LOST.findall(worker.output())) > noticed, timeout=60,
                 what=f'worker noticed outage {n + 1}', detail=worker.tail)
        retries = publisher.retries
        wait_for(lambda: publisher.retries > retries or publisher.error is not None,
                 timeout=30, what='publisher retrying')
        restore(n)
        downtime += time.monotonic() - down_at
        # The worker reconnects on its own, and the publisher goes on
        wait_for(lambda: worker.output().count('Connected to') > connected, timeout=90,
                 what=f'worker reconnected after outage {n + 1}', detail=worker.tail)
        publisher.wait_sent(len(publisher.sent) + PUBLISH_AROUND)
    publisher.stopping.set()
    publisher.join(60)
    assert publisher.error is None, f'publishing failed: {publisher.error!r}'
    return downtime


def _check_all_ran(figures: Figures, ledger: Ledger, worker: WorkerProcess,
                   publisher: Publisher, ids: list[str], downtime: float,
                   where: Callable[[list[str]], str] = lambda ids: '') -> None:
    """Wait until every task of ``ids`` ran, report the figures, and assert nothing was lost."""
    wait_for(lambda: ledger.done_count(ids) == len(ids), timeout=90, interval=0.2,
             what='every published task done',
             detail=lambda: f'{ledger.tally(ids)["lost"]} not done: '
                            f'{where(ledger.tally(ids)["lost_ids"])}\n{worker.tail()}')
    tally = ledger.tally(ids)
    figures.take(tally)
    figures.extra = dict(outages=OUTAGES, downtime=f'{downtime:.1f}s',
                         publish_retries=publisher.retries,
                         retried_publishes=len(publisher.retried),
                         worker_reconnects=worker.output().count('Connected to') - 1,
                         **figures.extra)
    figures.report()
    assert worker.alive(), worker.tail()
    assert tally['lost'] == 0, tally['lost_ids'][:20]
    # Each outage held up a publish, which returned once the broker was back
    assert len(publisher.retried) >= OUTAGES, publisher.retried


# -- Redis ----------------------------------------------------------------------------------

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
    """Nothing is lost on Redis either: the worker's transport pops a message and
    records it as unacked in one step, so no message is ever popped and
    forgotten when the server goes away in between."""
    server = redis_servers(persistent=True)
    url = server.url(1)
    conf = {'broker_url': url, 'task_ignore_result': True,
            'broker_transport_options': REDIS_OPTIONS}
    figures = Figures('broker outage [redis restarted]')
    worker = start_worker(queue_name, conf, '-c', '2')
    app = client_app(url, broker_transport_options=REDIS_OPTIONS)
    publisher = Publisher(app, queue_name)
    try:
        downtime = _ride_out_outages(worker, publisher, cut=lambda n: server.stop(),
                                     restore=lambda n: server.start())
        _check_all_ran(figures, ledger, worker, publisher, list(publisher.sent), downtime,
                       where=lambda ids: _where_in_redis(server, queue_name, ids))
    finally:
        publisher.stopping.set()
        app.close()


# -- RabbitMQ -------------------------------------------------------------------------------

class HeldQueue:
    """A durable queue nobody consumes during the outages: what was confirmed into it stays."""

    def __init__(self, node: RabbitNode, queue: str) -> None:
        self.node = node
        self.queue = queue
        self.ids: list[str] = []

    def fill(self) -> None:
        """Publish ``HELD`` more tasks into it, each confirmed by the broker."""
        app = client_app(self.node.url(), broker_transport_options=AMQP_OPTIONS)
        try:
            self.ids += publish(app, 'rel.work', HELD, self.queue)
        finally:
            app.close()
        self.check()

    def check(self) -> None:
        """Every task confirmed into the queue is still ready in it, exactly once."""
        depth = self.node.queue_depth(self.queue)
        assert depth == len(self.ids), \
            f'{self.queue} holds {depth} messages, {len(self.ids)} were confirmed into it'


def _exhausted_publish(url: str, queue: str) -> str:
    """Publish with ``SHORT_POLICY`` while the broker is down: it must fail, and fast."""
    from kombu.exceptions import OperationalError
    app = client_app(url, broker_transport_options=AMQP_OPTIONS)
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError) as failed:
            app.send_task('rel.work', queue=queue, ignore_result=True, retry=True,
                          retry_policy=SHORT_POLICY)
    finally:
        app.close()
    took = time.monotonic() - started
    assert took < 10, f'a publish with an exhausted retry policy took {took:.1f}s to fail'
    return f'{type(failed.value).__name__}: {failed.value}'


def test_rabbitmq_restarts_lose_nothing(rabbit_node: RabbitNode, queue_name: str,
                                        ledger: Ledger,
                                        start_worker: Callable[..., WorkerProcess]) -> None:
    """A private node is stopped cleanly, then killed, under load.

    Before each restart, tasks are confirmed into a second queue that no
    worker consumes yet; after it they must all still be there (durable
    queue, persistent messages), and a worker started after the last
    restart runs them.
    """
    node = rabbit_node
    url = node.url()
    conf = {'broker_url': url, 'task_ignore_result': True}
    figures = Figures('broker outage [rabbitmq restarted]')
    worker = start_worker(queue_name, conf, '-c', '2')
    app = client_app(url, broker_transport_options=AMQP_OPTIONS)
    publisher = Publisher(app, queue_name)
    held = HeldQueue(node, f'{queue_name}.held')
    exhausted: list[str] = []

    def cut(n: int) -> None:
        if n == 0:
            node.stop()
        else:
            node.kill()
        exhausted.append(_exhausted_publish(url, queue_name))

    def restore(n: int) -> None:
        node.start()
        held.check()

    def where(ids: list[str]) -> str:
        return (f'ready in {queue_name}: {node.queue_depth(queue_name)}, '
                f'in {held.queue}: {node.queue_depth(held.queue)}')

    try:
        downtime = _ride_out_outages(worker, publisher, cut, restore,
                                     prepare=lambda n: held.fill())
        start_worker(held.queue, conf, '-c', '2')
        figures.extra.update(held=len(held.ids), node_restarts='stop,kill')
        _check_all_ran(figures, ledger, worker, publisher, publisher.sent + held.ids,
                       downtime, where)
    finally:
        publisher.stopping.set()
        app.close()
    print(f'[reliability] publish with an exhausted retry policy: {exhausted[0]}')

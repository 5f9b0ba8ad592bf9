"""Worker heartbeats and the autoscaler."""
from __future__ import annotations

from typing import Any

from kombu.asynchronous.timer import Timer

from celery.worker import state
from celery.worker.autoscale import Autoscaler
from celery.worker.heartbeat import Heart


class Eventer:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.sent: list = []
        self.on_enabled: set = set()
        self.on_disabled: set = set()

    def send(self, type: str, **fields: Any) -> None:
        self.sent.append((type, fields))


def test_heart_sends_online_heartbeats_and_offline() -> None:
    timer, eventer = Timer(), Eventer()
    heart = Heart(timer, eventer, interval=5)
    assert heart.start in eventer.on_enabled and heart.stop in eventer.on_disabled
    heart.start()
    assert eventer.sent[0][0] == 'worker-online'
    fields = eventer.sent[0][1]
    assert fields['freq'] == 5.0 and fields['sw_ident'] == 'py-celery'
    assert {'active', 'processed', 'loadavg'} <= set(fields)
    assert len(timer) == 1
    heart._send('worker-heartbeat')
    heart.stop()
    assert [t for t, _ in eventer.sent] == ['worker-online', 'worker-heartbeat',
                                            'worker-offline']
    assert heart.tref is None


def test_heart_is_quiet_when_events_are_off() -> None:
    timer, eventer = Timer(), Eventer(enabled=False)
    heart = Heart(timer, eventer)
    heart.start()
    heart.stop()
    assert eventer.sent == [] and len(timer) == 0


class Pool:
    def __init__(self, n: int) -> None:
        self.num_processes = n
        self.maintained = 0

    def grow(self, n: int) -> None:
        self.num_processes += n

    def shrink(self, n: int) -> None:
        self.num_processes -= n

    def maintain_pool(self) -> None:
        self.maintained += 1


class Req:
    pass


def test_autoscaler_grows_with_waiting_requests_and_shrinks_later() -> None:
    pool = Pool(1)
    scaler = Autoscaler(pool, max_concurrency=4, min_concurrency=1, keepalive=0.01)
    reqs = [Req() for _ in range(10)]
    for r in reqs:
        state.reserved_requests.add(r)
    scaler.maybe_scale()
    assert pool.num_processes == 4 and pool.maintained == 1
    for r in reqs:
        state.reserved_requests.discard(r)
    scaler._last_scale_up -= 1  # the keepalive has passed
    scaler.maybe_scale()
    assert pool.num_processes == 1
    assert scaler.info() == {'max': 4, 'min': 1, 'current': 1, 'qty': 0}


def test_autoscaler_update_limits() -> None:
    pool = Pool(2)
    scaler = Autoscaler(pool, max_concurrency=4, min_concurrency=2)
    assert scaler.update(max=6, min=3) == (6, 3)
    assert pool.num_processes == 3
    scaler.update(max=1)
    assert pool.num_processes == 1

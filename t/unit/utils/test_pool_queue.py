"""Tests for celery.utils._pool_queue: a LifoQueue for pools, same behaviour, fewer steps."""
from __future__ import annotations

import threading
from queue import Empty, Full, LifoQueue

import pytest

from celery.utils._pool_queue import PoolQueue, pool_queue
from t.waiting import wait_for


def test_last_in_first_out():
    queue = PoolQueue()
    for item in (1, 2, 3):
        queue.put_nowait(item)
    assert [queue.get(), queue.get(), queue.get()] == [3, 2, 1]
    assert queue.unfinished_tasks == 3  # counted as LifoQueue counts puts


def test_empty_queue_raises_or_times_out_as_lifoqueue():
    queue = PoolQueue()
    with pytest.raises(Empty):
        queue.get(block=False)
    with pytest.raises(Empty):
        queue.get(timeout=0.01)


def test_a_blocked_taker_is_woken_by_a_put():
    # Given a thread blocked on an empty queue
    queue = PoolQueue()
    got = []
    taker = threading.Thread(target=lambda: got.append(queue.get(timeout=10)))
    taker.start()
    wait_for(lambda: queue.not_empty._waiters, timeout=10, interval=0.001,
             what='the taker to wait')  # (CPython's Condition)
    # When an item is put back
    queue.put_nowait('item')
    taker.join(10)
    # Then the taker has it
    assert got == ['item']


def test_a_bounded_queue_is_lifoqueues():
    queue = PoolQueue(maxsize=1)
    queue.put_nowait(1)
    with pytest.raises(Full):
        queue.put_nowait(2)
    assert queue.get() == 1


def test_pool_queue_keeps_items_and_identity():
    plain = LifoQueue()
    plain.put_nowait('a')
    plain.put_nowait('b')
    fast = pool_queue(plain)
    assert isinstance(fast, PoolQueue)
    assert [fast.get(), fast.get()] == ['b', 'a']
    assert pool_queue(fast) is fast


def test_the_pools_use_it(app):
    assert isinstance(app.amqp.producer_pool._resource, PoolQueue)

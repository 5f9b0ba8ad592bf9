"""A ``queue.LifoQueue`` for kombu resource pools, cheaper when nobody waits.

kombu's pools (producers, connections) keep their idle resources in a
``LifoQueue``: every task sent takes one out and puts one back, twice (the
producer and its connection).  ``LifoQueue`` does that through two condition
variables and half a dozen Python-level calls, a sixth of the cost of a
publish.  :class:`PoolQueue` takes an available item, and puts one back,
under the queue's mutex directly, waking a waiting taker as ``LifoQueue``
does; an empty queue (blocking, timeouts) and bounded queues are
``LifoQueue``'s own code.  Thread safe as ``LifoQueue`` is.
"""
from __future__ import annotations

from queue import LifoQueue
from typing import Any

__all__ = ('PoolQueue', 'pool_queue')


class PoolQueue(LifoQueue):
    """``LifoQueue`` with lock-only fast paths for ``get`` and ``put_nowait`` (unbounded)."""

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if self.maxsize <= 0:  # nobody waits for room: no one to wake up
            with self.mutex:
                if self.queue:
                    return self.queue.pop()
        return super().get(block, timeout)

    def put_nowait(self, item: Any) -> None:
        if self.maxsize > 0:
            return super().put_nowait(item)
        with self.mutex:
            self.queue.append(item)
            self.unfinished_tasks += 1
            self.not_empty.notify()
        return None


def pool_queue(queue: LifoQueue) -> PoolQueue:
    """``queue`` as a :class:`PoolQueue` (the same object if it is one), items kept.

    For a pool's ``setup``: kombu's ``Resource.__init__`` makes a plain
    ``LifoQueue`` first; a resize keeps the queue it has.
    """
    if isinstance(queue, PoolQueue):
        return queue
    new = PoolQueue()
    with queue.mutex:
        new.queue.extend(queue.queue)
    return new

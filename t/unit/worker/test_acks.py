"""Batched acks: one ``basic.ack(multiple)`` per run, never past a held delivery."""
from __future__ import annotations

from typing import Any

from celery.worker.consumer.acks import AckBatcher, RedisAckBatcher, for_channel


class Msg:
    def __init__(self, tag: int, channel: Any) -> None:
        self.delivery_tag = tag
        self.channel = channel
        self._state = 'RECEIVED'

    @property
    def acknowledged(self) -> bool:
        return self._state != 'RECEIVED'

    def ack_log_error(self, logger: Any, errors: Any) -> None:
        self._state = 'ACK'
        self.channel.basic_ack(self.delivery_tag)

    def reject(self) -> None:
        self._state = 'REJECTED'
        self.channel.basic_reject(self.delivery_tag)


def deliver(batcher: AckBatcher, channel: Any, n: int) -> list:
    messages = [Msg(i, channel) for i in range(1, n + 1)]
    for m in messages:
        batcher.delivered(m)
    return messages


def test_acks_are_folded_into_one_multiple_ack(channel: Any) -> None:
    batcher = AckBatcher(channel, threshold=100)
    messages = deliver(batcher, channel, 5)
    for m in messages:
        batcher.ack(m)
    assert channel.acked == []
    assert all(m.acknowledged for m in messages)
    batcher.flush()
    assert channel.acked == [(5, True)]
    batcher.flush()
    assert channel.acked == [(5, True)]


def test_a_held_delivery_is_never_covered(channel: Any) -> None:
    # Given deliveries 1..4 where 2 is held (e.g. an ETA task)
    batcher = AckBatcher(channel, threshold=100)
    m1, m2, m3, m4 = deliver(batcher, channel, 4)
    for m in (m1, m3, m4):
        batcher.ack(m)
    # When flushed
    batcher.flush()
    # Then 1 is acked with multiple, 3 and 4 one by one
    assert channel.acked[0] == (1, True)
    assert sorted(channel.acked[1:]) == [(3, False), (4, False)]
    # and once 2 is acked, nothing else is sent again
    batcher.ack(m2)
    batcher.flush()
    assert channel.acked[-1] == (2, True)
    assert len(channel.acked) == 4
    assert not batcher.pending


def test_messages_settled_elsewhere_do_not_block(channel: Any) -> None:
    batcher = AckBatcher(channel, threshold=100)
    m1, m2, m3 = deliver(batcher, channel, 3)
    m1.reject()
    batcher.ack(m3)
    batcher.ack(m2)
    batcher.flush()
    assert channel.acked == [(3, True)]
    assert channel.rejected == [(1, False)]


def test_threshold_sends_early_and_stop_batching_sends_at_once(channel: Any) -> None:
    batcher = AckBatcher(channel, threshold=2)
    m1, m2, m3 = deliver(batcher, channel, 3)
    batcher.ack(m1)
    assert channel.acked == []
    batcher.ack(m2)
    assert channel.acked == [(2, True)]
    batcher.stop_batching()
    batcher.ack(m3)
    assert channel.acked[-1] == (3, False)
    batcher.ack(m3)  # already acked: nothing
    assert len(channel.acked) == 2


def test_long_held_deliveries_are_compacted(channel: Any) -> None:
    batcher = AckBatcher(channel, threshold=10_000)
    held, *rest = deliver(batcher, channel, 1500)
    for m in rest:
        batcher.ack(m)
    batcher.flush()
    assert len(batcher.pending) == 1 and batcher.pending[0] is held


class FakeRedisQoS:
    def __init__(self) -> None:
        self.removed: list = []
        self.executed = 0
        self.forgotten: list = []

    class _Pipe:
        def __init__(self, qos: Any) -> None:
            self.qos = qos

        def execute(self) -> None:
            self.qos.executed += 1

    def pipe_or_acquire(self) -> Any:
        from contextlib import nullcontext
        return nullcontext(self._Pipe(self))

    def _remove_from_indices(self, tag: Any, pipe: Any) -> Any:
        self.removed.append(tag)
        return pipe


class VirtualQoS:
    def ack(self, tag: Any) -> None:
        self.forgotten.append(tag)


class RedisQoS(FakeRedisQoS, VirtualQoS):
    pass


class RedisChannel:
    def __init__(self) -> None:
        self.qos = RedisQoS()


def test_redis_acks_share_one_pipeline() -> None:
    ch = RedisChannel()
    batcher = RedisAckBatcher(ch, threshold=100)
    messages = [Msg(f'tag{i}', ch) for i in range(3)]
    for m in messages:
        batcher.ack(m)
    batcher.flush()
    assert ch.qos.removed == ['tag0', 'tag1', 'tag2']
    assert ch.qos.executed == 1
    assert ch.qos.forgotten == ['tag0', 'tag1', 'tag2']


def test_for_channel_picks_by_transport(channel: Any) -> None:
    assert isinstance(for_channel(channel, 'amqp', (), 4), AckBatcher)
    assert for_channel(channel, 'memory', (), 4) is None
    assert isinstance(for_channel(RedisChannel(), 'redis', (), 4), RedisAckBatcher)

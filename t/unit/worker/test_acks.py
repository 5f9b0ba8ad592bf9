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


# -- py-amqp channels: ack frames written together ------------------------------------

class CapturingTransport:
    def __init__(self) -> None:
        self.writes: list = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))


def _amqp_channel(channel_id: int = 7) -> Any:
    """A py-amqp channel on a connection whose transport records what is written."""
    import amqp
    from amqp.method_framing import frame_writer
    from kombu.transport.pyamqp import Channel as KombuChannel

    connection = amqp.Connection.__new__(amqp.Connection)
    connection.frame_max = 131072
    connection.bytes_sent = 0
    connection._transport = CapturingTransport()
    connection.frame_writer = frame_writer(connection, connection._transport)
    channel = KombuChannel.__new__(KombuChannel)
    channel.connection = connection
    channel.channel_id = channel_id
    return channel


def test_ack_frames_are_the_ones_pyamqp_writes() -> None:
    ours, theirs = _amqp_channel(), _amqp_channel()
    batcher = AckBatcher(ours, threshold=100)
    assert batcher._write_acks is not None
    messages = deliver(batcher, ours, 5)
    for m in messages[:2] + messages[3:]:  # the third is held
        batcher.ack(m)
    batcher.flush()
    theirs.basic_ack(2, multiple=True)
    theirs.basic_ack(4)
    theirs.basic_ack(5)
    writes = ours.connection.transport.writes
    assert writes == [b''.join(theirs.connection.transport.writes)]  # one write
    assert ours.connection.bytes_sent == 1


def test_ack_frames_need_an_open_connection() -> None:
    from kombu.transport.pyamqp import Transport
    channel = _amqp_channel()
    batcher = AckBatcher(channel, connection_errors=Transport.connection_errors, threshold=100)
    messages = deliver(batcher, channel, 1)
    batcher.ack(messages[0])
    channel.connection = None
    batcher.flush()  # logged, as a failed basic_ack is
    assert batcher.ready == set()


def test_channels_with_their_own_basic_ack_use_it() -> None:
    from kombu.transport.pyamqp import Channel as KombuChannel

    class Custom(KombuChannel):
        def basic_ack(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError('not expected')
    channel = Custom.__new__(Custom)
    assert AckBatcher(channel)._write_acks is None

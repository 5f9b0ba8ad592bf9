"""celery.transports.redis against the real Redis (127.0.0.1:6379, database 9, flushed per test).

The fetch pops messages and records them as unacked in one step, so a
message is always either queued or in ``unacked`` (where kombu's own
``restore_visible`` finds it); acks are collected and sent once per tick.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from kombu import Connection as KombuConnection
from kombu import Consumer, Exchange, Queue
from kombu.transport import redis as kombu_redis

from celery import Celery
from celery.transports import connection_class
from celery.transports import redis as ours

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DB = 9
URL = f'redis://127.0.0.1:6379/{DB}'


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    """Database DB of the test Redis (the shared fixture skips or fails when it is down)."""
    import redis
    client = redis.Redis.from_url(f'{redis_url.rsplit("/", 1)[0]}/{DB}')
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _app(**options: Any) -> Celery:
    app = Celery('rt', broker=URL, set_as_current=False, fixups=[])
    app.conf.broker_transport_options = options
    return app


def _publish(conn: Any, queue: Queue, count: int, priority: int | None = None,
             start: int = 0) -> None:
    producer = conn.Producer()
    for n in range(start, start + count):
        producer.publish({'n': n, 'empty': [], 'none': None}, serializer='json',
                         exchange=queue.exchange,
                         routing_key=queue.routing_key, declare=[queue], priority=priority,
                         headers={'list': [], 'null': None})


def _drain(conn: Any, got: list, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, f'got {len(got)} of {count}'
        try:
            conn.drain_events(timeout=0.2)
        except TimeoutError:
            pass


def _queue(name: str = 'rt.q') -> Queue:
    return Queue(name, Exchange(name), routing_key=name)


def test_redis_urls_get_our_connection_others_kombus(client: Any) -> None:
    assert connection_class('redis://h/0', None, {}) is ours.Connection
    assert connection_class('rediss://h/0', None, {}) is ours.Connection
    assert connection_class('amqp://h//', 'redis', {}) is ours.Connection
    assert connection_class('redis://h/0', None, {'batch_fetch': False}) is KombuConnection
    assert connection_class('sentinel://h:26379', None, {}) is KombuConnection
    assert connection_class('amqp://h//', None, {}) is KombuConnection
    assert connection_class('memory://', None, {}) is KombuConnection
    assert connection_class('redis://h/0', kombu_redis.Transport, {}) is KombuConnection

    # Given the app's connection: ours by default, kombu's with batch_fetch=False
    with _app().connection_for_write() as conn:
        assert isinstance(conn.transport, ours.Transport)
        assert conn.transport_cls == 'redis'
        assert conn.as_uri().startswith('redis://')  # kombu's URL, not a class
        assert isinstance(conn.clone().transport, ours.Transport)
    with _app(batch_fetch=False).connection_for_write() as conn:
        assert type(conn) is KombuConnection
        assert type(conn.transport) is kombu_redis.Transport


def test_fetch_takes_only_the_free_prefetch_slots(client: Any) -> None:
    queue = _queue()
    with _app().connection_for_read() as conn:
        _publish(conn, queue, 10)
        channel = conn.channel()
        channel.basic_qos(0, 3, False)
        got: list = []
        seen: list = []

        def on_message(body: dict, message: Any) -> None:
            got.append(message)
            seen.append((client.llen(queue.name), client.hlen('unacked')))

        with Consumer(channel, [queue], callbacks=[on_message]):
            # When the consumer holds as many as its prefetch allows
            _drain(conn, got, 3)
            # Then one fetch took three, all recorded as unacked at once
            assert seen[0] == (7, 3)
            with pytest.raises(TimeoutError):
                conn.drain_events(timeout=0.3)
            assert len(got) == 3 and client.llen(queue.name) == 7
            # and after acks the next ones come
            for message in got:
                message.ack()
            _drain(conn, got, 6)
            assert client.llen(queue.name) == 4
            assert [m.payload['n'] for m in got] == list(range(6))


def test_priority_levels_first_then_queues_in_turn(client: Any) -> None:
    a, b = _queue('rt.a'), _queue('rt.b')
    with _app().connection_for_read() as conn:
        _publish(conn, a, 2, priority=9, start=100)
        _publish(conn, a, 3, start=0)
        _publish(conn, b, 3, start=10)
        channel = conn.channel()
        got: list = []
        with Consumer(channel, [a, b], callbacks=[lambda body, m: (got.append(body['n']),
                                                                     m.ack())]):
            _drain(conn, got, 8)
    # priority 0 before 9 (kombu's Redis order), queues in turn within a level
    assert got[:6] == [0, 10, 1, 11, 2, 12]
    assert got[6:] == [100, 101]


def test_unacked_entry_is_byte_identical_and_restored_by_kombu(client: Any) -> None:
    queue = _queue()
    with _app().connection_for_read() as conn:
        _publish(conn, queue, 1)
        raw = client.lrange(queue.name, 0, -1)[0]
        got: list = []
        with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: got.append(m)]):
            _drain(conn, got, 1)
            tag = got[0].delivery_tag
            entry = client.hget('unacked', tag)
            # the message JSON is stored as it was queued, byte for byte
            assert entry == b'[' + raw + b',"rt.q","rt.q"]'
            assert json.loads(entry)[0] == json.loads(raw)
            assert client.zscore('unacked_index', tag) is not None
            got[0].channel.do_restore = False  # leave it to kombu's sweep below
            got[0].channel.qos.restore_at_shutdown = False
    # When kombu's stock transport sweeps messages past their visibility timeout
    # (a negative timeout: every entry is already past it)
    with KombuConnection(URL, transport_options={'visibility_timeout': -60}) as stock:
        assert type(stock.transport) is kombu_redis.Transport
        stock.default_channel.qos.restore_visible(num=10, interval=1)
    # Then the message is queued again, as it was (plus kombu's redelivered flags)
    assert client.hlen('unacked') == 0 and client.zcard('unacked_index') == 0
    back = json.loads(client.lrange(queue.name, 0, -1)[0])
    first = json.loads(raw)
    back['headers'].pop('redelivered'), back['properties']['delivery_info'].pop('redelivered')
    assert back == first


def test_acks_wait_for_the_tick_in_an_event_loop_and_for_close(client: Any) -> None:
    queue = _queue()
    with _app().connection_for_read() as conn:
        _publish(conn, queue, 4)
        cycle = conn.transport.cycle
        got: list = []
        with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: got.append(m)]):
            _drain(conn, got, 4)
            assert client.hlen('unacked') == 4
            # Given acks batched (as in the worker's event loop)
            cycle.batch_acks = True
            got[0].ack()
            got[1].ack()
            # Then they wait for the tick, which sends them together
            assert client.hlen('unacked') == 4
            cycle.on_poll_start()
            assert client.hlen('unacked') == 2 and client.zcard('unacked_index') == 2
            # and a rejected one (no requeue) goes the same way
            got[2].reject()
            assert client.hlen('unacked') == 2
            # When the consumer closes with one acked and one held
            got[3].ack()
        conn.close()
    # Then the ack was sent before the held ones were restored: nothing acked comes back
    assert client.hlen('unacked') == 0
    assert client.llen(queue.name) == 0


def test_requeue_on_reject_puts_it_back_at_once(client: Any) -> None:
    queue = _queue()
    with _app().connection_for_read() as conn:
        _publish(conn, queue, 1)
        conn.transport.cycle.batch_acks = True
        got: list = []
        with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: got.append(m)]):
            _drain(conn, got, 1)
            got[0].reject(requeue=True)
            assert client.llen(queue.name) == 1 and client.hlen('unacked') == 0


def test_no_ack_consumer_leaves_no_unacked_record(client: Any) -> None:
    queue = _queue()
    with _app().connection_for_read() as conn:
        _publish(conn, queue, 3)
        got: list = []
        with Consumer(conn.channel(), [queue], no_ack=True,
                      callbacks=[lambda b, m: got.append(b)]):
            _drain(conn, got, 3)
            conn.transport.cycle.on_poll_start()
            assert client.hlen('unacked') == 0 and client.llen(queue.name) == 0


def test_script_reloaded_after_script_flush(client: Any) -> None:
    queue = _queue()
    with _app().connection_for_read() as conn:
        got: list = []
        with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append(b),
                                                                         m.ack())]):
            _publish(conn, queue, 1)
            _drain(conn, got, 1)
            client.script_flush()
            _publish(conn, queue, 2, start=1)
            _drain(conn, got, 3)
    assert [b['n'] for b in got] == [0, 1, 2]


def test_global_keyprefix(client: Any) -> None:
    queue = _queue()
    with _app(global_keyprefix='pfx:').connection_for_read() as conn:
        _publish(conn, queue, 2)
        assert client.llen('pfx:rt.q') == 2
        got: list = []
        with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: got.append(m)]):
            _drain(conn, got, 2)
            assert client.hlen('pfx:unacked') == 2 and client.zcard('pfx:unacked_index') == 2
            assert client.llen('pfx:rt.q') == 0
            for message in got:
                message.ack()
            assert client.hlen('pfx:unacked') == 0
    assert not client.exists('unacked', 'unacked_index', 'rt.q')


def test_undecodable_message_is_logged_and_dropped(client: Any, caplog: Any) -> None:
    queue = _queue()
    with _app().connection_for_read() as conn:
        _publish(conn, queue, 1)
        client.rpush(queue.name, b'{not json')  # next to be popped
        got: list = []
        with caplog.at_level(logging.ERROR), \
                Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append(m),
                                                                           m.ack())]):
            _drain(conn, got, 1)
    assert 'Cannot decode message' in caplog.text
    # the good one came through, the bad one left no trace
    assert got[0].payload['n'] == 0
    assert client.llen(queue.name) == 0 and client.hlen('unacked') == 0


def test_old_server_falls_back_to_brpop(client: Any, monkeypatch: Any, caplog: Any) -> None:
    monkeypatch.setattr(ours, '_server_version', lambda client: (6, 0))
    monkeypatch.setattr(ours, '_warned_old_server', False)
    queue = _queue()
    with caplog.at_level(logging.WARNING):
        with _app().connection_for_read() as conn:
            _publish(conn, queue, 3)
            channel = conn.channel()
            assert channel._batch_fetch is False
            got: list = []
            with Consumer(channel, [queue], callbacks=[lambda b, m: got.append(m)]):
                _drain(conn, got, 3)
                # kombu's BRPOP + its own unacked write
                assert client.hlen('unacked') == 3
                for message in got:
                    message.ack()
            assert client.hlen('unacked') == 0
            conn.channel()  # another channel: no second warning
    assert caplog.text.count('has no BLMOVE') == 1


CONSUMER = '''
import os, signal, sys
from kombu import Consumer, Exchange, Queue
from celery import Celery

app = Celery('victim', broker=sys.argv[1], set_as_current=False, fixups=[])
queue = Queue('rt.q', Exchange('rt.q'), routing_key='rt.q')
with app.connection_for_read() as conn:
    channel = conn.channel()
    channel.basic_qos(0, 5, False)

    def on_message(body, message):
        os.kill(os.getpid(), signal.SIGKILL)  # right after the fetch

    with Consumer(channel, [queue], callbacks=[on_message]):
        while True:
            conn.drain_events(timeout=5)
'''


def test_consumer_killed_right_after_fetch_loses_nothing(client: Any, tmp_path: Path) -> None:
    queue = _queue()
    with _app().connection_for_write() as conn:
        _publish(conn, queue, 20)
    script = tmp_path / 'victim.py'
    script.write_text(textwrap.dedent(CONSUMER))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # When a consumer is SIGKILLed as its first message arrives
    proc = subprocess.run([sys.executable, str(script), URL], env=env, timeout=60,
                          capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    # Then every message is queued or recorded as unacked: the fetched ones are
    assert client.llen(queue.name) == 15 and client.hlen('unacked') == 5
    # and they come back once their visibility timeout has passed
    with KombuConnection(URL, transport_options={'visibility_timeout': -60}) as stock:
        stock.default_channel.qos.restore_visible(num=100, interval=1)
    bodies = [json.loads(raw) for raw in client.lrange(queue.name, 0, -1)]
    assert client.hlen('unacked') == 0
    assert sorted(json.loads(base64.b64decode(m['body']))['n'] for m in bodies) == \
        list(range(20))


def test_a_new_consumer_on_the_channel_is_fetched_for(client: Any) -> None:
    # Given a channel that consumed one queue until it was empty (it now waits
    # on that queue), and then cancelled that consumer
    first, second = _queue('rt.first'), _queue('rt.second')
    with _app().connection_for_read() as conn:
        channel = conn.channel()
        got: list = []
        consumer = Consumer(channel, [first], callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.consume()
        _publish(conn, first, 1)
        _drain(conn, got, 1)
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.3)
        consumer.cancel()
        # When another queue is consumed on the same channel (as a control
        # client does with each request's reply queue) and gets a message
        with Consumer(channel, [second], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            _publish(conn, second, 1, start=1)
            # Then it arrives: the channel fetches for the queues consumed now
            _drain(conn, got, 2, timeout=2.0)
    assert [b['n'] for b in got] == [0, 1]

"""The unrolled publish puts on real brokers what kombu's ``Producer.publish`` puts there.

Each test sends the same task message twice through ``app.amqp.send_task_message``:
once on the fast path (:mod:`celery.app._publish`), once with that path
switched off (kombu's ``publish``), and compares what the broker holds:
on RabbitMQ every decoded property, the headers, the body bytes, exchange and
routing key; on Redis the raw JSON of the two list entries (but the random
delivery tag).
"""
from __future__ import annotations

import json
import uuid

import pytest
from kombu import Exchange, Queue

from celery import Celery
from celery.app import _publish

pytestmark = pytest.mark.integration

OPTIONS = [
    {},
    {'priority': 5, 'expiration': 12.5, 'compression': 'zlib', 'serializer': 'pickle',
     'delivery_mode': 'transient', 'headers': {'extra': [1, {'n': None}]},
     'app_id': 'me', 'message_id': 'mid', 'timestamp': 1700000000},
    {'mandatory': True, 'reply_to': 'replies', 'timeout': 5},
    # what Task.apply_async passes when the task sets none of these
    {'priority': None, 'mandatory': None, 'immediate': None, 'expires': None,
     'delivery_mode': None, 'compression': None, 'serializer': 'json'},
]
IDS = ['defaults', 'options', 'publish-arguments', 'task-defaults']


@pytest.fixture
def qname():
    return f'wire.{uuid.uuid4().hex}'


def make_app(url: str, qname: str) -> Celery:
    app = Celery('proj', broker=url, set_as_current=False, fixups=[])
    app.conf.task_default_queue = qname
    return app


def send_both(app: Celery, monkeypatch, **options) -> None:
    """The same message, first through the fast path, then through kombu's publish."""
    amqp = app.amqp
    now = app.now()
    with app.producer_or_acquire() as producer:
        # the first send declares the queue (kombu's path): sent and purged first
        amqp.send_task_message(producer, 'proj.add', amqp.create_task_message('t0', 'n'))
        producer.channel.queue_purge(app.conf.task_default_queue)
        for fast in (True, False):
            message = amqp.create_task_message('tid', 'proj.add', (1, 2), {'k': 'é'},
                                               countdown=10, now=now)
            with monkeypatch.context() as patch:
                if not fast:
                    patch.setattr(_publish, 'can_publish', lambda *a: False)
                amqp.send_task_message(producer, 'proj.add', message, **options)


@pytest.mark.parametrize('options', OPTIONS, ids=IDS)
def test_rabbitmq(amqp_url, qname, monkeypatch, options):
    app = make_app(amqp_url, qname)
    encoded = []
    real = _publish.encode_properties
    monkeypatch.setattr(_publish, 'encode_properties',
                        lambda props: encoded.append(1) or real(props))
    published = []
    real_publish = _publish.basic_publish
    monkeypatch.setattr(_publish, 'basic_publish',
                        lambda *a: published.append(1) or real_publish(*a))
    try:
        with app.connection_for_write() as conn:
            Queue(qname, Exchange(qname), qname)(conn.default_channel).declare()
        send_both(app, monkeypatch, **options)
        with app.connection_for_write() as conn:
            channel = conn.default_channel.connection.channel()  # py-amqp's own
            got = []
            while len(got) < 2:
                message = channel.basic_get(qname, no_ack=True)
                if message is not None:
                    got.append(message)
            channel.close()
        fast, stock = got
        assert fast.properties == stock.properties
        assert fast.body == stock.body
        assert (fast.delivery_info['exchange'], fast.delivery_info['routing_key']) == \
            (stock.delivery_info['exchange'], stock.delivery_info['routing_key'])
        assert fast.properties['application_headers']['id'] == 'tid'
        assert encoded, 'py-amqp no longer asks the message for its header encoding'
        assert published == [1], 'the fast path sends its basic.publish itself'
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(qname)
        app.close()


@pytest.mark.parametrize('options', OPTIONS, ids=IDS)
def test_redis(redis_url, qname, monkeypatch, options):
    app = make_app(redis_url, qname)
    try:
        send_both(app, monkeypatch, **options)
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            key = conn.default_channel._q_for_pri(qname, options.get('priority', 0) or 0)
            raw = client.lrange(key, 0, -1)
        stock, fast = (json.loads(r) for r in raw)  # LPUSH: the newest first
        assert fast['properties'].pop('delivery_tag') != stock['properties'].pop('delivery_tag')
        assert json.dumps(fast) == json.dumps(stock)  # same keys, same order, same values
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(qname)
        app.close()

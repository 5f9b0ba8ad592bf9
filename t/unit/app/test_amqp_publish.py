"""Tests for the cheap publishing path of celery.app.amqp: the producer pool
that keeps channels, kombu's retry loop taken only on failure, the cached origin."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from kombu import Exchange, Producer, Queue
from kombu.exceptions import OperationalError

from celery.app import _publish
from celery.app.amqp import ProducerPool
from t.forking import in_forked_child


def read_all(app, name: str) -> list:
    with app.connection_for_write() as conn:
        queue = Queue(name, Exchange(name), name)(conn.default_channel)
        out = []
        while True:
            message = queue.get(no_ack=True, accept=['json'])
            if message is None:
                return out
            out.append(message)


class test_ProducerPool:

    def test_is_the_apps_pool(self, app):
        pool = app.amqp.producer_pool
        assert isinstance(pool, ProducerPool)
        assert pool.limit == app.pool.limit

    def test_a_producer_keeps_its_channel_between_uses(self, app):
        # Given a producer that has published once
        pool = app.amqp.producer_pool
        with pool.acquire(block=True) as producer:
            channel = producer.channel
        # When it is acquired again
        with pool.acquire(block=True) as again:
            # Then it is the same producer, on the same live channel, not re-bound
            assert again is producer
            assert again._channel is channel
            assert again.connection.default_channel is channel

    def test_a_closed_connection_gets_a_fresh_channel(self, app):
        # Given a producer whose connection was closed while it was in the pool
        pool = app.amqp.producer_pool
        with pool.acquire(block=True) as producer:
            channel = producer.channel
            connection = producer.connection
        connection._close()
        # When it is acquired again
        with pool.acquire(block=True) as again:
            # Then it is bound anew, as kombu does (the old channel is not reused)
            assert again.channel is not channel
            assert again.connection.connected

    def test_a_replaced_connection_after_an_error_is_not_reused_blindly(self, app):
        pool = app.amqp.producer_pool
        with pytest.raises(RuntimeError):
            with pool.acquire(block=True) as producer:
                channel = producer.channel
                raise RuntimeError('boom')  # Producer.__exit__ replaces the connection
        with pool.acquire(block=True) as again:
            assert again.channel is not channel

    def test_resize_keeps_the_waiting_producers(self, app):
        pool = app.amqp.producer_pool
        queue = pool._resource
        pool.limit = pool.limit + 2
        assert pool._resource is queue
        with pool.acquire(block=True) as producer:
            assert isinstance(producer, Producer)

    def test_unlimited_pool_still_publishes(self, app, qname):
        app.conf.broker_pool_limit = 0
        app.amqp.producer_pool  # made with limit 0: kombu's own path
        assert app.amqp.producer_pool.limit == 0
        app.send_task('proj.add', (1, 1), ignore_result=True)
        app.send_task('proj.add', (2, 2), ignore_result=True)
        assert [m.decode()[0] for m in read_all(app, qname)] == [[1, 1], [2, 2]]


class test_RetryOnlyOnError:

    def _watch(self, monkeypatch, producer, fail_first=None):
        """Watch both publishing paths for ``producer``: the unrolled one is
        recorded as ``False`` (no retry loop), kombu's as its ``retry`` flag.
        The first call raises ``fail_first`` when given."""
        calls = []
        fast, stock = _publish.publish, Producer.publish

        def check(flag):
            calls.append(flag)
            if fail_first is not None and len(calls) == 1:
                raise fail_first

        def watched_fast(p, *args):
            if p is producer:
                check(False)
            return fast(p, *args)

        def watched_stock(self, body, **kw):
            if self is producer:
                check(kw['retry'])
            return stock(self, body, **kw)
        monkeypatch.setattr(_publish, 'publish', watched_fast)
        monkeypatch.setattr(_publish, '_STOCK_PUBLISH', watched_stock)
        monkeypatch.setattr(Producer, 'publish', watched_stock)
        return calls

    def test_declared_queue_first_try_without_retry_wrapper(self, app, qname, monkeypatch):
        with app.producer_or_acquire() as producer:
            send = app.amqp.send_task_message
            send(producer, 'n', app.amqp.create_task_message('t1', 'n'))  # declares
            calls = self._watch(monkeypatch, producer)
            send(producer, 'n', app.amqp.create_task_message('t2', 'n'))
        assert calls == [False]
        assert producer.connection.transport_options['max_retries'] == \
            app.conf.task_publish_retry_policy['max_retries']
        assert [m.headers['id'] for m in read_all(app, qname)] == ['t1', 't2']

    def test_recoverable_error_hands_over_to_kombus_retry(self, app, qname, monkeypatch):
        with app.producer_or_acquire() as producer:
            send = app.amqp.send_task_message
            send(producer, 'n', app.amqp.create_task_message('t1', 'n'))
            error = producer.connection.recoverable_connection_errors[0]('lost')
            calls = self._watch(monkeypatch, producer, fail_first=error)
            send(producer, 'n', app.amqp.create_task_message('t2', 'n'))
        assert calls == [False, True]
        assert [m.headers['id'] for m in read_all(app, qname)] == ['t1', 't2']

    def test_other_errors_are_not_retried(self, app, qname, monkeypatch):
        with app.producer_or_acquire() as producer:
            send = app.amqp.send_task_message
            send(producer, 'n', app.amqp.create_task_message('t1', 'n'))
            calls = self._watch(monkeypatch, producer, fail_first=KeyError('nope'))
            with pytest.raises(KeyError):
                send(producer, 'n', app.amqp.create_task_message('t2', 'n'))
        assert calls == [False]

    def test_retry_off_publishes_once_without_retry(self, app, qname, monkeypatch):
        app.conf.task_publish_retry = False
        with app.producer_or_acquire() as producer:
            send = app.amqp.send_task_message
            send(producer, 'n', app.amqp.create_task_message('t1', 'n'))
            error = producer.connection.recoverable_connection_errors[0]('lost')
            calls = self._watch(monkeypatch, producer, fail_first=error)
            with pytest.raises(OperationalError):
                send(producer, 'n', app.amqp.create_task_message('t2', 'n'))
        assert calls == [False]

    def test_a_producer_with_its_own_publish_gets_kombus_retry(self, app, qname):
        with app.producer_or_acquire() as producer:
            send = app.amqp.send_task_message
            send(producer, 'n', app.amqp.create_task_message('t1', 'n'))
            seen = []
            real = producer.publish
            producer.publish = lambda body, **kw: (seen.append(kw['retry']), real(body, **kw))
            send(producer, 'n', app.amqp.create_task_message('t2', 'n'))
            del producer.publish
        assert seen == [True]

    def test_a_stand_in_producer_gets_kombus_arguments(self, app, qname):
        seen = {}
        producer = SimpleNamespace(connection=app.connection_for_write(),
                                   publish=lambda body, **kw: seen.update(kw))
        app.amqp.send_task_message(producer, 'n', app.amqp.create_task_message('t', 'n'))
        assert seen['retry'] is True


class test_Origin:

    def test_origin_is_this_process(self, app):
        msg = app.amqp.create_task_message('t', 'n')
        assert msg.headers['origin'].startswith(f'gen{os.getpid()}@')

    @pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs fork')
    def test_a_forked_child_sends_its_own_pid(self, app):
        app.amqp.create_task_message('t', 'n')  # cached in the parent
        pid, child_origin = in_forked_child(
            lambda: app.amqp.create_task_message('t', 'n').headers['origin'])
        assert child_origin.startswith(f'gen{pid}@')


class test_SendTaskErrors:

    def test_transport_errors_become_operational_errors(self, app, qname, monkeypatch):
        # Given a transport whose publish fails with a recoverable error, retry off
        app.conf.task_publish_retry = False
        with app.producer_or_acquire() as producer:
            error_type = producer.connection.recoverable_connection_errors[0]

        def fail(*args, **kwargs):
            raise error_type('down')
        monkeypatch.setattr(Producer, 'publish', fail)
        monkeypatch.setattr(_publish, 'publish', fail)
        # When a task is sent, Then kombu's library error comes out
        with pytest.raises(OperationalError, match='down'):
            app.send_task('proj.add', (1, 1))

    def test_result_subscription_errors_become_operational_errors(self, app, qname,
                                                                monkeypatch):
        with app.producer_or_acquire() as producer:
            error_type = producer.connection.recoverable_connection_errors[0]

        def on_task_call(producer, task_id):
            raise error_type('no backend')
        monkeypatch.setattr(app.backend, 'on_task_call', on_task_call)
        with pytest.raises(OperationalError, match='no backend'):
            app.send_task('proj.add', (1, 1))
        assert read_all(app, qname) == []

    def test_other_errors_pass_through(self, app, qname):
        with pytest.raises(TypeError):
            app.send_task('proj.add', 1)


def test_an_app_subclass_acquiring_its_own_way_is_asked(app, qname):
    # Given an app class whose producer_or_acquire is its own
    from celery import Celery
    asked = []

    class MyCelery(Celery):
        def producer_or_acquire(self, producer=None):
            asked.append(producer)
            return super().producer_or_acquire(producer)
    mine = MyCelery('t.unit.mine', set_as_current=False, broker='memory://',
                    backend='cache+memory://', fixups=[])
    mine.conf.task_default_queue = qname
    try:
        # When a task is sent, Then it got the producer from there
        mine.send_task('proj.add', (1, 1), ignore_result=True)
        assert asked == [None]
        assert [m.headers['id'] for m in read_all(mine, qname)]
    finally:
        mine.close()

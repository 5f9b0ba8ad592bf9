"""Round trips of the Redis result backend, against the test Redis server.

What is checked is what the server sees and what the caller gets: how many
reads a wait costs, when channels are left, that a chord part is stored and
counted in one pipeline.  Every test uses its own ``global_keyprefix``.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from celery import Celery, chord, states
from celery.app.task import Context
from celery.backends import redis as redis_backend
from celery.backends.asynchronous import results_unawaited, unawaited_results
from t.waiting import wait_for


@pytest.fixture
def prefix() -> str:
    return f'utest-{uuid.uuid4().hex[:12]}:'


def _app(redis_url: str, prefix: str, name: str = 't.unit.redis_results') -> Celery:
    app = Celery(name, set_as_current=False, broker='memory://', backend=redis_url,
                 fixups=[])
    app.conf.result_backend_transport_options = {'global_keyprefix': prefix}
    app.conf.task_default_queue = f'{prefix}q'
    return app


@pytest.fixture
def raw(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def redis_app(redis_url, prefix, raw):
    app = _app(redis_url, prefix)
    yield app
    keys = list(raw.scan_iter(match=f'{prefix}*'))
    if keys:
        raw.delete(*keys)
    app.close()


@pytest.fixture
def writer(redis_url, prefix):
    """Another process's backend: stores (and publishes) records."""
    app = _app(redis_url, prefix, 't.unit.redis_writer')
    yield app.backend
    app.close()


def _count_reads(backend) -> list:
    reads = []
    for name in ('get', 'mget'):
        original = getattr(backend, name)
        setattr(backend, name, lambda *a, _f=original, _n=name: reads.append(_n) or _f(*a))
    return reads


class test_waiting:

    def test_task_sent_here_is_waited_for_without_a_read(self, redis_app, writer):
        # Given: a task sent by this client (subscribed before it was sent).
        add = redis_app.task(name='t.unit.add', shared=False)(lambda x, y: x + y)
        result = add.delay(1, 2)
        reads = _count_reads(redis_app.backend)
        # When: a worker stores its result, then we wait.
        writer.store_result(result.id, 3, states.SUCCESS)
        # Then: the published record is enough, nothing is read.
        assert result.get(timeout=5) == 3
        assert reads == []

    def test_a_lost_message_is_caught_up_by_a_read(self, redis_app, raw, prefix):
        # Given: a task sent by this client whose record is stored but its
        # message never published (e.g. lost in a reconnect).
        add = redis_app.task(name='t.unit.add2', shared=False)(lambda x, y: x + y)
        result = add.delay(1, 2)
        raw.set(f'{prefix}celery-task-meta-{result.id}', json.dumps(
            {'status': 'SUCCESS', 'result': 3, 'traceback': None, 'children': [],
             'date_done': None, 'task_id': result.id}))
        reads = _count_reads(redis_app.backend)
        # Then: the wait reads it once, after a short while.
        started = time.monotonic()
        assert result.get(timeout=5, interval=0.05) == 3
        assert reads == ['mget']
        assert time.monotonic() - started >= redis_backend.CATCH_UP_AFTER * 0.9

    def test_on_message_gets_the_state_read_when_waiting_starts(self, redis_app, writer):
        add = redis_app.task(name='t.unit.add3', shared=False)(lambda x, y: x + y)
        result = add.delay(1, 2)
        writer.store_result(result.id, {'step': 1}, 'PROGRESS')
        reads = _count_reads(redis_app.backend)
        seen = []

        def on_message(meta):
            seen.append(meta['status'])
            if meta['status'] == 'PROGRESS':
                writer.store_result(result.id, 3, states.SUCCESS)
        assert result.get(timeout=5, on_message=on_message) == 3
        assert reads == ['get']
        assert seen[0] == 'PROGRESS' and seen[-1] == states.SUCCESS

    def test_result_of_another_client_is_read_once(self, redis_app, writer):
        task_id = str(uuid.uuid4())
        writer.store_result(task_id, 'done', states.SUCCESS)
        reads = _count_reads(redis_app.backend)
        assert redis_app.AsyncResult(task_id).get(timeout=5) == 'done'
        assert reads == ['get']

    def test_join_native_reads_every_member_in_one_mget(self, redis_app, writer):
        ids = [str(uuid.uuid4()) for _ in range(5)]
        for index, task_id in enumerate(ids[:3]):
            writer.store_result(task_id, index, states.SUCCESS)
        group = redis_app.GroupResult(str(uuid.uuid4()),
                                      [redis_app.AsyncResult(i) for i in ids])
        reads = _count_reads(redis_app.backend)
        seen = []

        def on_message(meta):
            seen.append(meta['status'])
            if len([s for s in seen if s == states.SUCCESS]) == 3:
                for index, task_id in enumerate(ids[3:], 3):
                    writer.store_result(task_id, index, states.SUCCESS)
        assert group.join_native(timeout=5, on_message=on_message) == [0, 1, 2, 3, 4]
        assert reads == ['mget']

    def test_two_handles_on_one_finished_task_both_get_it(self, redis_app, writer):
        ids = [str(uuid.uuid4()) for _ in range(2)]
        for task_id in ids:
            writer.store_result(task_id, task_id[:4], states.SUCCESS)
        results = [redis_app.AsyncResult(i) for i in (ids[0], ids[1], ids[0])]
        got = []
        redis_app.ResultSet(results).join_native(
            timeout=5, callback=lambda task_id, value: got.append(value))
        assert sorted(got) == sorted([ids[0][:4], ids[1][:4], ids[0][:4]])
        assert [r.result for r in results] == [ids[0][:4], ids[1][:4], ids[0][:4]]

    def test_finished_channels_are_left_in_batches(self, redis_app, writer, raw,
                                                   monkeypatch):
        monkeypatch.setattr(redis_backend, 'UNSUBSCRIBE_BATCH', 3)
        add = redis_app.task(name='t.unit.add4', shared=False)(lambda x, y: x + y)
        consumer = redis_app.backend.result_consumer
        channels = []
        for value in range(2):
            result = add.delay(value, 0)
            channels.append(redis_app.backend.get_key_for_task(result.id))
            writer.store_result(result.id, value, states.SUCCESS)
            assert result.get(timeout=5) == value
        # Two finished: still subscribed on the server, no longer wanted.
        assert not consumer.subscribed_to
        assert [n for _, n in raw.pubsub_numsub(*channels)] == [1, 1]
        # Waiting on one of them again needs no new SUBSCRIBE, and works.
        again = redis_app.AsyncResult(result.id)
        assert again.get(timeout=5) == 1
        # The third finished result fills the batch: all are left at once.
        result = add.delay(2, 0)
        channels.append(redis_app.backend.get_key_for_task(result.id))
        writer.store_result(result.id, 2, states.SUCCESS)
        assert result.get(timeout=5) == 2
        wait_for(lambda: [n for _, n in raw.pubsub_numsub(*channels)] == [0, 0, 0],
                 timeout=5, what='the channels to be unsubscribed')
        assert not consumer._unsubscribe_later

    def test_unawaited_results_are_not_subscribed_to(self, redis_app, writer):
        add = redis_app.task(name='t.unit.add5', shared=False)(lambda x, y: x + y)
        consumer = redis_app.backend.result_consumer
        assert not results_unawaited()
        with unawaited_results():
            assert results_unawaited()
            result = add.delay(1, 1)
        assert not results_unawaited()
        assert redis_app.backend.get_key_for_task(result.id) not in consumer.subscribed_to
        # Waiting on it later still works (subscribe, then one read).
        writer.store_result(result.id, 2, states.SUCCESS)
        assert result.get(timeout=5) == 2

    def test_chord_header_tasks_are_not_subscribed_to(self, redis_app):
        add = redis_app.task(name='t.unit.add6', shared=False)(lambda x, y: x + y)
        tsum = redis_app.task(name='t.unit.tsum6', shared=False)(sum)
        result = chord(add.s(i, i) for i in range(3))(tsum.s())
        consumer = redis_app.backend.result_consumer
        header_ids = [r.id for r in result.parent.results]
        assert len(header_ids) == 3
        assert not any(redis_app.backend.get_key_for_task(i) in consumer.subscribed_to
                       for i in header_ids)


class test_chord_parts:

    def _request(self, app, gid, index, body_name):
        return Context(id=f't{index}', group=gid, group_index=index,
                       chord=dict(app.signature(body_name)))

    def test_a_part_is_stored_published_and_counted_in_one_pipeline(
            self, redis_app, raw, prefix):
        backend = redis_app.backend
        gid = str(uuid.uuid4())
        backend.set_chord_size(gid, 2)
        pipelines = []
        original = backend.client.pipeline
        backend.client.pipeline = lambda *a, **kw: pipelines.append(1) or original(*a, **kw)
        pubsub = raw.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(f'{prefix}celery-task-meta-t0')
        pubsub.get_message(timeout=1)
        backend.mark_as_done('t0', 5, request=self._request(redis_app, gid, 0, 'x.body'))
        assert len(pipelines) == 1
        record = json.loads(raw.get(f'{prefix}celery-task-meta-t0'))
        assert record['status'] == states.SUCCESS and record['result'] == 5
        assert record['group_id'] == gid and record['task_id'] == 't0'
        message = None
        for _ in range(20):
            message = pubsub.get_message(timeout=0.5)
            if message:
                break
        pubsub.close()
        assert json.loads(message['data']) == record
        entries = raw.zrange(f'{prefix}celery-taskset-meta-{gid}.j', 0, -1, withscores=True)
        assert [(json.loads(e), s) for e, s in entries] == [([1, 't0', 'SUCCESS', 5], 0.0)]

    def test_unknown_script_is_loaded_and_counted(self, redis_app, raw, prefix):
        # Given: the server does not know the script's sha (restarted, flushed).
        backend = redis_app.backend
        script = backend._part_return_script
        real_sha = script.sha
        script.sha = '0' * 40
        gid = str(uuid.uuid4())
        backend.set_chord_size(gid, 2)
        backend.mark_as_done('t1', 7, request=self._request(redis_app, gid, 1, 'x.body'))
        assert script.sha == real_sha
        assert raw.zcard(f'{prefix}celery-taskset-meta-{gid}.j') == 1
        assert json.loads(raw.get(f'{prefix}celery-task-meta-t1'))['result'] == 7

    def test_ignored_results_are_counted_but_not_stored(self, redis_app, raw, prefix):
        backend = redis_app.backend
        gid = str(uuid.uuid4())
        backend.set_chord_size(gid, 2)
        request = self._request(redis_app, gid, 0, 'x.body')
        request.ignore_result = True
        backend.mark_as_done('t0', 5, request=request)
        assert raw.get(f'{prefix}celery-task-meta-t0') is None
        assert raw.zcard(f'{prefix}celery-taskset-meta-{gid}.j') == 1

    def test_a_retried_last_part_keeps_its_claim(self, redis_app, raw, prefix):
        # A retried call of the last part (same token) must still run the body.
        backend = redis_app.backend
        gid = str(uuid.uuid4())
        backend.set_chord_size(gid, 1)
        request = self._request(redis_app, gid, 0, 'x.body')
        keys, args, _, _ = backend._chord_part(request, states.SUCCESS, 1)
        first = backend._part_return_script(keys=keys, args=args, client=backend.client)
        again = backend._part_return_script(keys=keys, args=args, client=backend.client)
        assert first[0] == again[0] == 1 and first[3] == again[3] == 1
        other = list(args)
        other[-1] = 'another-token'
        assert backend._part_return_script(keys=keys, args=other,
                                           client=backend.client)[3] == 0

    def test_a_subclass_storing_its_own_way_keeps_the_general_path(self, redis_url,
                                                                   prefix, raw):
        from celery.backends.redis import RedisBackend
        stored = []

        class Custom(RedisBackend):
            def set(self, key, value, **kwargs):
                stored.append(key)
                return super().set(key, value, **kwargs)
        app = _app(redis_url, prefix)
        backend = Custom(app=app, url=redis_url)
        gid = str(uuid.uuid4())
        backend.set_chord_size(gid, 2)
        backend.mark_as_done('t0', 1, request=Context(
            id='t0', group=gid, group_index=0, chord=dict(app.signature('x.body'))))
        assert stored == [backend.get_key_for_task('t0')]
        assert raw.zcard(f'{prefix}celery-taskset-meta-{gid}.j') == 1
        assert app.backend._stores_plainly and not backend._stores_plainly
        app.close()
        raw.delete(*raw.scan_iter(match=f'{prefix}*'))


class test_group_publishing:

    def test_members_are_written_in_group_order(self, redis_url, prefix, raw):
        # Given: a Redis broker.
        from celery import group
        app = Celery('t.unit.group_publish', set_as_current=False, broker=redis_url,
                     backend=redis_url, fixups=[])
        queue = f'{prefix}q'
        app.conf.task_default_queue = queue
        app.conf.result_backend_transport_options = {'global_keyprefix': prefix}
        add = app.task(name='t.unit.add7', shared=False)(lambda x: x)
        try:
            # When: a group of 250 is sent.
            result = group(add.s(i) for i in range(250)).apply_async()
            # Then: the queue holds every member, in group order.
            bodies = [json.loads(m) for m in raw.lrange(queue, 0, -1)]
            ids = [b['headers']['id'] for b in reversed(bodies)]
            assert ids == [r.id for r in result.results]
            assert [b['headers']['group_index'] for b in reversed(bodies)] == list(range(250))
        finally:
            raw.delete(queue, f'_kombu.binding.{queue}', f'_kombu.binding_permanent.{queue}')
            keys = list(raw.scan_iter(match=f'{prefix}*'))
            if keys:
                raw.delete(*keys)
            app.close()

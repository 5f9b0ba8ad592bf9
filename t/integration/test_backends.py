"""Result backends against real servers: Redis and PostgreSQL.

Each test uses its own key prefix (Redis ``global_keyprefix``) or its own
tables (PostgreSQL ``database_table_names``), so tests running at the same
time on the same servers never see each other's records.
"""
from __future__ import annotations

import json
import pickle
import socket
import threading
import uuid
from datetime import datetime

import pytest
import redis
import sqlalchemy as sa

from celery import Celery, states
from celery.app.task import Context
from celery.backends.database import DatabaseBackend
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError, TimeoutError

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def prefix() -> str:
    return f'itest-{uuid.uuid4().hex[:12]}:'


@pytest.fixture
def redis_app(redis_url, prefix):
    app = Celery('t.integration.backends', set_as_current=False, broker='memory://',
                 backend=redis_url, fixups=[])
    app.conf.result_backend_transport_options = {'global_keyprefix': prefix}
    yield app
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f'{prefix}*'))
    if keys:
        client.delete(*keys)
    client.close()
    app.close()


@pytest.fixture
def raw(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


class test_redis_records:

    def test_success_record_as_celery_writes_it(self, redis_app, raw, prefix):
        backend = redis_app.backend
        assert isinstance(backend, RedisBackend)
        task_id = str(uuid.uuid4())
        backend.store_result(task_id, 4, states.SUCCESS, request=Context(id=task_id))
        key = f'{prefix}celery-task-meta-{task_id}'
        meta = json.loads(raw.get(key))
        assert meta == {'status': 'SUCCESS', 'result': 4, 'traceback': None,
                        'children': [], 'date_done': meta['date_done'],
                        'task_id': task_id}
        assert datetime.fromisoformat(meta['date_done']).tzinfo is not None
        assert 0 < raw.ttl(key) <= 86400
        assert redis_app.AsyncResult(task_id).get(timeout=5) == 4

    def test_failure_record(self, redis_app, raw, prefix):
        task_id = str(uuid.uuid4())
        redis_app.backend.mark_as_failure(task_id, ValueError('bad', 1), traceback='tb')
        meta = json.loads(raw.get(f'{prefix}celery-task-meta-{task_id}'))
        assert meta['status'] == 'FAILURE' and meta['traceback'] == 'tb'
        assert meta['result'] == {'exc_type': 'ValueError', 'exc_message': ['bad', 1],
                                  'exc_module': 'builtins'}
        with pytest.raises(ValueError):
            redis_app.AsyncResult(task_id).get(timeout=5)

    def test_every_state_change_is_published(self, redis_app, raw, prefix):
        task_id = str(uuid.uuid4())
        pubsub = raw.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(f'{prefix}celery-task-meta-{task_id}')
        pubsub.get_message(timeout=1)
        redis_app.backend.mark_as_started(task_id, pid=1)
        redis_app.backend.mark_as_done(task_id, 'ok')
        statuses = []
        for _ in range(20):
            message = pubsub.get_message(timeout=1)
            if message:
                statuses.append(json.loads(message['data'])['status'])
            if len(statuses) == 2:
                break
        pubsub.close()
        assert statuses == ['STARTED', 'SUCCESS']

    def test_get_waits_on_pubsub(self, redis_app):
        task_id = str(uuid.uuid4())
        backend = redis_app.backend
        result = redis_app.AsyncResult(task_id)
        writer = Celery('t.integration.writer', set_as_current=False,
                        backend=redis_app.conf.result_backend)
        writer.conf.result_backend_transport_options = \
            redis_app.conf.result_backend_transport_options
        reads = []
        for name in ('get', 'mget'):
            original = getattr(backend, name)
            setattr(backend, name, lambda *a, _f=original, _n=name: reads.append(_n) or _f(*a))
        ticks = []

        def on_interval():
            # Given the task finishes in "another process" while we wait...
            ticks.append(1)
            if len(ticks) == 3:
                writer.backend.store_result(task_id, 'pushed', states.SUCCESS)
        # ...then the published record ends the wait, with no polling reads
        # besides the one catch-up read made when waiting starts.
        assert result.get(timeout=10, interval=0.05, on_interval=on_interval) == 'pushed'
        assert len(reads) == 1
        writer.close()

    def test_result_stored_before_subscribing_is_found(self, redis_app):
        task_id = str(uuid.uuid4())
        redis_app.backend.store_result(task_id, 7, states.SUCCESS)
        assert redis_app.AsyncResult(task_id).get(timeout=5) == 7

    def test_timeout(self, redis_app):
        with pytest.raises(TimeoutError):
            redis_app.AsyncResult(str(uuid.uuid4())).get(timeout=0.3)

    def test_group_native_join_and_records(self, redis_app, raw, prefix):
        ids = [str(uuid.uuid4()) for _ in range(3)]
        group = redis_app.GroupResult(str(uuid.uuid4()),
                                      [redis_app.AsyncResult(i) for i in ids])
        group.save()
        stored = json.loads(raw.get(f'{prefix}celery-taskset-meta-{group.id}'))
        assert stored == {'result': [[group.id, None], [[[i, None], None] for i in ids]]}

        def finish():
            for n, task_id in enumerate(reversed(ids)):
                redis_app.backend.store_result(task_id, n, states.SUCCESS)
        thread = threading.Thread(target=finish)
        thread.start()
        assert redis_app.GroupResult.restore(group.id).get(timeout=10) == [2, 1, 0]
        thread.join(5)

    def test_forget(self, redis_app, raw, prefix):
        task_id = str(uuid.uuid4())
        redis_app.backend.store_result(task_id, 1, states.SUCCESS)
        redis_app.AsyncResult(task_id).forget()
        assert raw.get(f'{prefix}celery-task-meta-{task_id}') is None

    def test_failures_can_expire_sooner(self, redis_url, raw, prefix):
        app = Celery('t.integration.failexp', set_as_current=False, backend=redis_url)
        app.conf.update(result_failure_expires=30, result_expires=3600,
                        result_backend_transport_options={'global_keyprefix': prefix})
        ok, bad = str(uuid.uuid4()), str(uuid.uuid4())
        app.backend.store_result(ok, 1, states.SUCCESS)
        app.backend.mark_as_failure(bad, ValueError('x'))
        assert 3000 < raw.ttl(f'{prefix}celery-task-meta-{ok}') <= 3600
        assert 0 < raw.ttl(f'{prefix}celery-task-meta-{bad}') <= 30
        app.close()

    def test_compressed_records(self, redis_url, raw, prefix):
        app = Celery('t.integration.gz', set_as_current=False, backend=redis_url)
        app.conf.update(result_compression='gzip',
                        result_backend_transport_options={'global_keyprefix': prefix})
        task_id = str(uuid.uuid4())
        app.backend.store_result(task_id, 'y' * 50, states.SUCCESS)
        assert raw.get(f'{prefix}celery-task-meta-{task_id}').startswith(
            b'\x00celery-compressed\x00application/x-gzip\x00')
        assert app.AsyncResult(task_id).get(timeout=5) == 'y' * 50
        app.close()

    def test_no_expiry(self, redis_url, raw, prefix):
        app = Celery('t.integration.noexp', set_as_current=False, backend=redis_url)
        app.conf.result_expires = None
        app.conf.result_backend_transport_options = {'global_keyprefix': prefix}
        task_id = str(uuid.uuid4())
        app.backend.store_result(task_id, 1, states.SUCCESS)
        assert raw.ttl(f'{prefix}celery-task-meta-{task_id}') == -1
        app.close()


class test_redis_pubsub_reconnect:

    def test_lost_pubsub_connection_is_restored(self, redis_url, raw, prefix):
        # Given: a waiting client whose pub/sub connection has a unique name.
        name = f'itest-{uuid.uuid4().hex[:8]}'
        app = Celery('t.integration.reconnect', set_as_current=False, backend=redis_url)
        app.conf.update(redis_client_name=name,
                        result_backend_transport_options={'global_keyprefix': prefix})
        task_id = str(uuid.uuid4())
        result = app.AsyncResult(task_id)
        killed = []

        def on_interval():
            # When: the server drops that connection, then the task finishes.
            if not killed:
                for client in raw.client_list():
                    if client.get('name') == name and int(client.get('sub', 0)) > 0:
                        raw.client_kill_filter(_id=client['id'])
                        killed.append(client['id'])
                app.backend.store_result(task_id, 'after-reconnect', states.SUCCESS)
        # Then: the client reconnects, catches up and gets the result.
        assert result.get(timeout=10, interval=0.05, on_interval=on_interval) == 'after-reconnect'
        assert killed
        app.close()


class test_redis_chord_counting:
    """The '.j', '.s' and '.t' keys a Celery 5 worker uses to count chord parts."""

    def test_parts_are_collected_in_a_sorted_set(self, redis_app, raw, prefix):
        backend = redis_app.backend
        gid = str(uuid.uuid4())
        backend.set_chord_size(gid, 3)
        assert raw.get(f'{prefix}celery-taskset-meta-{gid}.s') == b'3'
        backend.add_to_chord(gid, None)
        assert raw.get(f'{prefix}celery-taskset-meta-{gid}.t') == b'1'
        request = Context(id='t1', group=gid, group_index=1, chord=None)
        backend.on_chord_part_return(request, states.SUCCESS, 10)
        entries = raw.zrange(f'{prefix}celery-taskset-meta-{gid}.j', 0, -1, withscores=True)
        assert [(json.loads(e), s) for e, s in entries] == [([1, 't1', 'SUCCESS', 10], 1.0)]

    def test_unordered_chords_use_a_list(self, redis_url, raw, prefix):
        app = Celery('t.integration.list', set_as_current=False, backend=redis_url)
        app.conf.result_backend_transport_options = {
            'global_keyprefix': prefix, 'result_chord_ordered': False}
        gid = str(uuid.uuid4())
        app.backend.set_chord_size(gid, 2)
        app.backend.on_chord_part_return(Context(id='t1', group=gid, chord=None),
                                         states.SUCCESS, 'x')
        assert [json.loads(e) for e in raw.lrange(f'{prefix}celery-taskset-meta-{gid}.j',
                                                  0, -1)] == [[1, 't1', 'SUCCESS', 'x']]
        app.close()

    def test_parts_without_a_chord_size_are_not_counted(self, redis_app, raw, prefix):
        gid = str(uuid.uuid4())
        redis_app.backend.on_chord_part_return(Context(id='t1', group=gid, chord=None),
                                               states.SUCCESS, 1)
        assert raw.zcard(f'{prefix}celery-taskset-meta-{gid}.j') == 1
        redis_app.backend.on_chord_part_return(Context(id='t2', group=None, chord=None),
                                               states.SUCCESS, 1)

    def test_decoding_of_collected_parts(self, redis_app):
        backend = redis_app.backend
        entry = backend.encode([1, 'tid', states.SUCCESS, {'a': 1}])
        assert backend._unpack_chord_result(entry) == {'a': 1}
        failed = backend.encode([1, 'tid', states.FAILURE,
                                 backend.encode_result(KeyError('k'), states.FAILURE)])
        from celery.exceptions import ChordError
        with pytest.raises(ChordError, match='Dependency tid raised KeyError'):
            backend._unpack_chord_result(failed)


    def test_last_part_applies_the_body_in_group_order(self, redis_app, raw, prefix):
        # Given: a chord of three parts whose body runs in place.
        redis_app.conf.task_always_eager = True
        redis_app.conf.task_store_eager_result = True
        received = []

        @redis_app.task(name='t.integration.body', shared=False)
        def body(values):
            received.append(values)
        backend = redis_app.backend
        gid = str(uuid.uuid4())
        callback = dict(redis_app.signature('t.integration.body'))
        backend.set_chord_size(gid, 3)
        # When: the parts finish out of order.
        for index in (2, 0, 1):
            backend.mark_as_done(f't{index}', index * 10, request=Context(
                id=f't{index}', group=gid, group_index=index, chord=callback))
            if len(received) == 0:
                assert raw.exists(f'{prefix}celery-taskset-meta-{gid}.j')
        # Then: the body got the values in header order, the keys are gone
        # and the chord is marked done.
        assert received == [[0, 10, 20]]
        group_key = f'{prefix}celery-taskset-meta-{gid}'
        assert not raw.exists(*(f'{group_key}{s}' for s in ('.j', '.s', '.t', '.d')))
        assert raw.get(f'{group_key}.c') == b'done'
        # A late duplicate of a part changes nothing.
        backend.on_chord_part_return(Context(id='t1', group=gid, group_index=1,
                                             chord=callback), states.SUCCESS, 10)
        assert received == [[0, 10, 20]] and not raw.exists(f'{group_key}.j')

    def test_duplicate_parts_are_counted_once(self, redis_app, raw, prefix):
        backend = redis_app.backend
        gid = str(uuid.uuid4())
        backend.set_chord_size(gid, 2)
        request = Context(id='t0', group=gid, group_index=0, chord=None)
        backend.on_chord_part_return(request, states.SUCCESS, 1)
        backend.on_chord_part_return(request, states.SUCCESS, 1)
        group_key = f'{prefix}celery-taskset-meta-{gid}'
        assert raw.zcard(f'{group_key}.j') == 1
        assert raw.smembers(f'{group_key}.d') == {b't0:0'}
        assert raw.get(f'{group_key}.c') is None

    def test_failed_part_fails_the_body(self, redis_app):
        redis_app.conf.task_always_eager = True
        redis_app.conf.task_store_eager_result = True

        @redis_app.task(name='t.integration.body2', shared=False)
        def body(values):
            return values
        backend = redis_app.backend
        gid, body_id = str(uuid.uuid4()), str(uuid.uuid4())
        callback = dict(redis_app.signature('t.integration.body2',
                                            options={'task_id': body_id}))
        backend.set_chord_size(gid, 2)
        backend.mark_as_done('ok', 1, request=Context(id='ok', group=gid, group_index=0,
                                                      chord=callback))
        backend.mark_as_failure('bad', KeyError('k'), request=Context(
            id='bad', group=gid, group_index=1, chord=callback))
        result = redis_app.AsyncResult(body_id)
        from celery.exceptions import ChordError
        with pytest.raises(ChordError, match='Dependency bad raised'):
            result.get(timeout=5)


class test_redis_outages:

    def test_store_retries_then_gives_up(self, app):
        app.conf.update(result_backend=f'redis://127.0.0.1:{_free_port()}/0',
                        result_backend_always_retry=True, result_backend_max_retries=2,
                        result_backend_base_sleep_between_retries_ms=1,
                        result_backend_transport_options={'retry_policy': {'max_retries': 0}},
                        redis_socket_connect_timeout=0.5)
        backend = RedisBackend(app=app, url=app.conf.result_backend)
        sleeps = []
        backend._sleep = sleeps.append
        with pytest.raises(BackendStoreError):
            backend.store_result('t', 1, states.SUCCESS)
        assert len(sleeps) == 2

    def test_down_without_retry_is_a_connection_error(self, app):
        backend = RedisBackend(app=app, url=f'redis://127.0.0.1:{_free_port()}/0')
        app.conf.redis_socket_connect_timeout = 0.5
        with pytest.raises(redis.exceptions.ConnectionError):
            backend.get_task_meta('t')


def _engine(postgres_url):
    from celery.backends.database import _with_available_driver
    return sa.create_engine(_with_available_driver(postgres_url))


@pytest.fixture
def pg_app(postgres_url):
    suffix = uuid.uuid4().hex[:10]
    app = Celery('t.integration.pg', set_as_current=False, backend=f'db+{postgres_url}',
                 fixups=[])
    app.conf.database_table_names = {'task': f'taskmeta_{suffix}',
                                     'group': f'tasksetmeta_{suffix}'}
    yield app
    engine = _engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS taskmeta_{suffix}, tasksetmeta_{suffix}'))
    engine.dispose()
    app.close()


class test_postgres:

    def test_rows(self, pg_app, postgres_url):
        backend = pg_app.backend
        assert isinstance(backend, DatabaseBackend)
        task_id = str(uuid.uuid4())
        backend.mark_as_started(task_id, pid=1)
        backend.mark_as_done(task_id, {'v': 1})
        table = pg_app.conf.database_table_names['task']
        engine = _engine(postgres_url)
        with engine.connect() as conn:
            row = conn.execute(sa.text(f'SELECT * FROM {table}')).mappings().one()
        engine.dispose()
        assert row['task_id'] == task_id and row['status'] == 'SUCCESS'
        assert pickle.loads(row['result']) == {'v': 1}
        assert isinstance(row['date_done'], datetime)
        assert pg_app.AsyncResult(task_id).get(timeout=5, interval=0.05) == {'v': 1}

    def test_failure_and_group(self, pg_app):
        task_id = str(uuid.uuid4())
        pg_app.backend.mark_as_failure(task_id, KeyError('k'), traceback='tb')
        with pytest.raises(KeyError):
            pg_app.AsyncResult(task_id).get(timeout=5, interval=0.05)
        group = pg_app.GroupResult(str(uuid.uuid4()), [pg_app.AsyncResult(task_id)])
        group.save()
        assert pg_app.GroupResult.restore(group.id).results == group.results

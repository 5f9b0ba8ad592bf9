"""Result records between real Celery 5 and this project, both ways.

Real Celery (its own venv, see ``conftest.py``) writes records with its
backend and we read them through our :class:`~celery.result.AsyncResult`;
then we write and it reads.  Redis records use a unique ``global_keyprefix``
per test; chords are completed half by each side; RPC replies cross over
through a Redis broker.
"""
from __future__ import annotations

import threading
import uuid
from datetime import datetime

import pytest
from kombu import Connection

from celery import Celery, states
from celery.app.task import Context
from celery.exceptions import ChordError, TaskRevokedError

pytestmark = pytest.mark.interop

# -- snippets run by real Celery ---------------------------------------------------

_PRELUDE = r'''
import json, os
from celery import Celery
from celery.app.task import Context
spec = json.loads(os.environ['INTEROP_SPEC'])
app = Celery('proj', broker=spec.get('broker'), backend=spec['backend'], set_as_current=False)
app.conf.result_backend_transport_options = {'global_keyprefix': spec.get('prefix', '')}
app.conf.result_extended = spec.get('extended', False)
app.conf.result_compression = spec.get('compression')
backend = app.backend
ids = spec.get('ids', {})

class ProjError(Exception):
    """Only the real side knows this class."""
'''

#: Write one record of each kind.
REAL_WRITE = _PRELUDE + r'''
request = Context(id=ids['ok'], task='proj.add', args=[2, 2], kwargs={'z': 1},
                  hostname='real@host', retries=1,
                  delivery_info={'routing_key': 'celery'})
request.children.append(app.AsyncResult(ids['child']))
backend.store_result(ids['ok'], {'sum': 4, 'items': [1, 'two']}, 'SUCCESS', request=request)
backend.mark_as_failure(ids['failed'], ValueError('bad value', 7), traceback='Traceback: real')
backend.mark_as_failure(ids['custom'], ProjError('only real knows'))
backend.mark_as_started(ids['started'], pid=42, hostname='real@host')
backend.mark_as_revoked(ids['revoked'], 'terminated')
backend.store_result(ids['progress'], {'current': 3, 'total': 10}, 'PROGRESS')
app.GroupResult(ids['group'], [app.AsyncResult(ids['ok']),
                               app.AsyncResult(ids['failed'])]).save()
print(json.dumps('ok'))
'''

#: Read records written by us; report what real Celery sees.
REAL_READ = _PRELUDE + r'''
out = {}
for name in ('ok', 'failed', 'custom', 'started', 'revoked', 'progress'):
    r = app.AsyncResult(ids[name])
    value = r.result
    entry = {'state': r.state, 'ready': r.ready()}
    if isinstance(value, BaseException):
        entry['exc'] = [type(value).__module__, type(value).__name__, list(value.args)]
    else:
        entry['value'] = value
    if name == 'ok':
        entry.update(get=r.get(timeout=5), date_done=r.date_done.isoformat(),
                     name=r.name, args=r.args, kwargs=r.kwargs, worker=r.worker,
                     retries=r.retries, queue=r.queue,
                     children=[c.id for c in r.children])
    if name == 'failed':
        try:
            r.get(timeout=5)
        except ValueError as exc:
            entry['raised'] = list(exc.args)
        entry['traceback'] = r.traceback
    out[name] = entry
group = app.GroupResult.restore(ids['group'])
out['group'] = [r.id for r in group.results]
print(json.dumps(out))
'''

#: Record one finished chord part (optionally setting the chord size first).
REAL_CHORD_PART = _PRELUDE + r'''
if spec.get('size'):
    backend.set_chord_size(spec['gid'], spec['size'])
body = app.signature('proj.body', options={'queue': spec['queue']})
request = Context(id=spec['task_id'], group=spec['gid'], group_index=spec['index'],
                  chord=dict(body), delivery_info={})
if spec.get('fail'):
    backend.mark_as_failure(spec['task_id'], KeyError('part failed'), request=request)
else:
    backend.mark_as_done(spec['task_id'], spec['value'], request=request)
print(json.dumps('ok'))
'''

#: Send a task with the RPC backend and wait for its reply.
REAL_RPC_CLIENT = r'''
import json, os, sys
from celery import Celery
spec = json.loads(os.environ['INTEROP_SPEC'])
app = Celery('proj', broker=spec['broker'], backend='rpc://', set_as_current=False)
result = app.send_task('proj.add', (2, 2), queue=spec['queue'])
try:
    value = result.get(timeout=20)
except Exception as exc:
    value = repr(exc)
print(json.dumps({'id': result.id, 'value': value, 'state': result.state}))
'''

#: Act as the worker for one RPC task: take it off the queue and reply.
REAL_RPC_REPLIER = r'''
import json, os
from celery import Celery
from celery.app.task import Context
spec = json.loads(os.environ['INTEROP_SPEC'])
app = Celery('proj', broker=spec['broker'], backend='rpc://', set_as_current=False)
with app.connection_for_read() as conn:
    queue = conn.SimpleQueue(spec['queue'])
    message = queue.get(timeout=20)
    props = message.properties
    request = Context(id=message.headers['id'], reply_to=props['reply_to'],
                      correlation_id=props['correlation_id'])
    app.backend.mark_as_done(request.id, sum(message.payload[0]), request=request)
    message.ack()
    queue.close()
print(json.dumps(request.id))
'''


def _ids() -> dict:
    names = ('ok', 'failed', 'custom', 'started', 'revoked', 'progress', 'group', 'child')
    return {name: str(uuid.uuid4()) for name in names}


@pytest.fixture
def prefix() -> str:
    return f'interop-{uuid.uuid4().hex[:10]}:'


@pytest.fixture
def our_app(redis_url, prefix):
    app = Celery('proj', set_as_current=False, broker=redis_url, backend=redis_url, fixups=[])
    app.conf.result_backend_transport_options = {'global_keyprefix': prefix}
    yield app
    import redis
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f'{prefix}*'))
    if keys:
        client.delete(*keys)
    client.close()
    app.close()


class test_real_writes_we_read:

    def test_redis_records(self, real_celery, our_app, redis_url, prefix):
        ids = _ids()
        real_celery.run(REAL_WRITE, {'backend': redis_url, 'prefix': prefix, 'ids': ids,
                                     'extended': True})
        ok = our_app.AsyncResult(ids['ok'])
        assert ok.get(timeout=5) == {'sum': 4, 'items': [1, 'two']}
        assert ok.state == states.SUCCESS and ok.successful()
        assert isinstance(ok.date_done, datetime) and ok.date_done.tzinfo is not None
        assert (ok.name, ok.args, ok.kwargs, ok.worker, ok.retries, ok.queue) == (
            'proj.add', [2, 2], {'z': 1}, 'real@host', 1, 'celery')
        assert [child.id for child in ok.children] == [ids['child']]

        failed = our_app.AsyncResult(ids['failed'])
        with pytest.raises(ValueError) as info:
            failed.get(timeout=5)
        assert info.value.args == ('bad value', 7)
        assert failed.traceback == 'Traceback: real' and failed.failed()

        custom = our_app.AsyncResult(ids['custom'])
        with pytest.raises(Exception) as info:
            custom.get(timeout=5)
        assert type(info.value).__name__ == 'ProjError'
        assert info.value.args == ('only real knows',)

        started = our_app.AsyncResult(ids['started'])
        assert started.state == states.STARTED and not started.ready()
        assert started.info == {'pid': 42, 'hostname': 'real@host'}

        revoked = our_app.AsyncResult(ids['revoked'])
        with pytest.raises(TaskRevokedError):
            revoked.get(timeout=5)

        progress = our_app.AsyncResult(ids['progress'])
        assert progress.state == 'PROGRESS' and progress.info == {'current': 3, 'total': 10}

        group = our_app.GroupResult.restore(ids['group'])
        assert [r.id for r in group.results] == [ids['ok'], ids['failed']]
        assert group.completed_count() == 1 and group.failed()

    def test_compressed_records(self, real_celery, our_app, redis_url, prefix):
        ids = _ids()
        real_celery.run(REAL_WRITE, {'backend': redis_url, 'prefix': prefix, 'ids': ids,
                                     'compression': 'gzip'})
        assert our_app.AsyncResult(ids['ok']).get(timeout=5) == {'sum': 4, 'items': [1, 'two']}

    def test_filesystem_records(self, real_celery, tmp_path):
        ids = _ids()
        real_celery.run(REAL_WRITE, {'backend': f'file://{tmp_path}', 'ids': ids})
        ours = Celery('proj', set_as_current=False, backend=f'file://{tmp_path}')
        assert ours.AsyncResult(ids['ok']).get(timeout=5) == {'sum': 4, 'items': [1, 'two']}
        with pytest.raises(ValueError):
            ours.AsyncResult(ids['failed']).get(timeout=5)
        assert ours.GroupResult.restore(ids['group']).results[0].id == ids['ok']


class OursOnly(Exception):
    """Only this side knows this class."""


def _write_ours(app, ids):
    backend = app.backend
    request = Context(id=ids['ok'], task='proj.add', args=[2, 2], kwargs={'z': 1},
                      hostname='ours@host', retries=1, delivery_info={'routing_key': 'celery'})
    request.children.append(app.AsyncResult(ids['child']))
    backend.store_result(ids['ok'], {'sum': 4}, states.SUCCESS, request=request)
    backend.mark_as_failure(ids['failed'], ValueError('bad value', 7), traceback='Traceback: ours')
    backend.mark_as_failure(ids['custom'], OursOnly('only we know'))
    backend.mark_as_started(ids['started'], pid=7, hostname='ours@host')
    backend.mark_as_revoked(ids['revoked'], 'terminated')
    backend.store_result(ids['progress'], {'current': 1}, 'PROGRESS')
    app.GroupResult(ids['group'], [app.AsyncResult(ids['ok']),
                                   app.AsyncResult(ids['failed'])]).save()


class test_we_write_real_reads:

    def check(self, seen, ids):
        ok = seen['ok']
        assert ok['state'] == 'SUCCESS' and ok['get'] == {'sum': 4} and ok['ready']
        assert datetime.fromisoformat(ok['date_done']).tzinfo is not None
        assert (ok['name'], ok['args'], ok['kwargs'], ok['worker'], ok['retries'],
                ok['queue']) == ('proj.add', [2, 2], {'z': 1}, 'ours@host', 1, 'celery')
        assert ok['children'] == [ids['child']]
        failed = seen['failed']
        assert failed['state'] == 'FAILURE' and failed['raised'] == ['bad value', 7]
        assert failed['exc'] == ['builtins', 'ValueError', ['bad value', 7]]
        assert failed['traceback'] == 'Traceback: ours'
        assert seen['custom']['exc'][1:] == ['OursOnly', ['only we know']]
        assert seen['started'] == {'state': 'STARTED', 'ready': False,
                                   'value': {'pid': 7, 'hostname': 'ours@host'}}
        assert seen['revoked']['state'] == 'REVOKED'
        assert seen['revoked']['exc'][1:] == ['TaskRevokedError', ['terminated']]
        assert seen['progress']['value'] == {'current': 1}
        assert seen['group'] == [ids['ok'], ids['failed']]

    def test_redis_records(self, real_celery, our_app, redis_url, prefix):
        ids = _ids()
        our_app.conf.result_extended = True  # before the backend is first used
        _write_ours(our_app, ids)
        seen = real_celery.run(REAL_READ, {'backend': redis_url, 'prefix': prefix,
                                           'ids': ids, 'extended': True})
        self.check(seen, ids)

    def test_compressed_records(self, real_celery, redis_url, prefix):
        ids = _ids()
        app = Celery('proj', set_as_current=False, backend=redis_url)
        app.conf.update(result_compression='gzip', result_extended=True,
                        result_backend_transport_options={'global_keyprefix': prefix})
        try:
            _write_ours(app, ids)
            seen = real_celery.run(REAL_READ, {'backend': redis_url, 'prefix': prefix,
                                               'ids': ids, 'extended': True})
            self.check(seen, ids)
        finally:
            import redis
            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f'{prefix}*'))
            if keys:
                client.delete(*keys)
            app.close()

    def test_filesystem_records(self, real_celery, tmp_path):
        ids = _ids()
        app = Celery('proj', set_as_current=False, backend=f'file://{tmp_path}')
        app.conf.result_extended = True
        _write_ours(app, ids)
        seen = real_celery.run(REAL_READ, {'backend': f'file://{tmp_path}', 'ids': ids,
                                           'extended': True})
        self.check(seen, ids)


class test_mixed_chords:
    """A chord whose header parts finish half on real Celery, half on ours."""

    def body_message(self, redis_url, queue):
        with Connection(redis_url) as conn:
            simple = conn.SimpleQueue(queue)
            try:
                message = simple.get(timeout=10)
                message.ack()
                return message.headers['task'], message.decode()[0]
            finally:
                simple.close()

    def spec(self, redis_url, prefix, gid, queue, task_id, index, **extra):
        return dict(broker=redis_url, backend=redis_url, prefix=prefix, gid=gid,
                    queue=queue, task_id=task_id, index=index, **extra)

    def our_part(self, app, gid, queue, task_id, index, value=None, fail=False):
        body = app.signature('proj.body', options={'queue': queue})
        request = Context(id=task_id, group=gid, group_index=index, chord=dict(body),
                          delivery_info={})
        if fail:
            app.backend.mark_as_failure(task_id, KeyError('part failed'), request=request)
        else:
            app.backend.mark_as_done(task_id, value, request=request)

    def test_real_starts_we_finish(self, real_celery, our_app, redis_url, prefix):
        gid, queue = str(uuid.uuid4()), f'interop-body-{uuid.uuid4().hex[:8]}'
        real_celery.run(REAL_CHORD_PART, self.spec(redis_url, prefix, gid, queue,
                                                   'part-1', 1, value='b', size=2))
        self.our_part(our_app, gid, queue, 'part-0', 0, value='a')
        assert self.body_message(redis_url, queue) == ('proj.body', [['a', 'b']])

    def test_we_start_real_finishes(self, real_celery, our_app, redis_url, prefix):
        gid, queue = str(uuid.uuid4()), f'interop-body-{uuid.uuid4().hex[:8]}'
        our_app.backend.set_chord_size(gid, 3)
        self.our_part(our_app, gid, queue, 'part-2', 2, value=30)
        self.our_part(our_app, gid, queue, 'part-0', 0, value=10)
        real_celery.run(REAL_CHORD_PART, self.spec(redis_url, prefix, gid, queue,
                                                   'part-1', 1, value=20))
        assert self.body_message(redis_url, queue) == ('proj.body', [[10, 20, 30]])

    def test_failed_part_from_real_fails_our_body(self, real_celery, our_app, redis_url,
                                                  prefix):
        gid, queue = str(uuid.uuid4()), f'interop-body-{uuid.uuid4().hex[:8]}'
        body_id = str(uuid.uuid4())
        our_app.backend.set_chord_size(gid, 2)
        real_celery.run(REAL_CHORD_PART, self.spec(redis_url, prefix, gid, queue,
                                                   'bad-part', 0, fail=True))
        body = our_app.signature('proj.body', options={'queue': queue, 'task_id': body_id})
        our_app.backend.mark_as_done('good-part', 1, request=Context(
            id='good-part', group=gid, group_index=1, chord=dict(body), delivery_info={}))
        with pytest.raises(ChordError, match='Dependency bad-part raised'):
            our_app.AsyncResult(body_id).get(timeout=5)


class test_rpc_replies:

    def test_real_client_our_reply(self, real_celery, redis_url):
        queue = f'interop-rpc-{uuid.uuid4().hex[:8]}'
        app = Celery('proj', set_as_current=False, broker=redis_url, backend='rpc://')
        outcome = {}
        client = threading.Thread(target=lambda: outcome.update(real_celery.run(
            REAL_RPC_CLIENT, {'broker': redis_url, 'queue': queue})))
        client.start()
        try:
            with app.connection_for_read() as conn:
                simple = conn.SimpleQueue(queue)
                message = simple.get(timeout=30)
                props = message.properties
                request = Context(id=message.headers['id'], reply_to=props['reply_to'],
                                  correlation_id=props['correlation_id'])
                app.backend.mark_as_done(request.id, sum(message.decode()[0]),
                                         request=request)
                message.ack()
                simple.close()
        finally:
            client.join(60)
            app.close()
        assert outcome == {'id': request.id, 'value': 4, 'state': 'SUCCESS'}

    def test_our_client_real_reply(self, real_celery, redis_url):
        queue = f'interop-rpc-{uuid.uuid4().hex[:8]}'
        app = Celery('proj', set_as_current=False, broker=redis_url, backend='rpc://')
        try:
            result = app.send_task('proj.add', (2, 2), queue=queue)
            replied = real_celery.run(REAL_RPC_REPLIER, {'broker': redis_url, 'queue': queue})
            assert replied == result.id
            assert result.get(timeout=10) == 4
            assert result.state == states.SUCCESS
        finally:
            app.close()


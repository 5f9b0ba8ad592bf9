"""The RPC backend over kombu's memory transport: replies on the client's queue."""
from __future__ import annotations

import pytest

from celery import Celery, states, uuid
from celery.app.task import Context
from celery.backends.rpc import RPCBackend
from celery.exceptions import TimeoutError


@pytest.fixture
def rpc_app():
    app = Celery('t.rpc', set_as_current=False, broker='memory://', backend='rpc://',
                 fixups=[])
    app.conf.task_default_queue = f'rpc-{uuid()}'

    @app.task(name='t.rpc.add')
    def add(x, y):
        return x + y
    yield app
    app.close()


def worker_request(app, result):
    """The request a worker would build for ``result``'s task message."""
    return Context(id=result.id, reply_to=app.thread_oid, correlation_id=result.id)


class test_RPCBackend:

    def test_is_selected_by_url(self, rpc_app):
        backend = rpc_app.backend
        assert isinstance(backend, RPCBackend)
        assert backend.as_uri() == 'rpc://' and backend.oid == rpc_app.thread_oid
        queue = backend.binding
        assert queue.name == rpc_app.thread_oid and queue.auto_delete
        assert queue.durable and queue.exchange.name == ''

    def test_round_trip(self, rpc_app):
        result = rpc_app.tasks['t.rpc.add'].delay(2, 2)
        assert result.state == states.PENDING
        backend = rpc_app.backend
        request = worker_request(rpc_app, result)
        backend.store_result(result.id, {'pid': 1}, states.STARTED, request=request)
        assert result.state == states.STARTED and result.info == {'pid': 1}
        backend.mark_as_done(result.id, 4, request=request)
        assert result.get(timeout=5) == 4
        assert result.successful()

    def test_failure(self, rpc_app):
        result = rpc_app.tasks['t.rpc.add'].delay(1, 1)
        rpc_app.backend.mark_as_failure(result.id, ZeroDivisionError('z'), traceback='tb',
                                        request=worker_request(rpc_app, result))
        with pytest.raises(ZeroDivisionError):
            result.get(timeout=5)
        assert result.traceback == 'tb'

    def test_reply_message_layout(self, rpc_app):
        result = rpc_app.tasks['t.rpc.add'].delay(1, 1)
        rpc_app.backend.mark_as_done(result.id, 2, request=worker_request(rpc_app, result))
        with rpc_app.connection_for_read() as conn:
            message = rpc_app.backend.binding(conn.default_channel).get(accept=['json'])
        assert message.properties['correlation_id'] == result.id
        payload = message.payload
        assert list(payload) == ['status', 'result', 'traceback', 'children',
                                 'date_done', 'task_id']
        assert payload['task_id'] == result.id and payload['status'] == 'SUCCESS'
        assert payload['result'] == 2 and payload['children'] == []
        assert payload['traceback'] is None and payload['date_done']

    def test_group_join(self, rpc_app):
        add = rpc_app.tasks['t.rpc.add']
        results = [add.delay(i, i) for i in range(3)]
        for res in reversed(results):
            rpc_app.backend.mark_as_done(res.id, res.id, request=worker_request(rpc_app, res))
        group = rpc_app.GroupResult(uuid(), results)
        assert group.get(timeout=5) == [r.id for r in results]

    def test_timeout(self, rpc_app):
        result = rpc_app.tasks['t.rpc.add'].delay(1, 1)
        with pytest.raises(TimeoutError):
            result.get(timeout=0.1, interval=0.02)

    def test_no_reply_to_means_no_message(self, rpc_app):
        assert rpc_app.backend.store_result('x', 1, states.SUCCESS,
                                            request=Context(id='x')) == 1

    def test_without_request_outside_a_task(self, rpc_app):
        with pytest.raises(RuntimeError, match='missing task request'):
            rpc_app.backend.store_result('x', 1, states.SUCCESS)

    def test_groups_and_chords_are_not_supported(self, rpc_app):
        backend = rpc_app.backend
        with pytest.raises(NotImplementedError, match='chords'):
            backend.ensure_chords_allowed()
        for call in (lambda: backend.save_group('g', None), lambda: backend.restore_group('g'),
                     lambda: backend.delete_group('g'), lambda: backend.reload_task_result('t')):
            with pytest.raises(NotImplementedError):
                call()

    def test_result_arriving_before_anyone_waits_is_buffered(self, rpc_app):
        add = rpc_app.tasks['t.rpc.add']
        first, second = add.delay(1, 1), add.delay(2, 2)
        backend = rpc_app.backend
        backend.mark_as_done(second.id, 4, request=worker_request(rpc_app, second))
        backend.mark_as_done(first.id, 2, request=worker_request(rpc_app, first))
        assert first.get(timeout=5) == 2
        assert rpc_app.AsyncResult(second.id).get(timeout=5) == 4

    def test_foreign_reply_is_ignored(self, rpc_app):
        result = rpc_app.tasks['t.rpc.add'].delay(1, 1)
        with rpc_app.producer_or_acquire() as producer:
            producer.publish({'hello': 'world'}, routing_key=rpc_app.thread_oid,
                             serializer='json')
        rpc_app.backend.mark_as_done(result.id, 2, request=worker_request(rpc_app, result))
        assert result.get(timeout=5) == 2

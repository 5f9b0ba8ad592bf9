"""Calling tasks across a mixed fleet: one package's client, the other's worker.

Each test runs the same client snippet in both directions (real Celery's
client calling our worker, and ours calling a real worker), on both brokers
(``mx_fleet``: Redis, and RabbitMQ with the Redis backend).  The worker side
is proved by the hostname the task reports.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

from _fleet import OTHER, Fleet

from t.waiting import wait_for

pytestmark = pytest.mark.interop


@pytest.fixture(params=['real', 'ours'], ids=['real-calls-ours', 'ours-calls-real'])
def call(request: Any, mx_fleet: Fleet) -> Any:
    """``call(code, **spec)`` runs ``code`` in one side's client against the other's worker."""
    client, worker = request.param, OTHER[request.param]

    def run(code: str, **spec: Any) -> Any:
        spec.update(worker=worker, node=mx_fleet.nodes[worker])
        return mx_fleet.clients[client].run(code, spec)
    run.client, run.worker, run.fleet = client, worker, mx_fleet
    return run


def test_plain_result(call):
    out = call('''
        r = app.tasks['mx.%s.add' % spec['worker']].delay(2, 3)
        s = app.send_task('mx.%s.info' % spec['worker'], (1, 'two'), {'k': [3]})
        out = {'value': r.get(timeout=15), 'state': r.state, 'info': s.get(timeout=15),
               'sid': s.id}
    ''')
    assert out['value'] == 5 and out['state'] == 'SUCCESS'
    info = out['info']
    assert info['hostname'] == call.fleet.nodes[call.worker]
    assert (info['args'], info['kwargs'], info['id']) == ([1, 'two'], {'k': [3]}, out['sid'])


def test_worker_logs_received_and_succeeded(call):
    """At ``-l info`` a worker logs each task's arrival and its outcome."""
    task_id = call('''
        r = app.send_task('mx.%s.add' % spec['worker'], (1, 2))
        r.get(timeout=15)
        out = r.id
    ''')
    log = call.fleet.workers[call.worker]
    name = re.escape(f'Task mx.{call.worker}.add[{task_id}]')
    log.wait_for_log(rf'INFO/MainProcess\] {name} received$', timeout=5)
    log.wait_for_log(rf'INFO/ForkPoolWorker-\d+\] {name} succeeded in [\d.e-]+s: 3$', timeout=5)


def test_exceptions_reach_the_caller(call):
    out = call('''
        out = {}
        for name in ('fail', 'fail_custom'):
            r = app.send_task('mx.%s.%s' % (spec['worker'], name), ('boom', ))
            try:
                r.get(timeout=15)
            except Exception as exc:
                out[name] = {'type': type(exc).__name__, 'module': type(exc).__module__,
                             'args': list(exc.args), 'state': r.state,
                             'traceback': r.traceback or ''}
    ''')
    assert out['fail']['type'] == 'ValueError' and out['fail']['module'] == 'builtins'
    assert out['fail']['args'] == ['boom'] and out['fail']['state'] == 'FAILURE'
    assert 'ValueError' in out['fail']['traceback']
    custom = out['fail_custom']
    assert (custom['type'], custom['module'], custom['args']) == (
        'MxError', call.fleet.module, ['boom'])


def test_retries(call):
    out = call('''
        r = app.send_task('mx.%s.flaky' % spec['worker'], (2,))
        out = {'value': r.get(timeout=20), 'retries': r.retries}
    ''')
    assert out['value'] == {'retries': 2, 'hostname': call.fleet.nodes[call.worker]}
    assert out['retries'] == 2


def test_countdown_and_eta(call):
    out = call('''
        from datetime import datetime, timedelta, timezone
        sent = time.time()
        a = app.send_task('mx.%s.info' % spec['worker'], countdown=1.5)
        eta = datetime.now(timezone.utc) + timedelta(seconds=1.5)
        b = app.send_task('mx.%s.info' % spec['worker'], eta=eta)
        out = {'sent': sent, 'countdown': a.get(timeout=20), 'eta': b.get(timeout=20),
               'eta_ts': eta.timestamp()}
    ''')
    assert out['countdown']['ran_at'] >= out['sent'] + 1.4
    assert out['countdown']['eta'] is not None
    assert out['eta']['ran_at'] >= out['eta_ts'] - 0.1
    assert out['eta']['eta'] is not None


def test_expires(call):
    out = call('''
        from datetime import datetime, timedelta, timezone
        from celery.exceptions import TaskRevokedError
        past = app.send_task('mx.%s.info' % spec['worker'],
                             expires=datetime.now(timezone.utc) - timedelta(seconds=30))
        late = app.send_task('mx.%s.info' % spec['worker'], countdown=1.5, expires=0.5)
        fine = app.send_task('mx.%s.info' % spec['worker'], expires=60)
        out = {'fine': fine.get(timeout=15)}
        for name, r in (('past', past), ('late', late)):
            try:
                out[name] = r.get(timeout=15)
            except TaskRevokedError as exc:
                out[name] = ['revoked', r.state]
    ''')
    assert out['past'] == ['revoked', 'REVOKED']
    assert out['late'] == ['revoked', 'REVOKED']
    assert out['fine']['expires'] is not None


def test_priority(call):
    out = call('''
        out = app.send_task('mx.%s.info' % spec['worker'], priority=7).get(timeout=15)
    ''')
    assert out['priority'] == 7


def test_custom_headers(call):
    """Headers the caller adds reach the task as request attributes and ``request.headers``."""
    out = call('''
        r = app.send_task('mx.%s.info' % spec['worker'], headers={'mx_header': 'hello'})
        out = r.get(timeout=15)
    ''')
    assert out['mx_header'] == 'hello'
    assert out['headers_mx_header'] == 'hello'


def test_shadow_name(call):
    out = call('''
        r = app.tasks['mx.%s.info' % spec['worker']].apply_async(shadow='mx.shadowed')
        out = {'info': r.get(timeout=15), 'id': r.id}
    ''')
    assert out['info']['shadow'] == 'mx.shadowed'
    worker = call.fleet.workers[call.worker]
    worker.wait_for_log(re.escape(f'mx.shadowed[{out["id"]}] succeeded'), timeout=10)


def test_ignore_result(call):
    out = call('''
        r = app.send_task('mx.%s.note' % spec['worker'], ('ignored',), ignore_result=True)
        k = app.send_task('mx.%s.note' % spec['worker'], ('kept',))
        out = {'ignored': r.id, 'kept': k.id, 'kept_value': k.get(timeout=15)}
    ''')
    fleet = call.fleet
    assert out['kept_value'] == 'kept'
    worker = fleet.workers[call.worker]
    worker.wait_for_log(re.escape(f'[{out["ignored"]}] succeeded'), timeout=15)
    assert [r['id'] for r in fleet.read('ignored') if r['id'] == out['ignored']]
    assert fleet.backend_keys([out['ignored'], out['kept']]) == [out['kept']]


def test_protocol_1_messages(call):
    out = call('''
        p1 = Celery('mx_p1', broker=app.conf.broker_url, backend=app.conf.result_backend,
                    set_as_current=False)
        p1.conf.update(task_protocol=1, task_routes=app.conf.task_routes)
        try:
            r = p1.send_task('mx.%s.info' % spec['worker'], (1, 2), {'k': 'v'}, countdown=0.2)
            f = p1.send_task('mx.%s.fail' % spec['worker'], ('p1 boom',))
            out = {'info': r.get(timeout=15), 'id': r.id}
            try:
                f.get(timeout=15)
            except ValueError as exc:
                out['failed'] = list(exc.args)
        finally:
            p1.close()
    ''')
    info = out['info']
    assert info['hostname'] == call.fleet.nodes[call.worker]
    assert (info['args'], info['kwargs'], info['id']) == ([1, 2], {'k': 'v'}, out['id'])
    assert info['eta'] is not None
    assert out['failed'] == ['p1 boom']


def test_workers_outlive_bad_calls(call):
    """After everything above, the worker on the other side still serves."""
    out = call('''
        out = app.send_task('mx.%s.add' % spec['worker'], (20, 22)).get(timeout=15)
    ''')
    assert out == 42
    assert wait_for(call.fleet.workers[call.worker].alive, 1, what='the worker to be alive')

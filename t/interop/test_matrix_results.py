"""Result records of a mixed fleet, written by one package and read by the other.

Single records are covered by ``test_results.py``; this module covers what
the fleet's workers write in real runs: group results saved and restored
across packages, and the ``result_extended`` fields, compared field for
field and key for key in the raw Redis records.
"""
from __future__ import annotations

import json
import re

import pytest

from _fleet import OTHER, SIDES, Fleet

pytestmark = pytest.mark.interop

SAVE_GROUP = '''
g = group([app.signature('mx.%s.add' % side, (i, i)) for i, side in enumerate(spec['sides'])]
          + [app.signature('mx.%s.fail' % spec['sides'][0], ('in group',))])
r = g.apply_async()
deadline = time.monotonic() + 20
while not r.ready() and time.monotonic() < deadline:
    time.sleep(0.05)
r.save()
out = {'id': r.id, 'children': [c.id for c in r.results]}
'''

RESTORE_GROUP = '''
r = app.GroupResult.restore(spec['id'])
out = {'id': r.id, 'children': [c.id for c in r.results], 'ready': r.ready(),
       'completed': r.completed_count(), 'failed': r.failed(),
       'successful': r.successful(),
       'values': r.join(timeout=10, propagate=False),
       'workers': [c.worker for c in r.results]}
out['values'] = [v if not isinstance(v, Exception) else [type(v).__name__, list(v.args)]
                 for v in out['values']]
r.forget() if spec.get('forget') else None
'''


def _raw(fleet: Fleet, key: str) -> dict:
    import redis
    client = redis.Redis.from_url(fleet.backend)
    try:
        raw = client.get(key)
    finally:
        client.close()
    assert raw is not None, f'no record {key}'
    return json.loads(raw)


@pytest.mark.parametrize('saver', SIDES, ids=['ours-saves', 'real-saves'])
def test_group_result_saved_by_one_restored_by_other(mx_fleet, saver):
    sides = ['ours', 'real', 'ours', 'real']
    saved = mx_fleet.clients[saver].run(SAVE_GROUP, {'sides': sides})
    seen = mx_fleet.clients[OTHER[saver]].run(RESTORE_GROUP, {'id': saved['id']})
    assert seen['id'] == saved['id'] and seen['children'] == saved['children']
    assert seen['ready'] and seen['failed'] and not seen['successful']
    assert seen['completed'] == 4
    assert seen['values'] == [0, 2, 4, 6, ['ValueError', ['in group']]]
    nodes = mx_fleet.nodes
    assert seen['workers'] == [nodes[s] for s in sides] + [nodes[sides[0]]]


def test_group_records_have_the_same_shape(mx_fleet):
    ids = {side: mx_fleet.clients[side].run(SAVE_GROUP, {'sides': ['ours', 'real']})['id']
           for side in SIDES}
    records = {side: _raw(mx_fleet, f'celery-taskset-meta-{gid}') for side, gid in ids.items()}
    assert set(records['ours']) == set(records['real']) == {'result'}
    for side, gid in ids.items():
        head, children = records[side]['result']
        assert head == [gid, None]
        assert [len(child) for child in children] == [2, 2, 2]


def test_group_deleted_by_the_other_side(mx_fleet):
    saved = mx_fleet.clients['real'].run(SAVE_GROUP, {'sides': ['ours']})
    mx_fleet.clients['ours'].run("app.GroupResult.restore(spec['id']).delete()",
                                 {'id': saved['id']})
    assert mx_fleet.clients['real'].run(
        "out = app.GroupResult.restore(spec['id']) is None", {'id': saved['id']})


EXTENDED = '''
r = app.send_task('mx.%s.info' % spec['worker'], (1, 'a'), {'k': {'n': 2}})
r.get(timeout=15)
fresh = app.AsyncResult(r.id)
out = {'id': r.id, 'name': fresh.name, 'args': fresh.args, 'kwargs': fresh.kwargs,
       'worker': fresh.worker, 'queue': fresh.queue, 'retries': fresh.retries,
       'date_done': fresh.date_done.isoformat(), 'state': fresh.state,
       'aware': fresh.date_done.tzinfo is not None}
'''


@pytest.mark.parametrize('worker', SIDES, ids=['ours-writes', 'real-writes'])
def test_extended_fields_read_by_the_other_side(mx_fleet, worker):
    out = mx_fleet.clients[OTHER[worker]].run(EXTENDED, {'worker': worker})
    assert out['name'] == f'mx.{worker}.info' and out['state'] == 'SUCCESS'
    assert (out['args'], out['kwargs']) == ([1, 'a'], {'k': {'n': 2}})
    assert out['worker'] == mx_fleet.nodes[worker]
    assert out['queue'] == mx_fleet.queues[worker]
    assert out['retries'] == 0 and out['aware']


def test_extended_records_have_the_same_shape(mx_fleet):
    """The raw records of the same call, run by each side's worker, match key for key."""
    records = {}
    for side in SIDES:
        out = mx_fleet.clients[side].run(EXTENDED, {'worker': side})
        records[side] = _raw(mx_fleet, f'celery-task-meta-{out["id"]}')
    ours, real = records['ours'], records['real']
    assert sorted(ours) == sorted(real)
    for key in ('status', 'args', 'kwargs', 'retries', 'traceback', 'children', 'parent_id'):
        assert ours.get(key) == real.get(key), key
    assert (ours['name'], real['name']) == ('mx.ours.info', 'mx.real.info')
    assert (ours['queue'], real['queue']) == (mx_fleet.queues['ours'], mx_fleet.queues['real'])
    iso = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$')
    assert iso.match(ours['date_done']) and iso.match(real['date_done'])
    assert set(ours['result']) == set(real['result'])


@pytest.mark.parametrize('worker', SIDES, ids=['ours-writes', 'real-writes'])
def test_retried_and_failed_extended_fields(mx_fleet, worker):
    out = mx_fleet.clients[OTHER[worker]].run('''
        r = app.send_task('mx.%s.flaky' % spec['worker'], (1,))
        r.get(timeout=15)
        f = app.send_task('mx.%s.fail_custom' % spec['worker'], ('extended failure',))
        f.get(timeout=15, propagate=False)
        out = {'retries': app.AsyncResult(r.id).retries, 'f_name': app.AsyncResult(f.id).name,
               'f_args': app.AsyncResult(f.id).args, 'f_state': app.AsyncResult(f.id).state,
               'f_type': type(app.AsyncResult(f.id).result).__name__}
    ''', {'worker': worker})
    assert out == {'retries': 1, 'f_name': f'mx.{worker}.fail_custom',
                   'f_args': ['extended failure'], 'f_state': 'FAILURE', 'f_type': 'MxError'}

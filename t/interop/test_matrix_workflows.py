"""Workflows that cross between real Celery workers and ours.

``mx.ours.*`` tasks are consumed only by our worker and ``mx.real.*`` only
by the real one (``task_routes`` in the shared tasks module), so a chain that
alternates the two prefixes hops between packages at every step, and a chord
can count its header on one side and run its body on the other.  Each
canvas is built and awaited by either package's client (``client``).
"""
from __future__ import annotations

from typing import Any

import pytest

from _fleet import OTHER, SIDES, Fleet

pytestmark = pytest.mark.interop


@pytest.fixture(params=SIDES, ids=['our-client', 'real-client'])
def client(request: Any, mx_fleet: Fleet) -> Any:
    """``client(code, **spec)`` runs ``code`` in the chosen package's client."""
    def run(code: str, **spec: Any) -> Any:
        return mx_fleet.clients[request.param].run(code, spec)
    run.side, run.fleet = request.param, mx_fleet
    return run


def test_chain_alternates_sides(client):
    out = client('''
        c = chain(app.signature('mx.ours.add', (1, 2)), app.signature('mx.real.mul', (10,)),
                  app.signature('mx.ours.add', (5,)), app.signature('mx.real.info'))
        r = c.apply_async()
        last = r.get(timeout=20)
        steps = []
        node = r.parent
        while node is not None:
            steps.append([node.get(timeout=5), node.worker])
            node = node.parent
        out = {'last': last, 'steps': steps}
    ''')
    nodes = client.fleet.nodes
    assert out['last']['args'] == [35] and out['last']['hostname'] == nodes['real']
    assert out['steps'] == [[35, nodes['ours']], [30, nodes['real']], [3, nodes['ours']]]


def test_group_split_across_sides(client):
    out = client('''
        g = group([app.signature('mx.%s.mul' % side, (i, i)) for i in range(3)
                   for side in ('ours', 'real')])
        r = g.apply_async()
        out = {'values': r.get(timeout=20), 'workers': [c.worker for c in r.results]}
    ''')
    nodes = client.fleet.nodes
    assert out['values'] == [0, 0, 1, 1, 4, 4]
    assert out['workers'] == [nodes['ours'], nodes['real']] * 3


CHORD = '''
header = [app.signature('mx.%s.add' % side, (i, i))
          for i, side in enumerate(spec['header'])]
r = chord(header)(app.signature('mx.%s.info' % spec['body']))
info = r.get(timeout=20)
out = {'args': info['args'], 'body_worker': info['hostname'],
       'header_workers': [c.worker for c in r.parent.results]}
'''


@pytest.mark.parametrize('header, body', [
    (['ours'] * 3, 'real'),
    (['real'] * 3, 'ours'),
    (['ours', 'real', 'ours', 'real'], 'ours'),
    (['real', 'ours', 'real', 'ours'], 'real'),
], ids=['ours-header-real-body', 'real-header-ours-body', 'mixed-header-ours-body',
        'mixed-header-real-body'])
def test_chord_header_and_body_on_different_sides(client, header, body):
    out = client(CHORD, header=header, body=body)
    nodes = client.fleet.nodes
    assert out['args'] == [[2 * i for i in range(len(header))]]
    assert out['body_worker'] == nodes[body]
    assert out['header_workers'] == [nodes[side] for side in header]


@pytest.mark.parametrize('failing', SIDES, ids=['fails-on-ours', 'fails-on-real'])
def test_chord_header_failure_fails_the_body_on_the_other_side(client, failing):
    out = client('''
        from celery.exceptions import ChordError
        header = [app.signature('mx.%s.add' % spec['failing'], (1, 1)),
                  app.signature('mx.%s.fail' % spec['failing'], ('header broke',))]
        r = chord(header)(app.signature('mx.%s.tsum' % spec['body']))
        try:
            r.get(timeout=20)
        except Exception as exc:
            raised = [type(exc).__name__, list(exc.args)]
        deadline = time.monotonic() + 20
        while not r.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = {'raised': raised, 'type': type(r.result).__name__, 'message': str(r.result),
               'state': r.state, 'failed_id': r.parent.results[1].id}
    ''', failing=failing, body=OTHER[failing])
    assert out['raised'] == ['ValueError', ['header broke']]
    assert out['type'] == 'ChordError' and out['state'] == 'FAILURE'
    assert out['failed_id'] in out['message'] and 'header broke' in out['message']


@pytest.mark.parametrize('kind', ['errback_plain', 'errback_bound'],
                         ids=['plain-task', 'bound-task'])
@pytest.mark.parametrize('failing', SIDES, ids=['fails-on-ours', 'fails-on-real'])
def test_task_id_errback_runs_on_the_other_side(client, failing, kind):
    """An errback that does not take (request, exc, traceback) is sent as a task.

    It gets the failed task's id and runs where it is routed: the other side.
    A ``bind=True`` task always counts as one of these, whatever its
    signature (``errback_bound(self, task_id, note=None)`` here).
    """
    out = client('''
        errback = app.signature('mx.%s.%s' % (spec['errback'], spec['kind']))
        r = app.send_task('mx.%s.fail' % spec['failing'], ('with errback',),
                          link_error=errback)
        try:
            r.get(timeout=20)
        except ValueError:
            pass
        out = r.id
    ''', failing=failing, errback=OTHER[failing], kind=kind)
    [seen] = client.fleet.wait_records(f'errback-id:{out}', timeout=8)
    assert seen['side'] == OTHER[failing]


@pytest.mark.parametrize('failing', SIDES, ids=['fails-on-ours', 'fails-on-real'])
def test_chain_errback_crosses_sides(client, failing):
    out = client('''
        c = chain(app.signature('mx.%s.add' % spec['errback'], (1, 1)),
                  app.signature('mx.%s.fail' % spec['failing']))
        r = c.apply_async(link_error=app.signature('mx.%s.errback_plain' % spec['errback']))
        try:
            r.get(timeout=20)
        except ValueError as exc:
            out = {'id': r.id, 'args': list(exc.args), 'first': r.parent.get(timeout=5)}
    ''', failing=failing, errback=OTHER[failing])
    assert out['args'] == [2] and out['first'] == 2
    [seen] = client.fleet.wait_records(f'errback-id:{out["id"]}', timeout=8)
    assert seen['side'] == OTHER[failing]


@pytest.mark.parametrize('failing', SIDES, ids=['fails-on-ours', 'fails-on-real'])
def test_request_errback_runs_in_the_failing_worker(client, failing):
    """An errback taking (request, exc, traceback) runs in place, in the failing worker.

    It is named on the other side's queue, and set by either package's client.
    """
    out = client('''
        r = app.send_task('mx.%s.fail_custom' % spec['failing'], ('custom errback',),
                          link_error=app.signature('mx.%s.on_error' % spec['other']))
        try:
            r.get(timeout=20)
        except Exception:
            pass
        out = r.id
    ''', failing=failing, other=OTHER[failing])
    [seen] = client.fleet.wait_records(f'errback:{out}', timeout=8)
    assert seen == {'side': failing, 'exc_type': 'MxError', 'exc_args': ['custom errback'],
                    'task': f'mx.{failing}.fail_custom'}

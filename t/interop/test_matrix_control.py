"""Remote control and events across a mixed fleet.

``celery inspect`` / ``celery control`` of one package answer the other's
worker; ``celery events --dump`` and ``celery.events.state.State`` of one
package read the other's worker's events; real Flower's HTTP API shows our
worker and its tasks as it shows a real worker.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
import uuid
from typing import Any, Iterator

import pytest

from _fleet import OTHER, SIDES, ZONE_UTCOFFSET, Fleet, Proc, free_port

from t.waiting import wait_for

pytestmark = pytest.mark.interop

#: What ``inspect active`` tells about each running task (Celery 5 ``Request.info``).
ACTIVE_KEYS = {'id', 'name', 'args', 'kwargs', 'type', 'hostname', 'time_start',
               'acknowledged', 'delivery_info', 'worker_pid'}


@pytest.fixture(params=['real', 'ours'], ids=['real-cli-ours-worker', 'our-cli-real-worker'])
def cli(request: Any, mx_fleet: Fleet) -> Any:
    """``cli(*args)`` runs a remote-control command of one package at the other's worker."""
    side, worker = request.param, OTHER[request.param]

    def run(*args: str) -> Any:
        proc = mx_fleet.cli(side, *args, '-d', mx_fleet.nodes[worker], '-j', '-t', '5')
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        return json.loads(proc.stdout)
    run.side, run.worker, run.node, run.fleet = side, worker, mx_fleet.nodes[worker], mx_fleet
    run.client = mx_fleet.clients[side]
    return run


def test_inspect_ping(cli):
    assert cli('inspect', 'ping') == {cli.node: {'ok': 'pong'}}


def test_inspect_stats(cli):
    stats = cli('inspect', 'stats')[cli.node]
    assert stats['pid'] == cli.fleet.workers[cli.worker].pid
    assert stats['pool']['max-concurrency'] == 2 and len(stats['pool']['processes']) == 2
    assert stats['broker']['transport'] == ('redis' if cli.fleet.kind == 'redis' else 'amqp')
    assert {'total', 'clock', 'uptime', 'prefetch_count', 'rusage'} <= set(stats)


def test_stats_have_the_same_shape(mx_fleet):
    """Each package's worker answers ``stats`` with the same keys, nested too."""
    answers = {}
    for worker in SIDES:
        proc = mx_fleet.cli(OTHER[worker], 'inspect', 'stats', '-d', mx_fleet.nodes[worker],
                            '-j')
        answers[worker] = json.loads(proc.stdout)[mx_fleet.nodes[worker]]
    ours, real = answers['ours'], answers['real']
    assert sorted(ours) == sorted(real)
    assert sorted(ours['pool']) == sorted(real['pool'])
    assert sorted(ours['broker']) == sorted(real['broker'])
    assert type(ours['pool']['writes']) is type(real['pool']['writes']), (
        ours['pool']['writes'], real['pool']['writes'])


def test_inspect_registered(cli):
    names = cli('inspect', 'registered')[cli.node]
    assert {'mx.ours.add', 'mx.real.add', 'mx.ours.info', 'mx.real.note'} <= set(names)


def test_inspect_active_and_revoke_terminate(cli):
    tag = uuid.uuid4().hex[:8]
    task_id = cli.client.run('''
        out = app.send_task('mx.%s.sleeper' % spec['worker'], (30, spec['tag'])).id
    ''', {'worker': cli.worker, 'tag': tag})
    cli.fleet.wait_records(f'started:{tag}')
    [entry] = [e for e in cli('inspect', 'active')[cli.node] if e['id'] == task_id]
    assert set(entry) == ACTIVE_KEYS
    assert entry['name'] == f'mx.{cli.worker}.sleeper' and entry['args'] == [30, tag]
    assert entry['hostname'] == cli.node and entry['acknowledged'] is True
    assert entry['worker_pid'] in cli('inspect', 'stats')[cli.node]['pool']['processes']
    out = cli.client.run('''
        from celery.exceptions import TaskRevokedError
        replies = app.control.revoke(spec['id'], terminate=True, reply=True,
                                     destination=[spec['node']])
        try:
            out = {'value': app.AsyncResult(spec['id']).get(timeout=15)}
        except TaskRevokedError:
            out = {'revoked': app.AsyncResult(spec['id']).state}
        out['replies'] = replies
    ''', {'id': task_id, 'node': cli.node})
    assert out['revoked'] == 'REVOKED'
    [[node, reply]] = [list(r.items())[0] for r in out['replies']]
    assert node == cli.node and task_id in reply['ok']


def test_control_revoke(cli):
    """A task revoked before it reaches the worker is discarded when it does."""
    task_id = str(uuid.uuid4())
    replies = cli('control', 'revoke', task_id)
    assert replies == [{cli.node: {'ok': f"tasks {{'{task_id}'}} flagged as revoked"}}]
    assert task_id in cli('inspect', 'revoked')[cli.node]
    out = cli.client.run('''
        from celery.exceptions import TaskRevokedError
        r = app.send_task('mx.%s.info' % spec['worker'], task_id=spec['id'])
        try:
            out = r.get(timeout=15)
        except TaskRevokedError:
            out = r.state
    ''', {'id': task_id, 'worker': cli.worker})
    assert out == 'REVOKED'


def test_control_rate_limit(cli):
    name = f'mx.{cli.worker}.stamp'
    assert cli('control', 'rate_limit', name, '60/m') == [
        {cli.node: {'ok': 'new rate limit set successfully'}}]
    assert f'{name} [rate_limit=60/m]' in cli('inspect', 'registered', 'rate_limit')[cli.node]
    stamps = cli.client.run('''
        results = [app.send_task(spec['name']) for _ in range(3)]
        out = sorted(r.get(timeout=20) for r in results)
    ''', {'name': name})
    assert stamps[2] - stamps[0] >= 1.8, stamps


@pytest.mark.parametrize('how', ['remote-shutdown', 'group-sigterm'])
@pytest.mark.parametrize('worker', SIDES)
def test_worker_shutdown(mx_fleet, worker, how):
    """A worker stops cleanly when the other package's CLI tells it to, or on a
    SIGTERM to its whole process group (systemd's default ``KillMode``)."""
    tag = uuid.uuid4().hex[:8]
    node, queue = f'spare-{worker}-{tag}@{mx_fleet.nodes[worker].split("@")[1]}', f'mx-spare-{tag}'
    proc = mx_fleet.worker(worker, node, queue, f'spare-{worker}-{tag}')
    try:
        mx_fleet.wait_ready(proc, node)
        assert mx_fleet.clients[OTHER[worker]].run('''
            out = app.send_task('mx.%s.add' % spec['worker'], (1, 1), queue=spec['queue'])
            out = out.get(timeout=15)
        ''', {'worker': worker, 'queue': queue}) == 2
        if how == 'remote-shutdown':
            done = mx_fleet.cli(OTHER[worker], 'control', 'shutdown', '-d', node, '-t', '1')
            # Nothing answers a shutdown: both packages' CLIs say so and exit 69.
            assert done.returncode == 69, (done.stdout, done.stderr)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        wait_for(lambda: not proc.alive(), 15, what=f'{node} to exit', detail=proc.tail)
        assert proc.popen.returncode == 0, proc.tail()
    finally:
        proc.stop()


# -- events --------------------------------------------------------------------------


@pytest.mark.parametrize('reader', SIDES, ids=['our-dump-real-worker', 'real-dump-our-worker'])
def test_events_dump_reads_the_other_workers_events(mx_fleet, reader):
    worker = OTHER[reader]
    node = mx_fleet.nodes[worker]
    dump = mx_fleet.celery(reader, f'{reader}-dump-{uuid.uuid4().hex[:6]}', 'events', '--dump')
    stamp = r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00'
    prefix = rf'^{re.escape(node)} \[[^\]]+\] '
    try:
        heartbeat = dump.wait_for_log(prefix + r'heartbeat: (.*)$', timeout=20)
        task_id = mx_fleet.clients[reader].run('''
            r = app.send_task('mx.%s.add' % spec['worker'], (3, 4))
            r.get(timeout=15)
            out = r.id
        ''', {'worker': worker})
        task = re.escape(f'mx.{worker}.add({task_id})')
        dump.wait_for_log(prefix + rf'task received: {task} args=\(3, 4\) kwargs={{}}')
        dump.wait_for_log(prefix + rf'task started: {task}')
        dump.wait_for_log(prefix + rf'task succeeded: {task} .*result=7')
    finally:
        dump.stop()
    # The dump prints aware UTC times; events carry the worker's exact UTC offset.
    assert re.match(rf'^\S+ \[{stamp}\] ', heartbeat.group(0)), heartbeat.group(0)
    utcoffset = re.search(r'\butcoffset=([-\d.]+)', heartbeat.group(0)).group(1)
    assert float(utcoffset) == ZONE_UTCOFFSET, heartbeat.group(0)


STATE = '''
import threading
from celery.events.state import State
state = State()
conn = app.connection_for_read()
receiver = app.events.Receiver(conn, handlers={'*': state.event})
thread = threading.Thread(target=receiver.capture, kwargs={'wakeup': True}, daemon=True)
thread.start()
try:
    deadline = time.monotonic() + 15
    while spec['node'] not in state.workers and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = time.time()
    r = app.send_task('mx.%s.add' % spec['worker'], (5, 6))
    r.get(timeout=15)
    while time.monotonic() < deadline:
        task = state.tasks.get(r.id)
        if task is not None and task.state == 'SUCCESS':
            break
        time.sleep(0.05)
    task = state.tasks.get(r.id)
    worker = state.workers.get(spec['node'])
    out = {'workers': list(state.workers), 'id': r.id, 'sent': sent,
           'task': task and {'state': task.state, 'name': task.name, 'args': task.args,
                             'result': task.result, 'hostname': task.worker.hostname,
                             'runtime': task.runtime, 'received': task.received,
                             'started': task.started, 'succeeded': task.succeeded},
           'worker': worker and {'alive': worker.alive, 'freq': worker.freq,
                                 'sw_ident': worker.sw_ident, 'pid': worker.pid}}
finally:
    receiver.should_stop = True
    thread.join(5)
    conn.release()
'''


@pytest.mark.parametrize('reader', SIDES, ids=['our-state-real-worker', 'real-state-our-worker'])
def test_state_reads_the_other_workers_events(mx_fleet, reader):
    worker = OTHER[reader]
    node = mx_fleet.nodes[worker]
    out = mx_fleet.clients[reader].run(STATE, {'worker': worker, 'node': node}, timeout=60)
    assert node in out['workers']
    task = out['task']
    assert task is not None, out
    assert (task['state'], task['name'], task['args'], task['result'], task['hostname']) == (
        'SUCCESS', f'mx.{worker}.add', '(5, 6)', '11', node)
    assert task['received'] <= task['started'] <= task['succeeded'] and task['runtime'] > 0
    assert out['worker']['alive'] and out['worker']['freq'] > 0
    assert out['worker']['sw_ident'] == 'py-celery'
    assert out['worker']['pid'] == mx_fleet.workers[worker].pid
    # Event times come out in the reader's terms: the moment the task was sent.
    assert abs(task['received'] - out['sent']) < 30, (task['received'], out['sent'])


# -- Flower --------------------------------------------------------------------------


class Flower:
    """Real Flower watching the fleet, queried over its HTTP API."""

    def __init__(self, fleet: Fleet) -> None:
        self.port = free_port()
        self.proc: Proc = fleet.celery(
            'real', 'flower', 'flower', '--address=127.0.0.1', f'--port={self.port}',
            FLOWER_UNAUTHENTICATED_API='true')
        self.proc.wait_for_log(rf'Visit me at http://127\.0\.0\.1:{self.port}', timeout=30)

    def get(self, path: str) -> Any:
        url = f'http://127.0.0.1:{self.port}{path}'
        with urllib.request.urlopen(url, timeout=15) as response:
            return json.loads(response.read())


@pytest.fixture(scope='module')
def flower(mx_fleet: Fleet) -> Iterator[Flower]:
    instance = Flower(mx_fleet)
    try:
        yield instance
    finally:
        instance.proc.stop()


FLOWER_SECTIONS = {'stats', 'active_queues', 'registered', 'scheduled', 'active',
                   'reserved', 'revoked', 'conf', 'timestamp'}


@pytest.mark.parametrize('worker', SIDES)
def test_flower_api_workers(mx_fleet, flower, worker):
    node = mx_fleet.nodes[worker]
    info = flower.get(f'/api/workers?refresh=1&workername={node}')[node]
    assert set(info) == FLOWER_SECTIONS, flower.proc.tail()
    assert info['stats']['pid'] == mx_fleet.workers[worker].pid
    assert [q['name'] for q in info['active_queues']] == [mx_fleet.queues[worker]]
    assert 'mx.ours.add' in info['registered']
    assert info['active'] == [] and isinstance(info['revoked'], list)
    assert info['conf']['result_extended'] is True


@pytest.mark.parametrize('worker', SIDES)
def test_flower_api_tasks(mx_fleet, flower, worker):
    node = mx_fleet.nodes[worker]
    wait_for(lambda: flower.get('/api/workers?status=1').get(node), 20,
             what=f'Flower to see {node} alive through its events', detail=flower.proc.tail)
    sent = time.time()
    task_id = mx_fleet.clients['ours'].run('''
        r = app.send_task('mx.%s.add' % spec['worker'], (3, 4))
        r.get(timeout=15)
        out = r.id
    ''', {'worker': worker})

    def succeeded() -> Any:
        task = flower.get(f'/api/tasks?workername={node}').get(task_id)
        return task if task and task['state'] == 'SUCCESS' else None
    task = wait_for(succeeded, 15, what=f'Flower to show {task_id} succeeded',
                    detail=flower.proc.tail)
    assert (task['name'], task['args'], task['kwargs'], task['result'], task['worker']) == (
        f'mx.{worker}.add', '(3, 4)', '{}', '7', node)
    assert task['received'] <= task['started'] <= task['succeeded'] and task['runtime'] > 0
    # Flower shows when the task was received, not half an hour off.
    assert abs(task['received'] - sent) < 30, (task['received'], sent)

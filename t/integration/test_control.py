"""Remote control end to end: our client against two of our workers, on
Redis and on RabbitMQ.

A small project module is written to a temporary folder and two workers run
from it as real processes (prefork, one child each), each consuming its own
queue.  The control and events exchanges, queues and node names are unique
per run, so other workers on the same brokers neither see nor answer these
commands.  Results go to Redis.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from t.waiting import wait_for


pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

PROJECT = textwrap.dedent('''
    import os
    import time

    from celery import Celery

    app = Celery('ctlproj', broker=os.environ['CTL_IT_BROKER'],
                 backend=os.environ['CTL_IT_BACKEND'])
    app.conf.update(
        control_exchange=os.environ['CTL_IT_EXCHANGE'],
        event_exchange=os.environ['CTL_IT_EXCHANGE'] + '.ev',
        task_default_queue=os.environ['CTL_IT_QUEUE'],
        worker_prefetch_multiplier=2,
    )


    @app.task(name='ctlproj.sleep')
    def sleep(seconds):
        time.sleep(seconds)
        return seconds


    @app.task(name='ctlproj.add')
    def add(x, y):
        return x + y
''')


class Cluster:
    """The project folder, its workers, and a client app like theirs."""

    def __init__(self, folder: Path, broker: str, backend: str) -> None:
        uid = uuid.uuid4().hex[:10]
        self.folder = folder
        self.exchange = f'ctl-it-{uid}'
        self.common = f'ctl-it-{uid}'
        self.env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [
                str(folder), str(REPO), os.environ.get('PYTHONPATH')])),
            CTL_IT_BROKER=broker, CTL_IT_BACKEND=backend,
            CTL_IT_EXCHANGE=self.exchange, CTL_IT_QUEUE=self.common)
        (folder / 'ctlproj.py').write_text(PROJECT)
        self.uid = uid
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        from celery import Celery
        self.app = Celery('ctlclient', broker=broker, backend=backend, set_as_current=False)
        self.app.conf.update(control_exchange=self.exchange,
                             event_exchange=self.exchange + '.ev',
                             task_default_queue=self.common)

    def nodename(self, short: str) -> str:
        import socket
        return f'{short}-{self.uid}@{socket.gethostname()}'

    def queue(self, short: str) -> str:
        return f'{self.common}.{short}'

    def start(self, short: str, *extra: str) -> str:
        name = self.nodename(short)
        log = self.logs[name] = self.folder / f'{short}.log'
        self.procs[name] = subprocess.Popen(
            [sys.executable, '-m', 'celery', '-A', 'ctlproj', 'worker',
             '-n', name, '-P', 'prefork', '-c', '1', '-l', 'INFO',
             '-Q', f'{self.queue(short)},{self.common}',
             '--without-mingle', '--without-gossip', *extra],
            cwd=self.folder, env=self.env, stdout=log.open('w'),
            stderr=subprocess.STDOUT)
        return name

    def log(self, name: str) -> str:
        return self.logs[name].read_text()

    def wait_online(self, *names: str, timeout: float = 60) -> None:
        def online() -> bool:
            for name in names:
                if self.procs[name].poll() is not None:
                    pytest.fail(f'worker {name} exited early:\n{self.log(name)}')
            replies = self.inspect(timeout=0.5).ping() or {}
            return all(name in replies for name in names)
        wait_for(online, timeout, what='the workers to come online')

    def inspect(self, *names: str, timeout: float = 2.0) -> Any:
        return self.app.control.inspect(destination=list(names) or None, timeout=timeout)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, '-m', 'celery', '-A', 'ctlproj', *args],
            cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with self.app.connection_for_write() as conn:
            for queue in (self.common, self.queue('w1'), self.queue('w2'), self.queue('w3')):
                try:
                    conn.default_channel.queue_delete(queue)
                except Exception:
                    pass
        self.app.close()


@pytest.fixture(scope='module', params=['redis', 'amqp'])
def cluster(request, tmp_path_factory, redis_url):
    broker = redis_url if request.param == 'redis' else request.getfixturevalue('amqp_url')
    c = Cluster(tmp_path_factory.mktemp(f'ctl-{request.param}'), broker, redis_url)
    c.w1, c.w2 = c.start('w1'), c.start('w2')
    try:
        c.wait_online(c.w1, c.w2)
        yield c
    finally:
        c.close()


def single(replies: dict, name: str) -> Any:
    """The reply of node ``name``; a clear failure if it answered an error."""
    assert replies is not None, f'no reply from {name}'
    value = replies[name]
    if isinstance(value, dict) and set(value) == {'error'}:
        pytest.fail(f'{name} answered an error: {value["error"]}')
    return value


# -- inspect ---------------------------------------------------------------------


def test_ping_answers_from_both_workers(cluster):
    assert cluster.inspect(timeout=1.0).ping() == {
        cluster.w1: {'ok': 'pong'}, cluster.w2: {'ok': 'pong'}}
    assert sorted(cluster.app.control.ping(timeout=1.0), key=lambda r: list(r)) == [
        {cluster.w1: {'ok': 'pong'}}, {cluster.w2: {'ok': 'pong'}}]


def test_destination_selects_one_worker(cluster):
    assert cluster.inspect(cluster.w2).ping() == {cluster.w2: {'ok': 'pong'}}
    assert cluster.app.control.inspect(destination=cluster.w1, timeout=2).ping() == {
        'ok': 'pong'}


def test_active_scheduled_reserved_and_query_task(cluster):
    q1 = cluster.queue('w1')
    sleep = cluster.app.signature('ctlproj.sleep')
    long = sleep.clone(args=(20,)).apply_async(queue=q1)
    waiting = sleep.clone(args=(0,)).apply_async(queue=q1)
    later = sleep.clone(args=(0,)).apply_async(queue=q1, countdown=120)
    inspect = cluster.inspect(cluster.w1)
    try:
        active = wait_for(lambda: single(inspect.active(), cluster.w1))
        assert [t['id'] for t in active] == [long.id]
        info = active[0]
        assert info['name'] == 'ctlproj.sleep'
        assert info['args'] == [20]
        assert info['hostname'] == cluster.w1
        assert isinstance(info['worker_pid'], int)
        assert info['delivery_info']['routing_key'] == q1

        reserved = wait_for(lambda: single(inspect.reserved(), cluster.w1))
        assert [t['id'] for t in reserved] == [waiting.id]

        scheduled = wait_for(lambda: single(inspect.scheduled(), cluster.w1))
        assert [t['request']['id'] for t in scheduled] == [later.id]
        assert isinstance(scheduled[0]['eta'], str) and 'priority' in scheduled[0]

        found = single(inspect.query_task(long.id, waiting.id), cluster.w1)
        assert found[long.id][0] == 'active'
        assert found[waiting.id][0] == 'reserved'
        assert found[long.id][1]['id'] == long.id
        assert cluster.inspect(cluster.w2).active() == {cluster.w2: []}
    finally:
        cluster.app.control.revoke([long.id, waiting.id, later.id], terminate=True,
                                   signal='SIGKILL', destination=[cluster.w1])
    assert wait_for(lambda: single(inspect.active(), cluster.w1) == [])


def test_registered_stats_queues_conf_clock_report(cluster):
    inspect = cluster.inspect(cluster.w1)
    registered = single(inspect.registered(), cluster.w1)
    assert {'ctlproj.add', 'ctlproj.sleep'} <= {entry.split(' ')[0] for entry in registered}
    assert not any(entry.startswith('celery.') for entry in registered)

    stats = single(inspect.stats(), cluster.w1)
    proc = cluster.procs[cluster.w1]
    assert stats['pid'] == proc.pid
    assert stats['pool']['max-concurrency'] == 1
    assert len(stats['pool']['processes']) == 1
    assert {'broker', 'clock', 'uptime', 'prefetch_count', 'rusage', 'total'} <= set(stats)

    queues = single(inspect.active_queues(), cluster.w1)
    assert {q['name'] for q in queues} == {cluster.common, cluster.queue('w1')}

    conf = single(inspect.conf(), cluster.w1)
    assert conf['control_exchange'] == cluster.exchange
    assert conf['task_default_queue'] == cluster.common

    clock = single(inspect.clock(), cluster.w1)
    assert isinstance(clock['clock'], int) and clock['clock'] > 0

    report = single(inspect.report(), cluster.w1)
    assert 'ok' in report and 'software -> celery' in report['ok']


def test_revoked_lists_revoked_ids(cluster):
    task_id = str(uuid.uuid4())
    replies = cluster.app.control.revoke(task_id, reply=True, destination=[cluster.w2])
    # Celery formats the set of ids: "tasks {'<id>'} flagged as revoked"
    assert replies == [{cluster.w2: {'ok': f"tasks {{'{task_id}'}} flagged as revoked"}}]
    assert task_id in single(cluster.inspect(cluster.w2).revoked(), cluster.w2)
    # the revoked task is skipped when it arrives
    result = cluster.app.signature('ctlproj.add', (1, 2)).apply_async(
        task_id=task_id, queue=cluster.queue('w2'))
    assert wait_for(lambda: result.state == 'REVOKED', timeout=20)


# -- control ---------------------------------------------------------------------


def test_revoke_with_terminate_kills_the_running_task(cluster):
    result = cluster.app.signature('ctlproj.sleep', (60,)).apply_async(
        queue=cluster.queue('w2'))
    inspect = cluster.inspect(cluster.w2)
    assert wait_for(lambda: single(inspect.active(), cluster.w2))
    pid_before = single(inspect.stats(), cluster.w2)['pool']['processes']
    replies = cluster.app.control.terminate(result.id, signal='SIGKILL', reply=True,
                                            destination=[cluster.w2])
    assert replies == [{cluster.w2: {'ok': f'terminate: {result.id}'}}]
    assert wait_for(lambda: single(inspect.active(), cluster.w2) == [])
    assert wait_for(lambda: result.state == 'REVOKED', timeout=20)
    assert result.id in single(inspect.revoked(), cluster.w2)
    # the pool replaced its child and the worker is still answering
    assert wait_for(lambda: single(inspect.stats(), cluster.w2)['pool']['processes']
                not in ([], pid_before))
    assert inspect.ping() == {cluster.w2: {'ok': 'pong'}}


def test_pool_grow_and_shrink(cluster):
    inspect = cluster.inspect(cluster.w1)

    def processes() -> int:
        return len(single(inspect.stats(), cluster.w1)['pool']['processes'])
    assert cluster.app.control.pool_grow(2, reply=True, destination=[cluster.w1]) == [
        {cluster.w1: {'ok': 'pool will grow'}}]
    assert wait_for(lambda: processes() == 3)
    assert cluster.app.control.pool_shrink(2, reply=True, destination=[cluster.w1]) == [
        {cluster.w1: {'ok': 'pool will shrink'}}]
    assert wait_for(lambda: processes() == 1)


def test_rate_limit(cluster):
    control = cluster.app.control
    assert control.rate_limit('ctlproj.add', '10/m', reply=True,
                              destination=[cluster.w1]) == [
        {cluster.w1: {'ok': 'new rate limit set successfully'}}]
    registered = single(cluster.inspect(cluster.w1).registered('rate_limit'), cluster.w1)
    assert 'ctlproj.add [rate_limit=10/m]' in registered
    assert control.rate_limit('ctlproj.add', None, reply=True, destination=[cluster.w1]) == [
        {cluster.w1: {'ok': 'rate limit disabled successfully'}}]
    unknown = control.rate_limit('nope', '1/s', reply=True, destination=[cluster.w1])
    assert unknown == [{cluster.w1: {'error': 'unknown task'}}]
    bad = control.rate_limit('ctlproj.add', 'fast', reply=True, destination=[cluster.w1])
    assert 'error' in bad[0][cluster.w1]


def test_time_limit_applies_to_new_tasks(cluster):
    control = cluster.app.control
    assert control.time_limit('ctlproj.sleep', soft=1, hard=2, reply=True,
                              destination=[cluster.w2]) == [
        {cluster.w2: {'ok': 'time limits set successfully'}}]
    try:
        result = cluster.app.signature('ctlproj.sleep', (30,)).apply_async(
            queue=cluster.queue('w2'))
        assert wait_for(lambda: result.state == 'FAILURE', timeout=30)
        assert type(result.result).__name__ in ('SoftTimeLimitExceeded', 'TimeLimitExceeded')
    finally:
        control.time_limit('ctlproj.sleep', soft=None, hard=None, reply=True,
                           destination=[cluster.w2])
    assert control.time_limit('nope', soft=1, reply=True, destination=[cluster.w2]) == [
        {cluster.w2: {'error': 'unknown task'}}]


def test_add_and_cancel_consumer(cluster):
    control = cluster.app.control
    extra = f'{cluster.common}.extra'
    inspect = cluster.inspect(cluster.w1)
    assert control.add_consumer(extra, reply=True, destination=[cluster.w1]) == [
        {cluster.w1: {'ok': f'add consumer {extra}'}}]
    assert wait_for(lambda: extra in {q['name'] for q in single(inspect.active_queues(),
                                                           cluster.w1)})
    result = cluster.app.signature('ctlproj.add', (2, 3)).apply_async(queue=extra)
    assert result.get(timeout=30) == 5
    assert control.cancel_consumer(extra, reply=True, destination=[cluster.w1]) == [
        {cluster.w1: {'ok': f'no longer consuming from {extra}'}}]
    assert wait_for(lambda: extra not in {q['name'] for q in single(inspect.active_queues(),
                                                               cluster.w1)})


def test_enable_and_disable_events(cluster):
    control = cluster.app.control
    replies = control.enable_events(reply=True, destination=[cluster.w1])
    assert replies[0][cluster.w1]['ok'] in ('task events enabled', 'task events already enabled')
    replies = control.disable_events(reply=True, destination=[cluster.w1])
    assert replies[0][cluster.w1]['ok'] in ('task events disabled',
                                            'task events already disabled')


def test_unknown_command_gets_an_error_reply(cluster):
    replies = cluster.app.control.broadcast('no_such_command', reply=True, timeout=2,
                                            destination=[cluster.w1])
    assert list(replies[0]) == [cluster.w1]
    assert 'error' in replies[0][cluster.w1]
    assert cluster.inspect(cluster.w1).ping() == {cluster.w1: {'ok': 'pong'}}


def test_shutdown_is_warm(cluster):
    name = cluster.start('w3')
    cluster.wait_online(name)
    result = cluster.app.signature('ctlproj.sleep', (2,)).apply_async(
        queue=cluster.queue('w3'))
    assert wait_for(lambda: single(cluster.inspect(name).active(), name))
    cluster.app.control.shutdown(destination=[name])
    proc = cluster.procs[name]
    wait_for(lambda: proc.poll() is not None, timeout=60, detail=lambda: cluster.log(name))
    assert proc.returncode == 0, cluster.log(name)
    assert result.get(timeout=10) == 2  # the running task was finished first
    assert cluster.inspect(name, timeout=0.5).ping() is None


# -- the command line ------------------------------------------------------------------


def test_cli_inspect_ping(cluster):
    out = cluster.cli('inspect', 'ping', '-d', cluster.w1)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f'->  {cluster.w1}: OK\n        pong\n\n1 node online.\n'


def test_cli_status_json(cluster):
    import json
    out = cluster.cli('status', '--json', '-d', f'{cluster.w1},{cluster.w2}')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert json.loads(lines[0]) == {cluster.w1: {'ok': 'pong'}, cluster.w2: {'ok': 'pong'}}
    assert lines[-1] == '2 nodes online.'


def test_cli_control_rate_limit(cluster):
    out = cluster.cli('control', 'rate_limit', 'ctlproj.sleep', '5/s', '-d', cluster.w2)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f'->  {cluster.w2}: OK\n        new rate limit set successfully\n'


def test_cli_errors(cluster):
    out = cluster.cli('inspect', 'ping', '-d', f'nobody-{cluster.uid}@nowhere', '-t', '0.5')
    assert out.returncode == 69
    assert 'Error: No nodes replied within time constraint' in out.stderr
    out = cluster.cli('control', 'pool_grow', 'lots', '-d', cluster.w1)
    assert out.returncode == 2
    assert "argument 'n' must be of type int" in out.stderr
    out = cluster.cli('inspect', 'frobnicate')
    assert out.returncode == 2
    assert 'Command frobnicate not recognized' in out.stderr

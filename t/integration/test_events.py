"""Events end to end: one of our workers (``-E``) on Redis and on RabbitMQ,
an :class:`EventReceiver` feeding a :class:`State` in the test process, and
``celery events --dump`` as a real process.

Exchanges, queues and node names are unique per run.  Results go to Redis.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from t.waiting import wait_for


pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

PROJECT = textwrap.dedent('''
    import os

    from celery import Celery

    app = Celery('evproj', broker=os.environ['EV_IT_BROKER'],
                 backend=os.environ['EV_IT_BACKEND'])
    app.conf.update(
        control_exchange=os.environ['EV_IT_EXCHANGE'],
        event_exchange=os.environ['EV_IT_EXCHANGE'] + '.ev',
        task_default_queue=os.environ['EV_IT_QUEUE'],
    )


    @app.task(name='evproj.add')
    def add(x, y):
        return x + y


    @app.task(name='evproj.fail')
    def fail():
        raise KeyError('expected failure')


    @app.task(name='evproj.flaky', bind=True, max_retries=1, default_retry_delay=0.1)
    def flaky(self):
        if not self.request.retries:
            raise self.retry(exc=ValueError('try again'))
        return 'second time lucky'
''')


class Monitor:
    """Capture events in a thread into a State and a list."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.events.State()
        self.events: list[dict] = []
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.recv: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30), 'the event receiver did not start'

    def _on_event(self, event: dict) -> None:
        with self.lock:
            self.events.append(dict(event))
        self.state.event(event)

    def _run(self) -> None:
        monitor = self

        class Receiver(self.app.events.Receiver):
            def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
                super().on_consume_ready(*args, **kwargs)
                monitor.ready.set()

        with self.app.connection_for_read() as conn:
            self.recv = Receiver(conn, handlers={'*': self._on_event})
            self.recv.capture(limit=None, timeout=None, wakeup=False)

    def of(self, type_: str, **match: Any) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e['type'] == type_
                    and all(e.get(k) == v for k, v in match.items())]

    def types_for(self, task_id: str) -> list[str]:
        with self.lock:
            return [e['type'] for e in self.events if e.get('uuid') == task_id]

    def stop(self) -> None:
        if self.recv is not None:
            self.recv.should_stop = True
        self.thread.join(10)


class Project:
    def __init__(self, folder: Path, broker: str, backend: str) -> None:
        uid = uuid.uuid4().hex[:10]
        self.folder = folder
        self.uid = uid
        self.exchange = f'ev-it-{uid}'
        self.queue = f'ev-it-{uid}'
        (folder / 'evproj.py').write_text(PROJECT)
        self.env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [
                str(folder), str(REPO), os.environ.get('PYTHONPATH')])),
            EV_IT_BROKER=broker, EV_IT_BACKEND=backend,
            EV_IT_EXCHANGE=self.exchange, EV_IT_QUEUE=self.queue)
        self.procs: list[subprocess.Popen] = []
        from celery import Celery
        self.app = Celery('evclient', broker=broker, backend=backend, set_as_current=False)
        self.app.conf.update(control_exchange=self.exchange,
                             event_exchange=self.exchange + '.ev',
                             task_default_queue=self.queue,
                             task_send_sent_event=True)

    def start(self, *args: str, log: str) -> tuple[subprocess.Popen, Path]:
        path = self.folder / log
        proc = subprocess.Popen(
            [sys.executable, '-m', 'celery', '-A', 'evproj', *args],
            cwd=self.folder, env=self.env, stdout=path.open('w'),
            stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc, path

    def worker(self, short: str = 'w1') -> tuple[str, subprocess.Popen, Path]:
        name = f'{short}-{self.uid}@{socket.gethostname()}'
        proc, log = self.start('worker', '-n', name, '-E', '-P', 'prefork', '-c', '1',
                               '-l', 'INFO', '--without-mingle', '--without-gossip',
                               log=f'{short}.log')
        return name, proc, log

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with self.app.connection_for_write() as conn:
            try:
                conn.default_channel.queue_delete(self.queue)
            except Exception:
                pass
        self.app.close()


@pytest.fixture(params=['redis', 'amqp'])
def project(request, tmp_path, redis_url):
    broker = redis_url if request.param == 'redis' else request.getfixturevalue('amqp_url')
    p = Project(tmp_path, broker, redis_url)
    yield p
    p.close()


def test_worker_and_task_events_into_state(project):
    monitor = Monitor(project.app)
    try:
        name, proc, log = project.worker()

        # worker-online, then heartbeats
        wait_for(lambda: monitor.of('worker-online', hostname=name), 60, detail=log.read_text)
        online = monitor.of('worker-online', hostname=name)[0]
        assert online['sw_ident'] == 'py-celery'
        assert online['sw_ver'] and online['sw_sys']
        assert isinstance(online['freq'], float)
        for field in ('timestamp', 'utcoffset', 'pid', 'clock', 'local_received'):
            assert field in online
        assert online['pid'] == proc.pid
        assert wait_for(lambda: monitor.of('worker-heartbeat', hostname=name), 30)
        beat = monitor.of('worker-heartbeat', hostname=name)[0]
        assert {'active', 'processed', 'loadavg', 'freq'} <= set(beat)
        worker = monitor.state.workers[name]
        assert worker.alive and worker.sw_ident == 'py-celery'

        # a task that succeeds
        result = project.app.signature('evproj.add', (2, 2)).apply_async()
        assert result.get(timeout=30) == 4
        assert wait_for(lambda: 'task-succeeded' in monitor.types_for(result.id))
        types = monitor.types_for(result.id)
        assert sorted(types) == sorted([
            'task-sent', 'task-received', 'task-started', 'task-succeeded'])
        # the client's task-sent travels apart from the worker's events, so it
        # may arrive after them; the worker's own events come in order
        assert [t for t in types if t != 'task-sent'] == [
            'task-received', 'task-started', 'task-succeeded']
        sent = monitor.of('task-sent', uuid=result.id)[0]
        assert (sent['name'], sent['queue'], sent['retries']) == ('evproj.add', project.queue, 0)
        received = monitor.of('task-received', uuid=result.id)[0]
        assert (received['name'], received['hostname']) == ('evproj.add', name)
        assert received['args'] == '(2, 2)' and received['kwargs'] == '{}'
        assert received['root_id'] == result.id and received['parent_id'] is None
        assert 'pid' in monitor.of('task-started', uuid=result.id)[0]
        succeeded = monitor.of('task-succeeded', uuid=result.id)[0]
        assert succeeded['result'] == '4' and succeeded['runtime'] >= 0
        task = monitor.state.tasks[result.id]
        assert (task.state, task.name, task.result) == ('SUCCESS', 'evproj.add', '4')
        assert task.worker.hostname == name and task.client
        assert task.received and task.started and task.succeeded and task.sent

        # a task that fails, and one that retries
        failing = project.app.signature('evproj.fail').apply_async()
        assert wait_for(lambda: 'task-failed' in monitor.types_for(failing.id))
        failed = monitor.of('task-failed', uuid=failing.id)[0]
        assert 'KeyError' in failed['exception'] and 'Traceback' in failed['traceback']
        assert monitor.state.tasks[failing.id].state == 'FAILURE'

        flaky = project.app.signature('evproj.flaky').apply_async()
        assert flaky.get(timeout=30) == 'second time lucky'
        assert wait_for(lambda: monitor.types_for(flaky.id).count('task-succeeded'))
        assert 'task-retried' in monitor.types_for(flaky.id)
        assert monitor.state.tasks[flaky.id].state == 'SUCCESS'

        # a revoked task
        revoked_id = str(uuid.uuid4())
        project.app.control.revoke(revoked_id)
        project.app.signature('evproj.add', (1, 1)).apply_async(task_id=revoked_id)
        assert wait_for(lambda: monitor.of('task-revoked', uuid=revoked_id))
        revoked = monitor.of('task-revoked', uuid=revoked_id)[0]
        assert revoked['terminated'] is False and revoked['expired'] is False
        assert monitor.state.tasks[revoked_id].state == 'REVOKED'

        assert [u for u, _ in monitor.state.tasks_by_type('evproj.add')][-1] == result.id
        assert monitor.state.task_count >= 4

        # the worker goes offline on shutdown
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
        assert wait_for(lambda: monitor.of('worker-offline', hostname=name))
        assert wait_for(lambda: name not in monitor.state.workers)
    finally:
        monitor.stop()


def test_celery_events_dump(project):
    dumper, out = project.start('events', '--dump', log='dump.log')
    try:
        wait_for(lambda: '-> evdump: starting capture...' in out.read_text(),
                 detail=out.read_text)
        name, worker, log = project.worker()
        wait_for(lambda: f'{name} [' in out.read_text(), 60, detail=out.read_text)
        result = project.app.signature('evproj.add', (3, 4)).apply_async()
        assert result.get(timeout=30) == 7

        def lines() -> list[str]:
            return [line for line in out.read_text().splitlines() if result.id in line]
        wait_for(lambda: any('task succeeded' in line for line in lines()),
                 detail=out.read_text)
        text = out.read_text()
        assert f'{name} [' in text and '] started: ' in text
        assert ('] task received: evproj.add(%s) args=(3, 4) kwargs={} ' % result.id) in text
        assert any('task succeeded: evproj.add(' in line and 'result=7' in line
                   for line in lines())
    finally:
        dumper.send_signal(signal.SIGINT)
        try:
            dumper.wait(15)
        except subprocess.TimeoutExpired:
            dumper.kill()
            pytest.fail('celery events --dump did not stop on SIGINT')
    assert dumper.returncode == 0, out.read_text()

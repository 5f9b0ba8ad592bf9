"""The ``celery`` command line against real workers on Redis.

Each test writes a small project (``proj.py``) to a temporary directory and
runs ``python -m celery -A proj ...`` there as a user would: ``multi`` starts
detached workers, ``status`` finds them, ``call``/``result`` run a task
through them, ``purge`` empties their queue and ``multi stopwait`` stops
them.  Queue names and node host names are unique per test (other suites
share the Redis server); whatever a test started is killed at the end.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from t.waiting import wait_for

pytestmark = pytest.mark.integration

PROJ = '''\
import os
from celery import Celery

app = Celery('proj', broker=os.environ['PROJ_BROKER'], backend=os.environ['PROJ_BROKER'])
app.conf.task_default_queue = os.environ['PROJ_QUEUE']


@app.task
def add(x, y):
    return x + y
'''


class Project:
    """A throw-away project directory and a way to run ``celery`` in it."""

    def __init__(self, path: Path, broker_url: str) -> None:
        self.path = path
        self.tag = uuid.uuid4().hex[:10]
        self.queue = f'cli-{self.tag}'
        self.host = f'cli-{self.tag}'
        (path / 'proj.py').write_text(PROJ)
        self.env = dict(os.environ, PROJ_BROKER=broker_url, PROJ_QUEUE=self.queue,
                        PYTHONPATH=os.pathsep.join(filter(None, (
                            str(path), os.environ.get('PYTHONPATH')))))
        for name in ('CELERY_BROKER_URL', 'CELERY_RESULT_BACKEND', 'C_FAKEFORK'):
            self.env.pop(name, None)

    def celery(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, '-m', 'celery', '-A', 'proj', *args],
            cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout)

    @property
    def file_options(self) -> list[str]:
        return [f'--pidfile={self.path}/run/%n.pid', f'--logfile={self.path}/log/%n%I.log',
                f'--hostname={self.host}']

    def nodes(self, count: int) -> list[str]:
        return [f'celery{i}@{self.host}' for i in range(1, count + 1)]

    def pidfiles(self) -> list[Path]:
        run = self.path / 'run'
        return sorted(run.glob('*.pid')) if run.exists() else []

    def kill_all(self) -> None:
        """SIGKILL every worker this project started (and its pool children)."""
        for pidfile in self.pidfiles():
            try:
                pid = int(pidfile.read_text())
            except ValueError:
                continue
            targets = [pid]
            try:
                group = os.getpgid(pid)
            except ProcessLookupError:
                continue
            if group != os.getpgid(0):  # the daemon's own group: its pool too
                targets.insert(0, -group)
            for target in targets:
                try:
                    os.kill(target, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def logs(self) -> str:
        log = self.path / 'log'
        if not log.exists():
            return ''
        return '\n'.join(f'--- {p.name}\n{p.read_text()}' for p in sorted(log.iterdir()))


@pytest.fixture
def project(tmp_path: Path, redis_url: str) -> Iterator[Project]:
    proj = Project(tmp_path, redis_url)
    try:
        yield proj
    finally:
        proj.kill_all()


def start_workers(project: Project, count: int) -> None:
    result = project.celery('multi', 'start', str(count), '-c', '1', '-l', 'INFO',
                            *project.file_options)
    assert result.returncode == 0, result.stdout + result.stderr + project.logs()
    for node in project.nodes(count):
        assert f'> {node}: OK' in result.stdout
    # a detached worker writes its pid file just after multi returns; wait for
    # them so that the clean-up can always find the workers
    wait_for(lambda: len(project.pidfiles()) == count, timeout=30, detail=project.logs)


def online_nodes(project: Project) -> set[str]:
    result = project.celery('status', '--timeout', '2')
    return {node for node in project.nodes(9) if f'{node}: OK' in result.stdout}


class Test_cli_with_workers:

    def test_multi_start_status_and_stopwait(self, project: Project):
        # Given three workers started by multi
        start_workers(project, 3)
        expected = set(project.nodes(3))
        # Then status sees all of them
        wait_for(lambda: online_nodes(project) >= expected, timeout=60, detail=project.logs)
        assert len(project.pidfiles()) == 3
        pids = [int(p.read_text()) for p in project.pidfiles()]

        # When they are stopped, waiting
        result = project.celery('multi', 'stopwait', '3', *project.file_options,
                                timeout=120)
        # Then they are gone, and so are their pid files
        assert result.returncode == 0, result.stdout + result.stderr
        for node in expected:
            assert f'\t> {node}: OK' in result.stdout
        assert project.pidfiles() == []
        from celery.apps.multi import process_alive  # zombies count as gone
        assert not any(process_alive(pid) for pid in pids)

    def test_call_then_result(self, project: Project):
        start_workers(project, 1)
        called = project.celery('call', 'proj.add', '-a', '[2, 40]')
        assert called.returncode == 0, called.stderr
        task_id = called.stdout.strip()
        assert len(task_id) == 36
        result = project.celery('result', task_id, timeout=90)
        assert result.returncode == 0, result.stderr + project.logs()
        assert result.stdout.strip() == '42'
        stopped = project.celery('multi', 'stopwait', '1', *project.file_options,
                                 timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


class Test_purge:

    def test_purge_empties_the_queue(self, project: Project, redis_url: str):
        # Given waiting tasks and no worker
        for i in range(3):
            assert project.celery('call', 'proj.add', '-a', f'[{i}, {i}]').returncode == 0
        # When
        result = project.celery('purge', '-f')
        # Then
        assert result.returncode == 0, result.stderr
        assert 'Purged 3 messages from 1 known task queue.' in result.stdout
        from kombu import Connection
        with Connection(redis_url) as conn:
            _, messages, _ = conn.default_channel.queue_declare(project.queue, passive=False)
        assert messages == 0
        again = project.celery('purge', '-f')
        assert 'No messages purged from 1 queue.' in again.stdout

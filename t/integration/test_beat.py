"""``celery beat`` and ``celery worker -B`` end to end, on a real Redis.

A small project module is written to a temporary folder; ``celery beat``
and ``celery worker`` run from it as real processes.  The project's task
appends its argument to a Redis list, which the tests read.  Queue names,
Redis keys and schedule files are unique per test.
"""
from __future__ import annotations

import os
import shelve
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

PROJECT = textwrap.dedent('''
    import os

    import redis

    from celery import Celery
    from celery.schedules import crontab

    app = Celery('beatproj', broker=os.environ['BEAT_IT_BROKER'])
    app.conf.task_default_queue = os.environ['BEAT_IT_QUEUE']
    app.conf.beat_schedule = {
        'interval': {'task': 'beatproj.record', 'schedule': 1.0,
                     'args': ('interval',)},
        # Daily, twelve hours from now: due only through a missed run.
        'cron': {'task': 'beatproj.record',
                 'schedule': crontab(minute=0,
                                     hour=os.environ['BEAT_IT_CRON_HOUR']),
                 'args': ('cron',)},
    }

    _redis = redis.Redis.from_url(os.environ['BEAT_IT_BROKER'])


    @app.task(name='beatproj.record')
    def record(label):
        _redis.rpush(os.environ['BEAT_IT_KEY'], label)
''')


class Project:
    """The project folder, its environment and the processes it runs."""

    def __init__(self, folder: Path, broker: str) -> None:
        self.folder = folder
        self.broker = broker
        self.key = f'beat-it:{uuid.uuid4().hex}'
        self.queue = f'beat-it.{uuid.uuid4().hex}'
        self.schedule = str(folder / 'celerybeat-schedule')
        self.cron_hour = (datetime.now(timezone.utc).hour + 12) % 24
        (folder / 'beatproj.py').write_text(PROJECT)
        self.env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [
                str(folder), str(REPO), os.environ.get('PYTHONPATH')])),
            BEAT_IT_BROKER=broker, BEAT_IT_QUEUE=self.queue,
            BEAT_IT_KEY=self.key, BEAT_IT_CRON_HOUR=str(self.cron_hour))
        self.procs: list[subprocess.Popen] = []
        import redis
        self.redis = redis.Redis.from_url(broker)

    def start(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'celery', '-A', 'beatproj', *args],
            cwd=self.folder, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        return proc

    def beat(self) -> subprocess.Popen:
        return self.start('beat', '-s', self.schedule, '-l', 'info',
                          '--max-interval', '1')

    def worker(self, *extra: str) -> subprocess.Popen:
        return self.start('worker', '-P', 'solo', '-l', 'info',
                          '--without-mingle', '--without-gossip',
                          '--without-heartbeat', *extra)

    def stop(self, proc: subprocess.Popen, timeout: float = 20) -> str:
        """SIGTERM *proc*, wait for it, and return its output."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f'process did not stop on SIGTERM:\n{out}')
        return out

    def labels(self) -> list[str]:
        return [v.decode() for v in self.redis.lrange(self.key, 0, -1)]

    def wait_for(self, predicate, timeout: float = 30,
                 procs: tuple = ()) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            for proc in procs:
                if proc.poll() is not None:
                    out, _ = proc.communicate()
                    pytest.fail(f'process exited early:\n{out}')
            time.sleep(0.1)
        return False

    def stored_entries(self) -> dict:
        with shelve.open(self.schedule) as db:
            return dict(db['entries'])

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.redis.delete(self.key)
        self.redis.delete(self.queue)


@pytest.fixture
def project(tmp_path, redis_url):
    p = Project(tmp_path, redis_url)
    yield p
    p.close()


def make_cron_overdue(project: Project) -> None:
    """Write a schedule file in which the crontab entry missed a run."""
    from celery import Celery
    from celery.beat import PersistentScheduler
    from celery.schedules import crontab

    app = Celery('beatproj', broker=project.broker, set_as_current=False)
    app.conf.beat_schedule = {
        'cron': {'task': 'beatproj.record', 'args': ('cron',),
                 'schedule': crontab(minute=0, hour=project.cron_hour)}}
    s = PersistentScheduler(app=app, schedule_filename=project.schedule)
    s.schedule['cron'] = s.schedule['cron']._next_instance(
        app.now() - timedelta(days=1))
    s.close()


def test_beat_sends_to_worker(project):
    # Given a worker, and a schedule file where the crontab entry is overdue
    make_cron_overdue(project)
    worker = project.worker()
    beat = project.beat()
    try:
        # Then the 1-second entry runs again and again, the crontab one once
        assert project.wait_for(
            lambda: project.labels().count('interval') >= 3
            and 'cron' in project.labels(), procs=(worker, beat))
    finally:
        beat_out = project.stop(beat)
        project.stop(worker)
    assert project.labels().count('cron') == 1
    assert 'beat: Starting...' in beat_out
    assert 'Sending due task interval (beatproj.record)' in beat_out


def test_restart_keeps_last_run_at(project):
    beat = project.beat()
    assert project.wait_for(
        lambda: project.redis.llen(project.queue) >= 2, procs=(beat,))
    project.stop(beat)
    first = project.stored_entries()['interval']
    assert first.total_run_count >= 2

    beat = project.beat()
    sent_before = project.redis.llen(project.queue)
    assert project.wait_for(
        lambda: project.redis.llen(project.queue) >= sent_before + 2,
        procs=(beat,))
    project.stop(beat)
    second = project.stored_entries()['interval']
    assert second.total_run_count > first.total_run_count
    assert second.last_run_at > first.last_run_at


def test_worker_with_embedded_beat(project):
    worker = project.worker('-B', '-s', project.schedule)
    try:
        assert project.wait_for(
            lambda: project.labels().count('interval') >= 2,
            procs=(worker,))
    finally:
        out = project.stop(worker)
    assert worker.returncode == 0, out
    assert project.stored_entries()['interval'].total_run_count >= 2

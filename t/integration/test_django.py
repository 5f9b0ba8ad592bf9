"""A Django project (``django_proj/``) with its tasks run by a real worker.

The project is laid out as in "First steps with Django": ``proj/celery.py``
reads the ``CELERY_*`` settings through ``config_from_object(...,
namespace='CELERY')`` and calls ``autodiscover_tasks()``. Worker and client
run as subprocesses (Django's settings are process-wide), on Redis, with a
unique queue and a fresh SQLite database per test.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest


pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parent / 'django_proj'
DEADLINE = 60.0


@pytest.fixture
def project_env(redis_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(('CELERY_', 'DJANGO_'))}
    env.update(
        DJANGO_SETTINGS_MODULE='proj.settings',
        DJANGO_PROJ_DB=str(tmp_path / 'db.sqlite3'),
        DJANGO_PROJ_BROKER_URL=redis_url,
        DJANGO_PROJ_RESULT_BACKEND=redis_url,
        DJANGO_PROJ_QUEUE=f'django.{uuid.uuid4().hex}',
        PYTHONUNBUFFERED='1',
    )
    subprocess.run([sys.executable, 'manage.py', 'migrate', '-v', '0'], cwd=PROJECT, env=env,
                   check=True, timeout=DEADLINE)
    return env


class WorkerProcess:
    """``celery -A proj worker`` in the project directory, logging to a file."""

    def __init__(self, env: dict, log: Path, *args: str) -> None:
        self.log = log
        self.fh = open(log, 'wb')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'celery', '-A', 'proj', 'worker', '-l', 'INFO',
             '--without-heartbeat', '--without-mingle', '--without-gossip', *args],
            cwd=PROJECT, env=env, stdout=self.fh, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors='replace')

    def wait_ready(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while ' ready.' not in self.output():
            if self.proc.poll() is not None:
                pytest.fail(f'worker exited ({self.proc.returncode}):\n{self.output()}')
            if time.monotonic() > deadline:
                pytest.fail(f'worker not ready after {DEADLINE}s:\n{self.output()}')
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.fh.close()


@pytest.fixture(params=['solo', 'prefork'])
def worker(request, project_env, tmp_path):
    w = WorkerProcess(project_env, tmp_path / 'worker.log', '-P', request.param, '-c', '2')
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def client(env: dict, code: str) -> object:
    """Run ``code`` in a Django-configured client process; return its JSON output."""
    script = 'import django, json\ndjango.setup()\n' + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, '-c', script], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_tasks_run_through_the_worker(worker, project_env):
    # When the client calls the project's tasks
    out = client(project_env, '''
        from demoapp.tasks import add, create_widget, widget_names, runtime_info
        result = add.delay(2, 2)
        out = {
            'result_type': type(result).__name__,
            'add': result.get(timeout=30),
            'ids': [create_widget.delay(n).get(timeout=30) for n in ('b', 'a')],
            'names': widget_names.delay().get(timeout=30),
            'info': runtime_info.delay().get(timeout=30),
        }
        print(json.dumps(out))
    ''')
    # Then the worker ran them, with the database and Django's settings
    assert out['result_type'] == 'AsyncResult'  # TASK_ALWAYS_EAGER (no prefix) ignored
    assert out['add'] == 4
    assert out['ids'] == [1, 2]
    assert out['names'] == ['a', 'b']
    assert out['info']['settings_module'] == 'proj.settings'
    assert out['info']['time_zone'] == 'Europe/Paris'
    assert out['info']['aware_now'] is True
    # connections are closed around tasks (CONN_MAX_AGE = 0)
    assert out['info']['connection_open'] is False
    log = worker.output()
    assert 'demoapp.tasks.create_widget' in log  # autodiscovered, listed in the banner
    assert 'Traceback' not in log


def test_settings_and_discovery(project_env):
    out = client(project_env, '''
        from proj.celery import app
        conf = app.conf
        app.loader.import_default_modules()
        print(json.dumps({
            'broker': conf.broker_url,
            'queue': conf.task_default_queue,
            'eager': conf.task_always_eager,
            'timezone': conf.timezone,
            'extended': conf.result_extended,
            'tasks': sorted(t for t in app.tasks if not t.startswith('celery.')),
            'fixups': [type(f).__name__ for f in app._fixups],
            'now_aware': app.loader.now().tzinfo is not None,
        }))
    ''')
    assert out['broker'] == project_env['DJANGO_PROJ_BROKER_URL']
    assert out['queue'] == project_env['DJANGO_PROJ_QUEUE']
    assert out['eager'] is False
    assert out['timezone'] == 'Europe/Paris'
    assert out['extended'] is True
    assert out['tasks'] == ['demoapp.tasks.add', 'demoapp.tasks.create_widget',
                            'demoapp.tasks.runtime_info', 'demoapp.tasks.widget_names',
                            'proj.celery.debug_task']
    assert out['fixups'] == ['DjangoFixup']
    assert out['now_aware'] is True


def test_on_commit_sends_only_after_the_transaction_commits(worker, project_env):
    # Given: the project's tasks, with their sends recorded
    out = client(project_env, '''
        from django.db import transaction
        from celery.contrib.django.task import DjangoTask
        from celery.utils import uuid
        from demoapp.models import Widget
        from demoapp.tasks import widget_names

        sent = []
        send = widget_names.apply_async
        widget_names.apply_async = lambda *a, **kw: sent.append(kw.get('task_id')) or send(*a, **kw)
        committed, rolled_back = uuid(), uuid()
        # When: one transaction commits and one rolls back
        with transaction.atomic():
            Widget.objects.create(name='committed')
            widget_names.apply_async_on_commit(task_id=committed)
            sent_inside = list(sent)
        try:
            with transaction.atomic():
                Widget.objects.create(name='rolled back')
                widget_names.apply_async_on_commit(task_id=rolled_back)
                raise RuntimeError('roll back')
        except RuntimeError:
            pass
        sent_after = list(sent)
        widget_names.delay_on_commit()
        print(json.dumps({
            'task_class': isinstance(widget_names, DjangoTask),
            'sent_inside': sent_inside,
            'sent_after': sent_after,
            'sent_outside_a_transaction': len(sent) - len(sent_after),
            'names': widget_names.AsyncResult(committed).get(timeout=30),
        }))
    ''')
    # Then: only the committed send left, after the commit, and its task saw the row
    assert out['task_class'] is True
    assert out['sent_inside'] == []
    assert out['sent_after'] == [out['sent_after'][0]] and out['sent_after'][0]
    assert out['sent_outside_a_transaction'] == 1
    assert out['names'] == ['committed']

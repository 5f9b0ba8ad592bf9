"""Real workers against real brokers: ``python -m celery worker`` and ``start_worker``.

One worker process per broker is shared by the tests that don't disturb
it (module-scoped fixtures); tests that stop or kill things start their
own.  Everything waits by polling with a deadline.  Queues and task
modules carry a unique suffix: other suites use the same servers.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from t.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]

TASKS = '''
import os
import signal
import time

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

app = Celery(__name__)
app.conf.update(
    task_default_queue=os.environ['ITEST_QUEUE'],
    worker_lost_wait=1.0,
    broker_connection_retry_on_startup=True,
    result_expires=600,
)
if os.environ.get('ITEST_FS_DIR'):
    folder = os.environ['ITEST_FS_DIR']
    app.conf.broker_transport_options = {
        'data_folder_in': folder, 'data_folder_out': folder,
        'control_folder': folder + '-control', 'polling_interval': 0.05,
    }


@app.task
def add(x, y):
    return x + y


@app.task
def now():
    return time.time()


@app.task
def pool_pids():
    """The pids of the pool processes (the children of our parent)."""
    ppid = os.getppid()
    pids = set()
    for task in os.listdir(f'/proc/{ppid}/task'):
        with open(f'/proc/{ppid}/task/{task}/children') as fh:
            pids.update(int(p) for p in fh.read().split())
    return sorted(pids)


@app.task
def getpid():
    return os.getpid()


@app.task(soft_time_limit=0.5, time_limit=10)
def soft_limited():
    try:
        time.sleep(8)
    except SoftTimeLimitExceeded:
        return 'soft limit caught'
    return 'not interrupted'


@app.task(time_limit=1)
def hard_limited():
    time.sleep(30)


@app.task(acks_late=True, reject_on_worker_lost=True)
def die_once(marker):
    if not os.path.exists(marker):
        open(marker, 'w').close()
        os.kill(os.getpid(), signal.SIGKILL)
    return 'redelivered'


@app.task(acks_late=True)
def die():
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(rate_limit='5/s')
def limited():
    return time.time()


@app.task
def touch(path, seconds=0):
    open(path + '.started', 'w').close()
    time.sleep(seconds)
    with open(path, 'a') as fh:
        fh.write('x')
    return path
'''


class WorkerProcess:
    """A ``python -m celery worker`` subprocess on its own queue and task module."""

    def __init__(self, tmp: Path, broker: str, backend: str, *args: str,
                 fs_dir: str | None = None) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.module = f'itasks_{suffix}'
        self.queue = f'itest.worker.{suffix}'
        self.dir = tmp
        (tmp / f'{self.module}.py').write_text(textwrap.dedent(TASKS))
        self.log = tmp / f'{self.module}.log'
        self.env = dict(os.environ, CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=backend,
                        ITEST_QUEUE=self.queue,
                        PYTHONPATH=os.pathsep.join([str(REPO), str(tmp)]))
        if fs_dir:
            self.env['ITEST_FS_DIR'] = fs_dir
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.app = self._client_app(broker, backend, fs_dir)

    def _client_app(self, broker: str, backend: str, fs_dir: str | None) -> Any:
        saved = dict(os.environ)
        os.environ.update(ITEST_QUEUE=self.queue)
        if fs_dir:
            os.environ['ITEST_FS_DIR'] = fs_dir
        sys.path.insert(0, str(self.dir))
        try:
            module = __import__(self.module)
        finally:
            sys.path.remove(str(self.dir))
            os.environ.clear()
            os.environ.update(saved)
        app = module.app
        app.conf.broker_url = broker
        app.conf.result_backend = backend
        self.tasks = module
        return app

    def start(self, mingle: bool = False) -> WorkerProcess:
        cmd = [sys.executable, '-m', 'celery', '-A', self.module, 'worker',
               '-l', 'INFO', '-Q', self.queue, '-n', f'{self.module}@%h',
               '--without-gossip', '--without-heartbeat', *self.args]
        if not mingle:
            cmd.append('--without-mingle')
        with open(self.log, 'ab') as fh:
            self.proc = subprocess.Popen(cmd, cwd=self.dir, env=self.env,
                                         stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for(lambda: 'ready.' in self.output() or self.proc.poll() is not None,
                 timeout=30, what='worker ready')
        assert self.proc.poll() is None, self.output()
        return self

    def output(self) -> str:
        return self.log.read_text(errors='replace') if self.log.exists() else ''

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f'worker did not exit:\n{self.output()[-3000:]}')

    def get(self, result: Any, timeout: float = 20.0, propagate: bool = True) -> Any:
        return result.get(timeout=timeout, propagate=propagate, disable_sync_subtasks=False)


@pytest.fixture(scope='module')
def tmp(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp('worker')


@pytest.fixture(scope='module')
def results(redis_url: str) -> str:
    return redis_url.rsplit('/', 1)[0] + '/14'


@pytest.fixture(scope='module')
def amqp_worker(tmp: Path, amqp_url: str, results: str) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(tmp, amqp_url, results, '-c', '2').start()
    yield worker
    worker.stop()


@pytest.fixture(scope='module')
def redis_worker(tmp: Path, redis_url: str, results: str) -> Iterator[WorkerProcess]:
    broker = redis_url.rsplit('/', 1)[0] + '/13'
    worker = WorkerProcess(tmp, broker, results, '-c', '2').start()
    yield worker
    worker.stop()


@pytest.fixture(scope='module')
def fs_worker(tmp: Path, results: str) -> Iterator[WorkerProcess]:
    folder = tmp / f'fs-broker-{uuid.uuid4().hex[:6]}'
    folder.mkdir()
    (tmp / f'{folder.name}-control').mkdir()
    worker = WorkerProcess(tmp, 'filesystem://', results, '-c', '1',
                           fs_dir=str(folder)).start()
    yield worker
    worker.stop()


# -- tasks run, on every broker ---------------------------------------------------------

@pytest.mark.parametrize('fixture', ['amqp_worker', 'redis_worker', 'fs_worker'])
def test_tasks_run_and_results_come_back(fixture: str, request: Any) -> None:
    # Given a worker on the broker
    worker = request.getfixturevalue(fixture)
    # When tasks are sent
    results = [worker.tasks.add.delay(i, i) for i in range(10)]
    # Then every result comes back
    assert [worker.get(r) for r in results] == [i * 2 for i in range(10)]
    assert 'succeeded in' in worker.output()


# -- time limits ------------------------------------------------------------------------

def test_soft_time_limit_raises_in_the_task(amqp_worker: WorkerProcess) -> None:
    result = amqp_worker.tasks.soft_limited.delay()
    assert amqp_worker.get(result, timeout=15) == 'soft limit caught'
    assert 'Soft time limit (0.5s) exceeded' in amqp_worker.output()


def test_hard_time_limit_kills_only_that_child(amqp_worker: WorkerProcess) -> None:
    tasks = amqp_worker.tasks
    # Given the two pool processes
    before = set(amqp_worker.get(tasks.pool_pids.delay()))
    assert len(before) == 2
    # When a task runs past its hard time limit
    result = tasks.hard_limited.delay()
    with pytest.raises(Exception) as excinfo:
        amqp_worker.get(result, timeout=20)
    # Then it fails with TimeLimitExceeded
    assert 'TimeLimitExceeded' in type(excinfo.value).__name__ + repr(excinfo.value)
    # and one child was replaced, the other one kept
    after = wait_for(lambda: (lambda p: p if len(p) == 2 and p != before else None)(
        set(amqp_worker.get(tasks.pool_pids.delay()))), what='child replaced')
    assert len(before & after) == 1
    assert 'Hard time limit (1s) exceeded' in amqp_worker.output()
    # and the worker still works
    assert amqp_worker.get(tasks.add.delay(1, 2)) == 3


# -- a child killed under a late-acked task -----------------------------------------------

def test_acks_late_task_of_a_killed_child_is_redelivered(amqp_worker: WorkerProcess,
                                                         tmp: Path) -> None:
    marker = tmp / f'died-{uuid.uuid4().hex[:8]}'
    result = amqp_worker.tasks.die_once.delay(str(marker))
    assert amqp_worker.get(result, timeout=30) == 'redelivered'
    assert marker.exists()


def test_killed_child_fails_the_task_with_worker_lost_error(amqp_worker: WorkerProcess) -> None:
    result = amqp_worker.tasks.die.delay()
    with pytest.raises(Exception) as excinfo:
        amqp_worker.get(result, timeout=30)
    assert 'WorkerLostError' in type(excinfo.value).__name__ + repr(excinfo.value)
    assert amqp_worker.get(amqp_worker.tasks.add.delay(2, 2)) == 4


# -- ETA, rate limits, revokes --------------------------------------------------------------

def test_eta_task_runs_at_its_time_not_before(redis_worker: WorkerProcess) -> None:
    sent = time.time()
    result = redis_worker.tasks.now.apply_async(countdown=1.5)
    ran = redis_worker.get(result, timeout=20)
    assert ran >= sent + 1.5 - 0.01
    assert ran < sent + 10


def test_rate_limited_task_is_throttled(redis_worker: WorkerProcess) -> None:
    results = [redis_worker.tasks.limited.delay() for _ in range(6)]
    times = sorted(redis_worker.get(r) for r in results)
    # 5/s with a bucket of one: six tasks take at least a second
    assert times[-1] - times[0] >= 0.9


def test_revoked_task_does_not_run(redis_worker: WorkerProcess, tmp: Path) -> None:
    marker = tmp / f'revoked-{uuid.uuid4().hex[:8]}'
    result = redis_worker.tasks.touch.apply_async((str(marker),), countdown=2)
    redis_worker.app.control.revoke(result.id)
    wait_for(lambda: f'Discarding revoked task: {redis_worker.tasks.touch.name}[{result.id}]'
             in redis_worker.output(), timeout=15, what='task discarded')
    assert result.state == 'REVOKED'
    assert not marker.exists()


def test_a_new_worker_learns_revoked_ids_by_mingling(redis_worker: WorkerProcess, tmp: Path,
                                                     redis_url: str, results: str) -> None:
    # Given a running worker that knows a revoked id
    revoked_id = str(uuid.uuid4())
    redis_worker.app.control.revoke(revoked_id)
    wait_for(lambda: 'Tasks flagged as revoked' in redis_worker.output() and
             revoked_id in redis_worker.output(), what='revoke received')
    # When another worker starts (with mingle)
    broker = redis_url.rsplit('/', 1)[0] + '/13'
    newcomer = WorkerProcess(tmp, broker, results, '-c', '1').start(mingle=True)
    try:
        wait_for(lambda: 'mingle: sync with' in newcomer.output() or
                 'mingle: all alone' in newcomer.output(), what='mingle done')
        assert 'mingle: sync with' in newcomer.output()
        # Then it discards the revoked task too
        marker = tmp / f'mingled-{uuid.uuid4().hex[:8]}'
        newcomer.tasks.touch.apply_async((str(marker),), task_id=revoked_id)
        wait_for(lambda: f'Discarding revoked task: {newcomer.tasks.touch.name}[{revoked_id}]'
                 in newcomer.output(), what='revoked task discarded')
        assert newcomer.get(newcomer.tasks.add.delay(1, 1)) == 2
        assert not marker.exists()
    finally:
        newcomer.stop()


# -- bad messages -------------------------------------------------------------------------------

def test_bad_messages_are_logged_and_the_worker_goes_on(amqp_worker: WorkerProcess) -> None:
    app = amqp_worker.app
    queue = amqp_worker.queue
    bad_id = str(uuid.uuid4())
    with app.producer_or_acquire() as producer:
        # an unknown task
        producer.publish([[], {}, {}], routing_key=queue, serializer='json',
                         headers={'task': 'no.such.task', 'id': bad_id, 'lang': 'py'})
        # a task header with a body that is not JSON
        producer.publish(b'{this is not json', routing_key=queue,
                         content_type='application/json', content_encoding='utf-8',
                         headers={'task': amqp_worker.tasks.add.name, 'id': str(uuid.uuid4()),
                                  'lang': 'py'})
        # a content type the worker does not accept (pickle)
        producer.publish([[1, 2], {}, {}], routing_key=queue, serializer='pickle',
                         headers={'task': amqp_worker.tasks.add.name, 'id': str(uuid.uuid4()),
                                  'lang': 'py'})
        # a protocol 1 body that is not a task at all
        producer.publish({'hello': 'world'}, routing_key=queue, serializer='json')
    # the worker still runs tasks
    assert amqp_worker.get(amqp_worker.tasks.add.delay(20, 22)) == 42
    out = wait_for(lambda: (lambda o: o if 'unknown message' in o else None)(
        amqp_worker.output()), what='all bad messages logged')
    assert 'Received unregistered task of type' in out and 'no.such.task' in out
    assert 'Received invalid task message' in out
    assert 'Refusing to deserialize untrusted content of type pickle' in out
    assert 'Received and deleted unknown message' in out
    # the unknown task's caller gets a failure instead of waiting forever
    failure = app.AsyncResult(bad_id)
    wait_for(lambda: failure.state == 'FAILURE', what='unknown task marked failed')


# -- child recycling ----------------------------------------------------------------------------

def test_max_tasks_per_child_replaces_children(tmp: Path, redis_url: str, results: str) -> None:
    broker = redis_url.rsplit('/', 1)[0] + '/13'
    worker = WorkerProcess(tmp, broker, results, '-c', '1', '--max-tasks-per-child', '2').start()
    try:
        pids = [worker.get(worker.tasks.getpid.delay()) for _ in range(5)]
    finally:
        worker.stop()
    assert pids[0] == pids[1]
    assert len(set(pids)) >= 3


# -- shutdown ---------------------------------------------------------------------------------

def test_warm_shutdown_finishes_running_tasks_and_loses_none(tmp: Path, amqp_url: str,
                                                            results: str) -> None:
    worker = WorkerProcess(tmp, amqp_url, results, '-c', '1').start()
    tasks = worker.tasks
    slow_marker = tmp / f'slow-{uuid.uuid4().hex[:8]}'
    # Given a running task and more waiting behind it
    slow = tasks.touch.delay(str(slow_marker), 2)
    wait_for(lambda: Path(f'{slow_marker}.started').exists(), what='slow task started')
    waiting = [tasks.add.delay(i, 1) for i in range(6)]
    # When the worker is told to stop (warm)
    code = worker.stop(signal.SIGTERM)
    # Then it exits cleanly after finishing the running task
    assert code == 0, worker.output()[-3000:]
    assert slow_marker.exists()
    assert worker.get(slow) == str(slow_marker)
    assert 'Warm shutdown' in worker.output()
    # and every waiting task runs (here, or after a restart)
    worker.start()
    try:
        assert [worker.get(r, timeout=30) for r in waiting] == [i + 1 for i in range(6)]
    finally:
        worker.stop()


def test_sigterm_to_the_whole_process_group_still_exits(tmp: Path, amqp_url: str,
                                                        results: str) -> None:
    # as `timeout` and systemd do: the pool children get the signal too,
    # and may die holding the job pipe's lock
    for _ in range(3):
        worker = WorkerProcess(tmp, amqp_url, results, '-c', '2').start()
        assert worker.get(worker.tasks.add.delay(1, 1)) == 2
        worker.tasks.getpid.delay()
        os.killpg(worker.proc.pid, signal.SIGTERM)
        try:
            worker.proc.wait(15)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            raise AssertionError('the worker hung at exit')


# -- the embedded test worker -------------------------------------------------------------------

@pytest.mark.parametrize('pool', ['solo', 'threads'])
def test_start_worker_runs_tasks(pool: str, redis_url: str, results: str) -> None:
    from celery import Celery
    from celery.contrib.testing.worker import start_worker

    queue = f'itest.embedded.{uuid.uuid4().hex[:8]}'
    app = Celery('itest_embedded', broker=redis_url.rsplit('/', 1)[0] + '/13',
                 backend=results, set_as_current=False)
    app.conf.task_default_queue = queue
    app.conf.worker_hijack_root_logger = False

    @app.task
    def mul(x: int, y: int) -> int:
        return x * y

    with start_worker(app, pool=pool, concurrency=2, shutdown_timeout=15):
        assert mul.delay(6, 7).get(timeout=10) == 42
        assert [r.get(timeout=10) for r in [mul.delay(i, i) for i in range(5)]] == \
            [0, 1, 4, 9, 16]


# -- prefetch ----------------------------------------------------------------------------------

@pytest.mark.parametrize('disable_prefetch', [False, True], ids=['prefetch', 'no-prefetch'])
def test_disable_prefetch_leaves_waiting_tasks_in_the_redis_queue(
        tmp: Path, redis_url: str, results: str, disable_prefetch: bool) -> None:
    import redis
    broker = redis_url.rsplit('/', 1)[0] + '/13'
    worker = WorkerProcess(tmp, broker, results, '-c', '1',
                           *(['--disable-prefetch'] if disable_prefetch else []))
    marker = tmp / f'long-{uuid.uuid4().hex[:8]}'
    # Given: a long task and a short one queued before the worker starts
    long = worker.tasks.touch.delay(str(marker), 1.5)
    short = worker.tasks.add.delay(1, 1)
    client = redis.Redis.from_url(broker)
    worker.start()
    try:
        wait_for(lambda: Path(f'{marker}.started').exists(), what='the long task to start')
        # Then: without prefetch the short task waits in the queue, not in the worker
        assert client.llen(worker.queue) == (1 if disable_prefetch else 0)
        assert worker.get(long) == str(marker) and worker.get(short) == 2
    finally:
        worker.stop()
        client.close()


def test_disable_prefetch_is_ignored_with_a_warning_on_rabbitmq(
        tmp: Path, amqp_url: str, results: str) -> None:
    worker = WorkerProcess(tmp, amqp_url, results, '-c', '1', '--disable-prefetch').start()
    try:
        assert worker.get(worker.tasks.add.delay(2, 2)) == 4
        assert 'worker_disable_prefetch is only supported with Redis' in worker.output()
    finally:
        worker.stop()

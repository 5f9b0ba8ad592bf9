"""``celery worker``: options reach the worker; the Worker program's banner and signals."""
from __future__ import annotations

import logging
import signal
from typing import Any

import click
import pytest

from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadPool
from celery.exceptions import SecurityError
from celery.worker import state


@pytest.fixture
def started(cli_app: Any, monkeypatch: pytest.MonkeyPatch) -> list:
    """Replace ``app.Worker`` with a recorder; return the recorded option dicts."""
    made: list = []

    class FakeWorker:
        exitcode = None

        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)
            self.exitcode = kwargs.get('fake_exitcode')

        def start(self) -> None:
            if made[-1].get('raise_security'):
                raise SecurityError('running as root with pickle: refused')

    monkeypatch.setattr(cli_app, 'Worker', FakeWorker, raising=False)
    return made


def test_options_are_passed_to_the_worker(celery_cli: Any, started: list) -> None:
    result = celery_cli('worker', '-c', '3', '-P', 'solo', '-Q', 'a,b', '-X', 'c',
                        '-l', 'info', '-n', 'w1@%h', '--autoscale', '4,2', '-E',
                        '--time-limit', '10', '--soft-time-limit', '5',
                        '--max-tasks-per-child', '7', '--max-memory-per-child', '1000',
                        '--without-mingle', '--without-gossip', '--without-heartbeat',
                        '--purge', '-O', 'fair', '--prefetch-multiplier', '2', '-B',
                        '-I', 'mod1,mod2', '--pidfile', '/tmp/w-%n.pid')
    assert result.exit_code == 0, result.output
    opts = started[0]
    assert opts['concurrency'] == 3
    assert opts['pool'] is SoloPool
    assert opts['queues'] == ['a', 'b'] and opts['exclude_queues'] == ['c']
    assert opts['loglevel'] == logging.INFO
    assert opts['hostname'].startswith('w1@') and '%h' not in opts['hostname']
    assert opts['autoscale'] == (4, 2)
    assert opts['task_events'] is True
    assert (opts['time_limit'], opts['soft_time_limit']) == (10.0, 5.0)
    assert opts['max_tasks_per_child'] == 7 and opts['max_memory_per_child'] == 1000
    assert opts['without_mingle'] and opts['without_gossip'] and opts['without_heartbeat']
    assert opts['purge'] and opts['optimization'] == 'fair'
    assert opts['prefetch_multiplier'] == 2 and opts['beat']
    assert opts['include'] == ['mod1', 'mod2']
    assert opts['pidfile'] == '/tmp/w-w1.pid'


def test_defaults_come_from_the_settings(celery_cli: Any, started: list, cli_app: Any) -> None:
    cli_app.conf.worker_concurrency = 5
    cli_app.conf.worker_pool = 'threads'
    result = celery_cli('worker')
    assert result.exit_code == 0, result.output
    assert started[0]['concurrency'] == 5
    assert started[0]['pool'] is ThreadPool
    assert started[0]['loglevel'] == logging.WARNING


def test_bad_values_are_usage_errors(celery_cli: Any, started: list) -> None:
    result = celery_cli('worker', '-P', 'nope')
    assert result.exit_code == 2 and "Invalid value for '-P'" in result.output
    result = celery_cli('worker', '--autoscale', '1,2,3')
    assert result.exit_code == 2 and 'Expected two comma separated integers' in result.output
    result = celery_cli('worker', '-l', 'LOUD')
    assert result.exit_code == 2
    assert started == []


def test_extra_arguments_set_worker_settings(celery_cli: Any, started: list,
                                             cli_app: Any) -> None:
    result = celery_cli('worker', '--', 'prefetch_multiplier=9')
    assert result.exit_code == 0, result.output
    assert cli_app.conf.worker_prefetch_multiplier == 9


def test_security_errors_are_one_line(celery_cli: Any, started: list, cli_app: Any) -> None:
    cli_app.user_options['worker'].add(click.Option(('--raise-security',), is_flag=True))
    result = celery_cli('worker', '--raise-security')
    assert result.exit_code == 1
    assert 'running as root with pickle: refused' in result.output


def test_user_options_reach_the_worker(celery_cli: Any, started: list, cli_app: Any) -> None:
    cli_app.user_options['worker'].add(click.Option(('--enable-my-option',), is_flag=True))
    result = celery_cli('worker', '--enable-my-option')
    assert result.exit_code == 0, result.output
    assert started[0]['enable_my_option'] is True


# -- the Worker program --------------------------------------------------------------------

@pytest.fixture
def program(app: Any, current_app_restored: None) -> Any:
    app.conf.worker_hijack_root_logger = False

    @app.task(shared=False, name='proj.tasks.add')
    def add(x: int, y: int) -> int:
        return x + y

    from celery.app.log import Logging
    was = Logging._setup
    Logging._setup = True  # leave the test process's logging alone
    worker = app.Worker(hostname='prog@host', pool_cls='solo', loglevel='INFO', concurrency=1,
                        without_mingle=True, without_gossip=True, quiet=True)
    yield worker
    Logging._setup = was
    from celery.app import trace
    trace.reset_worker_optimizations(app)


def test_banner_shows_the_configuration(program: Any) -> None:
    info = program.startup_info()
    assert 'prog@host v5.7' in info
    assert '[config]' in info and '.> transport:   memory://' in info
    assert '.> concurrency: 1 (solo)' in info
    assert 'OFF (enable -E to monitor tasks in this worker)' in info
    assert '[queues]' in info and '.> celery' in info
    assert '  . proj.tasks.add' in program.extra_info()
    assert 'celery.ping' not in program.extra_info() or program.loglevel <= logging.DEBUG


def test_banner_platform_is_looked_up_during_init(app: Any, current_app_restored: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``platform.platform()`` (a ``uname -p`` subprocess) runs in a thread from init on."""
    import platform
    import threading

    release = threading.Event()
    calls = []

    def slow_platform() -> str:
        calls.append(threading.current_thread().name)
        release.wait(5)
        return 'Plan9-4-mips'

    monkeypatch.setattr(platform, 'platform', slow_platform)
    from celery.app.log import Logging
    monkeypatch.setattr(Logging, '_setup', True)
    app.conf.worker_hijack_root_logger = False
    worker = app.Worker(hostname='probe@host', pool_cls='solo', concurrency=1,
                        without_mingle=True, without_gossip=True)
    try:
        probe = worker._platform_probe
        assert probe is not None and probe.is_alive()  # still waiting on "uname -p"
        release.set()
        assert 'Plan9-4-mips' in worker.startup_info()  # joins the probe first
        assert not probe.is_alive() and worker._platform_probe is None
        assert calls[0] == 'platform-probe'
    finally:
        release.set()
        from celery.app import trace
        trace.reset_worker_optimizations(app)


def test_quiet_worker_does_not_probe_the_platform(program: Any) -> None:
    assert program._platform_probe is None


def test_signal_handlers_set_the_shutdown_flags(program: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from celery.apps import worker as apps_worker
    installed = {}
    monkeypatch.setattr(type(apps_worker.platforms.signals), '__setitem__',
                        lambda self, sig, handler: installed.__setitem__(sig, handler))
    program._isatty = False
    program.install_platform_tweaks(program)
    assert {'SIGTERM', 'SIGQUIT', 'SIGINT', 'SIGHUP', 'SIGUSR1'} <= set(installed)
    woken = []
    monkeypatch.setattr(program, 'wakeup', lambda: woken.append(1))
    try:
        installed['SIGTERM'](signal.SIGTERM, None)
        assert state.should_stop == 0 and woken
        installed['SIGQUIT'](signal.SIGQUIT, None)
        assert state.should_terminate == 1
        installed['SIGINT'](signal.SIGINT, None)  # warm, and re-arms INT as cold
        assert installed['SIGINT'].__name__ == 'worker_Cold'
    finally:
        state.should_stop = state.should_terminate = None


def test_cry_dumps_every_thread() -> None:
    from celery.apps.worker import cry
    assert 'MainThread' in cry()


@pytest.fixture(autouse=True)
def _no_leftovers(current_app_restored: None) -> Any:
    from celery._state import _set_task_join_will_block, task_join_will_block
    from celery.app import trace
    blocks = task_join_will_block()
    yield
    _set_task_join_will_block(blocks)
    trace.reset_worker_optimizations()
    state.should_stop = state.should_terminate = None

"""Tests for ``celery multi`` (celery.bin.multi).

Starting and stopping use a stand-in for ``celery worker --detach``: a small
script that daemonizes, writes its pid file and exits on SIGTERM (removing
the pid file), so no real worker or broker is needed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from celery.bin.multi import MultiTool
from celery.utils.nodenames import gethostname
from t.waiting import wait_for

FAKE_WORKER = r'''
import os, signal, sys
opts = dict(arg.split('=', 1) for arg in sys.argv[1:] if arg.startswith('--') and '=' in arg)
if '--fail' in sys.argv:
    sys.exit(3)
pidfile = opts['--pidfile']
if os.fork():
    sys.exit(0)          # the starter returns at once, like --detach
os.setsid()
if os.fork():
    os._exit(0)
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)

def bye(*args):
    os.unlink(pidfile)
    os._exit(0)

signal.signal(signal.SIGTERM, bye)
with open(os.environ['FAKE_WORKER_REGISTRY'], 'a') as fh:  # for the test's clean-up
    fh.write(f'{os.getpid()}\n')
with open(pidfile + '.tmp', 'w') as fh:
    fh.write(f'{os.getpid()}\n')
os.rename(pidfile + '.tmp', pidfile)
while True:
    signal.pause()
'''


def read_pid(path):
    with open(path) as fh:
        return int(fh.read())


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Options that make multi start the fake worker with files in tmp_path."""
    script = tmp_path / 'fake_worker.py'
    script.write_text(FAKE_WORKER)
    registry = tmp_path / 'started'
    registry.touch()
    monkeypatch.setenv('FAKE_WORKER_REGISTRY', str(registry))
    pidfiles = tmp_path / 'run'
    yield {
        'options': [f'--cmd={script}', f'--pidfile={pidfiles}/%n.pid',
                    f'--logfile={tmp_path}/log/%n%I.log', '--hostname=box'],
        'pidfile': lambda name: pidfiles / f'{name}.pid',
    }
    # always clean up what a test started, stopped or not
    for pid in registry.read_text().split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


class Test_multi_commands:

    def test_show(self, celery_cli):
        result = celery_cli('multi', 'show', '2', '-c:2', '4', '--hostname=box',
                            '--pidfile=/run/%n.pid', '--', 'x=1')
        assert result.exit_code == 0, result.output
        first, second = result.output.splitlines()
        assert first.startswith(f'{sys.executable} -m celery worker --detach')
        assert '-n celery1@box' in first and '--pidfile=/run/celery1.pid' in first
        assert '-c 4' in second and '-c' not in first.split()
        assert first.endswith('-- x=1')

    def test_global_options_go_before_the_worker_command(self, celery_cli):
        result = celery_cli('--broker', 'memory://x', '-C', 'multi', 'show', 'w1',
                            '-A', 'proj')
        assert result.exit_code == 0, result.output
        argv = result.output.split()
        worker_at = argv.index('worker')
        assert '--broker=memory://x' in argv[:worker_at]
        assert '--no-color' not in argv  # for multi's own output only
        assert '-A' in argv[:worker_at] and argv[argv.index('-A') + 1] == 'proj'

    def test_names(self, celery_cli):
        result = celery_cli('multi', 'names', '3', '--range-prefix=w', '-n', 'box')
        assert result.exit_code == 0, result.output
        assert result.output.split() == ['w1@box', 'w2@box', 'w3@box']

    def test_expand(self, celery_cli):
        result = celery_cli('multi', 'expand', '/var/run/%n.pid', 'a', 'b')
        assert result.exit_code == 0, result.output
        assert result.output.split() == ['/var/run/a.pid', '/var/run/b.pid']

    def test_get(self, celery_cli):
        result = celery_cli('multi', 'get', 'b', 'a', 'b', '-c:b', '9')
        assert result.exit_code == 0, result.output
        assert f'-n b@{gethostname()}' in result.output and '-c 9' in result.output
        result = celery_cli('multi', 'get', 'zz', 'a', 'b')
        assert result.exit_code == 1
        assert "No node named 'zz'" in result.output

    @pytest.mark.parametrize('args', [('help',), ('--help',)])
    def test_help(self, celery_cli, args):
        result = celery_cli('multi', *args)
        assert result.exit_code == 0
        assert 'usage: celery multi' in result.output
        assert 'stopwait' in result.output

    def test_no_command(self, celery_cli):
        result = celery_cli('multi')
        assert result.exit_code == 64
        assert 'usage: celery multi' in result.output

    def test_invalid_command(self, celery_cli):
        result = celery_cli('multi', 'launch', '3')
        assert result.exit_code == 64
        assert "Invalid command: 'launch'" in result.output

    def test_no_nodes(self, celery_cli):
        result = celery_cli('multi', 'start', '-c', '2')
        assert result.exit_code == 64
        assert 'no nodes given' in result.output

    def test_bad_index(self, celery_cli):
        result = celery_cli('multi', 'show', '2', '-c:3', '1')
        assert result.exit_code == 64
        assert 'No node at index 3' in result.output
        assert 'Traceback' not in result.output


class Test_multi_lifecycle:

    def test_start_and_stopwait(self, celery_cli, fake):
        # When
        result = celery_cli('multi', 'start', '2', *fake['options'])
        # Then
        assert result.exit_code == 0, result.output
        assert 'celery multi v' in result.output
        assert '> Starting nodes...' in result.output
        assert '\t> celery1@box: OK' in result.output
        assert '\t> celery2@box: OK' in result.output
        pidfiles = [fake['pidfile']('celery1'), fake['pidfile']('celery2')]
        assert wait_for(lambda: all(p.exists() for p in pidfiles))
        pids = [read_pid(p) for p in pidfiles]

        # When
        result = celery_cli('multi', 'stopwait', '2', *fake['options'])
        # Then
        assert result.exit_code == 0, result.output
        assert '> Stopping nodes...' in result.output
        assert f'\t> celery1@box: TERM -> {pids[0]}' in result.output
        assert '> Waiting for 2 nodes' in result.output
        assert '\t> celery2@box: OK' in result.output
        assert not any(p.exists() for p in pidfiles)
        from celery.apps.multi import process_alive
        assert not any(process_alive(pid) for pid in pids)

    def test_stop_does_not_wait(self, celery_cli, fake):
        assert celery_cli('multi', 'start', 'w1', *fake['options']).exit_code == 0
        pidfile = fake['pidfile']('w1')
        assert wait_for(pidfile.exists)
        result = celery_cli('multi', 'stop', 'w1', *fake['options'])
        assert result.exit_code == 0, result.output
        assert 'TERM ->' in result.output
        assert 'Waiting' not in result.output
        assert wait_for(lambda: not pidfile.exists())

    def test_stop_nodes_that_are_down(self, celery_cli, fake):
        result = celery_cli('multi', 'stopwait', 'w1', *fake['options'])
        assert result.exit_code == 0, result.output
        assert '> w1@box: DOWN' in result.output

    def test_stale_pidfile_is_removed(self, celery_cli, fake):
        pidfile = fake['pidfile']('w1')
        pidfile.parent.mkdir(parents=True)
        proc = subprocess.Popen([sys.executable, '-c', 'pass'])
        proc.wait()
        pidfile.write_text(f'{proc.pid}\n')
        result = celery_cli('multi', 'stopwait', 'w1', *fake['options'])
        assert result.exit_code == 0, result.output
        assert '> w1@box: DOWN' in result.output
        assert not pidfile.exists()

    def test_start_over_a_stale_pidfile(self, celery_cli, fake):
        pidfile = fake['pidfile']('w1')
        pidfile.parent.mkdir(parents=True)
        pidfile.write_text('not a pid')
        result = celery_cli('multi', 'start', 'w1', *fake['options'])
        assert result.exit_code == 0, result.output
        assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit())
        assert celery_cli('multi', 'stopwait', 'w1', *fake['options']).exit_code == 0

    def test_failed_start(self, celery_cli, fake):
        result = celery_cli('multi', 'start', 'w1', *fake['options'], '--fail')
        assert result.exit_code == 1
        assert '\t> w1@box: * Child terminated with exit code 3\nFAILED' in result.output

    def test_kill(self, celery_cli, fake):
        assert celery_cli('multi', 'start', 'w1', *fake['options']).exit_code == 0
        pidfile = fake['pidfile']('w1')
        assert wait_for(pidfile.exists)
        pid = read_pid(pidfile)
        result = celery_cli('multi', 'kill', 'w1', *fake['options'])
        assert result.exit_code == 0, result.output
        assert f'KILL -> {pid}' in result.output
        # a killed process cannot remove its pid file: multi does
        assert not pidfile.exists()

    def test_restart(self, celery_cli, fake):
        assert celery_cli('multi', 'start', 'w1', *fake['options']).exit_code == 0
        pidfile = fake['pidfile']('w1')
        assert wait_for(pidfile.exists)
        old = read_pid(pidfile)
        result = celery_cli('multi', 'restart', 'w1', 'w2', *fake['options'])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[1:3] == ['> Stopping nodes...', f'\t> w1@box: TERM -> {old}']
        assert lines[3].startswith(f'> Waiting for 1 node -> {old}...')
        assert lines[4:] == [
            '\t> w1@box: OK',
            '> Restarting node w1@box: OK',
            '> w2@box: DOWN',  # not running: started anyway
            '> Restarting node w2@box: OK',
        ]
        assert wait_for(lambda: pidfile.exists() and read_pid(pidfile) != old)
        assert wait_for(fake['pidfile']('w2').exists)
        assert celery_cli('multi', 'stopwait', 'w1', 'w2', *fake['options']).exit_code == 0

    def test_quiet_and_nosplash(self, celery_cli, fake):
        result = celery_cli('multi', 'start', 'w1', '--nosplash', *fake['options'])
        assert 'celery multi v' not in result.output
        assert '> Starting nodes...' in result.output
        assert wait_for(fake['pidfile']('w1').exists)
        result = celery_cli('-q', 'multi', 'stopwait', 'w1', *fake['options'])
        assert result.exit_code == 0
        assert result.output == ''


def test_multitool_without_the_celery_group(tmp_path, capsys):
    tool = MultiTool(no_color=True)
    assert tool.execute_from_commandline(['names', 'a', '-n', 'h']) == 0
    assert capsys.readouterr().out == 'a@h\n'


def test_verbose_shows_the_command_lines(celery_cli, fake):
    result = celery_cli('multi', 'start', 'w1', '--verbose', *fake['options'])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].startswith(f'\t> w1@box: {sys.executable} ')
    assert 'fake_worker.py' in lines[2] and '-n w1@box' in lines[2]
    assert lines[3] == '\t> w1@box: OK'
    assert wait_for(fake['pidfile']('w1').exists)
    assert celery_cli('multi', 'stopwait', 'w1', *fake['options']).exit_code == 0

"""Tests for the ``celery beat`` command (celery.bin.beat)."""
from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from celery import platforms
from celery.bin.base import CLIContext
from celery.bin.beat import beat
from celery.exceptions import ImproperlyConfigured


class FakeBeat:
    """Stands in for app.Beat: records its arguments and runs."""

    calls: list = []
    error: Exception | None = None

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def run(self):
        FakeBeat.calls.append(self.kwargs)
        if FakeBeat.error is not None:
            raise FakeBeat.error


@pytest.fixture
def invoke(app, monkeypatch):
    FakeBeat.calls, FakeBeat.error = [], None
    monkeypatch.setattr(type(app), 'Beat', FakeBeat, raising=False)
    dropped = []
    monkeypatch.setattr(platforms, 'maybe_drop_privileges',
                        lambda **kw: dropped.append(kw))

    def run(*args, quiet=True, no_color=True):
        obj = CLIContext(app=app, no_color=no_color, workdir=None,
                         quiet=quiet)
        result = CliRunner().invoke(beat, list(args), obj=obj)
        result.dropped = dropped
        return result

    return run


class Test_beat_command:

    def test_defaults_from_settings(self, app, invoke):
        app.conf.beat_schedule_filename = '/var/run/sched'
        app.conf.beat_scheduler = 'my.schedulers:Sched'
        result = invoke()
        assert result.exit_code == 0, result.output
        [kwargs] = FakeBeat.calls
        assert kwargs['schedule'] == '/var/run/sched'
        assert kwargs['scheduler'] == 'my.schedulers:Sched'
        assert kwargs['loglevel'] == logging.WARNING
        assert kwargs['max_interval'] is None
        assert kwargs['quiet'] is True and kwargs['no_color'] is True

    def test_options(self, invoke, tmp_path):
        result = invoke('-s', str(tmp_path / 's'), '-S', 'a.b:C',
                        '--max-interval', '7', '-l', 'debug',
                        '-f', str(tmp_path / 'beat.log'),
                        '--pidfile', str(tmp_path / 'beat.pid'))
        assert result.exit_code == 0, result.output
        [kwargs] = FakeBeat.calls
        assert kwargs['schedule'] == str(tmp_path / 's')
        assert kwargs['scheduler'] == 'a.b:C'
        assert kwargs['max_interval'] == 7
        assert kwargs['loglevel'] == logging.DEBUG
        assert kwargs['logfile'] == str(tmp_path / 'beat.log')
        assert kwargs['pidfile'] == str(tmp_path / 'beat.pid')

    def test_daemon_options_default_to_settings(self, app, invoke):
        app.conf.beat_logfile = '/tmp/from-settings.log'
        app.conf.beat_pidfile = '/tmp/from-settings.pid'
        assert invoke().exit_code == 0
        [kwargs] = FakeBeat.calls
        assert kwargs['logfile'] == '/tmp/from-settings.log'
        assert kwargs['pidfile'] == '/tmp/from-settings.pid'

    def test_uid_gid_dropped(self, invoke):
        result = invoke('--uid', '1000', '--gid', '1000')
        assert result.exit_code == 0, result.output
        assert result.dropped == [{'uid': '1000', 'gid': '1000'}]

    def test_bad_loglevel(self, invoke):
        result = invoke('-l', 'loud')
        assert result.exit_code == 2
        assert FakeBeat.calls == []

    def test_extra_arguments_are_settings(self, app, invoke):
        result = invoke('--', 'beat_max_loop_interval=9')
        assert result.exit_code == 0, result.output
        assert app.conf.beat_max_loop_interval == 9

    def test_config_error_is_one_line(self, invoke):
        FakeBeat.error = ImproperlyConfigured("Invalid beat_schedule entry 'x'")
        result = invoke()
        assert result.exit_code == 1
        assert result.output.strip() == \
            "Error: Invalid beat_schedule entry 'x'"

    def test_detach(self, invoke, monkeypatch, tmp_path):
        seen = []

        @contextmanager
        def detached(*args):
            seen.append(args)
            yield

        monkeypatch.setattr(platforms, 'detached', detached)
        result = invoke('--detach', '-f', str(tmp_path / 'l'),
                        '--pidfile', str(tmp_path / 'p'), '--umask', '022')
        assert result.exit_code == 0, result.output
        assert seen == [(str(tmp_path / 'l'), str(tmp_path / 'p'), None,
                         None, '022', None)]
        assert result.dropped == []
        assert len(FakeBeat.calls) == 1

    def test_help(self, invoke):
        result = invoke('--help')
        assert result.exit_code == 0
        for option in ('--schedule', '--scheduler', '--max-interval',
                       '--loglevel', '--detach', '--logfile', '--pidfile',
                       '--uid', '--gid', '--umask', '--executable'):
            assert option in result.output

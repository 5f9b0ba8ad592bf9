"""Tests for celery.apps.beat: the program that ``celery beat`` runs."""
from __future__ import annotations

import logging
import socket

import pytest

from celery import platforms
from celery.apps.beat import Beat
from celery.beat import PersistentScheduler


class FakeService:
    """Stands in for celery.beat.Service: records how it was used."""

    instances: list = []

    def __init__(self, app, max_interval=None, scheduler_cls=None,
                 schedule_filename=None, fail=None):
        self.app = app
        self.max_interval = max_interval
        self.scheduler_cls = scheduler_cls
        self.schedule_filename = schedule_filename
        self.started = self.stopped = False
        self.instances.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True

    def get_scheduler(self, lazy=False):
        return PersistentScheduler(app=self.app, lazy=lazy,
                                   schedule_filename=self.schedule_filename,
                                   max_interval=self.max_interval)


@pytest.fixture
def quiet_beat(app, monkeypatch):
    """A Beat whose service, logging and signal handlers are stand-ins."""
    handlers = {}
    monkeypatch.setattr(platforms.signals, 'update',
                        lambda **kw: handlers.update(kw))
    monkeypatch.setattr(Beat, 'setup_logging', lambda self, colorize=None:
                        None)
    monkeypatch.setattr(socket, 'setdefaulttimeout', lambda t: None)
    FakeService.instances = []
    b = app.Beat(quiet=True, no_color=True)
    b.Service = FakeService
    b.handlers = handlers
    return b


class Test_Beat:

    def test_defaults_from_settings(self, app):
        app.conf.beat_schedule_filename = '/tmp/sched-x'
        app.conf.beat_scheduler = 'celery.beat:Scheduler'
        b = Beat(app=app)
        assert b.schedule == '/tmp/sched-x'
        assert b.scheduler_cls == 'celery.beat:Scheduler'
        assert b.loglevel == logging.WARNING

    def test_arguments_win(self, app):
        b = Beat(app=app, schedule='s.db', scheduler='my:Sched',
                 loglevel='debug', max_interval=3, pidfile='p.pid')
        assert (b.schedule, b.scheduler_cls) == ('s.db', 'my:Sched')
        assert b.loglevel == logging.DEBUG
        assert b.max_interval == 3 and b.pidfile == 'p.pid'
        assert Beat(app=app, loglevel=logging.INFO).loglevel == logging.INFO

    def test_bad_loglevel(self, app):
        with pytest.raises(ValueError, match='Unknown log level'):
            Beat(app=app, loglevel='loud')

    def test_app_Beat_is_bound(self, app):
        assert app.Beat().app is app

    def test_startup_info(self, app, tmp_path):
        b = Beat(app=app, schedule=str(tmp_path / 'sched'), max_interval=60,
                 loglevel='INFO')
        service = FakeService(app, max_interval=60,
                              schedule_filename=b.schedule)
        info = b.startup_info(service)
        assert 'broker -> memory://' in info
        assert 'scheduler -> celery.beat.PersistentScheduler' in info
        assert f'db -> {tmp_path / "sched"}' in info
        assert 'logfile -> [stderr]@%INFO' in info
        assert 'maxinterval -> 1.00 minute (60s)' in info
        assert info in b.banner(service)

    def test_start_scheduler(self, quiet_beat):
        quiet_beat.max_interval = 9
        quiet_beat.start_scheduler()
        [service] = FakeService.instances
        assert service.started
        assert service.max_interval == 9
        assert service.schedule_filename == quiet_beat.schedule
        assert set(quiet_beat.handlers) == {'SIGTERM', 'SIGINT'}

    def test_signal_stops_service(self, quiet_beat):
        quiet_beat.start_scheduler()
        [service] = FakeService.instances
        with pytest.raises(SystemExit):
            quiet_beat.handlers['SIGTERM'](15, None)
        assert service.stopped

    def test_pidfile(self, quiet_beat, monkeypatch, tmp_path):
        taken = []
        monkeypatch.setattr(platforms, 'create_pidlock', taken.append)
        quiet_beat.pidfile = str(tmp_path / 'beat.pid')
        quiet_beat.start_scheduler()
        assert taken == [quiet_beat.pidfile]

    def test_service_error_is_logged_and_raised(self, quiet_beat, caplog):
        def boom(self):
            raise RuntimeError('cannot start')

        quiet_beat.Service = type('Failing', (FakeService,), {'start': boom})
        with caplog.at_level(logging.CRITICAL, logger='celery.beat'):
            with pytest.raises(RuntimeError):
                quiet_beat.start_scheduler()
        assert 'cannot start' in caplog.text

    def test_run(self, quiet_beat, monkeypatch, capsys):
        titles = []
        monkeypatch.setattr(platforms, 'set_process_title',
                            lambda name, info=None: titles.append(name))
        quiet_beat.quiet = False
        quiet_beat.run()
        out = capsys.readouterr().out
        assert 'celery beat v' in out and 'is starting.' in out
        assert 'Configuration ->' in out
        assert titles == ['celery beat']
        assert FakeService.instances[0].started
        assert quiet_beat.app.finalized

"""Tests for celery.bin.events: which tool ``celery events`` runs, with what."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

import celery.events.cursesmon
import celery.events.dumper
import celery.events.snapshot
from celery.bin import events as events_mod
from celery.bin.base import CLIContext
from celery.bin.events import events


@pytest.fixture
def run(app, monkeypatch):
    monkeypatch.setattr(events_mod, '_set_process_status', lambda *a, **kw: None)

    def invoke(*args):
        obj = CLIContext(app=app, no_color=True, workdir=None)
        return CliRunner().invoke(events, list(args), obj=obj)
    return invoke


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(celery.events.dumper, 'evdump',
                        lambda **kw: seen.append(('dump', kw)))
    monkeypatch.setattr(celery.events.snapshot, 'evcam',
                        lambda camera, **kw: seen.append(('cam', camera, kw)))
    monkeypatch.setattr(celery.events.cursesmon, 'evtop',
                        lambda **kw: seen.append(('top', kw)))
    return seen


def test_dump(run, calls, app):
    result = run('--dump')
    assert result.exit_code == 0, result.output
    assert calls == [('dump', {'app': app})]


def test_dump_short_option(run, calls):
    assert run('-d').exit_code == 0
    assert calls[0][0] == 'dump'


def test_camera(run, calls, app):
    result = run('--camera', 'proj.Cam', '--frequency', '2.5', '--maxrate', '10/m',
                 '-l', 'info', '--pidfile', '/tmp/x.pid')
    assert result.exit_code == 0, result.output
    (kind, camera, kwargs), = calls
    assert (kind, camera) == ('cam', 'proj.Cam')
    assert kwargs['app'] is app
    assert (kwargs['freq'], kwargs['maxrate'], kwargs['loglevel']) == (2.5, '10/m', 20)
    assert kwargs['pidfile'] == '/tmp/x.pid' and kwargs['logfile'] is None


def test_camera_defaults(run, calls):
    run('-c', 'proj.Cam')
    kwargs = calls[0][2]
    assert (kwargs['freq'], kwargs['maxrate'], kwargs['loglevel']) == (1.0, None, 30)


def test_freq_alias(run, calls):
    run('-c', 'proj.Cam', '--freq', '5')
    assert calls[0][2]['freq'] == 5.0


def test_camera_detached(run, calls, monkeypatch):
    import contextlib

    import celery.platforms
    detached = []

    @contextlib.contextmanager
    def fake_detached(*args):
        detached.append(args)
        yield
    monkeypatch.setattr(celery.platforms, 'detached', fake_detached)
    result = run('-c', 'proj.Cam', '--detach', '--logfile', '/tmp/cam.log')
    assert result.exit_code == 0, result.output
    assert detached and detached[0][0] == '/tmp/cam.log'
    assert calls[0][0] == 'cam'


def test_top_needs_a_terminal(run, calls):
    result = run()
    assert result.exit_code == 2
    assert 'needs a terminal' in result.output
    assert not calls


def test_top_on_a_terminal(run, calls, monkeypatch, app):
    monkeypatch.setattr(events_mod, '_has_terminal', lambda: True)
    result = run()
    assert result.exit_code == 0, result.output
    assert calls == [('top', {'app': app})]


def test_bad_loglevel(run, calls):
    result = run('-c', 'proj.Cam', '-l', 'LOUD')
    assert result.exit_code == 2
    assert not calls

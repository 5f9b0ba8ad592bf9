"""Tests for celery.events.snapshot: the Polaroid camera and evcam."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from celery.events import EventReceiver
from celery.events.snapshot import Polaroid, evcam
from celery.events.state import State


class FakeEntry:
    def __init__(self, secs, fun):
        self.secs, self.fun, self.cancelled = secs, fun, False

    def __call__(self):
        return self.fun()

    def cancel(self):
        self.cancelled = True


class FakeTimer:
    """Records what is scheduled; tests run the entries themselves."""

    def __init__(self):
        self.entries = []

    def call_repeatedly(self, secs, fun, *args, **kwargs):
        entry = FakeEntry(secs, fun)
        self.entries.append(entry)
        return entry


class RecordingCam(Polaroid):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shots, self.cleanups, self.locked = [], 0, []

    def on_shutter(self, state):
        self.locked.append(state._mutex.locked())
        self.shots.append(state.event_count)

    def on_cleanup(self):
        self.cleanups += 1


def busy_state():
    state = State()
    now = time.time()
    state.event({'type': 'task-received', 'uuid': 'a', 'hostname': 'w@h', 'timestamp': now,
                 'local_received': now, 'clock': 1, 'name': 't'})
    return state


def test_install_schedules_shots_and_cleanup(app):
    timer = FakeTimer()
    cam = RecordingCam(busy_state(), freq=2.5, cleanup_freq=60.0, timer=timer, app=app)
    cam.install()
    (shot, cleanup) = timer.entries
    assert (shot.secs, cleanup.secs) == (2.5, 60.0)
    shot()
    cleanup()
    assert cam.shots == [1] and cam.cleanups == 1


def test_capture_freezes_the_state(app):
    cam = RecordingCam(busy_state(), timer=FakeTimer(), app=app)
    cam.capture()
    assert cam.locked == [True]
    assert cam.state.event_count == 1  # not cleared by default


def test_clear_after_keeps_unfinished_tasks_only(app):
    state = busy_state()
    cam = type('Clearing', (RecordingCam,), {'clear_after': True})(
        state, timer=FakeTimer(), app=app)
    cam.capture()
    cam.capture()
    assert cam.shots == [1, 0]
    assert list(state.tasks) == ['a']  # still running, so kept
    assert not state.workers


def test_maxrate_limits_shots(app):
    cam = RecordingCam(busy_state(), maxrate='1/m', timer=FakeTimer(), app=app)
    cam.shutter()
    cam.shutter()
    assert cam.shots == [1]


def test_signals_are_sent(app):
    shots, cleanups = [], []

    def on_shot(sender, **kwargs):
        shots.append(sender)

    def on_cleanup(sender, **kwargs):
        cleanups.append(sender)
    Polaroid.shutter_signal.connect(on_shot)
    Polaroid.cleanup_signal.connect(on_cleanup)
    try:
        state = busy_state()
        cam = Polaroid(state, timer=FakeTimer(), app=app)
        cam.shutter()
        cam.cleanup()
    finally:
        Polaroid.shutter_signal.disconnect(on_shot)
        Polaroid.cleanup_signal.disconnect(on_cleanup)
    assert shots == [state] and cleanups == [state]


def test_cancel_takes_a_last_shot_and_stops(app):
    timer = FakeTimer()
    with RecordingCam(busy_state(), timer=timer, app=app) as cam:
        assert len(timer.entries) == 2
    assert cam.shots == [1]
    assert all(entry.cancelled for entry in timer.entries)


def test_cancel_before_install_is_harmless(app):
    RecordingCam(busy_state(), timer=FakeTimer(), app=app).cancel()


def test_evcam_runs_the_camera_until_interrupted(app, monkeypatch, capsys):
    made = []

    class Cam(RecordingCam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append((self, kwargs))

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt()
    monkeypatch.setattr(EventReceiver, 'capture', interrupted)
    logging_calls = []
    app.__dict__['log'] = SimpleNamespace(
        setup_logging_subsystem=lambda *a: logging_calls.append(a))
    timer = FakeTimer()
    with pytest.raises(SystemExit):
        evcam(Cam, freq=3.0, maxrate='5/s', loglevel='INFO', timer=timer, app=app)
    (cam, kwargs) = made[0]
    assert kwargs == {'app': app, 'freq': 3.0, 'maxrate': '5/s', 'timer': timer}
    assert isinstance(cam.state, State)
    assert all(entry.cancelled for entry in timer.entries)
    assert logging_calls == [('INFO', None)]
    assert '-> evcam: Taking snapshots with' in capsys.readouterr().out

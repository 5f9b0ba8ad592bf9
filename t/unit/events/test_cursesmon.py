"""Tests for celery.events.cursesmon: the screen it renders, keys, drawing."""
from __future__ import annotations

import time

import pytest

from celery.events import cursesmon
from celery.events.cursesmon import CursesMonitor, render
from celery.events.state import State


def feed(state, *events):
    now = time.time()
    for clock, (type, uuid, fields) in enumerate(events, 1):
        state.event(dict(fields, type=type, uuid=uuid, hostname='w1@h', timestamp=now,
                         local_received=now, clock=clock))


@pytest.fixture
def state():
    st = State()
    now = time.time()
    st.event({'type': 'worker-online', 'hostname': 'w1@h', 'timestamp': now,
              'local_received': now, 'freq': 2.0})
    feed(st,
         ('task-received', 'uuid-a', {'name': 'tasks.add', 'args': '(2, 2)', 'kwargs': '{}'}),
         ('task-succeeded', 'uuid-a', {'result': '4'}),
         ('task-received', 'uuid-b', {'name': 'tasks.sleep', 'args': '(10,)', 'kwargs': '{}'}))
    return st


def test_render_lists_newest_tasks_first(state):
    lines = render(state, 120, 20)
    assert len(lines) == 20
    assert all(len(line) <= 120 for line in lines)
    assert 'UUID' in lines[2] and 'STATE' in lines[2]
    assert lines[3].startswith('> uuid-b')
    assert 'tasks.sleep' in lines[3] and 'RECEIVED' in lines[3] and 'w1@h' in lines[3]
    assert lines[4].startswith('  uuid-a') and 'SUCCESS' in lines[4]
    assert lines[-3].startswith('Selected: uuid-b')
    assert lines[-2] == 'Workers online: w1@h'
    assert lines[-1].startswith('Events: 4   Tasks: 2   Finished: 1')


def test_render_selection(state):
    lines = render(state, 120, 20, selected=1)
    assert lines[4].startswith('> uuid-a')
    assert "result=4" in lines[-3]


def test_render_small_and_empty_screens():
    lines = render(State(), 10, 3)  # narrower than 40 columns is widened
    assert lines[-3] == 'Selected: none'
    assert all(len(line) <= 40 for line in lines)
    assert any(line.startswith('Workers online: none') for line in render(State(), 80, 12))


def test_render_cuts_rows_to_the_screen(state):
    for i in range(30):
        feed(state, ('task-received', f'more-{i}', {'name': 't'}))
    lines = render(state, 100, 15)
    assert len(lines) == 15


class FakeScreen:
    def __init__(self, height=20, width=100, keys=()):
        self.size = (height, width)
        self.keys = list(keys)
        self.lines = {}

    def getmaxyx(self):
        return self.size

    def erase(self):
        self.lines.clear()

    def addstr(self, y, x, text):
        self.lines[y] = text

    def refresh(self):
        pass

    def timeout(self, ms):
        self.delay = ms

    def getch(self):
        return self.keys.pop(0) if self.keys else ord('q')


def test_draw_writes_the_rendered_lines(state, app):
    monitor = CursesMonitor(state, app)
    monitor.screen = FakeScreen()
    monitor.draw()
    assert monitor.screen.lines[3].startswith('> uuid-b')


def test_keys_move_selection_clear_and_quit(state, app):
    monitor = CursesMonitor(state, app)
    assert monitor.handle_key(ord('j')) and monitor.selected == 1
    assert monitor.handle_key(ord('j')) and monitor.selected == 1  # last task
    assert monitor.handle_key(ord('k')) and monitor.selected == 0
    assert monitor.handle_key(ord('k')) and monitor.selected == 0
    assert monitor.handle_key(ord('c'))
    assert list(state.tasks) == ['uuid-b']  # finished tasks cleared
    assert monitor.handle_key(ord('q')) is False


def test_run_loop_until_quit(state, app, monkeypatch):
    import curses
    monkeypatch.setattr(curses, 'curs_set', lambda n: None)
    screen = FakeScreen(keys=[-1, ord('j')])
    monitor = CursesMonitor(state, app)
    monitor.run(screen)
    assert monitor.selected == 1
    assert screen.delay == CursesMonitor.screen_delay


def test_evtop_starts_capture_and_stops_it(app, monkeypatch):
    import curses
    captured = []
    monkeypatch.setattr(cursesmon, '_capture',
                        lambda app, state, receivers: captured.append(state))
    monkeypatch.setattr(curses, 'wrapper', lambda fun: fun.__self__.handle_key(ord('q')))
    cursesmon.evtop(app=app)
    deadline = time.monotonic() + 5
    while not captured and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(captured) == 1


@pytest.mark.parametrize('width', [79, 100, 200])
def test_render_fits_every_column_in_common_widths(state, width):
    lines = render(state, width, 20)
    assert all(len(line) <= width for line in lines)
    assert lines[2].rstrip().endswith('STATE')
    assert lines[3].rstrip().endswith('RECEIVED')

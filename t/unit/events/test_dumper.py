"""Tests for celery.events.dumper: the lines ``celery events --dump`` prints."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from celery.events import EventDispatcher, EventReceiver
from celery.events import dumper as dumper_mod
from celery.events.dumper import Dumper, evdump, humanize_type

TS = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def out():
    return io.StringIO()


def test_humanize_type():
    assert humanize_type('worker-online') == 'started'
    assert humanize_type('worker-offline') == 'shutdown'
    assert humanize_type('worker-heartbeat') == 'heartbeat'
    assert humanize_type('Task-Succeeded') == 'task succeeded'


def test_worker_event_line(out):
    Dumper(out=out).on_event({'type': 'worker-heartbeat', 'hostname': 'w1@h',
                              'timestamp': TS, 'active': 2, 'freq': 2.0})
    assert out.getvalue() == (
        'w1@h [2024-01-02 03:04:05.678901+00:00] heartbeat: active=2, freq=2.0\n')


def test_worker_event_without_fields(out):
    Dumper(out=out).on_event({'type': 'worker-online', 'hostname': 'w1@h', 'timestamp': TS})
    assert out.getvalue() == 'w1@h [2024-01-02 03:04:05.678901+00:00] started \n'


def test_task_events_are_labelled_with_the_task(out):
    dumper = Dumper(out=out)
    dumper.on_event({'type': 'task-received', 'hostname': 'w1@h', 'timestamp': TS,
                     'uuid': 'id-77', 'name': 'tasks.add', 'args': '(2, 2)',
                     'kwargs': '{}', 'retries': 0})
    event = {'type': 'task-succeeded', 'hostname': 'w1@h', 'timestamp': TS,
             'uuid': 'id-77', 'result': '4', 'runtime': 0.5}
    dumper.on_event(event)
    assert out.getvalue().splitlines() == [
        'w1@h [2024-01-02 03:04:05.678901+00:00] task received: '
        'tasks.add(id-77) args=(2, 2) kwargs={} retries=0',
        'w1@h [2024-01-02 03:04:05.678901+00:00] task succeeded: '
        'tasks.add(id-77) args=(2, 2) kwargs={} result=4, runtime=0.5',
    ]
    assert event['uuid'] == 'id-77'  # the caller's event is left whole


def test_task_event_of_unknown_task(out):
    Dumper(out=out).on_event({'type': 'task-started', 'hostname': 'w1@h',
                              'timestamp': TS, 'uuid': 'never-seen'})
    assert out.getvalue() == 'w1@h [2024-01-02 03:04:05.678901+00:00] task started  \n'


def test_evdump_prints_received_events_and_stops_on_interrupt(app, monkeypatch, out):
    app.conf.event_exchange = 'ev-dump-test'
    captured = []

    def capture(self, *args, **kwargs):
        captured.append(self)
        self.handlers['*']({'type': 'worker-online', 'hostname': 'w1@h', 'timestamp': TS})
        raise KeyboardInterrupt()
    monkeypatch.setattr(EventReceiver, 'capture', capture)
    evdump(app=app, out=out)
    assert out.getvalue().splitlines() == [
        '-> evdump: starting capture...',
        'w1@h [2024-01-02 03:04:05.678901+00:00] started ',
    ]


def test_evdump_reconnects_after_connection_loss(app, monkeypatch, out):
    calls = []

    def capture(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise self.connection.connection_errors[0]('lost')
        raise SystemExit()
    monkeypatch.setattr(EventReceiver, 'capture', capture)
    evdump(app=app, out=out)
    assert '-> Connection lost, attempting reconnect' in out.getvalue()
    assert len(calls) == 2


def test_dump_of_a_real_round_trip(app, out):
    app.conf.event_exchange = 'ev-dump-rt'
    with app.connection_for_write() as conn:
        recv = EventReceiver(conn, app=app, handlers={'*': Dumper(out=out).on_event})
        recv.queue(conn.default_channel).declare()
        EventDispatcher(conn, hostname='w1@h', app=app).send(
            'task-received', uuid='u1', name='tasks.add', args='(1,)', kwargs='{}')
        recv.capture(limit=1, timeout=5, wakeup=False)
    line = out.getvalue()
    assert line.startswith('w1@h [')
    assert '] task received: tasks.add(u1) args=(1,) kwargs={} clock=' in line
    assert 'local_received=' in line and 'utcoffset=' in line
    assert dumper_mod.TASK_NAMES['u1'] == 'tasks.add(u1) args=(1,) kwargs={}'

"""Tests for celery.beat: entries, the scheduler, persistence, the service."""
from __future__ import annotations

import dbm
import heapq
import logging
import pickle
import shelve
import threading
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from queue import Empty
from uuid import uuid4

import pytest

from celery import beat
from celery.beat import (BeatLazyFunc, EmbeddedService, PersistentScheduler,
                         ScheduleEntry, Scheduler, SchedulingError, Service)
from celery.exceptions import ImproperlyConfigured
from celery.schedules import crontab, schedule
from t.waiting import wait_for


UTC = dt_timezone.utc


@pytest.fixture
def queue_name(app):
    """A queue of our own on the shared in-memory broker."""
    name = f'beat.{uuid4().hex}'
    app.conf.task_default_queue = name
    return name


@pytest.fixture
def add(app):
    @app.task(name='t.beat.add', shared=False)
    def add(x, y):
        return x + y
    return add


def drain(app, queue_name, timeout=1.0):
    """Return the messages waiting in *queue_name* as (headers, body)."""
    out = []
    with app.connection_for_read() as conn:
        q = conn.SimpleQueue(queue_name)
        try:
            while True:
                message = q.get(timeout=timeout if not out else 0.05)
                out.append((message.headers, message.payload))
                message.ack()
        except Empty:
            pass
        finally:
            q.close()
    return out


def make_scheduler(app, entries=None, cls=Scheduler, **kwargs):
    app.conf.beat_schedule = entries or {}
    return cls(app=app, **kwargs)


class Test_ScheduleEntry:

    def test_defaults(self, app):
        before = app.now()
        e = ScheduleEntry('e', 't.x', schedule=10, app=app)
        assert isinstance(e.schedule, schedule)
        assert e.args == () and e.kwargs == {} and e.options == {}
        assert e.total_run_count == 0
        assert before <= e.last_run_at <= app.now()

    def test_next_records_a_run(self, app):
        e = ScheduleEntry('e', 't.x', schedule=10, args=(1,), app=app,
                          last_run_at=datetime(2024, 1, 1, tzinfo=UTC))
        n = next(e)
        assert n is not e
        assert n.total_run_count == 1
        assert n.last_run_at > e.last_run_at
        assert (n.name, n.task, n.args, n.schedule) == \
            (e.name, e.task, e.args, e.schedule)
        assert e.next().total_run_count == 1
        assert e._next_instance(datetime(2025, 1, 1, tzinfo=UTC)) \
            .last_run_at == datetime(2025, 1, 1, tzinfo=UTC)

    def test_relative(self, app):
        e = ScheduleEntry('e', 't.x', schedule=60, relative=True, app=app)
        assert e.schedule.relative

    def test_update_keeps_history(self, app):
        e = ScheduleEntry('e', 't.x', schedule=10, total_run_count=5,
                          app=app)
        other = ScheduleEntry('e', 't.y', schedule=crontab(), args=(2,),
                              kwargs={'a': 1}, options={'queue': 'q'},
                              app=app)
        e.update(other)
        assert (e.task, e.schedule, e.args, e.kwargs, e.options) == \
            ('t.y', crontab(), (2,), {'a': 1}, {'queue': 'q'})
        assert e.total_run_count == 5

    def test_equality_uses_editable_fields(self, app):
        a = ScheduleEntry('a', 't.x', schedule=10, app=app)
        b = ScheduleEntry('b', 't.x', schedule=10, total_run_count=3,
                          app=app)
        assert a == b
        assert a.editable_fields_equal(b)
        assert a != ScheduleEntry('a', 't.x', schedule=11, app=app)
        assert ScheduleEntry.editable_fields == (
            'task', 'args', 'kwargs', 'options', 'schedule')

    def test_lt_orders_any_two_entries(self, app):
        a = ScheduleEntry('a', 't.x', schedule=10, app=app)
        b = ScheduleEntry('b', 't.x', schedule=10, app=app)
        assert (a < b) != (b < a)
        assert a.__lt__(object()) is NotImplemented

    def test_repr(self, app):
        e = ScheduleEntry('e', 't.x', schedule=10, args=(1,),
                          kwargs={'y': 2}, app=app)
        assert repr(e) == \
            "<ScheduleEntry: e t.x(1, y=2) <freq: 10.00 seconds>>"

    def test_pickle(self, app):
        e = ScheduleEntry('e', 't.x', schedule=crontab(minute=5),
                          args=(1,), kwargs={'y': 2}, options={'q': 1},
                          total_run_count=4, app=app)
        copy = pickle.loads(pickle.dumps(e))
        assert copy == e
        assert copy.last_run_at == e.last_run_at
        assert copy.total_run_count == 4
        assert copy.app is None

    def test_iter_gives_constructor_fields(self, app):
        e = ScheduleEntry('e', 't.x', schedule=10, app=app)
        assert ScheduleEntry(**dict(e)) == e

    def test_is_due_asks_schedule(self, app):
        e = ScheduleEntry('e', 't.x', schedule=10, app=app,
                          last_run_at=app.now() - timedelta(seconds=20))
        assert e.is_due().is_due

    def test_bad_schedule(self, app):
        with pytest.raises(ValueError, match='Invalid schedule'):
            ScheduleEntry('e', 't.x', schedule='every minute', app=app)


class Test_Scheduler_setup:

    def test_entries_from_beat_schedule(self, app):
        s = make_scheduler(app, {
            'a': {'task': 't.a', 'schedule': 10, 'args': (1, 2)},
            'b': {'task': 't.b', 'schedule': crontab(minute=0),
                  'options': {'queue': 'x'}},
        })
        assert set(s.schedule) >= {'a', 'b'}
        assert s.schedule['a'].args == (1, 2)
        assert s.schedule['b'].options == {'queue': 'x'}
        assert s.schedule['b'].schedule.app is app

    def test_add_periodic_task(self, app, add):
        app.conf.beat_schedule = {}
        key = app.add_periodic_task(30.0, add.s(2, 2), name='add every 30')
        s = Scheduler(app=app)
        entry = s.schedule[key]
        assert entry.task == add.name
        assert list(entry.args) == [2, 2]
        assert entry.schedule == schedule(30)

    def test_lazy_does_not_set_up(self, app):
        app.conf.beat_schedule = {'a': {'task': 't.a', 'schedule': 10}}
        assert Scheduler(app=app, lazy=True).schedule == {}

    def test_settings(self, app):
        app.conf.beat_max_loop_interval = 7
        app.conf.beat_sync_every = 3
        s = Scheduler(app=app)
        assert s.max_interval == 7
        assert s.sync_every_tasks == 3
        s = Scheduler(app=app, max_interval=2, sync_every_tasks=0)
        assert s.max_interval == 2 and s.sync_every_tasks == 0

    def test_default_max_interval(self, app):
        assert Scheduler(app=app).max_interval == beat.DEFAULT_MAX_INTERVAL

    def test_invalid_entry_is_a_clear_error(self, app):
        app.conf.beat_schedule = {'bad': {'task': 't.a', 'schedule': 'x'}}
        with pytest.raises(ImproperlyConfigured, match="'bad'"):
            Scheduler(app=app)
        app.conf.beat_schedule = {'bad': {'task': 't.a', 'every': 10}}
        with pytest.raises(ImproperlyConfigured, match='every'):
            Scheduler(app=app)

    def test_invalid_crontab_fails_when_written(self):
        with pytest.raises(ValueError, match='Invalid crontab pattern'):
            crontab(minute=75)

    def test_backend_cleanup_installed(self, app, monkeypatch):
        monkeypatch.setattr(type(app.backend), 'supports_autoexpire', False,
                            raising=False)
        s = make_scheduler(app)
        entry = s.schedule['celery.backend_cleanup']
        assert entry.task == 'celery.backend_cleanup'
        assert entry.schedule == crontab(minute=0, hour=4)
        assert entry.options == {'expires': 12 * 3600}

    def test_backend_cleanup_not_needed(self, app, monkeypatch):
        monkeypatch.setattr(type(app.backend), 'supports_autoexpire', True,
                            raising=False)
        assert 'celery.backend_cleanup' not in make_scheduler(app).schedule
        monkeypatch.setattr(type(app.backend), 'supports_autoexpire', False,
                            raising=False)
        app.conf.result_expires = None
        assert 'celery.backend_cleanup' not in make_scheduler(app).schedule

    def test_merge_inplace(self, app):
        s = make_scheduler(app, {
            'keep': {'task': 't.a', 'schedule': 10},
            'drop': {'task': 't.b', 'schedule': 10},
        })
        s.schedule['keep'] = next(s.schedule['keep'])
        s.merge_inplace({
            'keep': {'task': 't.a2', 'schedule': 20},
            'new': {'task': 't.c', 'schedule': 5},
        })
        assert set(s.schedule) == {'keep', 'new'}
        assert s.schedule['keep'].task == 't.a2'
        assert s.schedule['keep'].total_run_count == 1

    def test_update_from_dict_and_add(self, app):
        s = make_scheduler(app)
        entry = ScheduleEntry('x', 't.x', schedule=5)
        s.update_from_dict({'x': entry,
                            'y': {'task': 't.y', 'schedule': 6}})
        assert s.schedule['x'] is entry and entry.app is app
        assert s.schedule['y'].task == 't.y'
        z = s.add(name='z', task='t.z', schedule=7)
        assert s.schedule['z'] is z

    def test_schedules_equal(self, app):
        s = make_scheduler(app)
        a = ScheduleEntry('a', 't.a', schedule=10, app=app)
        assert s.schedules_equal(None, None)
        assert not s.schedules_equal(None, {})
        assert s.schedules_equal({'a': a}, {'a': next(a)})
        assert not s.schedules_equal(
            {'a': a}, {'a': ScheduleEntry('a', 't.b', schedule=10)})
        assert not s.schedules_equal({'a': a}, {'b': a})
        assert not s.schedules_equal({'a': a}, {'a': a, 'b': a})


class Test_Scheduler_sending:

    def test_apply_entry_sends_message(self, app, queue_name, add):
        s = make_scheduler(app)
        entry = ScheduleEntry('e', add.name, schedule=10, args=(2, 3),
                              kwargs={}, options={'expires': 60}, app=app)
        s.apply_entry(entry, producer=s.producer)
        [(headers, body)] = drain(app, queue_name)
        assert headers['task'] == 't.beat.add'
        assert headers['expires']
        assert body[0] == [2, 3]

    def test_options_route_to_queue(self, app, queue_name, add):
        s = make_scheduler(app)
        other = f'{queue_name}.other'
        entry = ScheduleEntry('e', add.name, schedule=10, args=(1, 1),
                              options={'queue': other}, app=app)
        s.apply_entry(entry, producer=s.producer)
        assert drain(app, other, timeout=1)[0][0]['task'] == add.name
        assert drain(app, queue_name, timeout=0.1) == []

    def test_unregistered_task_sent_by_name(self, app, queue_name, caplog):
        s = make_scheduler(app)
        entry = ScheduleEntry('e', 'not.registered', schedule=10, app=app)
        with caplog.at_level(logging.INFO, logger='celery.beat'):
            s.apply_entry(entry, producer=s.producer)
        assert drain(app, queue_name)[0][0]['task'] == 'not.registered'
        assert 'not registered' in caplog.text

    def test_lazy_args(self, app, queue_name):
        s = make_scheduler(app)
        entry = ScheduleEntry(
            'e', 't.lazy', schedule=10, app=app,
            args=(BeatLazyFunc(lambda: 40), 2),
            kwargs={'z': BeatLazyFunc(str, 7)})
        s.apply_entry(entry, producer=s.producer)
        [(_, body)] = drain(app, queue_name)
        assert body[0] == [40, 2] and body[1] == {'z': '7'}

    def test_send_failure_is_logged_not_raised(self, app, monkeypatch,
                                               caplog):
        s = make_scheduler(app)

        def broken(*args, **kwargs):
            raise ConnectionError('broker gone')

        monkeypatch.setattr(app, 'send_task', broken)
        entry = ScheduleEntry('e', 'not.registered', schedule=10, app=app)
        with caplog.at_level(logging.ERROR, logger='celery.beat'):
            s.apply_entry(entry)
        assert 'broker gone' in caplog.text
        with pytest.raises(SchedulingError, match="Couldn't apply"):
            s.apply_async(entry)

    def test_apply_async_advances(self, app, queue_name):
        s = make_scheduler(app, {'e': {'task': 't.e', 'schedule': 10}})
        s.apply_async(s.schedule['e'], producer=s.producer)
        assert s.schedule['e'].total_run_count == 1
        assert len(drain(app, queue_name)) == 1


class Test_Scheduler_tick:

    def test_empty_schedule_sleeps_max_interval(self, app):
        s = make_scheduler(app, max_interval=12)
        s.schedule.clear()
        assert s.tick() == 12

    def test_sleep_until_next_run(self, app, queue_name):
        s = make_scheduler(app, {'e': {'task': 't.e', 'schedule': 10}})
        s.schedule.pop('celery.backend_cleanup', None)
        wait = s.tick()
        assert 9.5 < wait < 10
        assert drain(app, queue_name, timeout=0.1) == []

    def test_sleep_capped_by_max_interval(self, app):
        s = make_scheduler(app, {'e': {'task': 't.e', 'schedule': 3600}},
                           max_interval=5)
        assert s.tick() == 5

    def test_due_entry_is_sent_once(self, app, queue_name):
        # Given an entry that last ran an hour ago (beat was down)
        s = make_scheduler(app, {'e': {'task': 't.e', 'schedule': 10}})
        s.schedule.pop('celery.backend_cleanup', None)
        s.schedule['e'].last_run_at = app.now() - timedelta(hours=1)
        # When beat ticks
        assert s.tick() == 0
        # Then one message is sent, and the next run is 10 seconds away
        assert 9.5 < s.tick() < 10
        assert len(drain(app, queue_name)) == 1
        assert s.schedule['e'].total_run_count == 1

    def test_heap_in_time_order(self, app, queue_name):
        s = make_scheduler(app, {
            name: {'task': f't.{name}', 'schedule': 10} for name in 'abc'})
        s.schedule.pop('celery.backend_cleanup', None)
        now = app.now()
        for age, name in ((8, 'b'), (2, 'c'), (5, 'a')):
            s.schedule[name].last_run_at = now - timedelta(seconds=age)
        wait = s.tick()
        assert 1.5 < wait < 2
        order = [heapq.heappop(s._heap).entry.name for _ in range(3)]
        assert order == ['b', 'a', 'c']
        assert drain(app, queue_name, timeout=0.1) == []

    def test_heap_rebuilt_when_schedule_changes(self, app, queue_name):
        s = make_scheduler(app, {'e': {'task': 't.e', 'schedule': 100}})
        s.schedule.pop('celery.backend_cleanup', None)
        assert s.tick() > 90
        s.schedule['new'] = ScheduleEntry(
            'new', 't.new', schedule=10, app=app,
            last_run_at=app.now() - timedelta(seconds=11))
        assert s.tick() == 0
        assert [h['task'] for h, _ in drain(app, queue_name)] == ['t.new']

    def test_unchanged_schedule_is_not_compared(self, app, queue_name,
                                                monkeypatch):
        s = make_scheduler(app, {'e': {'task': 't.e', 'schedule': 10}})
        s.schedule['e'].last_run_at = app.now() - timedelta(hours=1)
        compared = []
        real = s.schedules_equal
        monkeypatch.setattr(s, 'schedules_equal',
                            lambda a, b: compared.append(1) or real(a, b))
        assert s.tick() == 0   # builds the heap, sends 'e'
        s.tick()
        s.tick()
        assert compared == []
        s.schedule['x'] = ScheduleEntry('x', 't.x', schedule=5, app=app)
        s.tick()
        assert compared == [1]

    def test_broken_schedule_does_not_stop_others(self, app, queue_name,
                                                  caplog):
        class Broken(schedule):
            def is_due(self, last_run_at):
                raise RuntimeError('bug in a custom schedule')

        s = make_scheduler(app, max_interval=5)
        s.schedule.clear()
        s.schedule['broken'] = ScheduleEntry('broken', 't.b',
                                             schedule=Broken(1), app=app)
        s.schedule['ok'] = ScheduleEntry(
            'ok', 't.ok', schedule=10, app=app,
            last_run_at=app.now() - timedelta(seconds=60))
        with caplog.at_level(logging.ERROR, logger='celery.beat'):
            for _ in range(3):
                s.tick()
        assert 'bug in a custom schedule' in caplog.text
        assert [h['task'] for h, _ in drain(app, queue_name)] == ['t.ok']

    def test_adjust(self, app):
        s = make_scheduler(app)
        assert s.adjust(1) == pytest.approx(0.99)
        assert s.adjust(0) == 0
        assert s.adjust(-1) == -1

    def test_sync_every_tasks(self, app, queue_name):
        s = make_scheduler(app, {'e': {'task': 't.e', 'schedule': 10}},
                           sync_every_tasks=2)
        synced = []
        s.sync = lambda: synced.append(1)
        s._last_sync = time.monotonic()
        entry = s.schedule['e']
        s.apply_async(entry, producer=s.producer, advance=False)
        assert synced == []
        s.apply_async(entry, producer=s.producer, advance=False)
        assert synced == [1]
        assert s._tasks_since_sync == 0

    def test_should_sync_by_time(self, app):
        s = make_scheduler(app)
        assert s.should_sync()
        s._last_sync = time.monotonic()
        assert not s.should_sync()
        s._last_sync = time.monotonic() - s.sync_every - 1
        assert s.should_sync()

    def test_info_and_close(self, app):
        s = make_scheduler(app)
        assert s.info == ''
        s.producer
        s.close()
        assert 'connection' not in vars(s)


class Test_PersistentScheduler:

    def test_survives_restart(self, app, queue_name, tmp_path):
        path = str(tmp_path / 'schedule')
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 10}}
        s = PersistentScheduler(app=app, schedule_filename=path)
        s.schedule['e'].last_run_at = app.now() - timedelta(seconds=60)
        assert s.tick() == 0
        last_run_at = s.schedule['e'].last_run_at
        s.close()
        # When beat starts again with the same file
        s2 = PersistentScheduler(app=app, schedule_filename=path)
        entry = s2.schedule['e']
        assert entry.total_run_count == 1
        assert entry.last_run_at == last_run_at
        assert 'db ->' in s2.info and path in s2.info
        s2.close()

    def test_config_changes_applied_on_restart(self, app, tmp_path):
        path = str(tmp_path / 'schedule')
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 10},
                                  'gone': {'task': 't.g', 'schedule': 10}}
        s = PersistentScheduler(app=app, schedule_filename=path)
        s.reserve(s.schedule['e'])
        s.close()
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 30}}
        s = PersistentScheduler(app=app, schedule_filename=path)
        assert 'gone' not in s.schedule
        assert s.schedule['e'].schedule == schedule(30)
        assert s.schedule['e'].total_run_count == 1
        s.close()

    def test_timezone_change_resets(self, app, tmp_path, caplog):
        path = str(tmp_path / 'schedule')
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 10}}
        app.conf.timezone = 'Europe/London'
        s = PersistentScheduler(app=app, schedule_filename=path)
        s.reserve(s.schedule['e'])
        s.close()
        app.conf.timezone = 'America/New_York'
        with caplog.at_level(logging.WARNING, logger='celery.beat'):
            s = PersistentScheduler(app=app, schedule_filename=path)
        assert 'Timezone changed' in caplog.text
        assert s.schedule['e'].total_run_count == 0
        s.close()

    def test_utc_change_resets(self, app, tmp_path, caplog):
        path = str(tmp_path / 'schedule')
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 10}}
        s = PersistentScheduler(app=app, schedule_filename=path)
        s.reserve(s.schedule['e'])
        s.close()
        app.conf.enable_utc = False
        with caplog.at_level(logging.WARNING, logger='celery.beat'):
            s = PersistentScheduler(app=app, schedule_filename=path)
        assert 'UTC changed from enabled to disabled' in caplog.text
        assert s.schedule['e'].total_run_count == 0
        s.close()

    def test_missing_version_resets(self, app, tmp_path, caplog):
        path = str(tmp_path / 'schedule')
        with shelve.open(path) as db:
            db['entries'] = {'e': ScheduleEntry('e', 't.e', schedule=10,
                                                total_run_count=9)}
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 10}}
        with caplog.at_level(logging.WARNING, logger='celery.beat'):
            s = PersistentScheduler(app=app, schedule_filename=path)
        assert '__version__' in caplog.text
        assert s.schedule['e'].total_run_count == 0
        s.close()

    def test_store_records_settings(self, app, tmp_path):
        path = str(tmp_path / 'schedule')
        app.conf.timezone = 'Asia/Tokyo'
        PersistentScheduler(app=app, schedule_filename=path).close()
        with shelve.open(path) as db:
            assert db['tz'] == 'Asia/Tokyo'
            assert db['utc_enabled'] is True
            assert db['__version__']
            # A plain dict, as Celery itself writes and reads it.
            assert type(db['entries']) is dict

    def test_garbage_file_is_recreated(self, app, tmp_path, caplog):
        path = tmp_path / 'schedule'
        path.write_bytes(b'\x00not a database at all' * 100)
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 10}}
        with caplog.at_level(logging.WARNING, logger='celery.beat'):
            s = PersistentScheduler(app=app, schedule_filename=str(path))
        assert 'corrupted schedule file' in caplog.text
        assert 'e' in s.schedule
        s.close()

    def test_unreadable_entries_are_recreated(self, app, tmp_path, caplog):
        path = str(tmp_path / 'schedule')
        with dbm.open(path, 'c') as db:
            db[b'entries'] = b'\x80\x04 truncated pickle'
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 10}}
        with caplog.at_level(logging.WARNING, logger='celery.beat'):
            s = PersistentScheduler(app=app, schedule_filename=path)
        assert 'corrupted schedule file' in caplog.text
        assert s.schedule['e'].total_run_count == 0
        s.close()

    def test_default_filename_from_settings(self, app, tmp_path,
                                            monkeypatch):
        monkeypatch.chdir(tmp_path)
        s = PersistentScheduler(app=app)
        assert s.schedule_filename == 'celerybeat-schedule'
        s.close()
        s.close()  # closing twice is harmless


class Test_Service:

    def test_start_sends_and_stop_syncs(self, app, queue_name, tmp_path):
        path = str(tmp_path / 'schedule')
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 0.2}}
        service = Service(app, max_interval=0.5, schedule_filename=path)
        thread = threading.Thread(target=service.start)
        thread.start()
        try:
            got = []
            assert wait_for(
                lambda: got.extend(drain(app, queue_name, 0.1)) or
                len(got) >= 2)
        finally:
            service.stop(wait=True)
            thread.join(5)
        assert not thread.is_alive()
        with shelve.open(path) as db:
            assert db['entries']['e'].total_run_count >= 2

    def test_get_scheduler_from_string(self, app, tmp_path):
        service = Service(app, scheduler_cls='celery.beat:Scheduler',
                          schedule_filename=str(tmp_path / 's'))
        s = service.get_scheduler(lazy=True)
        assert type(s) is Scheduler
        assert service.scheduler_cls == 'celery.beat:Scheduler'

    def test_defaults(self, app):
        service = Service(app)
        assert service.scheduler_cls is PersistentScheduler
        assert service.schedule_filename == 'celerybeat-schedule'
        copy = pickle.loads(pickle.dumps(service))
        assert copy.scheduler_cls is PersistentScheduler

    def test_beat_init_signal(self, app, tmp_path):
        from celery import signals
        seen = []

        def on_init(sender, **kwargs):
            seen.append(sender)
            sender.stop()

        signals.beat_init.connect(on_init, weak=False)
        try:
            service = Service(app, schedule_filename=str(tmp_path / 's'))
            service.start()
        finally:
            signals.beat_init.disconnect(on_init)
        assert seen == [service]


class Test_EmbeddedService:

    def test_thread(self, app, queue_name, tmp_path):
        app.conf.beat_schedule = {'e': {'task': 't.e', 'schedule': 0.2}}
        svc = EmbeddedService(app, thread=True,
                              schedule_filename=str(tmp_path / 's'))
        assert isinstance(svc, threading.Thread) and svc.daemon
        svc.start()
        try:
            assert wait_for(lambda: drain(app, queue_name, 0.1))
        finally:
            svc.stop()
        svc.join(5)
        assert not svc.is_alive()

    def test_process(self, app, tmp_path):
        svc = EmbeddedService(app, max_interval=3,
                              schedule_filename=str(tmp_path / 's'))
        assert svc.name == 'Beat'
        assert svc.service.max_interval == 3
        assert type(svc).__module__ == 'celery.beat'

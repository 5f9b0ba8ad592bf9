"""Tests for celery.events.state: workers, tasks and the cluster State."""
from __future__ import annotations

import pickle
import threading
import time
from itertools import count

import pytest

from celery import states
from celery.events.state import (HEARTBEAT_EXPIRE_WINDOW, State, Task, Worker,
                                 heartbeat_expires)

_clock = count(1)


def wev(subject, hostname='w1@h', timestamp=None, local_received=None, **fields):
    """A worker event as the receiver hands it over."""
    now = time.time()
    return dict(fields, type=f'worker-{subject}', hostname=hostname,
                timestamp=now if timestamp is None else timestamp,
                local_received=now if local_received is None else local_received,
                clock=fields.get('clock', next(_clock)))


def tev(subject, uuid, hostname='w1@h', timestamp=None, clock=None, **fields):
    """A task event as the receiver hands it over."""
    now = time.time() if timestamp is None else timestamp
    return dict(fields, type=f'task-{subject}', uuid=uuid, hostname=hostname,
                timestamp=now, local_received=now,
                clock=next(_clock) if clock is None else clock)


def task_life(state, uuid, name='tasks.add', hostname='w1@h', end='succeeded', **end_fields):
    state.event(tev('received', uuid, hostname, name=name, args='(2, 2)', kwargs='{}',
                    retries=0, root_id=uuid, parent_id=None))
    state.event(tev('started', uuid, hostname))
    state.event(tev(end, uuid, hostname, **end_fields))
    return state.tasks[uuid]


# -- heartbeat_expires / Worker ---------------------------------------------------------


def test_heartbeat_expires():
    assert heartbeat_expires(100.0, freq=2.0) == 100.0 + 2.0 * HEARTBEAT_EXPIRE_WINDOW / 100
    assert heartbeat_expires(100.0, freq=60, expire_window=100) == 160.0
    from decimal import Decimal
    assert heartbeat_expires(Decimal('100.0'), freq=Decimal('2.0')) == 104.0


def test_worker_online_and_alive():
    state = State()
    (worker, created), subject = state.event(
        wev('online', freq=2.0, sw_ident='py-celery', sw_ver='5.7', sw_sys='Linux', pid=42))
    assert (created, subject) == (True, 'online')
    assert worker is state.workers['w1@h']
    assert (worker.hostname, worker.freq, worker.sw_ident, worker.sw_ver, worker.sw_sys,
            worker.pid) == ('w1@h', 2.0, 'py-celery', '5.7', 'Linux', 42)
    assert worker.alive
    assert worker.status_string == 'ONLINE'
    assert worker.id == 'w1@h.42'
    assert list(state.alive_workers()) == [worker]
    assert repr(worker).startswith('<Worker: w1@h (ONLINE clock:')


def test_worker_expires_without_heartbeats():
    state = State()
    old = time.time() - 100
    state.event(wev('heartbeat', timestamp=old, local_received=old, freq=2.0))
    worker = state.workers['w1@h']
    assert not worker.alive
    assert worker.status_string == 'OFFLINE'
    assert worker.heartbeat_expires == old + 4.0
    assert list(state.alive_workers()) == []


def test_heartbeat_updates_fields_and_keeps_last_four():
    state = State()
    now = time.time()
    for i in range(6):
        state.event(wev('heartbeat', timestamp=now + i, local_received=now + i,
                        active=i, processed=10 * i, loadavg=[0.1, 0.2, 0.3], freq=2.0))
    worker = state.workers['w1@h']
    assert (worker.active, worker.processed, worker.loadavg) == (5, 50, [0.1, 0.2, 0.3])
    assert worker.heartbeats == [now + 2, now + 3, now + 4, now + 5]


def test_heartbeats_out_of_order_are_sorted():
    worker = Worker('w1@h')
    worker.event('heartbeat', 100.0, 100.0)
    worker.event('heartbeat', 90.0, 90.0)
    worker.event('heartbeat', 95.0, 95.0)
    assert worker.heartbeats == [90.0, 95.0, 100.0]


def test_heartbeat_without_times_is_ignored():
    worker = Worker('w1@h')
    worker.event('heartbeat', None, None, {'active': 1})
    assert worker.heartbeats == [] and worker.active == 1


def test_worker_offline_removes_it():
    left, joined = [], []
    state = State(on_node_join=joined.append, on_node_leave=left.append)
    state.event(wev('online'))
    (worker, created), _ = state.event(wev('offline'))
    assert created is False
    assert joined == [worker] and left == [worker]
    assert 'w1@h' not in state.workers
    assert worker.heartbeats == []


def test_offline_of_unknown_worker_is_not_stored():
    left = []
    state = State(on_node_leave=left.append)
    (worker, created), _ = state.event(wev('offline', hostname='ghost@h'))
    assert created is False and left == [worker]
    assert 'ghost@h' not in state.workers


def test_worker_event_without_timestamp_is_ignored():
    state = State()
    assert state.event({'type': 'worker-online', 'hostname': 'w1@h'}) is None
    assert state.event_count == 1


def test_clock_drift_is_warned_once(caplog):
    worker = Worker('drifty@h')
    worker.event('heartbeat', 1000.0, 1000.0 + 60)
    worker.event('heartbeat', 1001.0, 1001.0 + 60)
    assert caplog.text.count('Substantial drift from drifty@h') == 1


def test_worker_update_and_pickle():
    worker = Worker('w1@h', pid=1, freq=2.0)
    worker.update({'active': 3}, processed=9)
    assert (worker.active, worker.processed) == (3, 9)
    copy = pickle.loads(pickle.dumps(worker))
    assert (copy.hostname, copy.pid, copy.freq, copy.active, copy.processed) == (
        'w1@h', 1, 2.0, 3, 9)
    assert copy == worker and hash(copy) == hash(worker)
    assert Worker('other@h') != worker


# -- tasks -----------------------------------------------------------------------------


def test_task_life_cycle():
    state = State()
    task = task_life(state, 'id1', result='4', runtime=0.25)
    assert task.state == states.SUCCESS
    assert (task.name, task.args, task.kwargs, task.result, task.runtime) == (
        'tasks.add', '(2, 2)', '{}', '4', 0.25)
    assert task.received and task.started and task.succeeded
    assert task.worker is state.workers['w1@h']
    assert task.ready
    assert state.task_count == 1 and state.event_count == 3
    assert repr(task).startswith('<Task: tasks.add(id1) SUCCESS clock:')
    assert task.info() == {'args': '(2, 2)', 'kwargs': '{}', 'retries': 0, 'result': '4',
                           'runtime': 0.25, 'root_id': 'id1'}
    assert task.info(['name'], extra=['state']) == {'name': 'tasks.add', 'state': 'SUCCESS'}
    assert task.origin == task.worker.id


@pytest.mark.parametrize('subject,expected', [
    ('sent', states.PENDING), ('received', states.RECEIVED), ('started', states.STARTED),
    ('succeeded', states.SUCCESS), ('failed', states.FAILURE), ('retried', states.RETRY),
    ('revoked', states.REVOKED), ('rejected', states.REJECTED),
])
def test_each_task_event_sets_its_state(subject, expected):
    state = State()
    (task, created), got = state.event(tev(subject, 'id1'))
    assert created and got == subject
    assert task.state == expected
    assert getattr(task, subject) is not None


def test_late_received_event_does_not_undo_success():
    state = State()
    state.event(tev('succeeded', 'id1', result='4', clock=5))
    state.event(tev('received', 'id1', name='tasks.add', args='()', kwargs='{}',
                    hostname='other@h', clock=3))
    task = state.tasks['id1']
    assert task.state == states.SUCCESS
    assert task.name == 'tasks.add'  # merged: the received event's fields are kept
    assert task.result == '4'
    assert getattr(task, 'hostname', None) == 'w1@h'  # not in the merge rule


def test_late_started_event_merges_but_keeps_state():
    state = State()
    state.event(tev('failed', 'id1', exception='KeyError()'))
    state.event(tev('started', 'id1'))
    assert state.tasks['id1'].state == states.FAILURE


def test_retry_then_success():
    state = State()
    state.event(tev('received', 'id1', name='t'))
    state.event(tev('retried', 'id1', exception='Retry'))
    assert state.tasks['id1'].state == states.RETRY
    state.event(tev('started', 'id1'))
    assert state.tasks['id1'].state == states.STARTED
    state.event(tev('succeeded', 'id1'))
    assert state.tasks['id1'].state == states.SUCCESS


def test_custom_task_state():
    state = State()
    state.event(tev('received', 'id1'))
    state.event(tev('progress', 'id1', percent=50))
    task = state.tasks['id1']
    assert task.state == 'PROGRESS' and task.percent == 50


def test_task_sent_by_client():
    state = State()
    (task, _), _ = state.event(tev('sent', 'id1', hostname='client@h', name='tasks.add'))
    assert task.client == 'client@h'
    assert task.worker is None
    assert task.origin == 'client@h'
    assert 'client@h' not in state.workers
    assert task.state == states.PENDING


def test_task_event_registers_its_worker():
    state = State()
    state.event(tev('received', 'id1', hostname='new@h'))
    assert state.workers['new@h'].heartbeats  # a task event is a sign of life


def test_tasks_by_time_newest_first_and_limit():
    state = State()
    for i, uuid in enumerate(['a', 'b', 'c']):
        state.event(tev('received', uuid, timestamp=1000.0 + i, clock=100 + i))
    assert [u for u, _ in state.tasks_by_time()] == ['c', 'b', 'a']
    assert [u for u, _ in state.tasks_by_time(reverse=False)] == ['a', 'b', 'c']
    assert [u for u, _ in state.tasks_by_time(limit=2)] == ['c', 'b']
    assert state.tasks_by_timestamp == state.tasks_by_time


def test_tasks_by_time_orders_by_clock():
    state = State()
    state.event(tev('received', 'late', clock=20, timestamp=1.0))
    state.event(tev('received', 'early', clock=10, timestamp=2.0))
    assert [u for u, _ in state.tasks_by_time(reverse=False)] == ['early', 'late']


def test_tasks_by_time_lists_each_task_once():
    state = State()
    task_life(state, 'a')
    assert [u for u, _ in state.tasks_by_time()] == ['a']


def test_tasks_by_type_and_worker():
    state = State()
    task_life(state, 'a', name='tasks.add', hostname='w1@h')
    task_life(state, 'b', name='tasks.mul', hostname='w2@h')
    task_life(state, 'c', name='tasks.add', hostname='w2@h')
    assert [u for u, _ in state.tasks_by_type('tasks.add')] == ['c', 'a']
    assert [u for u, _ in state.tasks_by_type('tasks.add', limit=1)] == ['c']
    assert {t.uuid for t in state.tasks_by_type['tasks.add']} == {'a', 'c'}
    assert [u for u, _ in state.tasks_by_worker('w2@h')] == ['c', 'b']
    assert {t.uuid for t in state.tasks_by_worker['w1@h']} == {'a'}
    assert state.task_types() == ['tasks.add', 'tasks.mul']


def test_itertasks():
    state = State()
    for uuid in 'abc':
        state.event(tev('received', uuid))
    assert [u for u, _ in state.itertasks()] == ['a', 'b', 'c']
    assert len(list(state.itertasks(limit=2))) == 2


def test_parent_and_children_in_any_order():
    state = State()
    state.event(tev('received', 'child1', parent_id='parent', root_id='parent'))
    state.event(tev('received', 'parent', root_id='parent'))
    state.event(tev('received', 'child2', parent_id='parent', root_id='parent'))
    parent = state.tasks['parent']
    assert {t.uuid for t in parent.children} == {'child1', 'child2'}
    child = state.tasks['child1']
    assert child.parent is parent and child.root is parent
    data = child.as_dict()
    assert (data['parent'], data['root'], data['parent_id']) == ('parent', 'parent', 'parent')
    assert sorted(parent.as_dict()['children']) == ['child1', 'child2']


def test_as_dict_has_every_field():
    state = State()
    task = task_life(state, 'a')
    data = task.as_dict()
    assert set(data) == set(Task._fields)
    assert data['worker'] is task.worker
    assert data['state'] == 'SUCCESS'


def test_task_pickle():
    state = State()
    task = task_life(state, 'a', result='4')
    copy = pickle.loads(pickle.dumps(task))
    assert copy == task
    assert (copy.uuid, copy.name, copy.state, copy.result) == ('a', 'tasks.add', 'SUCCESS', '4')


def test_lru_limits():
    state = State(max_workers_in_memory=2, max_tasks_in_memory=3)
    for uuid in 'abcde':
        state.event(tev('received', uuid))
    for host in ('x@h', 'y@h', 'z@h'):
        state.event(wev('online', hostname=host))
    assert list(state.tasks) == ['c', 'd', 'e']
    assert len(state.workers) == 2
    assert len(state._taskheap) <= 3 * state.heap_multiplier


def test_task_and_worker_event_helpers():
    state = State()
    task = state.task_event('received', {'uuid': 'a', 'hostname': 'w1@h', 'timestamp': 1.0,
                                         'local_received': 1.0, 'clock': 1, 'name': 't'})
    assert task.name == 't'
    worker = state.worker_event('online', {'hostname': 'w1@h', 'timestamp': 1.0,
                                           'local_received': 1.0})
    assert worker.hostname == 'w1@h'
    assert state.get_or_create_task('a') == (task, False)
    new, created = state.get_or_create_task('b')
    assert created and new.uuid == 'b'
    assert state.get_or_create_worker('w1@h', pid=5) == (worker, False)
    assert worker.pid == 5
    other, created = state.get_or_create_worker('w9@h', pid=6)
    assert created and other.pid == 6


def test_callback_and_custom_group_handler():
    seen, custom = [], []
    state = State(callback=lambda st, ev: seen.append(ev['type']))
    state.handlers['beat'] = lambda subject, event: custom.append(subject) or 'done'
    assert state.event({'type': 'beat-tick'}) == ('done', 'tick')
    assert state.event({'type': 'other-thing'}) is None
    assert seen == ['beat-tick', 'other-thing'] and custom == ['tick']


# -- clearing, freezing, pickling ------------------------------------------------------


def test_clear_tasks_keeps_unfinished():
    state = State()
    task_life(state, 'done')
    state.event(tev('received', 'pending'))
    state.clear_tasks()
    assert list(state.tasks) == ['pending']
    state.clear_tasks(ready=False)
    assert not state.tasks


def test_clear_resets_counts():
    state = State()
    task_life(state, 'a')
    state.event(wev('online'))
    state.clear()
    assert (state.event_count, state.task_count) == (0, 0)
    assert not state.workers and not state.tasks
    assert list(state.tasks_by_time()) == []


def test_freeze_while_blocks_events_and_can_clear():
    state = State()
    task_life(state, 'a')
    inside = threading.Event()
    release = threading.Event()
    applied = threading.Event()

    def shutter():
        inside.set()
        assert release.wait(5)
        return state.event_count

    def feed():
        assert inside.wait(5)
        state.event(tev('received', 'b'))
        applied.set()

    feeder = threading.Thread(target=feed)
    feeder.start()
    result = []
    runner = threading.Thread(target=lambda: result.append(
        state.freeze_while(shutter, clear_after=True)))
    runner.start()
    assert inside.wait(5)
    assert not applied.wait(0.1)  # the event waits for the shot to finish
    release.set()
    runner.join(5)
    feeder.join(5)
    assert result == [3]
    assert applied.is_set()
    assert state.event_count == 1  # cleared after the shot, then 'b' arrived


def test_state_pickle_round_trip():
    state = State(max_tasks_in_memory=50)
    task_life(state, 'a', name='tasks.add')
    state.event(wev('online', hostname='w2@h'))
    copy = pickle.loads(pickle.dumps(state))
    assert set(copy.tasks) == {'a'}
    assert set(copy.workers) == {'w1@h', 'w2@h'}
    assert copy.max_tasks_in_memory == 50
    assert [u for u, _ in copy.tasks_by_type('tasks.add')] == ['a']
    assert {t.uuid for t in copy.tasks_by_type['tasks.add']} == {'a'}


def test_app_state_is_bound_to_the_app(app):
    state = app.events.State()
    assert state.app is app
    task_life(state, 'a')
    assert repr(state) == '<State: events=3 tasks=1>'

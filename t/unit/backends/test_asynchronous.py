"""The pushed-result machinery, with an in-process consumer double."""
from __future__ import annotations

import queue
import threading

import pytest

from celery import Celery, states
from celery.backends.asynchronous import AsyncBackendMixin, BaseResultConsumer, _Buffer
from celery.backends.base import Backend
from celery.exceptions import TimeoutError


class QueueConsumer(BaseResultConsumer):
    """Records 'pushed' through a queue.Queue."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.inbox: queue.Queue = queue.Queue()
        self.consuming: set = set()

    def start(self, initial_task_id, **kwargs):
        self.consuming.add(initial_task_id)

    def consume_from(self, task_id):
        self.consuming.add(task_id)

    def cancel_for(self, task_id):
        self.consuming.discard(task_id)

    def drain_events(self, timeout=None):
        try:
            meta = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return
        self.on_state_change(meta, None)


class PushBackend(Backend, AsyncBackendMixin):
    supports_native_join = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_pending()
        self.result_consumer = QueueConsumer(self, self.app, self.accept,
                                             self._pending_results, self._pending_messages)

    def push(self, task_id, result, state=states.SUCCESS):
        self.result_consumer.inbox.put({'task_id': task_id, 'status': state,
                                        'result': result, 'traceback': None,
                                        'children': []})

    def get_task_meta(self, task_id, cache=True):
        return {'status': states.PENDING, 'result': None}


@pytest.fixture
def push_app():
    app = Celery('t.push', set_as_current=False, backend=PushBackend, fixups=[])
    yield app
    app.close()


class test_async_waiting:

    def test_get_waits_for_the_pushed_record(self, push_app):
        backend = push_app.backend
        result = push_app.AsyncResult('a')
        backend.push('a', 42)
        assert result.get(timeout=2) == 42
        assert 'a' not in backend.result_consumer.consuming  # cancelled when ready
        assert 'a' not in backend._pending_results

    def test_exception_states_are_rebuilt(self, push_app):
        push_app.backend.push('a', {'exc_type': 'KeyError', 'exc_message': ['k'],
                                    'exc_module': 'builtins'}, states.FAILURE)
        with pytest.raises(KeyError):
            push_app.AsyncResult('a').get(timeout=2)

    def test_timeout(self, push_app):
        with pytest.raises(TimeoutError):
            push_app.AsyncResult('never').get(timeout=0.05, interval=0.01)

    def test_records_for_others_are_buffered(self, push_app):
        backend = push_app.backend
        backend.push('other', 1)
        backend.push('mine', 2)
        assert push_app.AsyncResult('mine').get(timeout=2) == 2
        assert 'other' in backend._pending_messages
        assert push_app.AsyncResult('other').get(timeout=2) == 1
        assert 'other' not in backend._pending_messages

    def test_on_message_sees_every_state(self, push_app):
        backend = push_app.backend
        backend.push('a', None, states.STARTED)
        backend.push('a', 3)
        seen = []
        assert push_app.AsyncResult('a').get(timeout=2, on_message=seen.append) == 3
        assert [m['status'] for m in seen] == ['STARTED', 'SUCCESS']

    def test_on_interval_is_called_while_waiting(self, push_app):
        calls = []

        def on_interval():
            calls.append(1)
            if len(calls) == 3:
                push_app.backend.push('a', 'late')
        assert push_app.AsyncResult('a').get(timeout=2, interval=0.01,
                                             on_interval=on_interval) == 'late'

    def test_iter_native_yields_in_arrival_order(self, push_app):
        backend = push_app.backend
        group = push_app.GroupResult('g', [push_app.AsyncResult(i) for i in 'abc'])
        for task_id in 'cab':
            backend.push(task_id, task_id.upper())
        assert [tid for tid, _ in backend.iter_native(group, timeout=2)] == list('cab')
        assert group.join_native(timeout=2) == ['A', 'B', 'C']

    def test_iter_native_timeout(self, push_app):
        group = push_app.GroupResult('g', [push_app.AsyncResult('x')])
        with pytest.raises(TimeoutError):
            group.join_native(timeout=0.05, interval=0.01)

    def test_two_threads_waiting(self, push_app):
        push_app.conf.result_backend_thread_safe = True  # one backend for all threads
        backend = push_app.backend
        results = {}

        def wait(task_id):
            results[task_id] = push_app.AsyncResult(task_id).get(timeout=5, interval=0.01)
        threads = [threading.Thread(target=wait, args=(t,)) for t in 'ab']
        for thread in threads:
            thread.start()
        backend.push('b', 2)
        backend.push('a', 1)
        for thread in threads:
            thread.join(5)
        assert results == {'a': 1, 'b': 2}

    def test_after_fork_forgets_state(self, push_app):
        backend = push_app.backend
        push_app.AsyncResult('p').then(lambda r: None)
        backend.push('q', 1)
        backend.result_consumer.drain_events(0.1)
        backend.result_consumer.on_after_fork()
        assert not backend._pending_results and not backend._pending_messages


def test_buffer_is_bounded():
    buffer = _Buffer(2)
    for key in 'abc':
        buffer.put(key, key)
    assert list(buffer) == ['b', 'c']

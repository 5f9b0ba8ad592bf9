"""Fixtures for the canvas tests: an app with arithmetic tasks, a recorder of
sent tasks, and an in-process worker that runs queued messages one by one."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from celery.app.trace import trace_task_ret
from celery.utils.uuid import uuid


class Tasks:
    """The tasks of the canvas test app, as attributes."""

    def __init__(self, app: Any) -> None:
        self.errors: list = []
        self.calls: list = []
        errors, calls = self.errors, self.calls

        def task(*args: Any, **opts: Any) -> Any:
            def register(fun: Any) -> Any:
                return app.task(*args, shared=False, name=fun.__name__, **opts)(fun)
            return register

        @task()
        def add(x, y):
            return x + y

        @task()
        def mul(x, y):
            return x * y

        @task()
        def sub(x, y):
            return x - y

        @task()
        def tsum(nums):
            return sum(nums)

        @task()
        def identity(x):
            return x

        @task()
        def collect(*args, **kwargs):
            calls.append((args, kwargs))
            return list(args)

        @task()
        def fail(*args):
            raise ValueError('expected failure')

        @task()
        def on_error(request, exc, traceback):
            errors.append((request.id, exc))

        @task()
        def on_error_by_id(task_id):
            errors.append((task_id, None))

        @task(bind=True)
        def replace_with(self, sig):
            from celery.canvas import signature
            return self.replace(signature(sig, app=self.app))

        @task(bind=True)
        def grow_chord(self, x):
            self.add_to_chord(identity.si(x * 10))
            return x

        for name, value in list(locals().items()):
            if hasattr(value, 'apply_async'):
                setattr(self, name, value)


@pytest.fixture
def tasks(app: Any) -> Tasks:
    """The canvas test tasks, registered on the ``app`` fixture.

    The app gets a queue of its own: the memory transport is shared by the
    whole process, and messages other tests leave behind must not run here.
    """
    app.conf.task_default_queue = f'canvas-{uuid()}'
    registered = Tasks(app)
    app.finalize()
    return registered


@pytest.fixture
def eager(app: Any, tasks: Tasks) -> Tasks:
    """The test tasks on an app with ``task_always_eager``."""
    app.conf.task_always_eager = True
    return tasks


@pytest.fixture
def sent(app: Any) -> Iterator[list]:
    """Records ``(name, args, kwargs, options)`` of every task message sent."""
    calls: list = []
    send = app.send_task

    def recording_send(name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        calls.append((name, args, kwargs, options))
        return send(name, args, kwargs, **options)

    app.send_task = recording_send
    yield calls
    del app.send_task


class InlineWorker:
    """Runs the messages waiting in the app's default queue, in this process."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ran: list = []
        self.headers: list = []

    def drain(self, limit: int = 500) -> int:
        """Run queued messages (and those they send) until the queue is empty."""
        count = 0
        with self.app.connection_for_read() as conn:
            queue = self.app.amqp.queues[self.app.conf.task_default_queue].bind(
                conn.default_channel)
            queue.declare()
            while count < limit:
                message = queue.get(no_ack=True)
                if message is None:
                    return count
                self.execute(message)
                count += 1
        raise AssertionError(f'still messages after running {limit}: a loop?')

    def execute(self, message: Any) -> None:
        headers = dict(message.headers)
        request = dict(headers, reply_to=message.properties.get('reply_to'),
                       correlation_id=message.properties.get('correlation_id'),
                       delivery_info=dict(message.delivery_info))
        self.ran.append(headers['task'])
        self.headers.append(headers)
        trace_task_ret(headers['task'], headers['id'], request, message.body,
                       message.content_type, message.content_encoding, app=self.app)


@pytest.fixture
def worker(app: Any, tasks: Tasks) -> InlineWorker:
    """An :class:`InlineWorker` for the ``app`` fixture (tasks registered)."""
    return InlineWorker(app)

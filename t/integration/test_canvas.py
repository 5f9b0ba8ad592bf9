"""Every canvas shape against a real worker, on real brokers and backends.

Three set-ups: Redis as broker and backend (chords counted in Redis),
RabbitMQ with the Redis backend, and Redis with the PostgreSQL database
backend (chords completed by the ``celery.chord_unlock`` task).  Each gets
its own app, queue and in-process worker (``start_worker``).
"""
from __future__ import annotations

import threading
from typing import Any, Iterator

import pytest

from celery import Celery, chain, chord, group, signature
from celery.canvas import StampingVisitor
from celery.exceptions import ChordError, CPendingDeprecationWarning
from celery.utils.uuid import uuid

pytestmark = pytest.mark.integration

TIMEOUT = 20


class Tasks:
    """The tasks the workers run, with the errors their errbacks saw."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.errors: list = []
        self.lock = threading.Lock()
        errors, lock = self.errors, self.lock

        def task(*args: Any, **opts: Any) -> Any:
            def register(fun: Any) -> Any:
                return app.task(*args, shared=False, name=f'it.{fun.__name__}', **opts)(fun)
            return register

        @task()
        def add(x, y):
            return x + y

        @task()
        def mul(x, y):
            return x * y

        @task()
        def tsum(nums):
            return sum(nums)

        @task()
        def identity(x):
            return x

        @task()
        def collect(*args):
            return list(args)

        @task()
        def fail(*args):
            raise ValueError('expected failure')

        @task()
        def on_error(request, exc, traceback):
            with lock:
                errors.append((request.id, repr(exc)))

        @task()
        def on_error_by_id(task_id):
            with lock:
                errors.append((task_id, None))

        @task(bind=True)
        def replace_with(self, sig):
            return self.replace(signature(sig, app=self.app))

        @task(bind=True)
        def grow_chord(self, x):
            self.add_to_chord(identity.si(x * 10))
            return x

        @task(bind=True)
        def stamps(self):
            return self.request.stamps

        for name, value in list(locals().items()):
            if hasattr(value, 'apply_async'):
                setattr(self, name, value)

    def wait_for_errors(self, count: int, timeout: float = TIMEOUT) -> list:
        """Poll (with a deadline) until the errbacks have been called ``count`` times."""
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.errors) >= count:
                    return list(self.errors)
            time.sleep(0.05)
        raise AssertionError(f'errbacks called {len(self.errors)} times, expected {count}')


SETUPS = ('redis', 'amqp+redis', 'redis+database')


@pytest.fixture(scope='module', params=SETUPS)
def setup(request: Any) -> Iterator[tuple]:
    """``(name, app, tasks)`` with a worker consuming the app's own queue."""
    from celery.contrib.testing.worker import start_worker
    name = request.param
    redis_url = request.getfixturevalue('redis_url')
    if name == 'redis':
        broker, backend = redis_url, redis_url
    elif name == 'amqp+redis':
        broker, backend = request.getfixturevalue('amqp_url'), redis_url
    else:
        broker, backend = redis_url, 'db+' + request.getfixturevalue('postgres_url')
    app = Celery(f'it-canvas-{name}', broker=broker, backend=backend,
                 set_as_current=False, fixups=[])
    app.conf.update(
        task_default_queue=f'it-canvas-{uuid()}',
        result_chord_retry_interval=0.1,
        worker_hijack_root_logger=False,
    )
    tasks = Tasks(app)
    with start_worker(app, pool='threads', concurrency=4, perform_ping_check=False,
                      shutdown_timeout=10):
        yield name, app, tasks
    app.close()


@pytest.fixture
def tasks(setup: tuple) -> Tasks:
    tasks = setup[2]
    with tasks.lock:
        tasks.errors.clear()
    return tasks


@pytest.fixture
def setup_name(setup: tuple) -> str:
    return setup[0]


class test_documented_examples:

    def test_chain(self, tasks):
        add, mul = tasks.add, tasks.mul
        res = chain(add.s(4, 4), mul.s(8), mul.s(10))()
        assert res.get(timeout=TIMEOUT) == 640
        assert res.parent.get(timeout=TIMEOUT) == 64
        assert res.parent.parent.get(timeout=TIMEOUT) == 8
        assert (add.s(2, 2) | add.s(4) | add.s(8))().get(timeout=TIMEOUT) == 16

    def test_immutable_and_partial_chains(self, tasks):
        add, mul = tasks.add, tasks.mul
        res = (add.si(2, 2) | add.si(4, 4) | add.si(8, 8))()
        assert res.get(timeout=TIMEOUT) == 16
        assert res.parent.get(timeout=TIMEOUT) == 8
        assert (add.s(4) | mul.s(8))(16).get(timeout=TIMEOUT) == 160
        c2 = add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8))
        assert c2().get(timeout=TIMEOUT) == 352

    def test_group(self, tasks):
        res = group(tasks.add.s(i, i) for i in range(10))()
        assert res.get(timeout=TIMEOUT) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]

    def test_chord(self, tasks):
        res = chord((tasks.add.s(i, i) for i in range(10)), tasks.tsum.s())()
        assert res.get(timeout=TIMEOUT) == 90
        assert chord(tasks.add.s(i, i) for i in range(100))(tasks.tsum.s()).get(
            timeout=TIMEOUT) == 9900

    def test_immutable_chord_body(self, tasks):
        res = chord([tasks.add.s(1, 1)], tasks.identity.si('done')).apply_async()
        assert res.get(timeout=TIMEOUT) == 'done'

    def test_group_then_task_is_a_chord(self, tasks):
        c3 = group(tasks.add.s(i, i) for i in range(10)) | tasks.tsum.s()
        assert c3().get(timeout=TIMEOUT) == 90

    def test_chain_then_group(self, tasks):
        res = (tasks.add.s(4, 4) | group(tasks.add.si(i, i) for i in range(10)))()
        assert res.get(timeout=TIMEOUT) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
        assert res.parent.get(timeout=TIMEOUT) == 8

    def test_callbacks_and_children(self, tasks, setup_name):
        res = tasks.add.apply_async((2, 2), link=tasks.mul.s(16))
        assert res.get(timeout=TIMEOUT) == 4
        if setup_name == 'redis+database':
            return  # the database backend does not record children
        (child,) = res.children
        assert child.get(timeout=TIMEOUT) == 64
        assert sorted(value for _, value in res.collect()) == [4, 64]

    def test_map_starmap_chunks(self, tasks):
        assert tasks.tsum.map([list(range(10)), list(range(100))]).delay().get(
            timeout=TIMEOUT) == [45, 4950]
        assert tasks.add.starmap(zip(range(10), range(10))).delay().get(
            timeout=TIMEOUT) == list(range(0, 20, 2))
        res = tasks.add.chunks(zip(range(100), range(100)), 10)()
        assert res.get(timeout=TIMEOUT) == [list(range(i, i + 20, 2)) for i in range(0, 200, 20)]

    def test_chunks_group_skew(self, tasks):
        g = tasks.add.chunks(zip(range(20), range(20)), 10).group()
        res = g.skew(start=0, step=0.1)()
        assert res.get(timeout=TIMEOUT)[1] == list(range(20, 40, 2))


class test_mixed_workflows:

    def test_chain_of_groups(self, tasks):
        c = (tasks.add.s(1, 1) | group(tasks.add.s(1), tasks.add.s(2))
             | group(tasks.tsum.s(), tasks.collect.s()))
        assert c.delay().get(timeout=TIMEOUT) == [7, [[3, 4]]]

    def test_chord_in_a_chain(self, tasks):
        c = (tasks.add.s(1, 1) | chord([tasks.add.s(1), tasks.add.s(2)], tasks.tsum.s())
             | tasks.mul.s(10))
        assert c.delay().get(timeout=TIMEOUT) == 70

    def test_two_chords_in_a_chain(self, tasks):
        c = (tasks.add.s(1, 1) | group(tasks.add.s(1), tasks.add.s(2)) | tasks.tsum.s()
             | group(tasks.add.s(1), tasks.add.s(2)) | tasks.tsum.s())
        assert c.delay().get(timeout=TIMEOUT) == 17

    def test_chord_with_chain_body(self, tasks):
        c = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)],
                  tasks.tsum.s() | tasks.mul.s(10) | tasks.add.s(1))
        res = c.delay()
        assert res.get(timeout=TIMEOUT) == 61

    def test_chord_with_group_body(self, tasks):
        c = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)],
                  group(tasks.tsum.s(), tasks.collect.s()))
        assert c.delay().get(timeout=TIMEOUT) == [6, [[2, 4]]]

    def test_group_of_chords(self, tasks):
        g = group(chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s()),
                  chord([tasks.add.s(3, 3)], tasks.tsum.s()),
                  tasks.add.s(10, 10))
        assert g.delay().get(timeout=TIMEOUT) == [6, 6, 20]

    def test_nested_chords(self, tasks):
        inner = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s())
        outer = chord([inner, tasks.add.s(10, 10)], tasks.tsum.s())
        assert outer.delay().get(timeout=TIMEOUT) == 26

    def test_deeply_nested_chords(self, tasks):
        level = chord([tasks.add.s(1, 1)], tasks.tsum.s())
        for _ in range(3):
            level = chord([level, tasks.add.s(1, 1)], tasks.tsum.s())
        assert level.delay().get(timeout=TIMEOUT) == 8

    def test_chains_in_a_chord_header(self, tasks):
        c = chord([tasks.add.s(1, 1) | tasks.mul.s(10),
                   tasks.add.s(2, 2) | group(tasks.add.s(1), tasks.add.s(2))],
                  tasks.collect.s())
        assert c.delay().get(timeout=TIMEOUT) == [[20, [5, 6]]]

    def test_empty_header(self, tasks):
        assert chord([], tasks.collect.s()).delay().get(timeout=TIMEOUT) == [[]]

    def test_frozen_canvas(self, tasks):
        c = tasks.add.s(1, 1) | chord([tasks.add.s(1), tasks.add.s(2)], tasks.tsum.s())
        frozen = c.freeze()
        c.delay()
        assert frozen.get(timeout=TIMEOUT) == 7

    def test_stamps_reach_the_tasks(self, tasks):
        class Visitor(StampingVisitor):
            def on_signature(self, sig, **headers):
                return {'mark': 'stamped'}
        g = group(tasks.stamps.s(), tasks.stamps.s())
        g.stamp(visitor=Visitor())
        for stamps in g.delay().get(timeout=TIMEOUT):
            assert stamps['mark'] in ('stamped', ['stamped'])


class test_errors:

    def test_chain_step(self, tasks):
        c = chain(tasks.add.s(1, 1), tasks.fail.s(), tasks.add.s(1))
        c.link_error(tasks.on_error.s())
        res = c.delay()
        with pytest.raises(ValueError):
            res.get(timeout=TIMEOUT)
        assert res.parent.get(timeout=TIMEOUT, propagate=False) is not None
        ((failed_id, exc),) = tasks.wait_for_errors(1)
        assert failed_id == res.parent.id and 'expected failure' in exc

    def test_errback_by_task_id(self, tasks):
        res = tasks.fail.s().on_error(tasks.on_error_by_id.s()).delay()
        with pytest.raises(ValueError):
            res.get(timeout=TIMEOUT)
        assert tasks.wait_for_errors(1) == [(res.id, None)]

    def test_group_member(self, tasks):
        g = group(tasks.add.s(1, 1), tasks.fail.s())
        g.link_error(tasks.on_error.s())
        res = g.delay()
        assert res.results[0].get(timeout=TIMEOUT) == 2
        with pytest.raises(ValueError):
            res.results[1].get(timeout=TIMEOUT)
        assert len(tasks.wait_for_errors(1)) == 1

    def test_chord_header(self, tasks):
        body = tasks.tsum.s().on_error(tasks.on_error.s())
        res = chord([tasks.add.s(4, 4), tasks.fail.s(), tasks.add.s(8, 8)], body).delay()
        with pytest.raises(ChordError, match='Dependency .* raised'):
            res.get(timeout=TIMEOUT, follow_parents=False)
        ((failed_id, exc),) = tasks.wait_for_errors(1)
        assert failed_id == res.id and 'ChordError' in exc

    def test_chord_body(self, tasks):
        res = chord([tasks.add.s(1, 1)], tasks.fail.s().on_error(tasks.on_error.s())).delay()
        with pytest.raises(ValueError):
            res.get(timeout=TIMEOUT)
        assert len(tasks.wait_for_errors(1)) == 1

    def test_nested_chord_header(self, tasks):
        inner = chord([tasks.fail.s(), tasks.add.s(1, 1)], tasks.tsum.s())
        res = chord([inner, tasks.add.s(2, 2)], tasks.tsum.s()).delay()
        with pytest.raises(ChordError):
            res.get(timeout=TIMEOUT, follow_parents=False)

    def test_chain_inside_a_chord_header(self, tasks):
        res = chord([tasks.add.s(1, 1) | tasks.fail.s(), tasks.add.s(2, 2)],
                    tasks.tsum.s()).delay()
        with pytest.raises(ChordError):
            res.get(timeout=TIMEOUT, follow_parents=False)

    def test_chord_in_a_chain_errback(self, tasks):
        c = tasks.add.s(1, 1) | chord([tasks.fail.s(), tasks.add.s(1)], tasks.tsum.s())
        c.link_error(tasks.on_error.s())
        with pytest.warns(CPendingDeprecationWarning):  # the chord's header gets no errback
            res = c.delay()
        with pytest.raises(ChordError):
            res.get(timeout=TIMEOUT, follow_parents=False)
        assert tasks.wait_for_errors(1)


class test_task_side:

    def test_replace_in_a_chain(self, tasks):
        c = tasks.replace_with.s(tasks.add.s(1, 1) | tasks.mul.s(10)) | tasks.add.s(5)
        res = c.delay()
        assert res.get(timeout=TIMEOUT) == 25
        assert res.parent.get(timeout=TIMEOUT) == 20

    def test_replace_with_a_group(self, tasks):
        c = (tasks.replace_with.s(group(tasks.add.s(1, 1), tasks.add.s(2, 2)))
             | tasks.collect.s())
        assert c.delay().get(timeout=TIMEOUT) == [[2, 4]]

    def test_replace_in_a_chord_header(self, tasks):
        c = chord([tasks.replace_with.s(tasks.add.s(1, 1) | tasks.mul.s(3)),
                   tasks.add.s(1, 1)], tasks.tsum.s())
        assert c.delay().get(timeout=TIMEOUT) == 8

    def test_add_to_chord(self, tasks, setup_name):
        res = chord([tasks.grow_chord.s(1), tasks.grow_chord.s(2)], tasks.collect.s()).delay()
        if setup_name == 'redis+database':
            # The database backend cannot grow a chord: the header task fails.
            with pytest.raises(NotImplementedError):
                res.get(timeout=TIMEOUT)
        else:
            assert sorted(res.get(timeout=TIMEOUT)[0]) == [1, 2, 10, 20]

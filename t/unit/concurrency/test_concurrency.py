"""Pool lookup by name, the base pool, solo and threads pools."""
from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from celery import concurrency
from celery.concurrency.base import BasePool, apply_target
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadPool
from celery.exceptions import WorkerLostError


def unwrap(exc: Any) -> Any:
    """The exception inside billiard's ExceptionWithTraceback."""
    return getattr(exc, 'exc', exc)


def test_get_implementation_by_alias_and_name() -> None:
    assert concurrency.get_implementation('prefork') is PreforkPool
    assert concurrency.get_implementation('processes') is PreforkPool
    assert concurrency.get_implementation('solo') is SoloPool
    assert concurrency.get_implementation('threads') is ThreadPool
    assert concurrency.get_implementation('celery.concurrency.solo:TaskPool') is SoloPool
    assert concurrency.get_implementation(SoloPool) is SoloPool
    assert {'prefork', 'solo', 'threads'} <= set(concurrency.get_available_pool_names())
    with pytest.raises((ImportError, AttributeError, ValueError)):
        concurrency.get_implementation('no.such.module:Pool')


@pytest.mark.parametrize('name', ['eventlet', 'gevent'])
def test_green_pools_are_refused_clearly(name: str) -> None:
    from celery.exceptions import ImproperlyConfigured
    with pytest.raises(ImproperlyConfigured, match=f'The {name} pool is not available'):
        concurrency.get_implementation(name)
    assert name not in concurrency.get_available_pool_names()


def test_processes_is_an_alias_module() -> None:
    from celery.concurrency import processes
    assert processes.TaskPool is PreforkPool
    assert processes.WORKER_SIGIGNORE == frozenset({'SIGINT'})
    assert 'SIGTERM' in processes.WORKER_SIGRESET


def test_apply_target_calls_accept_then_callback() -> None:
    calls = []
    apply_target(lambda x: x * 2, (21,), {}, callback=calls.append,
                 accept_callback=lambda pid, t: calls.append(('accepted', pid)))
    assert calls == [('accepted', os.getpid()), 42]


def test_apply_target_turns_base_exceptions_into_worker_lost() -> None:
    got = []

    def exits() -> None:
        raise SystemExit(3)

    apply_target(exits, callback=got.append)
    assert isinstance(unwrap(got[0].exception), WorkerLostError)
    with pytest.raises(KeyError):
        apply_target(lambda: {}['x'], callback=got.append)


class FakeLoop:
    def __init__(self) -> None:
        self.soon: list = []
        self.readers: dict = {}

    def call_soon(self, fun: Any, *args: Any) -> None:
        self.soon.append((fun, args))

    def add_reader(self, fd: Any, cb: Any, *args: Any) -> None:
        self.readers[fd] = cb

    def remove_reader(self, fd: Any) -> None:
        self.readers.pop(fd, None)

    def run_soon(self) -> None:
        while self.soon:
            fun, args = self.soon.pop(0)
            fun(*args)


def test_post_runs_now_in_the_loop_thread_and_hands_over_from_others() -> None:
    pool = BasePool(limit=1)
    calls = []
    pool.post(calls.append, 'no loop')          # no loop: runs directly
    loop = FakeLoop()
    pool.register_with_event_loop(loop)
    pool.post(calls.append, 'in loop')          # the loop's thread
    thread = threading.Thread(target=pool.post, args=(calls.append, 'other'))
    thread.start()
    thread.join()
    assert calls == ['no loop', 'in loop']
    loop.run_soon()
    assert calls == ['no loop', 'in loop', 'other']


def test_base_pool_lifecycle_and_unsupported_operations() -> None:
    pool = BasePool(limit=3)
    pool.start()
    assert pool.active and pool.num_processes == 3
    assert pool.info['max-concurrency'] == 3
    assert not pool.starts_now()
    for method in (pool.restart, pool.grow, pool.shrink):
        with pytest.raises(NotImplementedError):
            method()
    with pytest.raises(NotImplementedError):
        pool.terminate_job(1)
    pool.stop()
    assert not pool.active


def test_solo_pool_runs_inline() -> None:
    pool = SoloPool()
    pool.start()
    got = []
    pool.apply_async(lambda x, y: x + y, (1, 2), callback=got.append,
                     accept_callback=lambda pid, t: got.append('accepted'))
    assert got == ['accepted', 3]
    assert pool.info['max-concurrency'] == 1
    assert pool.info['processes'] == [os.getpid()]


def test_thread_pool_runs_in_threads_and_posts_callbacks_to_the_loop() -> None:
    pool = ThreadPool(limit=2)
    loop = FakeLoop()
    pool.register_with_event_loop(loop)
    pool.start()
    got = []
    idents = []

    def work(x: int) -> int:
        idents.append(threading.get_ident())
        return x + 1

    result = pool.apply_async(work, (1,), callback=got.append,
                              accept_callback=lambda pid, t: got.append('accepted'))
    result.wait(5)
    assert result.get() == 2
    assert idents and idents[0] != threading.get_ident()
    assert got == []  # callbacks wait for the loop
    loop.run_soon()
    assert got == ['accepted', 2]
    pool.stop()


def test_thread_pool_reports_its_own_errors() -> None:
    pool = ThreadPool(limit=1)
    pool.start()
    errors = []

    def boom() -> None:
        raise ValueError('x')

    res = pool.apply_async(boom, error_callback=errors.append)
    res.wait(5)
    assert isinstance(unwrap(errors[0].exception), ValueError)
    pool.terminate()

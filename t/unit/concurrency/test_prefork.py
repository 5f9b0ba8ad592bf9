"""The prefork pool driven by a real event loop: results, time limits, children."""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import amqp
import pytest
import redis
from amqp.transport import TCPTransport
from kombu import Connection
from kombu.asynchronous import Hub

from celery.concurrency.base import keep_from_children
from celery.concurrency.prefork import TaskPool
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded, Terminated


def double(x: int) -> int:
    return x * 2


def my_pid() -> int:
    return os.getpid()


def sleep_catching_soft_limit(seconds: float) -> str:
    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        return 'soft limit'
    return 'done'


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return 'slept'


def current_app_name() -> str:
    from celery._state import get_current_app
    from celery.worker import state
    return f'{get_current_app().main}:{len(state.requests)}'


def unwrap(exc: Any) -> Any:
    return getattr(exc, 'exc', exc)


def run_until(hub: Hub, predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    loop = hub.create_loop()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out')
        next(loop)
    return predicate()


@pytest.fixture
def hub() -> Iterator[Hub]:
    h = Hub()
    h.call_repeatedly(0.05, lambda: None)  # never sleep long
    yield h
    h.close()


@pytest.fixture
def make_pool(app: Any, hub: Hub) -> Iterator[Callable[..., TaskPool]]:
    pools = []

    def make(limit: int = 1, **options: Any) -> TaskPool:
        pool = TaskPool(limit, initargs=(app, 'w@test'), app=app, **options)
        pool.register_with_event_loop(hub)
        pool.start()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.terminate()


def test_jobs_run_in_children_and_report_back(make_pool: Any, hub: Hub) -> None:
    # Given a pool of two children attached to the loop
    pool = make_pool(2)
    accepted, results = [], []
    # When jobs are applied
    for i in range(20):
        pool.apply_async(double, (i,), callback=results.append,
                         accept_callback=lambda pid, t: accepted.append(pid))
    # Then the loop delivers acceptance and results
    run_until(hub, lambda: len(results) == 20)
    assert sorted(results) == [i * 2 for i in range(20)]
    assert len(accepted) == 20
    assert os.getpid() not in accepted
    assert set(accepted) <= set(pool.info['processes'])
    assert pool.num_processes == 2


def test_info_counts_the_jobs_each_child_took(make_pool: Any, hub: Hub) -> None:
    # Given a pool of two children that has run jobs
    pool = make_pool(2)
    accepted, results = [], []
    for i in range(10):
        pool.apply_async(double, (i,), callback=results.append,
                         accept_callback=lambda pid, t: accepted.append(pid))
    run_until(hub, lambda: len(results) == 10)
    # Then ``stats`` shows how the jobs were spread, in Celery's shape
    writes = pool.info['writes']
    pids = pool.info['processes']
    assert writes['total'] == 10
    raw = [int(count) for count in writes['raw'].split(', ')]
    assert raw == [accepted.count(pid) for pid in pids]
    shares = [float(share) for share in writes['all'].split(', ')]
    assert shares == [round(count / 10, 2) for count in raw]
    assert writes['inqueues'] == {'total': 2, 'active': 0}
    assert writes['strategy'] == 'fair' and writes['avg'] == '0.50'


def test_children_are_initialised_with_the_app(make_pool: Any, hub: Hub, app: Any) -> None:
    pool = make_pool(1)
    got = []
    pool.apply_async(current_app_name, callback=got.append)
    run_until(hub, lambda: got)
    assert got == [f'{app.main}:0']


def test_starts_now_tells_if_a_child_is_idle(make_pool: Any, hub: Hub) -> None:
    pool = make_pool(1)
    assert pool.starts_now()
    done = []
    pool.apply_async(sleep_for, (0.3,), callback=done.append)
    assert not pool.starts_now()
    run_until(hub, lambda: done)
    assert pool.starts_now()


def test_soft_time_limit_raises_in_the_child(make_pool: Any, hub: Hub) -> None:
    pool = make_pool(1)
    got, timeouts = [], []
    pool.apply_async(sleep_catching_soft_limit, (10,), callback=got.append,
                     soft_timeout=0.2, timeout=8,
                     timeout_callback=lambda soft, timeout: timeouts.append((soft, timeout)))
    run_until(hub, lambda: got and timeouts)
    assert got == ['soft limit']
    assert timeouts == [(True, 0.2)]


def test_hard_time_limit_kills_the_child_which_is_replaced(make_pool: Any, hub: Hub) -> None:
    pool = make_pool(1)
    before = list(pool.info['processes'])
    errors, timeouts = [], []
    pool.apply_async(sleep_for, (30,), error_callback=errors.append, timeout=0.5,
                     timeout_callback=lambda soft, timeout: timeouts.append(soft))
    run_until(hub, lambda: errors and timeouts)
    assert isinstance(unwrap(errors[0].exception), TimeLimitExceeded)
    assert timeouts == [False]
    # a new child takes the killed one's place and runs jobs
    got = []
    pool.apply_async(my_pid, callback=got.append)
    run_until(hub, lambda: got)
    assert got[0] not in before



def test_time_limit_thread_survives_the_loop_reaping_the_child_it_kills() -> None:
    import billiard
    from billiard.connection import wait

    from celery.concurrency.prefork import Pool
    # Given a child past its hard limit, which the loop joins (closing its
    # sentinel) while the time-limit thread waits for it to exit
    child = billiard.Process(target=time.sleep, args=(30,))
    child.start()
    popen = child._popen
    reap = popen.wait

    def wait_while_the_loop_joins(timeout: float | None = None) -> Any:
        sentinel = popen.sentinel
        reap()  # what join does: wait for the exit, then close the sentinel
        popen.close()
        return wait([sentinel], timeout)  # billiard's wait on the closed sentinel

    popen.wait = wait_while_the_loop_joins
    handler = Pool.TimeoutHandler([], {}, None, None)
    # When the thread kills it, then it carries on: the child is gone
    handler._trywaitkill(child)
    assert child.exitcode == -signal.SIGTERM

def test_terminate_job_kills_the_running_job(make_pool: Any, hub: Hub) -> None:
    pool = make_pool(1)
    pids, errors = [], []
    pool.apply_async(sleep_for, (30,), error_callback=errors.append,
                     accept_callback=lambda pid, t: pids.append(pid))
    run_until(hub, lambda: pids)
    pool.terminate_job(pids[0], signal.SIGTERM)
    run_until(hub, lambda: errors)
    assert isinstance(unwrap(errors[0].exception), Terminated)


def test_big_jobs_go_through_the_task_handler(make_pool: Any, hub: Hub) -> None:
    # Given jobs bigger than the pipe, queued while the only child is busy
    pool = make_pool(1)
    results = []
    pool.apply_async(sleep_for, (0.3,), callback=results.append)
    blob = 'x' * 200_000
    for _ in range(3):
        pool.apply_async(len, (blob,), callback=results.append)
    # Then the loop is not blocked and every job still runs, in order
    run_until(hub, lambda: len(results) == 4)
    assert results == ['slept', 200_000, 200_000, 200_000]


def big_result(size: int) -> str:
    return 'r' * size


def test_big_results_come_back_whole_among_small_ones(make_pool: Any, hub: Hub) -> None:
    # Given results bigger than the pipe, mixed with small ones from two children
    pool = make_pool(2)
    results = []
    sizes = [10, 300_000, 20, 70_000, 5, 1_000_000, 1]
    for size in sizes:
        pool.apply_async(big_result, (size,), callback=results.append)
    # Then each arrives whole (read in pieces, cut from the buffer)
    run_until(hub, lambda: len(results) == len(sizes))
    assert sorted(map(len, results)) == sorted(sizes)
    assert all(set(result) == {'r'} for result in results)


def test_results_left_in_the_buffer_are_handled_before_the_loop_waits(
        make_pool: Any, hub: Hub) -> None:
    # Given several results waiting, and a handler that takes one per call
    pool = make_pool(1)
    results = []
    for i in range(5):
        pool.apply_async(double, (i,), callback=results.append)
    pool.flush()
    inner = pool._pool
    deadline = time.monotonic() + 10
    while inner._results.readable(0.1) and len(results) < 5:
        inner.handle_results(limit=1)
        assert time.monotonic() < deadline
    # Then what is left buffered (the pipe empty) goes at the next loop tick
    run_until(hub, lambda: len(results) == 5)
    assert sorted(results) == [0, 2, 4, 6, 8]


def test_jobs_applied_in_the_loop_thread_are_written_together(make_pool: Any, hub: Hub) -> None:
    # Given a pool attached to the loop of this thread
    pool = make_pool(1)
    results = []
    # When jobs are applied
    for i in range(4):
        pool.apply_async(double, (i,), callback=results.append)
    # Then the first goes to the idle child at once, the others wait for the
    # loop's tick, and are written in one go
    assert len(pool._pool._batch) == 3
    run_until(hub, lambda: len(results) == 4)
    assert not pool._pool._batch
    assert results == [0, 2, 4, 6]


def test_a_job_for_an_idle_child_is_written_at_once(make_pool: Any, hub: Hub) -> None:
    # Given a pool whose children are idle
    pool = make_pool(2)
    results = []
    # When a job is applied in the loop thread
    pool.apply_async(double, (5,), callback=results.append)
    # Then it is in the pipe already, not waiting for the loop's next turn
    assert not pool._pool._batch
    run_until(hub, lambda: results)
    assert results == [10]


def test_jobs_applied_from_another_thread_are_written_at_once(make_pool: Any, hub: Hub) -> None:
    import threading
    pool = make_pool(1)
    results = []
    thread = threading.Thread(target=pool.apply_async, args=(double, (21,)),
                              kwargs={'callback': results.append})
    thread.start()
    thread.join()
    assert not pool._pool._batch
    run_until(hub, lambda: results)
    assert results == [42]


def test_stop_writes_the_jobs_still_collected(make_pool: Any, hub: Hub) -> None:
    # Given jobs applied and not yet written (the loop has not ticked)
    pool = make_pool(1)
    got = []
    pool.apply_async(double, (3,), callback=got.append)
    pool.apply_async(double, (4,), callback=got.append)
    assert pool._pool._batch
    # When the pool stops, they still run
    pool.stop()
    assert got == [6, 8]


def test_max_tasks_per_child_recycles(make_pool: Any, hub: Hub) -> None:
    pool = make_pool(1, maxtasksperchild=2)
    got = []
    for _ in range(4):
        pool.apply_async(my_pid, callback=got.append)
    run_until(hub, lambda: len(got) == 4, timeout=20)
    assert got[0] == got[1] and got[2] == got[3] and got[0] != got[2]


def test_stop_waits_for_running_and_queued_jobs(make_pool: Any, hub: Hub) -> None:
    pool = make_pool(1)
    got = []
    pool.apply_async(sleep_for, (0.2,), callback=got.append)
    pool.apply_async(double, (4,), callback=got.append)
    run_until(hub, lambda: pool.info['processes'])
    pool.stop()
    assert got == ['slept', 8]


def test_info_before_start(app: Any) -> None:
    pool = TaskPool(2, app=app)
    assert pool.info['max-concurrency'] == 2
    assert not pool.starts_now()
    assert pool.process_results() == 0


def test_termination_does_not_wait_for_a_lock_a_dead_child_holds(make_pool: Any) -> None:
    # Given the job pipe's read lock taken (as by a child killed while reading)
    pool = make_pool(1)
    billiard_pool = pool._pool
    inqueue = billiard_pool._inqueue
    assert inqueue._rlock.acquire(timeout=5)
    # When the pool is terminated
    started = time.monotonic()
    billiard_pool._help_stuff_finish(inqueue, billiard_pool._task_handler, [])
    # Then it gives up on the lock instead of hanging
    assert time.monotonic() - started < 5
    inqueue._rlock.release()


def _lock_is_held_elsewhere(path: str) -> bool:
    import fcntl
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_killing_idle_children_does_not_lock_up_the_pool(make_pool: Any, hub: Hub) -> None:
    # Given two idle children, one of them waiting for a job under the read lock
    pool = make_pool(2)
    got = []
    pool.apply_async(double, (1,), callback=got.append)
    run_until(hub, lambda: got)
    lock_path = pool._pool._inqueue._rlock.path
    run_until(hub, lambda: _lock_is_held_elsewhere(lock_path))
    before = list(pool.info['processes'])
    # When both are killed with SIGKILL (so the lock holder surely dies)
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    # Then new children take their place and still get jobs
    run_until(hub, lambda: not set(pool.info['processes']) & set(before)
              and len(pool.info['processes']) == 2)
    results = []
    for i in range(6):
        pool.apply_async(double, (i,), callback=results.append)
    run_until(hub, lambda: len(results) == 6)
    assert sorted(results) == [0, 2, 4, 6, 8, 10]


def test_pool_lock_is_released_when_its_holder_dies() -> None:
    from celery.concurrency.prefork import _FileLock
    lock = _FileLock()
    try:
        pid = os.fork()
        if pid == 0:  # the child takes the lock and is killed holding it
            try:
                lock.acquire()
                os.kill(os.getpid(), signal.SIGKILL)
            finally:
                os._exit(1)
        os.waitpid(pid, 0)
        assert lock.acquire(timeout=5)
        # and the threads of one process still exclude each other
        assert not lock.acquire(timeout=0.05)
        assert not lock.acquire(block=False)
        lock.release()
        with lock:
            assert _lock_is_held_elsewhere(lock.path)
        assert not _lock_is_held_elsewhere(lock.path)
    finally:
        lock.remove()
    assert not os.path.exists(lock.path)


def test_stopped_pool_removes_its_lock_files(make_pool: Any, hub: Hub) -> None:
    pool = make_pool(1)
    inner = pool._pool
    paths = [inner._inqueue._rlock.path, inner._outqueue._wlock.path]
    assert all(os.path.exists(p) for p in paths)
    pool.stop()
    assert not any(os.path.exists(p) for p in paths)


def test_terminated_pool_removes_its_lock_files(make_pool: Any, hub: Hub) -> None:
    pool = make_pool(1)
    inner = pool._pool
    paths = [inner._inqueue._rlock.path, inner._outqueue._wlock.path]
    pool.terminate()
    assert not any(os.path.exists(p) for p in paths)


# -- the parent's broker sockets in forked children ------------------------------------

def _served_socket() -> tuple[socket.socket, socket.socket]:
    """A connected TCP socket (the 'worker' side) and the 'broker' side of it."""
    with socket.create_server(('127.0.0.1', 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
    return client, peer


@pytest.fixture
def broker_socket() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, peer = _served_socket()
    yield client, peer
    client.close()
    peer.close()


def in_child(fun: Callable[[], Any]) -> Any:
    """Fork, run ``fun`` in the child (its fork hooks have run) and return its JSON result."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.write(writer, json.dumps(fun()).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, 'rb') as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    assert data, 'the child reported nothing'
    return json.loads(data)


def _amqp_connection(sock: socket.socket) -> Connection:
    """A kombu connection whose py-amqp connection is connected through ``sock``."""
    raw = amqp.Connection(host='127.0.0.1:5672')
    raw._transport = TCPTransport('127.0.0.1:5672')
    raw._transport.sock, raw._transport.connected = sock, True
    conn = Connection('amqp://127.0.0.1:5672//')
    conn._connection = raw
    return conn


def _redis_connection(sock: socket.socket) -> tuple[Connection, Any]:
    """A kombu connection of the redis transport with one redis-py connection on ``sock``."""
    client = redis.Connection()
    client._sock = sock
    pool = SimpleNamespace(_available_connections=[client], _in_use_connections=set())
    transport = SimpleNamespace(channels=[SimpleNamespace(_pool=pool, _in_poll=client)],
                                cycle=SimpleNamespace(_chan_to_sock={'BRPOP': sock}))
    conn = Connection('redis://127.0.0.1:6379/0')
    conn._connection = transport
    return conn, client


def _still_connected(client: socket.socket, peer: socket.socket) -> bool:
    """True if the peer got nothing (no goodbye, no FIN) and the link still works both ways."""
    peer.setblocking(False)
    try:
        peer.recv(1)
    except BlockingIOError:
        pass  # nothing waiting: as it should be
    else:
        return False
    peer.setblocking(True)
    client.sendall(b'ping')
    peer.sendall(b'pong')
    return peer.recv(4) == b'ping' and client.recv(4) == b'pong'


def test_a_forked_child_drops_the_parents_amqp_socket_without_a_word(
        broker_socket: tuple[socket.socket, socket.socket]) -> None:
    # Given a broker connection the worker keeps from its children
    sock, peer = broker_socket
    conn = _amqp_connection(sock)
    raw, fd = conn._connection, sock.fileno()
    keep_from_children(conn)

    # When a child is forked, and then tidies up as kombu does after a fork
    def child() -> dict:
        closed = sock.fileno() == -1
        try:
            os.fstat(fd)
            fd_open = True
        except OSError:
            fd_open = False
        forgot = raw._transport.sock is None and not raw.connected and not conn.connected
        raw.collect()  # py-amqp would shut the socket down, had it kept it
        return {'closed': closed, 'fd_open': fd_open, 'forgot': forgot}

    got = in_child(child)
    # Then the child closed its copy of the socket and the objects know it
    assert got == {'closed': True, 'fd_open': False, 'forgot': True}
    # and the parent's connection is untouched: the broker heard nothing
    assert conn._connection is raw and raw.connected
    assert _still_connected(sock, peer)


def test_a_forked_child_drops_the_parents_redis_sockets_without_a_word(
        broker_socket: tuple[socket.socket, socket.socket]) -> None:
    # Given a redis transport connection kept from children
    sock, peer = broker_socket
    conn, client = _redis_connection(sock)
    keep_from_children(conn)

    # When a child is forked and then disconnects as redis-py does
    def child() -> dict:
        dropped = sock.fileno() == -1 and not client.is_connected
        client.disconnect()
        return {'dropped': dropped, 'forgot': conn._connection is None}

    got = in_child(child)
    # Then the child let go, and the parent's link is as it was (no QUIT)
    assert got == {'dropped': True, 'forgot': True}
    assert client._sock is sock
    assert _still_connected(sock, peer)


def test_a_forked_child_drops_the_connections_of_a_kept_pool(
        broker_socket: tuple[socket.socket, socket.socket]) -> None:
    # Given a kombu connection pool holding a connected connection
    sock, peer = broker_socket
    pool = Connection('amqp://127.0.0.1:5672//').Pool(limit=1)
    pooled = pool.acquire()
    raw = _amqp_connection(sock)._connection
    pooled._connection = raw
    pooled.release()
    keep_from_children(pool)

    # When a child is forked and runs kombu's own after-fork clean-up of the pool
    def child() -> dict:
        dropped = sock.fileno() == -1 and pooled._connection is None
        pool.force_close_all()
        return {'dropped': dropped}

    # Then the child let go of the pooled socket without shutting it down
    assert in_child(child) == {'dropped': True}
    assert _still_connected(sock, peer)


def _holds_socket(fd: int, inode: int) -> bool:
    try:
        return os.fstat(fd).st_ino == inode
    except OSError:
        return False


def test_pool_children_do_not_hold_a_kept_connection(
        make_pool: Any, hub: Hub, broker_socket: tuple[socket.socket, socket.socket]) -> None:
    # Given the worker's broker connection, kept from children
    sock, peer = broker_socket
    conn = _amqp_connection(sock)  # kept weakly: alive as long as the worker holds it
    keep_from_children(conn)
    fd, inode = sock.fileno(), os.fstat(sock.fileno()).st_ino
    # When the pool forks its children
    pool = make_pool(2)
    got = []
    for _ in range(4):
        pool.apply_async(_holds_socket, (fd, inode), callback=got.append)
    # Then they do not hold the socket, and still run jobs over their pipes
    run_until(hub, lambda: len(got) == 4)
    assert got == [False] * 4
    assert _still_connected(sock, peer)

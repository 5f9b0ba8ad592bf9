"""The prefork pool: tasks run in child processes of a billiard pool.

:class:`TaskPool` starts a :class:`billiard.pool.Pool` of ``limit``
children (forked up front) whose handler threads feed jobs to the children,
replace children that exit, and enforce time limits (``SIGUSR1`` raises
:exc:`~celery.exceptions.SoftTimeLimitExceeded` in the child at the soft
limit; the child is killed and replaced at the hard limit).

Results are *not* read by a billiard thread: the worker's event loop reads
the pool's result pipe (:meth:`TaskPool.register_with_event_loop`), so the
accept/result callbacks, and the broker acks they cause, run in the loop's
thread.  Callbacks the billiard threads trigger (a lost child, a hard time
limit) are posted to the loop.
"""
from __future__ import annotations

import array
import gc
import os
import threading
from collections import Counter
from functools import partial
from threading import get_ident
from time import monotonic, sleep
from typing import Any, Callable

from billiard import forking_enable
from billiard.process import active_children
from billiard.pool import CLOSE, RUN, TASK, ApplyResult, job_counter
from billiard.pool import Pool as _BilliardPool
from billiard.pool import ResultHandler, TimeoutHandler

from celery import platforms, signals
from celery.concurrency._pipes import (HEADER, INCOMPLETE, FileLock, ResultReader,
                                       dump_message, read_message, remove_lock_files,
                                       write_message)
from celery.concurrency.base import (BasePool, drop_inherited_connections,
                                     keep_app_connections_from_children)
from celery.utils.log import get_logger

__all__ = ('TaskPool', 'process_initializer', 'process_destructor',
           'WORKER_SIGRESET', 'WORKER_SIGIGNORE')

_FileLock = FileLock  # the name the tests and older code use

logger = get_logger(__name__)

#: Signals whose handlers a new child resets to the default.
WORKER_SIGRESET = frozenset({'SIGTERM', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1'})
#: Signals a new child ignores (the parent handles ``^C``).
WORKER_SIGIGNORE = frozenset({'SIGINT'})

#: Results read from the pipe per loop wake-up, so the broker gets its turn.
RESULTS_PER_WAKEUP = 256

try:
    import fcntl
    import termios
except ImportError:  # pragma: no cover - not on this platform
    fcntl = termios = None

_FIONREAD_BUF = array.array('i', [0])
#: Room kept free in the pipe: the kernel may hold a partly read page.
_PIPE_SLACK = 8192


def process_initializer(app: Any, hostname: str) -> None:
    """Prepare a new pool child to run the tasks of ``app``.

    Runs in the child, right after the fork.  The parent's broker sockets
    are already closed by then (an at-fork hook); closing them again here
    covers children started without that hook.
    """
    drop_inherited_connections()
    from celery._state import _set_task_join_will_block, set_default_app
    from celery.app import trace
    from celery.worker import state as worker_state

    _set_task_join_will_block(True)
    platforms.signals.reset(*WORKER_SIGRESET)
    platforms.signals.ignore(*WORKER_SIGIGNORE)
    platforms.set_mp_process_title('celeryd', hostname=hostname)
    loader = app.loader
    if hasattr(loader, 'init_worker'):
        loader.init_worker()
    if hasattr(loader, 'init_worker_process'):
        loader.init_worker_process()
    set_default_app(app)
    app.set_current()
    app.finalize()
    trace.setup_worker_optimizations(app, hostname)
    for name, task in app.tasks.items():
        if getattr(task, '__trace__', None) is None:
            task.__trace__ = trace.build_tracer(name, task, app.loader, hostname, app=app)
    worker_state.reset_state()
    if signals.worker_process_init.receivers:
        signals.worker_process_init.send(sender=None)


def process_destructor(pid: int, exitcode: int) -> None:
    """Announce that a pool child is exiting (in the child)."""
    if signals.worker_process_shutdown.receivers:
        signals.worker_process_shutdown.send(sender=None, pid=pid, exitcode=exitcode)


class _Done:
    """What a job uses instead of a :class:`threading.Event` (set once, polled)."""

    __slots__ = ('flag',)

    def __init__(self) -> None:
        self.flag = False

    def set(self) -> None:
        self.flag = True

    def is_set(self) -> bool:
        return self.flag

    def clear(self) -> None:
        self.flag = False

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else monotonic() + timeout
        while not self.flag:
            if deadline is not None and monotonic() >= deadline:
                break
            sleep(0.01)
        return self.flag


#: One lock for all jobs: _set/_ack race only with the rare billiard threads.
_JOB_MUTEX = threading.RLock()


#: Past this many pids in a pool's write counts, those of dead children go.
_MAX_WRITERS_KEPT = 256


class _Job(ApplyResult):
    """A job of the pool: cheap to make, callbacks run in the loop's thread."""

    _post: Callable | None = None
    _loop_ident: int | None = None
    _writes: Counter | None = None

    def __init__(self, cache: dict, callback: Callable | None,
                 accept_callback: Callable | None, timeout_callback: Callable | None,
                 error_callback: Callable | None, soft_timeout: float | None,
                 timeout: float | None, lost_worker_timeout: float,
                 callbacks_propagate: tuple, correlation_id: str | None,
                 on_timeout_set: Callable | None = None,
                 on_timeout_cancel: Callable | None = None) -> None:
        self.correlation_id = correlation_id
        self._mutex = _JOB_MUTEX
        self._event = _Done()
        self._job = next(job_counter)
        self._cache = cache
        self._callback = callback
        self._accept_callback = accept_callback
        self._error_callback = error_callback
        self._timeout_callback = timeout_callback
        self._timeout = timeout
        self._soft_timeout = soft_timeout
        self._lost_worker_timeout = lost_worker_timeout
        self._on_timeout_set = on_timeout_set
        self._on_timeout_cancel = on_timeout_cancel
        self._callbacks_propagate = callbacks_propagate or ()
        self._send_ack = None
        self._accepted = False
        self._cancelled = False
        self._worker_pid = None
        self._time_accepted = None
        self._terminated = None
        cache[self._job] = self

    def safe_apply_callback(self, fun: Callable | None, *args: Any, **kwargs: Any) -> None:
        if fun is None:
            return
        if self._post is not None and get_ident() != self._loop_ident:
            # a billiard thread (lost child, hard time limit): hand it over
            self._post(partial(_apply_callback, self, fun, *args, **kwargs))
            return
        ApplyResult.safe_apply_callback(self, fun, *args, **kwargs)

    def _ack(self, i: int, time_accepted: float, pid: int, synqW_fd: Any) -> Any:
        writes = self._writes
        if writes is not None:
            writes[pid] += 1  # the jobs each child took (``stats``)
            if len(writes) > _MAX_WRITERS_KEPT:  # forget children long gone
                alive = {process.pid for process in active_children()}
                for gone in [key for key in writes if key not in alive]:
                    del writes[gone]
        return ApplyResult._ack(self, i, time_accepted, pid, synqW_fd)


def _apply_callback(job: ApplyResult, fun: Callable, *args: Any, **kwargs: Any) -> None:
    ApplyResult.safe_apply_callback(job, fun, *args, **kwargs)


class _Pickled:
    """A job already pickled by the loop thread, waiting for the task handler."""

    __slots__ = ('data',)

    def __init__(self, data: bytes) -> None:
        self.data = data



class _LoopResultHandler(ResultHandler):
    """Billiard's result handler, driven by the worker loop instead of a thread."""

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Do not start a thread; :meth:`Pool.process_results` does the work."""


class _TimeoutHandler(TimeoutHandler):
    """Billiard's time-limit thread, safe when the loop reaps the child it kills.

    After a hard limit the thread sends TERM and waits on the child's
    sentinel; meanwhile the loop (``maintain_pool``) may join the exited
    child, which closes that sentinel, and billiard's wait then raises.  An
    exception ends the thread, and with it every later time limit: here a
    child that is already joined counts as killed.
    """

    def _trywaitkill(self, worker: Any) -> None:
        try:
            super()._trywaitkill(worker)
        except (OSError, TypeError, ValueError):
            popen = worker._popen
            if popen is None or popen.returncode is None:
                raise  # not the race above: still alive


class Pool(_BilliardPool):
    """A billiard pool whose results are read by the caller's event loop."""

    ResultHandler = _LoopResultHandler
    TimeoutHandler = _TimeoutHandler

    _post: Callable | None = None
    _loop_ident: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: How many jobs each child (by pid) has taken.
        self.writes: Counter = Counter()
        super().__init__(*args, **kwargs)

    def _setup_queues(self) -> None:
        super()._setup_queues()
        if fcntl is not None:
            # the locks the children take: see FileLock
            self._inqueue._rlock = FileLock()
            self._outqueue._wlock = FileLock()
        if fcntl is not None:
            # the children's side of the pipes, without billiard's extra layers
            self._inqueue.get_payload = partial(read_message, self._inqueue)
            self._outqueue.put = partial(write_message, self._outqueue)
        # every read of the result pipe here goes through the buffered reader
        # (the result handler made next takes these two)
        self._results = ResultReader(self._outqueue._reader)
        self._quick_get = self._results.recv
        self._poll_result = self._results.poll_result
        self._setup_direct_writes()

    def join(self) -> None:
        super().join()
        remove_lock_files(self._inqueue, self._outqueue)

    @classmethod
    def _terminate_pool(cls, taskqueue: Any, inqueue: Any, outqueue: Any,
                        *args: Any, **kwargs: Any) -> None:
        try:
            super()._terminate_pool(taskqueue, inqueue, outqueue, *args, **kwargs)
        finally:
            remove_lock_files(inqueue, outqueue)

    @staticmethod
    def _help_stuff_finish(inqueue: Any, task_handler: Any, _pool: Any) -> None:
        """Empty the job pipe at termination, without waiting forever for its lock.

        A child killed while reading the pipe (``kill`` of the whole process
        group) leaves the read lock taken for good; billiard would wait for
        it at exit and the worker would never end.
        """
        if not inqueue._rlock.acquire(timeout=1.0):
            return
        while task_handler.is_alive() and inqueue._reader.poll():
            inqueue._reader.recv()
            sleep(0)

    def process_results(self, timeout: float | None = 0.0,
                        limit: int = RESULTS_PER_WAKEUP) -> int:
        """Handle the results waiting in the pipe; return how many there were.

        Waits up to ``timeout`` seconds for the pipe when nothing complete is
        buffered, reads it once, then handles up to ``limit`` messages; the
        rest stay buffered (:meth:`has_buffered_results`).
        """
        try:
            if not self._results.has_message() and not self._results.readable(timeout):
                return 0
        except OSError:
            return 0
        return self.handle_results(limit)

    def handle_results(self, limit: int = RESULTS_PER_WAKEUP) -> int:
        """Handle the results in the buffer, reading the pipe once if none is complete.

        Call it when the pipe is readable (the loop says so) or a message is
        buffered: the read blocks otherwise.
        """
        results = self._results
        next_message = results.next_message
        on_state_change = self._result_handler.on_state_change
        done = 0
        try:
            if not results.has_message():
                results.fill()
            while done < limit:
                task = next_message()
                if task is INCOMPLETE:
                    break
                done += 1
                if task is not None:  # None is the shutdown sentinel
                    on_state_change(task)
        except (EOFError, OSError):
            pass
        return done

    def has_buffered_results(self) -> bool:
        """Whether complete messages wait in the buffer (the pipe won't say so)."""
        return self._results.has_message()

    def result_fd(self) -> int:
        return self._outqueue._reader.fileno()

    def _setup_direct_writes(self) -> None:
        """Let the loop thread write small jobs to the children's pipe itself.

        A job is written directly when the pipe has room for it (so the
        write cannot block) and no job waits for the task handler thread;
        otherwise it goes through that thread as usual.
        """
        self._write_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._handed_over = 0
        self._batching = False
        self._batch: list = []
        self._batch_lock = threading.Lock()
        writer = self._inqueue._writer
        self._send_bytes = writer.send_bytes
        self._raw_put = writer.send
        self._inq_fd = writer.fileno()
        self._pipe_size = 0
        if fcntl is not None and hasattr(fcntl, 'F_GETPIPE_SZ'):
            try:
                self._pipe_size = fcntl.fcntl(self._inq_fd, fcntl.F_GETPIPE_SZ)
            except OSError:
                self._pipe_size = 0
        # the task handler thread (made next) writes through the same lock
        self._quick_put = self._handler_put

    def _pipe_room(self) -> int:
        try:
            fcntl.ioctl(self._inq_fd, termios.FIONREAD, _FIONREAD_BUF)
        except OSError:
            return 0
        return self._pipe_size - _FIONREAD_BUF[0]

    def _handler_put(self, task: Any) -> None:
        """How the task handler thread writes (shares the lock with the loop)."""
        with self._write_lock:
            if isinstance(task, _Pickled):
                self._send_bytes(task.data)
            else:
                self._raw_put(task)
        if isinstance(task, _Pickled):
            with self._count_lock:
                self._handed_over -= 1

    def _put_job(self, job: tuple) -> None:
        data = dump_message(job)
        if self._batching and get_ident() == self._loop_ident:
            with self._batch_lock:
                batched = self._batching
                if batched:
                    self._batch.append(data)
            if batched:
                if len(self._cache) <= self._processes:
                    # a child is idle for it: write now (with any collected
                    # before it), not at the loop's next turn - an early ack
                    # or other work of this turn would delay the task
                    self.flush_jobs()
                return
        self._write_job(data)

    def _write_job(self, data: bytes) -> None:
        """Write one job now if the pipe has room, else hand it to the task handler."""
        if self._write_framed(HEADER.pack(len(data)) + data):
            return
        self._hand_over(data)

    def _write_framed(self, framed: bytes) -> bool:
        """Write framed jobs if they surely fit in the pipe (no blocking); True if written."""
        if self._pipe_size and not self._handed_over and \
                self._write_lock.acquire(blocking=False):
            try:
                if not self._handed_over and self._pipe_room() >= len(framed) + _PIPE_SLACK:
                    written = os.write(self._inq_fd, framed)
                    if written < len(framed):  # interrupted part way: write the rest
                        self._inqueue._writer._send(framed[written:])
                    return True
            finally:
                self._write_lock.release()
        return False

    def _hand_over(self, data: bytes) -> None:
        with self._count_lock:
            self._handed_over += 1
        self._taskqueue.put(([_Pickled(data)], None))

    def batch_writes(self, enabled: bool) -> None:
        """Collect the loop thread's jobs and write them at :meth:`flush_jobs`.

        The loop calls :meth:`flush_jobs` before it waits, so jobs applied
        while it handles a burst of messages reach the children in one
        ``write`` (one wake-up of a child instead of one per job).  A job
        that an idle child will take is written at once (:meth:`_put_job`):
        waiting for the loop's turn would only add to its latency.
        Disabling writes what was collected.
        """
        if enabled:
            self._batching = True
        else:
            with self._batch_lock:
                self._batching = False
            self.flush_jobs()

    def flush_jobs(self) -> None:
        """Write the collected jobs, in order: at once if they fit, else via the handler."""
        if not self._batch:
            return
        with self._batch_lock:
            batch, self._batch = self._batch, []
        if not batch:
            return
        if len(batch) == 1:
            self._write_job(batch[0])
            return
        pack = HEADER.pack
        if not self._write_framed(b''.join([pack(len(data)) + data for data in batch])):
            for data in batch:
                self._hand_over(data)

    def apply_async(self, func: Callable, args: tuple = (), kwds: dict | None = None,
                    callback: Callable | None = None,
                    error_callback: Callable | None = None,
                    accept_callback: Callable | None = None,
                    timeout_callback: Callable | None = None,
                    waitforslot: Any = None, soft_timeout: float | None = None,
                    timeout: float | None = None,
                    lost_worker_timeout: float | None = None,
                    callbacks_propagate: tuple = (),
                    correlation_id: str | None = None, **_: Any) -> _Job | None:
        if self._state != RUN:
            return None
        soft_timeout = soft_timeout or self.soft_timeout
        timeout = timeout or self.timeout
        job = _Job(self._cache, callback, accept_callback, timeout_callback,
                   error_callback, soft_timeout, timeout,
                   lost_worker_timeout or self.lost_worker_timeout,
                   callbacks_propagate, correlation_id,
                   on_timeout_set=self.on_timeout_set,
                   on_timeout_cancel=self.on_timeout_cancel)
        job._post = self._post
        job._loop_ident = self._loop_ident
        job._writes = self.writes
        if timeout or soft_timeout:
            self._start_timeout_handler()
        self._put_job((TASK, (job._job, None, func, args, kwds or {})))
        return job


def _shrink_before_fork() -> None:
    """Give start-up garbage back to the system before the children copy us."""
    gc.collect()
    if hasattr(gc, 'freeze'):
        gc.freeze()  # children's collections leave the inherited objects alone
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, ImportError):  # not glibc
        pass


class TaskPool(BasePool):
    """The prefork pool of the worker (``-P prefork``)."""

    Pool = Pool
    uses_semaphore = True
    in_child_process = True
    write_stats = None

    _pool: Pool | None = None

    def on_start(self) -> None:
        forking_enable(self.forking_enable)
        if self.app is not None:  # children must not keep its pooled broker sockets
            keep_app_connections_from_children(self.app)
        _shrink_before_fork()
        options = dict(self.options)
        options.pop('threads', None)
        options.pop('sched_strategy', None)
        options.pop('proc_alive_timeout', None)
        self._pool = self.Pool(
            processes=self.limit,
            initializer=process_initializer,
            on_process_exit=process_destructor,
            enable_timeouts=True,
            synack=False,
            threads=True,
            putlocks=False,
            **options,
        )
        if self._loop is not None:  # attached to a loop before starting
            self._attach(self._loop)

    def register_with_event_loop(self, loop: Any) -> None:
        super().register_with_event_loop(loop)
        if self._pool is not None:
            self._attach(loop)

    def _attach(self, loop: Any) -> None:
        pool = self._pool
        pool._post = self.post
        pool._loop_ident = self._loop_ident
        loop.add_reader(pool.result_fd(), self._on_results_readable)
        loop.on_tick.add(self._on_tick)
        pool.batch_writes(True)

    def _on_results_readable(self, *args: Any) -> None:
        if self._pool is not None:
            self._pool.handle_results()

    def _on_tick(self) -> None:
        """Before the loop waits: write the jobs it applied, handle buffered results.

        (Results left in the buffer would not wake the loop: the pipe is empty.)
        """
        pool = self._pool
        if pool is not None:
            pool.flush_jobs()
            if pool.has_buffered_results():
                pool.handle_results()

    def process_results(self, timeout: float = 0.0) -> int:
        """Handle waiting results (for loops that poll instead of select)."""
        if self._pool is None:
            return 0
        return self._pool.process_results(timeout)

    def on_apply(self, target: Callable, args: tuple = (), kwargs: dict | None = None,
                 **options: Any) -> Any:
        return self._pool.apply_async(target, args, kwargs, **options)

    def starts_now(self) -> bool:
        pool = self._pool
        return pool is not None and len(pool._cache) < pool._processes

    def did_start_ok(self) -> bool:
        return self._pool.did_start_ok()

    def on_stop(self) -> None:
        """Stop after the running and queued jobs have finished."""
        pool = self._pool
        if pool is not None and pool._state in (RUN, CLOSE):
            self._detach()
            pool.close()
            pool.join()
            self._pool = None

    def on_terminate(self) -> None:
        """Kill the children now."""
        pool = self._pool
        if pool is not None:
            self._detach()
            pool.terminate()
            self._pool = None

    def flush(self) -> None:
        """Write the jobs collected for the children now (the loop stops, for one)."""
        if self._pool is not None:
            self._pool.flush_jobs()

    def on_close(self) -> None:
        if self._pool is not None and self._pool._state == RUN:
            self._pool.flush_jobs()
            self._pool.close()

    def _detach(self) -> None:
        loop, pool = self._loop, self._pool
        if pool is not None:
            pool.batch_writes(False)
        if loop is not None and pool is not None:
            loop.on_tick.discard(self._on_tick)
            try:
                loop.remove_reader(pool.result_fd())
            except (OSError, ValueError, KeyError):
                pass

    def maintain_pool(self, *args: Any, **kwargs: Any) -> None:
        if self._pool is not None:
            self._pool.maintain_pool()

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        self._pool.terminate_job(pid, signal)

    def grow(self, n: int = 1) -> None:
        self._pool.grow(n)

    def shrink(self, n: int = 1) -> None:
        self._pool.shrink(n)

    def restart(self) -> None:
        self._pool.restart()
        self._pool.apply_async(os.getpid)  # wake a child so the restart proceeds

    def _get_info(self) -> dict:
        info = super()._get_info()
        pool = self._pool
        if pool is None:
            return info
        info.update({
            'max-concurrency': self.limit,
            'processes': [p.pid for p in pool._pool],
            'max-tasks-per-child': pool._maxtasksperchild or 'N/A',
            'put-guarded-by-semaphore': self.putlocks,
            'timeouts': (pool.soft_timeout or 0, pool.timeout or 0),
            'writes': _write_stats(pool),
        })
        return info

    @property
    def num_processes(self) -> int:
        return self._pool._processes


def _write_stats(pool: Pool) -> dict:
    """How the jobs were spread over the children, in Celery's ``stats`` shape."""
    pids = [process.pid for process in pool._pool]
    counts = [pool.writes.get(pid, 0) for pid in pids]
    total = sum(counts)
    shares = [count / total if total else 0.0 for count in counts]
    busy = sum(1 for job in list(pool._cache.values()) if job._worker_pid in pids)
    return {
        'total': total,
        'avg': f'{sum(shares) / len(shares) if shares else 0.0:.2f}',
        'all': ', '.join(f'{share:.2f}' for share in shares),
        'raw': ', '.join(str(count) for count in counts),
        'strategy': 'fair',
        'inqueues': {'total': len(pids), 'active': busy},
    }

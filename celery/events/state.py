"""An in-memory picture of the cluster, kept up to date by events.

:class:`State` turns a stream of events (from :class:`EventReceiver`) into
:class:`Worker` and :class:`Task` objects: task fields are merged as events
arrive in any order (an older event never overrides the state reached by a
newer one, see :func:`celery.states.precedence`), workers are alive while
their heartbeats keep coming, and both are kept in LRU caches of bounded
size.  ``State.event`` takes a lock, so events may be fed from one thread
while another reads inside :meth:`State.freeze_while`.
"""
from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from itertools import islice
from operator import itemgetter
from typing import Any, Callable, Iterator
from weakref import WeakSet, ref

from kombu.clocks import timetuple
from kombu.utils.functional import LRUCache

from celery import states
from celery.utils.log import get_logger

__all__ = ('Worker', 'Task', 'State', 'heartbeat_expires')

logger = get_logger(__name__)

#: Percentage of the heartbeat interval after which a silent worker is
#: considered offline (200: two intervals).
HEARTBEAT_EXPIRE_WINDOW = 200

#: Seconds of clock difference between a worker and us worth a warning.
HEARTBEAT_DRIFT_MAX = 16

DRIFT_WARNING = (
    'Substantial drift from %s may mean clocks are out of sync.  Current '
    'drift is %s seconds.  [orig: %s recv: %s]')

#: Task event subject -> the state it moves the task to.
TASK_EVENT_TO_STATE = {
    'sent': states.PENDING,
    'received': states.RECEIVED,
    'started': states.STARTED,
    'failed': states.FAILURE,
    'retried': states.RETRY,
    'succeeded': states.SUCCESS,
    'revoked': states.REVOKED,
    'rejected': states.REJECTED,
}

_drift_warned: set[str] = set()


def _warn_drift(hostname: str, drift: float, local_received: float,
                timestamp: float) -> None:
    # once per host, so a skewed worker does not flood the log
    if hostname in _drift_warned or len(_drift_warned) > 1000:
        return
    _drift_warned.add(hostname)
    logger.warning(DRIFT_WARNING, hostname, drift,
                   datetime.fromtimestamp(local_received),
                   datetime.fromtimestamp(timestamp))


def heartbeat_expires(timestamp: float, freq: float = 60,
                      expire_window: float = HEARTBEAT_EXPIRE_WINDOW) -> float:
    """Return when a worker whose last heartbeat was at ``timestamp`` expires."""
    if isinstance(freq, Decimal):
        freq = float(freq)
    if isinstance(timestamp, Decimal):
        timestamp = float(timestamp)
    return timestamp + freq * (expire_window / 1e2)


class _CallableDefaultdict(defaultdict):
    """``defaultdict`` that can also be called: ``d[key]`` is the stored set,
    ``d(key, ...)`` runs a query function."""

    def __init__(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.fun = fun
        super().__init__(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fun(*args, **kwargs)

    def __reduce__(self) -> Any:  # pickled as a plain dict of uuid lists
        return dict, ({k: [t.uuid for t in v] for k, v in self.items()},)


class Worker:
    """A worker, as seen through its events."""

    _fields = ('hostname', 'pid', 'freq', 'heartbeats', 'clock', 'active',
               'processed', 'loadavg', 'sw_ident', 'sw_ver', 'sw_sys')

    #: How many recent heartbeat times are kept.
    heartbeat_max = 4
    expire_window = HEARTBEAT_EXPIRE_WINDOW

    def __init__(self, hostname: str | None = None, pid: int | None = None,
                 freq: float = 60, heartbeats: list[float] | None = None,
                 clock: int = 0, active: int | None = None,
                 processed: int | None = None, loadavg: Any = None,
                 sw_ident: str | None = None, sw_ver: str | None = None,
                 sw_sys: str | None = None) -> None:
        self.hostname = hostname
        self.pid = pid
        self.freq = freq
        self.heartbeats = [] if heartbeats is None else heartbeats
        self.clock = clock or 0
        self.active = active
        self.processed = processed
        self.loadavg = loadavg
        self.sw_ident = sw_ident
        self.sw_ver = sw_ver
        self.sw_sys = sw_sys

    def event(self, type_: str | None, timestamp: float | None = None,
              local_received: float | None = None, fields: dict | None = None,
              max_drift: float = HEARTBEAT_DRIFT_MAX) -> None:
        """Apply a ``worker-<type_>`` event (``None``: any event from it)."""
        if fields:
            for key, value in fields.items():
                setattr(self, key, value)
        heartbeats = self.heartbeats
        if type_ == 'offline':
            heartbeats[:] = []
            return
        if not local_received or not timestamp:
            return
        drift = abs(int(local_received) - int(timestamp))
        if drift > max_drift:
            _warn_drift(self.hostname or '', drift, local_received, timestamp)
        if len(heartbeats) >= self.heartbeat_max:
            del heartbeats[0]
        if heartbeats and local_received > heartbeats[-1]:
            heartbeats.append(local_received)
        else:
            bisect.insort(heartbeats, local_received)

    def update(self, f: dict, **kw: Any) -> None:
        """Set attributes from a mapping (and keyword arguments)."""
        for key, value in (dict(f, **kw) if kw else f).items():
            setattr(self, key, value)

    @property
    def status_string(self) -> str:
        return 'ONLINE' if self.alive else 'OFFLINE'

    @property
    def heartbeat_expires(self) -> float:
        return heartbeat_expires(self.heartbeats[-1], self.freq, self.expire_window)

    @property
    def alive(self) -> bool:
        return bool(self.heartbeats and time.time() < self.heartbeat_expires)

    @property
    def id(self) -> str:
        return f'{self.hostname}.{self.pid}'

    def __repr__(self) -> str:
        return f'<Worker: {self.hostname} ({self.status_string} clock:{self.clock})'

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Worker):
            return self.hostname == other.hostname
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.hostname)

    def __reduce__(self) -> Any:
        return self.__class__, tuple(getattr(self, f) for f in self._fields)


class Task:
    """A task, as seen through its events."""

    name = received = sent = started = succeeded = failed = retried = None
    revoked = rejected = args = kwargs = eta = expires = retries = None
    worker = result = exception = timestamp = runtime = traceback = None
    exchange = routing_key = root_id = parent_id = client = None
    state = states.PENDING
    clock = 0

    _fields = (
        'uuid', 'name', 'state', 'received', 'sent', 'started', 'rejected',
        'succeeded', 'failed', 'retried', 'revoked', 'args', 'kwargs', 'eta',
        'expires', 'retries', 'worker', 'result', 'exception', 'timestamp',
        'runtime', 'traceback', 'exchange', 'routing_key', 'clock', 'client',
        'root', 'root_id', 'parent', 'parent_id', 'children',
    )

    #: Fields :meth:`info` shows by default.
    _info_fields = ('args', 'kwargs', 'retries', 'result', 'eta', 'runtime',
                    'expires', 'exception', 'exchange', 'routing_key',
                    'root_id', 'parent_id')

    #: When an event arrives after a later state was already reached, only
    #: these fields of it are kept (by the state the late event stands for).
    merge_rules = {
        states.RECEIVED: ('name', 'args', 'kwargs', 'parent_id', 'root_id',
                          'retries', 'eta', 'expires'),
    }

    def __init__(self, uuid: str | None = None, cluster_state: State | None = None,
                 children: Any = None, **kwargs: Any) -> None:
        self.uuid = uuid
        self.cluster_state = cluster_state
        known = cluster_state.tasks if cluster_state is not None else {}
        self.children: WeakSet[Task] = WeakSet(
            known[child] for child in (children or ()) if child in known)
        kwargs.pop('root', None)
        kwargs.pop('parent', None)
        if kwargs:
            self.__dict__.update(kwargs)

    def event(self, type_: str, timestamp: float | None = None,
              local_received: float | None = None, fields: dict | None = None,
              precedence: Callable[[Any], int] = states.precedence) -> None:
        """Apply a ``task-<type_>`` event."""
        fields = fields or {}
        state = TASK_EVENT_TO_STATE.get(type_)
        if state is not None:
            setattr(self, type_, timestamp)  # e.g. self.succeeded = timestamp
        else:
            state = type_.upper()  # a custom state
        retry = states.RETRY
        if (state != retry and self.state != retry
                and precedence(state) > precedence(self.state)):
            # this event happened before the state we already have
            keep = self.merge_rules.get(state)
            if keep is not None:
                fields = {k: v for k, v in fields.items() if k in keep}
        else:
            fields = dict(fields, state=state, timestamp=timestamp)
        self.__dict__.update(fields)

    def info(self, fields: Any = None, extra: Any = None) -> dict:
        """Return the fields worth showing that have a value."""
        names = list(self._info_fields if fields is None else fields)
        names.extend(extra or ())
        info = {}
        for name in names:
            value = getattr(self, name, None)
            if value is not None:
                info[name] = value
        return info

    def as_dict(self) -> dict:
        """Return every field; related tasks are given by id."""
        data = {name: getattr(self, name) for name in self._fields}
        data['children'] = [task.uuid for task in self.children]
        data['root'] = self.root_id
        data['parent'] = self.parent_id
        return data

    @property
    def id(self) -> str | None:
        return self.uuid

    @property
    def ready(self) -> bool:
        return self.state in states.READY_STATES

    @property
    def origin(self) -> str | None:
        return self.client if self.worker is None else self.worker.id

    @property
    def parent(self) -> Task | None:
        cluster = self.cluster_state
        return cluster.tasks.get(self.parent_id) if cluster is not None else None

    @property
    def root(self) -> Task | None:
        cluster = self.cluster_state
        return cluster.tasks.get(self.root_id) if cluster is not None else None

    def __repr__(self) -> str:
        return f'<Task: {self.name}({self.uuid}) {self.state} clock:{self.clock}>'

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Task):
            return self.uuid == other.uuid
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.uuid)

    def __reduce__(self) -> Any:
        return _rebuild_task, (self.__class__, self.as_dict())


def _rebuild_task(cls: type[Task], fields: dict) -> Task:
    return cls(**fields)


_task_fields = itemgetter('uuid', 'hostname', 'timestamp', 'local_received', 'clock')


class State:
    """Workers and tasks of the cluster, updated by :meth:`event`.

    Arguments:
        callback: called as ``callback(state, event)`` for every event.
        max_workers_in_memory, max_tasks_in_memory: LRU limits.
        on_node_join, on_node_leave: called with the :class:`Worker`.
    """

    Worker = Worker
    Task = Task

    event_count = 0
    task_count = 0
    #: The time-ordered event heap keeps this many events per task kept.
    heap_multiplier = 4

    def __init__(self, callback: Callable | None = None, workers: Any = None,
                 tasks: Any = None, taskheap: list | None = None,
                 max_workers_in_memory: int = 5000,
                 max_tasks_in_memory: int = 10000,
                 on_node_join: Callable | None = None,
                 on_node_leave: Callable | None = None,
                 tasks_by_type: dict | None = None,
                 tasks_by_worker: dict | None = None) -> None:
        self.event_callback = callback
        self.workers = LRUCache(max_workers_in_memory) if workers is None else workers
        self.tasks = LRUCache(max_tasks_in_memory) if tasks is None else tasks
        self._taskheap: list = [] if taskheap is None else taskheap
        self.max_workers_in_memory = max_workers_in_memory
        self.max_tasks_in_memory = max_tasks_in_memory
        self.on_node_join = on_node_join
        self.on_node_leave = on_node_leave
        self._mutex = threading.Lock()
        #: ``{group: handler(subject, event)}`` for event groups other than
        #: ``task`` and ``worker`` (checked first).
        self.handlers: dict[str, Callable] = {}
        self._seen_types: set[str] = set()
        self._tasks_to_resolve: dict[str, WeakSet] = {}
        self.rebuild_taskheap()
        self.tasks_by_type = _CallableDefaultdict(self._tasks_by_type, WeakSet)
        self.tasks_by_worker = _CallableDefaultdict(self._tasks_by_worker, WeakSet)
        for index, mapping in ((self.tasks_by_type, tasks_by_type),
                               (self.tasks_by_worker, tasks_by_worker)):
            for key, uuids in (mapping or {}).items():
                index[key].update(self.tasks[u] for u in uuids if u in self.tasks)

    # -- locking and clearing ----------------------------------------------

    def freeze_while(self, fun: Callable, *args: Any, clear_after: bool = False,
                     **kwargs: Any) -> Any:
        """Call ``fun`` with no event applied meanwhile (then maybe clear)."""
        with self._mutex:
            try:
                return fun(*args, **kwargs)
            finally:
                if clear_after:
                    self._clear()

    def clear_tasks(self, ready: bool = True) -> None:
        """Forget tasks (only finished ones when ``ready``)."""
        with self._mutex:
            self._clear_tasks(ready)

    def _clear_tasks(self, ready: bool = True) -> None:
        if ready:
            unfinished = {uuid: task for uuid, task in self.itertasks()
                          if task.state not in states.READY_STATES}
            self.tasks.clear()
            self.tasks.update(unfinished)
        else:
            self.tasks.clear()
        self._taskheap[:] = []

    def _clear(self, ready: bool = True) -> None:
        self.workers.clear()
        self._clear_tasks(ready)
        self.event_count = 0
        self.task_count = 0

    def clear(self, ready: bool = True) -> None:
        """Forget workers and tasks (keeping unfinished tasks when ``ready``)."""
        with self._mutex:
            self._clear(ready)

    # -- lookups -------------------------------------------------------------

    def get_or_create_worker(self, hostname: str, **kwargs: Any) -> tuple[Worker, bool]:
        """Return ``(worker, created)``, updating it with ``kwargs``."""
        try:
            worker = self.workers[hostname]
        except KeyError:
            worker = self.workers[hostname] = self.Worker(hostname, **kwargs)
            return worker, True
        if kwargs:
            worker.update(kwargs)
        return worker, False

    def get_or_create_task(self, uuid: str) -> tuple[Task, bool]:
        """Return ``(task, created)``."""
        try:
            return self.tasks[uuid], False
        except KeyError:
            task = self.tasks[uuid] = self.Task(uuid, cluster_state=self)
            return task, True

    # -- applying events -----------------------------------------------------

    def event(self, event: dict) -> Any:
        """Apply one event; returns ``((obj, created), subject)``."""
        with self._mutex:
            return self._event(event)

    def task_event(self, type_: str, fields: dict) -> Task:
        """Apply a ``task-<type_>`` event made of ``fields``."""
        return self._event(dict(fields, type=f'task-{type_}'))[0][0]

    def worker_event(self, type_: str, fields: dict) -> Worker:
        """Apply a ``worker-<type_>`` event made of ``fields``."""
        return self._event(dict(fields, type=f'worker-{type_}'))[0][0]

    def _event(self, event: dict) -> Any:
        self.event_count += 1
        if self.event_callback is not None:
            self.event_callback(self, event)
        group, _, subject = event['type'].partition('-')
        handler = self.handlers.get(group)
        if handler is not None:
            return handler(subject, event), subject
        if group == 'worker':
            return self._worker_event(subject, event)
        if group == 'task':
            return self._task_event(subject, event)
        return None

    def _worker_event(self, subject: str, event: dict) -> Any:
        try:
            hostname = event['hostname']
            timestamp = event['timestamp']
            local_received = event['local_received']
        except KeyError:
            return None
        offline = subject == 'offline'
        created = False
        try:
            worker = self.workers[hostname]
        except KeyError:
            worker = self.Worker(hostname)
            if not offline:
                self.workers[hostname] = worker
                created = True
        worker.event(subject, timestamp, local_received, event)
        if self.on_node_join is not None and (created or subject == 'online'):
            self.on_node_join(worker)
        if offline:
            if self.on_node_leave is not None:
                self.on_node_leave(worker)
            self.workers.pop(hostname, None)
        return (worker, created), subject

    def _task_event(self, subject: str, event: dict) -> Any:
        uuid, hostname, timestamp, local_received, clock = _task_fields(event)
        task, created = self.get_or_create_task(uuid)
        if subject == 'sent':  # sent by a client, not a worker
            task.client = hostname
            origin = hostname
        else:
            worker = self.workers.get(hostname)
            if worker is None:
                worker = self.workers[hostname] = self.Worker(hostname)
            task.worker = worker
            if local_received:
                worker.event(None, timestamp, local_received)
            origin = worker.id
        self._push_heap(timetuple(clock, timestamp, origin, ref(task)))
        if subject == 'received':
            self.task_count += 1
        task.event(subject, timestamp, local_received, event)
        if task.name is not None:
            self._seen_types.add(task.name)
            self.tasks_by_type[task.name].add(task)
        if task.worker is not None:
            self.tasks_by_worker[task.worker.hostname].add(task)
        if task.parent_id:
            parent = self.tasks.get(task.parent_id)
            if parent is None:
                self._tasks_to_resolve.setdefault(task.parent_id, WeakSet()).add(task)
            else:
                parent.children.add(task)
        pending = self._tasks_to_resolve.pop(uuid, None)
        if pending:
            task.children.update(pending)
        return (task, created), subject

    def _push_heap(self, entry: timetuple) -> None:
        heap = self._taskheap
        if len(heap) + 1 > self.max_tasks_in_memory * self.heap_multiplier:
            del heap[0]
        if heap and entry > heap[-1]:
            heap.append(entry)  # the common case: newer than the rest
        else:
            bisect.insort(heap, entry)

    def rebuild_taskheap(self) -> None:
        """Rebuild the time-ordered heap from the tasks kept."""
        heap = self._taskheap
        heap[:] = [timetuple(task.clock, task.timestamp, task.origin, ref(task))
                   for task in self.tasks.values() if task.timestamp is not None]
        heap.sort()

    # -- queries -------------------------------------------------------------

    def itertasks(self, limit: int | None = None) -> Iterator[tuple[str, Task]]:
        """Iterate over ``(uuid, task)`` (at most ``limit``)."""
        return islice(list(self.tasks.items()), 0, limit)

    def tasks_by_time(self, limit: int | None = None,
                      reverse: bool = True) -> Iterator[tuple[str, Task]]:
        """Iterate over ``(uuid, task)`` by event time, newest first."""
        heap = reversed(self._taskheap) if reverse else iter(self._taskheap)
        seen: set[str] = set()
        for entry in islice(heap, 0, limit):
            task = entry[3]()
            if task is not None and task.uuid not in seen:
                seen.add(task.uuid)
                yield task.uuid, task

    tasks_by_timestamp = tasks_by_time

    def _tasks_by_type(self, name: str, limit: int | None = None,
                       reverse: bool = True) -> Iterator[tuple[str, Task]]:
        return islice(((uuid, task) for uuid, task in self.tasks_by_time(reverse=reverse)
                       if task.name == name), 0, limit)

    def _tasks_by_worker(self, hostname: str, limit: int | None = None,
                         reverse: bool = True) -> Iterator[tuple[str, Task]]:
        return islice(((uuid, task) for uuid, task in self.tasks_by_time(reverse=reverse)
                       if task.worker is not None and task.worker.hostname == hostname),
                      0, limit)

    def task_types(self) -> list[str]:
        """Return the names of the tasks seen, sorted."""
        return sorted(self._seen_types)

    def alive_workers(self) -> Iterator[Worker]:
        """Iterate over the workers whose heartbeats have not expired."""
        return (worker for worker in self.workers.values() if worker.alive)

    def __repr__(self) -> str:
        return f'<State: events={self.event_count} tasks={self.task_count}>'

    def __reduce_args__(self) -> tuple:
        return (self.event_callback, self.workers, self.tasks, None,
                self.max_workers_in_memory, self.max_tasks_in_memory,
                self.on_node_join, self.on_node_leave,
                {k: [t.uuid for t in v] for k, v in self.tasks_by_type.items()},
                {k: [t.uuid for t in v] for k, v in self.tasks_by_worker.items()})

    def __reduce__(self) -> Any:
        return self.__class__, self.__reduce_args__()

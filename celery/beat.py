"""The periodic task scheduler behind ``celery beat`` and ``worker -B``.

A :class:`Scheduler` keeps a mapping of :class:`ScheduleEntry` (one per
periodic task) and a heap of the times they are next due.  Each call to
:meth:`Scheduler.tick` sends at most one due task and returns how long the
caller may sleep.  :class:`PersistentScheduler`, the default, keeps last run
times in a :mod:`shelve` file so that they survive restarts.
:class:`Service` runs the tick loop; :func:`EmbeddedService` runs it in a
thread or child process of a worker.

Third-party schedulers (django-celery-beat, redbeat...) subclass
:class:`Scheduler` and :class:`ScheduleEntry`, overriding
``setup_schedule``, ``schedule``, ``sync``, ``reserve``, ``tick`` and the
entry's ``__next__``/``is_due``; those hooks keep Celery's signatures.

A scheduler is not thread safe: one thread (or process) drives it.
"""
from __future__ import annotations

import copy
import heapq
import time
from collections import namedtuple
from datetime import timedelta
from functools import cached_property
from typing import Any, Callable, Iterator, Mapping

from celery.exceptions import ImproperlyConfigured
from celery.schedules import crontab, maybe_schedule
from celery.utils.log import get_logger
from celery.utils.time import maybe_make_aware

__all__ = (
    'SchedulingError', 'ScheduleEntry', 'Scheduler', 'PersistentScheduler',
    'Service', 'EmbeddedService', 'BeatLazyFunc', 'event_t',
)

logger = get_logger(__name__)
debug, info, warning, error = (logger.debug, logger.info, logger.warning,
                               logger.error)

#: Default for ``Scheduler.max_interval`` (seconds) when the setting is 0.
DEFAULT_MAX_INTERVAL = 300

#: One slot of the scheduler's heap.
event_t = namedtuple('event_t', ('time', 'priority', 'entry'))


class SchedulingError(Exception):
    """A due task could not be sent."""


class BeatLazyFunc:
    """An entry argument computed each time the task is sent.

    ``'args': (BeatLazyFunc(datetime.now),)`` sends the time of sending.
    """

    def __init__(self, func: Callable[..., Any], *args: Any,
                 **kwargs: Any) -> None:
        self._func = func
        self._func_params = {'args': args, 'kwargs': kwargs}

    def __call__(self) -> Any:
        return self.delay()

    def delay(self) -> Any:
        return self._func(*self._func_params['args'],
                          **self._func_params['kwargs'])


def _evaluate_entry_args(args: Any) -> list:
    if not args:
        return []
    return [a() if isinstance(a, BeatLazyFunc) else a for a in args]


def _evaluate_entry_kwargs(kwargs: Any) -> dict:
    if not kwargs:
        return {}
    return {k: v() if isinstance(v, BeatLazyFunc) else v
            for k, v in kwargs.items()}


def _reprcall(name: str, args: Any, kwargs: Any) -> str:
    parts = [repr(a) for a in args or ()]
    parts.extend(f'{k}={v!r}' for k, v in (kwargs or {}).items())
    return f'{name}({", ".join(parts)})'


class _Entries(dict):
    """A name -> entry dict that counts its changes.

    Lets :meth:`Scheduler.tick` see that the schedule is unchanged without
    comparing every entry.  Pickles as a plain dict.
    """

    version = 0

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.version += 1

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.version += 1

    def pop(self, *args: Any) -> Any:
        self.version += 1
        return super().pop(*args)

    def popitem(self) -> Any:
        self.version += 1
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.version += 1
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self.version += 1

    def clear(self) -> None:
        super().clear()
        self.version += 1

    def __ior__(self, other: Any) -> _Entries:
        self.update(other)
        return self

    def __reduce__(self) -> tuple:
        return dict, (dict(self),)


class ScheduleEntry:
    """One periodic task: what to send, when, and when it last ran.

    Entries are immutable in practice: :meth:`__next__` returns a new entry
    with the run recorded.  Every instance attribute is a constructor
    argument, so ``type(e)(**dict(e))`` copies an entry.
    """

    #: Fields that a change in configuration may update (see :meth:`update`).
    editable_fields = ('task', 'args', 'kwargs', 'options', 'schedule')

    def __init__(self, name: str | None = None, task: str | None = None,
                 last_run_at: Any = None, total_run_count: int | None = None,
                 schedule: Any = None, args: Any = (), kwargs: Any = None,
                 options: Mapping | None = None, relative: bool = False,
                 app: Any = None) -> None:
        self.app = app
        self.name = name
        self.task = task
        self.args = args
        self.kwargs = kwargs if kwargs else {}
        self.options = options if options else {}
        if not (schedule is None or hasattr(schedule, 'is_due')
                or isinstance(schedule, (int, float, timedelta))):
            raise ValueError(
                f'Invalid schedule {schedule!r} for entry {name!r}: use a '
                f'number of seconds, a timedelta, crontab, solar or '
                f'schedule object')
        self.schedule = maybe_schedule(schedule, relative, app=self.app)
        self.last_run_at = last_run_at or self.default_now()
        self.total_run_count = total_run_count or 0

    def default_now(self) -> Any:
        """The current time, by the entry's schedule (or its app)."""
        return self.schedule.now() if self.schedule else self.app.now()

    _default_now = default_now  # the name used before Celery 5

    def _next_instance(self, last_run_at: Any = None) -> ScheduleEntry:
        """Return a copy of this entry recording one more run."""
        fields = dict(self)
        fields.update(last_run_at=last_run_at or self.default_now(),
                      total_run_count=self.total_run_count + 1)
        return self.__class__(**fields)

    __next__ = next = _next_instance

    def __reduce__(self) -> tuple:
        return self.__class__, (
            self.name, self.task, self.last_run_at, self.total_run_count,
            self.schedule, self.args, self.kwargs, self.options)

    def update(self, other: ScheduleEntry) -> None:
        """Take the editable fields of *other*, keeping the run history."""
        self.schedule = other.schedule
        self.args = other.args
        self.kwargs = other.kwargs
        self.options = other.options
        self.task = other.task

    def is_due(self) -> Any:
        """Ask the schedule: ``schedstate(is_due, next_check_in_seconds)``."""
        return self.schedule.is_due(self.last_run_at)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(vars(self).items())

    def __repr__(self) -> str:
        call = _reprcall(self.task, self.args, self.kwargs)
        return f'<{type(self).__name__}: {self.name} {call} {self.schedule}>'

    def __lt__(self, other: Any) -> bool:
        # Only breaks ties between heap events due at the same time.
        if isinstance(other, ScheduleEntry):
            return id(self) < id(other)
        return NotImplemented

    def editable_fields_equal(self, other: ScheduleEntry) -> bool:
        return all(getattr(self, attr) == getattr(other, attr)
                   for attr in self.editable_fields)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, ScheduleEntry):
            return self.editable_fields_equal(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Scheduler:
    """Send periodic tasks when they are due; keep the schedule in memory.

    *schedule* is an initial mapping of name -> entry; the ``beat_schedule``
    setting is merged in by :meth:`setup_schedule` (unless *lazy*).
    Subclasses store the schedule elsewhere by overriding
    :meth:`setup_schedule`, :meth:`get_schedule`/:meth:`set_schedule` and
    :meth:`sync`.
    """

    Entry: type[ScheduleEntry] = ScheduleEntry

    #: Longest sleep between two ticks, in seconds.
    max_interval: float = DEFAULT_MAX_INTERVAL

    #: Seconds between two syncs of the schedule to its store.
    sync_every: float = 3 * 60

    #: Sync after this many sent tasks (0/None: by time only).
    sync_every_tasks: int | None = None

    _last_sync: float | None = None
    _tasks_since_sync = 0

    logger = logger

    def __init__(self, app: Any, schedule: Any = None,
                 max_interval: float | None = None, Producer: Any = None,
                 lazy: bool = False, sync_every_tasks: int | None = None,
                 **kwargs: Any) -> None:
        self.app = app
        self.data = _Entries() if schedule is None else schedule
        if callable(getattr(self.data, 'evaluate', None)):
            self.data = self.data.evaluate()
        self.max_interval = (max_interval
                             or app.conf.beat_max_loop_interval
                             or self.max_interval)
        if Producer is not None:
            self.Producer = Producer
        self._heap: list | None = None
        self.old_schedulers: dict | None = None
        self._seen: tuple[Any, int | None] = (None, None)
        self.sync_every_tasks = (app.conf.beat_sync_every
                                 if sync_every_tasks is None
                                 else sync_every_tasks)
        self._unregistered_warned: set[str] = set()
        if not lazy:
            self.setup_schedule()

    # -- the schedule ------------------------------------------------------

    def setup_schedule(self) -> None:
        """Fill the schedule from ``beat_schedule`` and the built-ins."""
        self.merge_inplace(self.app.conf.beat_schedule)
        self.install_default_entries(self.schedule)

    def install_default_entries(self, data: Mapping) -> None:
        """Add ``celery.backend_cleanup`` (daily, 4 am) when results expire
        and the result backend cannot expire them itself."""
        if 'celery.backend_cleanup' in data or \
                not self.app.conf.result_expires:
            return
        backend = self.app.backend
        if getattr(backend, 'supports_autoexpire', False):
            return
        self.update_from_dict({'celery.backend_cleanup': {
            'task': 'celery.backend_cleanup',
            'schedule': crontab('0', '4', '*'),
            'options': {'expires': 12 * 3600},
        }})

    def get_schedule(self) -> Any:
        return self.data

    def set_schedule(self, schedule: Any) -> None:
        self.data = schedule

    schedule = property(get_schedule, set_schedule)

    def _entry_from_fields(self, name: str, fields: Any) -> ScheduleEntry:
        if isinstance(fields, self.Entry):
            fields.app = self.app
            return fields
        try:
            return self.Entry(**dict(fields, name=name, app=self.app))
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(
                f'Invalid beat_schedule entry {name!r}: {exc}') from exc

    _maybe_entry = _entry_from_fields

    def add(self, **kwargs: Any) -> ScheduleEntry:
        """Add (or replace) one entry built from *kwargs*."""
        entry = self.Entry(app=self.app, **kwargs)
        self.schedule[entry.name] = entry
        return entry

    def update_from_dict(self, dict_: Mapping) -> None:
        """Add or replace the entries of *dict_* (name -> fields or entry)."""
        self.schedule.update({name: self._maybe_entry(name, entry)
                              for name, entry in dict_.items()})

    def merge_inplace(self, b: Mapping) -> None:
        """Make the schedule hold exactly the entries of *b*.

        Entries already known keep their last run time and run count; the
        rest of their fields come from *b*.  Entries not in *b* go away.
        """
        schedule = self.schedule
        for key in set(schedule) - set(b):
            schedule.pop(key, None)
        for key, fields in b.items():
            entry = self._entry_from_fields(key, fields)
            old = schedule.get(key)
            if old is not None:
                old.update(entry)
                old.app = self.app
                # Reassign so that stores that track writes see the change.
                schedule[key] = old
            else:
                schedule[key] = entry

    # -- ticking -----------------------------------------------------------

    def adjust(self, n: float, drift: float = -0.010) -> float:
        """Wake a little early, to make up for the time a tick takes."""
        if n and n > 0:
            return n + drift
        return n

    def is_due(self, entry: ScheduleEntry) -> Any:
        return entry.is_due()

    def _safe_is_due(self, entry: ScheduleEntry) -> tuple[bool, float]:
        # A broken schedule must not stop the others: log and check later.
        try:
            return self.is_due(entry)
        except Exception as exc:
            error('beat: cannot tell whether %r is due: %r', entry.name, exc,
                  exc_info=True)
            return False, self.max_interval

    def _when(self, entry: ScheduleEntry, next_time_to_run: float) -> float:
        """Timestamp at which *entry* should next be looked at."""
        now = maybe_make_aware(entry.default_now())
        return now.timestamp() + (self.adjust(next_time_to_run) or 0)

    def populate_heap(self, event_t: type = event_t,
                      heapify: Callable = heapq.heapify) -> None:
        """Rebuild the heap of (time, priority, entry) from the schedule."""
        self._heap = []
        for entry in self.schedule.values():
            is_due, next_call_delay = self._safe_is_due(entry)
            self._heap.append(event_t(
                self._when(entry, 0 if is_due else next_call_delay) or 0,
                5, entry))
        heapify(self._heap)

    def tick(self, event_t: type = event_t, min: Callable = min,
             heappop: Callable = heapq.heappop,
             heappush: Callable = heapq.heappush) -> float:
        """Send the first entry if due; return seconds until the next tick.

        The heap is rebuilt when the schedule changed since the last tick.
        """
        max_interval = self.max_interval
        schedule = self.schedule
        if self._schedule_changed(schedule):
            self.old_schedulers = copy.copy(schedule)
            self.populate_heap()
        heap = self._heap
        if not heap:
            return max_interval
        event = heap[0]
        entry = event[2]
        is_due, next_time_to_run = self._safe_is_due(entry)
        if is_due:
            heappop(heap)
            next_entry = self.reserve(entry)
            self.apply_entry(entry, producer=self.producer)
            heappush(heap, event_t(self._when(next_entry, next_time_to_run),
                                   event[1], next_entry))
            self._remember(schedule, entry.name, next_entry)
            return 0
        now = self._when(entry, 0)
        when = self._when(entry, next_time_to_run)
        if when > event[0]:
            # The estimate was early: re-file the entry at its real time so
            # that entries due before it are not kept waiting behind it.
            heapq.heapreplace(heap, event_t(when, event[1], entry))
            if heap[0][2] is not entry:
                return max(min(heap[0][0] - now, max_interval), 0)
        wait = self.adjust(next_time_to_run)
        if not isinstance(wait, (int, float)):
            return max_interval
        return min(wait, max_interval)

    def _schedule_changed(self, schedule: Any) -> bool:
        # Comparing every entry is O(n); an unchanged _Entries (same object,
        # same version) makes it O(1).
        version = getattr(schedule, 'version', None)
        seen_schedule, seen_version = self._seen
        self._seen = (schedule, version)
        if self._heap is None:
            return True
        if version is not None and schedule is seen_schedule and \
                version == seen_version:
            return False
        return not self.schedules_equal(self.old_schedulers, schedule)

    def _remember(self, schedule: Any, name: str,
                  entry: ScheduleEntry) -> None:
        # Take our own write (reserve) into the snapshot, so that the next
        # tick still finds the schedule unchanged.
        old = self.old_schedulers
        getter = getattr(schedule, 'get', None)
        if old is None or getter is None or getter(name) is not entry:
            return
        if name in old:
            old[name] = entry
        seen_schedule, seen_version = self._seen
        version = getattr(schedule, 'version', None)
        if seen_schedule is schedule and version is not None and \
                seen_version is not None and version == seen_version + 1:
            self._seen = (schedule, version)

    def schedules_equal(self, old_schedules: Mapping | None,
                        new_schedules: Mapping | None) -> bool:
        """True when both schedules hold equal entries under equal names."""
        if old_schedules is None or new_schedules is None:
            return old_schedules is new_schedules
        if len(old_schedules) != len(new_schedules):
            return False
        for name, new_entry in new_schedules.items():
            old_entry = old_schedules.get(name)
            if old_entry is new_entry:
                continue
            if old_entry is None or new_entry != old_entry:
                return False
        return True

    # -- sending -----------------------------------------------------------

    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:
        """Record a run of *entry* in the schedule; return the new entry."""
        new_entry = self.schedule[entry.name] = next(entry)
        return new_entry

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        """Send *entry*'s task; failures are logged, never raised."""
        info('Scheduler: Sending due task %s (%s)', entry.name, entry.task)
        try:
            result = self.apply_async(entry, producer=producer, advance=False)
        except Exception as exc:
            error('Message Error: %s', exc, exc_info=True)
        else:
            task_id = getattr(result, 'id', None)
            if task_id:
                debug('%s sent. id->%s', entry.task, task_id)
            else:
                debug('%s sent.', entry.task)

    def apply_async(self, entry: ScheduleEntry, producer: Any = None,
                    advance: bool = True, **kwargs: Any) -> Any:
        """Send *entry*'s task; raise :exc:`SchedulingError` on failure.

        With *advance* the run is recorded first, so that a task that
        cannot be sent is not retried in a tight loop.
        """
        entry = self.reserve(entry) if advance else entry
        task = self.app.tasks.get(entry.task)
        try:
            args = _evaluate_entry_args(entry.args)
            kwargs = _evaluate_entry_kwargs(entry.kwargs)
            if task is not None:
                return task.apply_async(args, kwargs, producer=producer,
                                        **entry.options)
            if entry.task not in self._unregistered_warned:
                self._unregistered_warned.add(entry.task)
                info('beat: task %r is not registered here: sending it '
                     'by name', entry.task)
            return self.send_task(entry.task, args, kwargs,
                                  producer=producer, **entry.options)
        except Exception as exc:
            raise SchedulingError(
                f"Couldn't apply scheduled task {entry.name}: {exc}"
            ) from exc
        finally:
            self._tasks_since_sync += 1
            if self.should_sync():
                self._do_sync()

    def send_task(self, *args: Any, **kwargs: Any) -> Any:
        return self.app.send_task(*args, **kwargs)

    # -- syncing -----------------------------------------------------------

    def should_sync(self) -> bool:
        """True when it is time to write the schedule to its store."""
        if not self._last_sync or \
                time.monotonic() - self._last_sync > self.sync_every:
            return True
        return bool(self.sync_every_tasks
                    and self._tasks_since_sync >= self.sync_every_tasks)

    def _do_sync(self) -> None:
        try:
            debug('beat: Synchronizing schedule...')
            self.sync()
        finally:
            self._last_sync = time.monotonic()
            self._tasks_since_sync = 0

    def sync(self) -> None:
        """Write the schedule to its store (nothing to do in memory)."""

    def close(self) -> None:
        self.sync()
        conn = self.__dict__.pop('connection', None)
        self.__dict__.pop('producer', None)
        if conn is not None:
            conn.release()

    # -- messaging ---------------------------------------------------------

    @cached_property
    def Producer(self) -> Any:
        return self.app.amqp.Producer

    def _ensure_connected(self) -> Any:
        def _error_handler(exc: Exception, interval: float) -> None:
            error('beat: Connection error: %s. Trying again in %s seconds...',
                  exc, interval)

        return self.connection.ensure_connection(
            _error_handler, self.app.conf.broker_connection_max_retries)

    @cached_property
    def connection(self) -> Any:
        return self.app.connection_for_write()

    @cached_property
    def producer(self) -> Any:
        return self.Producer(self._ensure_connected(), auto_declare=False)

    @property
    def info(self) -> str:
        """Extra lines for the start-up banner."""
        return ''


# The shelve-backed scheduler and the tick loop live in their own modules;
# both are part of this public API.
from celery._beat_store import PersistentScheduler  # noqa: E402
from celery._beat_service import EmbeddedService, Service  # noqa: E402

"""What the worker process holds: reserved and active requests, revoked ids.

Module-level state shared by the consumer, the remote-control commands and
``--statedb`` persistence (:class:`Persistent`).  Only the worker's event
loop thread changes it; readers (inspect commands) run there too.  Pool
children call :func:`reset_state` after the fork.
"""
from __future__ import annotations

import os
import pickle
import platform
import weakref
import zlib
from collections import Counter
from typing import Any

from kombu.serialization import pickle_protocol
from kombu.utils.objects import cached_property

from celery import __version__
from celery.exceptions import WorkerShutdown, WorkerTerminate
from celery.utils.collections import LimitedSet

__all__ = (
    'SOFTWARE_INFO', 'reserved_requests', 'active_requests',
    'total_count', 'revoked', 'task_reserved', 'maybe_shutdown',
    'task_accepted', 'task_ready', 'Persistent', 'requests',
    'successful_requests', 'revoked_stamps', 'reset_state',
    'should_stop', 'should_terminate', 'all_total_count',
)

#: What the worker says it is, in heartbeats.
SOFTWARE_INFO = {
    'sw_ident': 'py-celery',
    'sw_ver': __version__,
    'sw_sys': platform.system(),
}

#: How many revoked task ids to remember, and for how long (seconds).
REVOKES_MAX = int(os.environ.get('CELERY_WORKER_REVOKES_MAX', 50000))
REVOKE_EXPIRES = float(os.environ.get('CELERY_WORKER_REVOKE_EXPIRES', 10800))

#: How many successful task ids to remember (for deduplication), and how long.
SUCCESSFUL_MAX = int(os.environ.get('CELERY_WORKER_SUCCESSFUL_MAX', 1000))
SUCCESSFUL_EXPIRES = float(os.environ.get('CELERY_WORKER_SUCCESSFUL_EXPIRES', 10800))

#: Every request the worker holds, by task id.
requests: dict[str, Any] = {}

#: Requests received but not yet started.
reserved_requests: weakref.WeakSet = weakref.WeakSet()

#: Requests being executed.
active_requests: weakref.WeakSet = weakref.WeakSet()

#: Ids of tasks that succeeded recently.
successful_requests = LimitedSet(maxlen=SUCCESSFUL_MAX, expires=SUCCESSFUL_EXPIRES)

#: Tasks started, by task name.
total_count: Counter = Counter()

#: Tasks started, all names.
all_total_count = [0]

#: Ids of revoked tasks.
revoked = LimitedSet(maxlen=REVOKES_MAX, expires=REVOKE_EXPIRES)

#: Revoked stamps: header name -> values.
revoked_stamps: dict[str, Any] = {}

#: Exit code of a requested warm shutdown (None: none requested).
should_stop: Any = None

#: Exit code of a requested cold shutdown (None: none requested).
should_terminate: Any = None


def reset_state() -> None:
    """Forget every request and revoked id (a new pool child does this)."""
    requests.clear()
    reserved_requests.clear()
    active_requests.clear()
    successful_requests.clear()
    total_count.clear()
    all_total_count[:] = [0]
    revoked.clear()
    revoked_stamps.clear()


def maybe_shutdown() -> None:
    """Raise the shutdown a signal handler asked for, if any."""
    if should_terminate is not None and should_terminate is not False:
        raise WorkerTerminate(should_terminate)
    if should_stop is not None and should_stop is not False:
        raise WorkerShutdown(should_stop)


def task_reserved(request: Any) -> None:
    """Note a request as received (not started)."""
    requests[request.id] = request
    reserved_requests.add(request)


def task_accepted(request: Any) -> None:
    """Note a request as started by the pool."""
    active_requests.add(request)
    requests[request.id] = request
    total_count[request.name] += 1
    all_total_count[0] += 1


def task_ready(request: Any, successful: bool = False) -> None:
    """Forget a finished request."""
    if successful:
        successful_requests.add(request.id)
    requests.pop(request.id, None)
    active_requests.discard(request)
    reserved_requests.discard(request)


class Persistent:
    """The revoked ids (and logical clock) kept in a shelve file (``--statedb``)."""

    #: The storage module (``shelve`` unless set).
    storage: Any = None
    protocol = pickle_protocol
    compress = zlib.compress
    decompress = zlib.decompress
    _is_open = False

    def __init__(self, state: Any, filename: str, clock: Any = None) -> None:
        self.state = state
        self.filename = filename
        self.clock = clock
        self.merge()

    def open(self) -> Any:
        storage = self.storage
        if storage is None:
            import shelve as storage
        return storage.open(self.filename, protocol=self.protocol, writeback=True)

    def merge(self) -> None:
        self._merge_with(self.db)

    def sync(self) -> None:
        self._sync_with(self.db)
        self.db.sync()

    def close(self) -> None:
        if self._is_open:
            self.db.close()
            self._is_open = False

    def save(self) -> None:
        self.sync()
        self.close()

    def _merge_with(self, d: Any) -> Any:
        self._merge_revoked(d)
        self._merge_clock(d)
        return d

    def _sync_with(self, d: Any) -> Any:
        self._revoked_tasks.purge()
        d.update({
            '__proto__': 3,
            'zrevoked': self.compress(self._dumps(self._revoked_tasks)),
            'clock': self.clock.forward() if self.clock else 0,
        })
        return d

    def _merge_clock(self, d: Any) -> None:
        if self.clock:
            d['clock'] = self.clock.adjust(d.get('clock') or 0)

    def _merge_revoked(self, d: Any) -> None:
        try:
            self._merge_revoked_v3(d['zrevoked'])
        except KeyError:
            try:
                self._merge_revoked_v2(d.pop('revoked'))
            except KeyError:
                pass
        self._revoked_tasks.purge()

    def _merge_revoked_v3(self, zrevoked: bytes) -> None:
        if zrevoked:
            self._revoked_tasks.update(pickle.loads(self.decompress(zrevoked)))

    def _merge_revoked_v2(self, saved: Any) -> None:
        if not isinstance(saved, LimitedSet):
            for item in saved:  # v1: a plain iterable of ids
                self._revoked_tasks.add(item)
            return
        self._revoked_tasks.update(saved)

    def _dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=self.protocol)

    @property
    def _revoked_tasks(self) -> LimitedSet:
        return self.state.revoked

    @cached_property
    def db(self) -> Any:
        self._is_open = True
        return self.open()

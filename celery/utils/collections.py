"""Container types: attribute dicts, the expiring :class:`LimitedSet` and
bounded message buffers.

:class:`LimitedSet` holds the ids of revoked tasks in every worker; it is
checked for every incoming message, so membership is a dict lookup and
eviction is a heap pop.  None of these types lock: use them from one thread,
or guard them yourself.
"""
from __future__ import annotations

import heapq
import itertools
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, MutableMapping
from queue import Empty
from typing import Any, Callable, Iterable, Iterator

__all__ = (
    'AttributeDictMixin', 'AttributeDict', 'DictAttribute', 'BufferMap',
    'Evictable', 'LimitedSet', 'Messagebuffer', 'OrderedDict',
    'force_mapping', 'lpmerge',
)


def force_mapping(m: Any) -> Mapping:
    """Return ``m`` if it is a mapping, else a mapping view of its attributes.

    Django's lazy settings are unwrapped first.
    """
    django_functional = sys.modules.get('django.utils.functional')
    if django_functional is not None and isinstance(
            m, django_functional.LazyObject):
        if getattr(m, '_wrapped', None) is getattr(
                django_functional, 'empty', object()):
            m._setup()
        m = m._wrapped
    return m if isinstance(m, Mapping) else DictAttribute(m)


def lpmerge(L: MutableMapping, R: Mapping) -> MutableMapping:
    """Merge ``R`` into ``L`` in place, skipping values that are None."""
    for key, value in R.items():
        if value is not None:
            L[key] = value
    return L


class AttributeDictMixin:
    """Give a mapping attribute access: ``d.key`` is ``d['key']``."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]  # type: ignore[index]
        except KeyError:
            raise AttributeError(
                f'{type(self).__name__!r} object has no attribute {key!r}',
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value  # type: ignore[index]


class AttributeDict(dict, AttributeDictMixin):
    """A dict whose items are also attributes."""


class DictAttribute(MutableMapping):
    """A mapping view of an object's attributes.

    ``DictAttribute(obj)['x']`` is ``obj.x``; other attribute access goes to
    the object itself.
    """

    obj: Any = None

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, 'obj', obj)

    def __getattr__(self, key: str) -> Any:
        return getattr(self.obj, key)

    def __setattr__(self, key: str, value: Any) -> None:
        setattr(self.obj, key, value)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self.obj, key)
        except AttributeError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self.obj, key, value)

    def __delitem__(self, key: str) -> None:
        try:
            delattr(self.obj, key)
        except AttributeError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and hasattr(self.obj, key)

    def __iter__(self) -> Iterator[str]:
        return iter(dir(self.obj))

    def __len__(self) -> int:
        return len(dir(self.obj))

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self.obj!r}>'


class LimitedSet:
    """A set of recently added items, bounded in size and/or age.

    Arguments:
        maxlen: keep at most this many items, dropping the oldest (0: no
            limit).
        expires: drop items older than this many seconds (0: never).
        data: initial items: another LimitedSet, a ``{item: timestamp}``
            mapping (what :meth:`as_dict` returns, and what Celery workers
            exchange at start-up), or an iterable of items.
        minlen: never expire below this many items.

    Timestamps are wall-clock (:func:`time.time`) so sets can be merged
    between hosts.  Items are removed lazily: by :meth:`add` once the set is
    full and by :meth:`purge`.
    """

    #: Rebuild the heap when stale entries exceed this percentage.
    max_heap_percent_overload = 15

    def __init__(self, maxlen: int = 0, expires: float = 0,
                 data: Any = None, minlen: int = 0) -> None:
        self.maxlen = 0 if maxlen is None else maxlen
        self.minlen = 0 if minlen is None else minlen
        self.expires = 0 if expires is None else expires
        if self.minlen < 0 or (self.maxlen and self.maxlen < self.minlen):
            raise ValueError(
                'minlen must be a positive number, less or equal to maxlen.')
        if self.expires < 0:
            raise ValueError('expires cannot be negative!')
        #: item -> (timestamp, item)
        self._data: dict[Any, tuple[float, Any]] = {}
        #: (timestamp, sequence, item); may hold stale entries.
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        if data:
            self.update(data)

    def clear(self) -> None:
        """Remove every item."""
        self._data.clear()
        self._heap.clear()

    def add(self, item: Any, now: float | None = None) -> None:
        """Add ``item`` (again), stamped ``now`` (default: the current time)."""
        now = now or time.time()
        self._data[item] = (now, item)
        heapq.heappush(self._heap, (now, next(self._seq), item))
        if self.maxlen and len(self._data) >= self.maxlen:
            self.purge(now)
        else:
            self._maybe_refresh_heap()

    def update(self, other: Any) -> None:
        """Add every item of ``other`` (see ``data`` in the class doc)."""
        if not other:
            return
        if isinstance(other, LimitedSet):
            for item, (stamp, _) in list(other._data.items()):
                self._push(item, stamp)
        elif isinstance(other, Mapping):
            for item, stamp in other.items():
                if isinstance(stamp, (tuple, list)):  # raw _data entries
                    stamp = stamp[0]
                if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
                    raise ValueError(
                        f'Expecting float timestamp, got type '
                        f'{type(stamp)!r} with value: {stamp!r}')
                self._push(item, float(stamp))
        else:
            now = time.time()
            for item in other:
                self._push(item, now)
        self.purge()

    def _push(self, item: Any, stamp: float) -> None:
        self._data[item] = (stamp, item)
        heapq.heappush(self._heap, (stamp, next(self._seq), item))

    def discard(self, item: Any) -> None:
        """Remove ``item`` if present."""
        self._data.pop(item, None)
        self._maybe_refresh_heap()

    pop_value = discard

    def purge(self, now: float | Callable[[], float] | None = None) -> None:
        """Drop items over ``maxlen``, then items expired at ``now``."""
        now = now or time.time()
        if callable(now):
            now = now()
        if self.maxlen:
            while len(self._data) > self.maxlen:
                self.pop()
        if self.expires:
            while len(self._data) > self.minlen:
                stamp = self._oldest_stamp()
                if stamp is None or stamp + self.expires > now:
                    break
                self.pop()

    def _oldest_stamp(self) -> float | None:
        heap, data = self._heap, self._data
        while heap:
            stamp, _, item = heap[0]
            entry = data.get(item)
            if entry is not None and entry[0] == stamp:
                return stamp
            heapq.heappop(heap)  # stale: discarded or re-added since
        return None

    def pop(self, default: Any = None) -> Any:
        """Remove and return the oldest item (``default`` if empty)."""
        heap, data = self._heap, self._data
        while heap:
            stamp, _, item = heapq.heappop(heap)
            entry = data.get(item)
            if entry is not None and entry[0] == stamp:
                del data[item]
                return item
        return default

    def as_dict(self) -> dict[Any, float]:
        """Return ``{item: timestamp}``."""
        return {item: stamp for item, (stamp, _) in self._data.items()}

    def _refresh_heap(self) -> None:
        self._heap = [(stamp, next(self._seq), item)
                      for item, (stamp, _) in self._data.items()]
        heapq.heapify(self._heap)

    def _maybe_refresh_heap(self) -> None:
        if self._heap_overload > self.max_heap_percent_overload:
            self._refresh_heap()

    @property
    def _heap_overload(self) -> float:
        """Stale heap entries, as a percentage of the live items."""
        return len(self._heap) * 100 / max(len(self._data), 1) - 100

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LimitedSet):
            return NotImplemented
        return self._data == other._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f'<{type(self).__name__}({len(self)}): maxlen={self.maxlen}, '
                f'expires={self.expires}, minlen={self.minlen}>')

    def __iter__(self) -> Iterator[Any]:
        """Iterate the items, oldest first."""
        entries = sorted(self._data.values(), key=lambda entry: entry[0])
        return (item for _, item in entries)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, item: object) -> bool:
        return item in self._data

    def __reduce__(self) -> tuple:
        return type(self), (self.maxlen, self.expires, self.as_dict(),
                            self.minlen)


class Evictable:
    """Mixin for bounded containers that drop their oldest items.

    Subclasses define ``maxsize``, ``_evictcount`` (current size) and
    ``_pop_to_evict()`` (drop one item, or raise :attr:`Empty`).
    """

    Empty = Empty
    maxsize: int | None = None

    @property
    def _evictcount(self) -> int:  # pragma: no cover - subclass duty
        raise NotImplementedError('subclass responsibility')

    def _pop_to_evict(self) -> Any:  # pragma: no cover - subclass duty
        raise NotImplementedError('subclass responsibility')

    def evict(self) -> None:
        """Drop items until the size is within ``maxsize``."""
        self._evict(limit=sys.maxsize)

    def _evict(self, limit: int = 100) -> None:
        for _ in range(limit):
            if not self.maxsize or self._evictcount <= self.maxsize:
                return
            try:
                self._pop_to_evict()
            except self.Empty:
                return


class Messagebuffer(Evictable):
    """A FIFO buffer that drops its oldest items beyond ``maxsize``."""

    def __init__(self, maxsize: int | None, iterable: Iterable[Any] | None = None,
                 deque: Callable[..., deque] = deque) -> None:
        self.maxsize = maxsize
        self.data = deque(iterable or [])

    def put(self, item: Any) -> None:
        """Append ``item``."""
        self.data.append(item)
        if self.maxsize:
            self._evict()

    def extend(self, it: Iterable[Any]) -> None:
        """Append every item of ``it``."""
        self.data.extend(it)
        if self.maxsize:
            self._evict()

    def take(self, *default: Any) -> Any:
        """Remove and return the oldest item; ``default`` or :attr:`Empty`."""
        try:
            return self.data.popleft()
        except IndexError:
            if default:
                return default[0]
            raise self.Empty() from None

    def _pop_to_evict(self) -> Any:
        return self.take()

    @property
    def _evictcount(self) -> int:
        return len(self)

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {len(self)}/{self.maxsize}>'

    def __iter__(self) -> Iterator[Any]:
        """Consume the buffer, oldest first."""
        while True:
            try:
                yield self.data.popleft()
            except IndexError:
                return

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, item: object) -> bool:
        return item in self.data

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self.data)

    def __getitem__(self, index: Any) -> Any:
        return self.data[index]


class BufferMap(OrderedDict, Evictable):
    """Buffers by key, with at most ``maxsize`` items in all.

    Eviction takes from the buffer least recently used.
    """

    #: Total number of items in all buffers.
    total = 0
    bufmaxsize: int | None = None

    def __init__(self, maxsize: int | None, iterable: Any = None,
                 bufmaxsize: int | None = 1000) -> None:
        super().__init__()
        self.maxsize = maxsize
        self.bufmaxsize = bufmaxsize
        self.total = 0
        if iterable:
            self.update(iterable)
            self.total = sum(len(buf) for buf in self.values())

    def put(self, key: Any, item: Any) -> None:
        """Append ``item`` to the buffer of ``key``."""
        buf = self._get_or_create_buffer(key)
        before = len(buf)
        buf.put(item)  # a full buffer drops its own oldest item
        self.total += len(buf) - before
        self.move_to_end(key)
        if self.maxsize:
            self._evict()

    def extend(self, key: Any, it: Iterable[Any]) -> None:
        """Append every item of ``it`` to the buffer of ``key``."""
        buf = self._get_or_create_buffer(key)
        before = len(buf)
        buf.extend(it)
        self.total += len(buf) - before
        self.move_to_end(key)
        if self.maxsize:
            self._evict()

    def take(self, key: Any, *default: Any) -> Any:
        """Remove and return the oldest item of ``key``'s buffer."""
        buf = self.get(key)
        if buf is not None:
            try:
                item = buf.take()
            except self.Empty:
                pass
            else:
                self.total -= 1
                self.move_to_end(key)
                return item
        if default:
            return default[0]
        raise self.Empty()

    def _get_or_create_buffer(self, key: Any) -> Messagebuffer:
        buf = self.get(key)
        if buf is None:
            buf = self[key] = self._new_buffer()
        return buf

    def _new_buffer(self) -> Messagebuffer:
        return Messagebuffer(maxsize=self.bufmaxsize)

    def _LRUkey(self) -> Any:
        return next(iter(self))

    def _pop_to_evict(self) -> Any:
        while self:
            key = self._LRUkey()
            buf = self[key]
            try:
                item = buf.take()
            except self.Empty:
                del self[key]
                continue
            self.total -= 1
            if not len(buf):
                del self[key]
            else:
                self.move_to_end(key)
            return item
        raise self.Empty()

    @property
    def _evictcount(self) -> int:
        return self.total

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self.total}/{self.maxsize}>'

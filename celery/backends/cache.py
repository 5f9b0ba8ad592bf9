"""Cache result backend: Memcached (``cache+memcached://host:11211/``) or memory.

``cache+memory://`` keeps results in a process-wide dictionary shared by
every backend of the process (like kombu's ``memory://`` transport): handy
for tests and single-process use, useless across processes.  Memcached
needs :pypi:`pylibmc` or :pypi:`pymemcache`.  Chords are counted with
``incr`` (``chord-unlock-<group>``).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

from kombu.utils.encoding import bytes_to_str, ensure_bytes
from kombu.utils.objects import cached_property

from celery.backends.base import KeyValueStoreBackend
from celery.exceptions import ImproperlyConfigured

__all__ = ('CacheBackend', 'DummyClient')

E_NO_MEMCACHE = ('The memcached result backend needs pylibmc or pymemcache: '
                 'pip install pylibmc (or pymemcache).')
E_UNKNOWN = 'Unknown cache backend {0!r}: use one of {1}.'

#: How many keys one in-memory store keeps before dropping the oldest.
MEMORY_LIMIT = 5000

_memory_stores: dict[str, _MemoryStore] = {}
_memory_lock = threading.Lock()


class _MemoryStore:
    """A bounded, thread-safe key-value store (least recently set dropped first)."""

    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        self.limit = limit
        self.data: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            return self.data.get(key)

    def set(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.limit:
                self.data.popitem(last=False)

    def delete(self, key: Any) -> None:
        with self.lock:
            self.data.pop(key, None)

    def incr(self, key: Any, delta: int = 1) -> int:
        with self.lock:
            value = int(self.data.get(key) or 0) + delta
            self.data[key] = value
            return value


class DummyClient:
    """A memcached-like client over the process-wide memory store."""

    def __init__(self, servers: Any = None, **options: Any) -> None:
        name = ';'.join(servers or ()) if not isinstance(servers, str) else servers
        with _memory_lock:
            store = _memory_stores.get(name)
            if store is None:
                store = _memory_stores[name] = _MemoryStore()
        self.cache = store

    def get(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        return self.cache.get(key)

    def get_multi(self, keys: list) -> dict:
        found = {}
        for key in keys:
            value = self.cache.get(key)
            if value is not None:
                found[key] = value
        return found

    def set(self, key: Any, value: Any, *args: Any, **kwargs: Any) -> bool:
        self.cache.set(key, value)
        return True

    def delete(self, key: Any, *args: Any, **kwargs: Any) -> None:
        self.cache.delete(key)

    def incr(self, key: Any, delta: int = 1) -> int:
        return self.cache.incr(key, delta)

    def touch(self, key: Any, expire: Any) -> None:
        pass


class _PymemcacheClient:
    """Adapts pymemcache's HashClient to the calls the backend makes."""

    def __init__(self, servers: list, **options: Any) -> None:
        from pymemcache.client.hash import HashClient
        nodes = []
        for server in servers:
            host, _, port = server.rpartition(':') if ':' in server else (server, '', '')
            nodes.append((host or server, int(port or 11211)))
        self._client = HashClient(nodes, **options)

    def get(self, key: Any) -> Any:
        return self._client.get(key)

    def get_multi(self, keys: list) -> dict:
        return self._client.get_many(keys)

    def set(self, key: Any, value: Any, time: int = 0) -> Any:
        return self._client.set(key, value, expire=time or 0)

    def delete(self, key: Any) -> Any:
        return self._client.delete(key)

    def incr(self, key: Any, delta: int = 1) -> int:
        value = self._client.incr(key, delta)
        if value is None:  # memcached's incr does not create keys
            self._client.add(key, str(delta))
            value = self._client.incr(key, 0) or delta
        return int(value)

    def touch(self, key: Any, expire: Any) -> Any:
        return self._client.touch(key, expire or 0)


def get_best_memcache(*args: Any, **kwargs: Any) -> tuple[Callable, Callable]:
    """Return ``(client class, key type)`` for the memcached library installed."""
    try:
        import pylibmc
        return pylibmc.Client, bytes_to_str
    except ImportError:
        pass
    try:
        import pymemcache  # noqa: F401
        return _PymemcacheClient, bytes_to_str
    except ImportError:
        raise ImproperlyConfigured(E_NO_MEMCACHE) from None


def _memory_backend() -> tuple[Callable, Callable]:
    return DummyClient, ensure_bytes


#: Cache backend names -> function returning ``(client class, key type)``.
backends: dict[str, Callable[[], tuple[Callable, Callable]]] = {
    'memcache': get_best_memcache,
    'memcached': get_best_memcache,
    'pylibmc': get_best_memcache,
    'memory': _memory_backend,
}


class CacheBackend(KeyValueStoreBackend):
    """Results in Memcached, or in process memory."""

    servers: list | None = None
    supports_autoexpire = True
    supports_native_join = True
    implements_incr = True

    def __init__(self, app: Any, expires: Any = None, backend: str | None = None,
                 options: dict | None = None, url: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.url = url
        self.options = dict(self.app.conf.get('cache_backend_options') or {},
                            **(options or {}))
        self.backend = url or backend or self.app.conf.get('cache_backend')
        if self.backend:
            self.backend, _, servers = self.backend.partition('://')
            self.servers = servers.rstrip('/').split(';')
        self.expires = self.prepare_expires(expires, type=int)
        try:
            factory = backends[self.backend]
        except KeyError:
            raise ImproperlyConfigured(
                E_UNKNOWN.format(self.backend, ', '.join(sorted(backends)))) from None
        self.Client, self.key_t = factory()
        self._encode_prefixes()

    @cached_property
    def client(self) -> Any:
        return self.Client(self.servers, **self.options)

    def get(self, key: Any) -> Any:
        return self.client.get(key)

    def mget(self, keys: list) -> Any:
        return self.client.get_multi(keys)

    def set(self, key: Any, value: Any) -> Any:
        return self.client.set(key, value, self.expires)

    def delete(self, key: Any) -> Any:
        return self.client.delete(key)

    def incr(self, key: Any) -> int:
        return self.client.incr(key)

    def expire(self, key: Any, value: Any) -> Any:
        return self.client.touch(key, value)

    def _apply_chord_incr(self, header_result_args: tuple, body: Any, **kwargs: Any) -> None:
        self.client.set(self.get_key_for_chord(header_result_args[0]), 0, self.expires)
        return super()._apply_chord_incr(header_result_args, body, **kwargs)

    def as_uri(self, *args: Any, **kwargs: Any) -> str:
        servers = ';'.join(self.servers or ())
        return f'{self.backend}://{servers}/'

    def __reduce__(self, args: tuple = (), kwargs: dict | None = None) -> tuple:
        kwargs = dict(kwargs or {}, backend=self.backend, expires=self.expires,
                      options=self.options)
        return super().__reduce__(args, kwargs)

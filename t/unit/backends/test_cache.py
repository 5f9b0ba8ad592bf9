"""The cache backend: process memory (``cache+memory://``) and memcached selection."""
from __future__ import annotations

import json

import pytest

from celery import Celery, states, uuid
from celery.backends.cache import CacheBackend, DummyClient, backends
from celery.exceptions import ImproperlyConfigured


@pytest.fixture
def cache_app():
    app = Celery('t.cache', set_as_current=False, broker='memory://',
                 backend='cache+memory://', fixups=[])
    yield app
    app.close()


class test_CacheBackend:

    def test_url_selects_memory(self, cache_app):
        backend = cache_app.backend
        assert isinstance(backend, CacheBackend)
        assert backend.backend == 'memory' and backend.as_uri() == 'memory:///'
        assert isinstance(backend.client, DummyClient)

    def test_stores_celery_records(self, cache_app):
        backend = cache_app.backend
        task_id = uuid()
        backend.store_result(task_id, [1, 2], states.SUCCESS)
        raw = backend.client.get(f'celery-task-meta-{task_id}'.encode())
        meta = json.loads(raw)
        assert meta['status'] == 'SUCCESS' and meta['result'] == [1, 2]
        assert cache_app.AsyncResult(task_id).get(timeout=1) == [1, 2]

    def test_memory_is_shared_by_backends_of_the_process(self, cache_app):
        other = Celery('t.cache2', set_as_current=False, backend='cache+memory://')
        task_id = uuid()
        other.backend.store_result(task_id, 'shared', states.SUCCESS)
        assert cache_app.AsyncResult(task_id).get(timeout=1) == 'shared'

    def test_mget_and_get_many(self, cache_app):
        backend = cache_app.backend
        ids = [uuid(), uuid()]
        backend.store_result(ids[0], 0, states.SUCCESS)
        found = dict(backend.get_many(ids, max_iterations=1))
        assert list(found) == [ids[0]]

    def test_incr_counts(self, cache_app):
        backend = cache_app.backend
        key = f'chord-unlock-{uuid()}'.encode()
        assert [backend.incr(key) for _ in range(3)] == [1, 2, 3]
        backend.delete(key)
        assert backend.get(key) is None
        backend.expire(key, 10)  # touch is a no-op in memory

    def test_unknown_cache_backend(self, app):
        with pytest.raises(ImproperlyConfigured, match='Unknown cache backend'):
            CacheBackend(app=app, backend='bogus://')

    def test_cache_backend_setting(self, app):
        app.conf.cache_backend = 'memory://'
        backend = CacheBackend(app=app)
        assert backend.backend == 'memory'

    def test_memcached_needs_a_client_library(self, app):
        try:
            import pylibmc  # noqa: F401
        except ImportError:
            try:
                import pymemcache  # noqa: F401
            except ImportError:
                with pytest.raises(ImproperlyConfigured, match='pylibmc or pymemcache'):
                    CacheBackend(app=app, backend='memcached://127.0.0.1:11211/')
                return
        assert backends['memcached']()[0] is not None

    def test_memory_store_is_bounded(self):
        from celery.backends.cache import _MemoryStore
        store = _MemoryStore(limit=2)
        for key in 'abc':
            store.set(key, key)
        assert store.get('a') is None and store.get('c') == 'c'

"""Resolving result_backend values to backend classes."""
from __future__ import annotations

import pytest

from celery.app.backends import BACKEND_ALIASES, by_name, by_url
from celery.backends.base import DisabledBackend
from celery.backends.cache import CacheBackend
from celery.backends.database import DatabaseBackend
from celery.backends.filesystem import FilesystemBackend
from celery.backends.redis import RedisBackend, SentinelBackend
from celery.backends.rpc import RPCBackend
from celery.exceptions import ImproperlyConfigured


class Loader:
    override_backends: dict = {}


class test_by_url:

    @pytest.mark.parametrize('url,cls,rest', [
        ('redis://localhost:6379/0', RedisBackend, 'redis://localhost:6379/0'),
        ('rediss://localhost:6379/0', RedisBackend, 'rediss://localhost:6379/0'),
        ('sentinel://h:26379/0', SentinelBackend, 'sentinel://h:26379/0'),
        ('rpc://', RPCBackend, 'rpc://'),
        ('cache+memory://', CacheBackend, 'memory://'),
        ('cache+memcached://127.0.0.1:11211/', CacheBackend, 'memcached://127.0.0.1:11211/'),
        ('db+sqlite:///results.db', DatabaseBackend, 'sqlite:///results.db'),
        ('db+postgresql://u@h/db', DatabaseBackend, 'postgresql://u@h/db'),
        ('file:///var/results', FilesystemBackend, 'file:///var/results'),
        ('redis+socket:///tmp/redis.sock', RedisBackend, 'socket:///tmp/redis.sock'),
    ])
    def test_schemes(self, url, cls, rest):
        assert by_url(url, Loader()) == (cls, rest)

    def test_aliases_without_url(self):
        assert by_url('redis', Loader()) == (RedisBackend, None)
        assert by_url('database', Loader()) == (DatabaseBackend, None)
        assert by_url(None, Loader()) == (DisabledBackend, None)
        assert by_url('disabled', Loader()) == (DisabledBackend, None)

    def test_class_passes_through(self):
        assert by_url(CacheBackend, Loader()) == (CacheBackend, None)

    def test_user_class_path(self):
        assert by_name('celery.backends.cache:CacheBackend', Loader()) is CacheBackend
        assert by_name('celery.backends.cache.CacheBackend', Loader()) is CacheBackend

    def test_loader_overrides(self):
        class MyLoader(Loader):
            override_backends = {'redis': 'celery.backends.cache:CacheBackend'}
        assert by_url('redis://x', MyLoader())[0] is CacheBackend

    def test_unknown_scheme_lists_aliases(self):
        with pytest.raises(ImproperlyConfigured) as info:
            by_url('bogus://host', Loader())
        message = str(info.value)
        assert "'bogus'" in message and 'redis' in message and 'rpc' in message

    def test_unshipped_celery_backends(self):
        assert 'mongodb' in BACKEND_ALIASES
        with pytest.raises(ImproperlyConfigured, match='not supported here'):
            by_url('mongodb://localhost/', Loader())

    def test_removed_amqp_backend(self):
        with pytest.raises(ImproperlyConfigured, match='rpc://'):
            by_url('amqp://guest@localhost//', Loader())

    def test_bad_class_path(self):
        with pytest.raises(ImproperlyConfigured, match='Cannot load'):
            by_name('celery.backends.cache:Nope', Loader())
        with pytest.raises(ImproperlyConfigured, match='Cannot load'):
            by_name('no_such_module_here:Backend', Loader())
        with pytest.raises(ImproperlyConfigured, match='module, not a backend class'):
            by_name('celery.backends.cache', Loader())

    def test_app_builds_its_backend(self):
        from celery import Celery
        app = Celery('t.backends', set_as_current=False, backend='cache+memory://')
        assert isinstance(app.backend, CacheBackend)
        app = Celery('t.backends', set_as_current=False, backend='nope://')
        with pytest.raises(ImproperlyConfigured):
            app.backend

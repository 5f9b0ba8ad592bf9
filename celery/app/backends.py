"""Resolve the ``result_backend`` setting to a backend class.

``by_url('redis://localhost/0')`` returns ``(RedisBackend, 'redis://localhost/0')``;
``'db+sqlite:///results.db'`` selects the ``db`` alias and hands the backend
the URL after the ``+``.  Aliases can be overridden by the loader
(``override_backends``) and extended by packages through the
``celery.result_backends`` entry point group; any other value is imported as
a ``module:Class`` or ``module.Class`` path given by the user.
"""
from __future__ import annotations

import types
from typing import Any

from kombu.utils.imports import symbol_by_name

from celery._state import current_app
from celery.exceptions import ImproperlyConfigured
from celery.utils.imports import load_extension_class_names

__all__ = ('BACKEND_ALIASES', 'by_name', 'by_url')

#: Backend aliases (the scheme of ``result_backend`` URLs) and their classes.
BACKEND_ALIASES = {
    'rpc': 'celery.backends.rpc.RPCBackend',
    'cache': 'celery.backends.cache:CacheBackend',
    'redis': 'celery.backends.redis:RedisBackend',
    'rediss': 'celery.backends.redis:RedisBackend',
    'sentinel': 'celery.backends.redis:SentinelBackend',
    'mongodb': 'celery.backends.mongodb:MongoBackend',
    'db': 'celery.backends.database:DatabaseBackend',
    'database': 'celery.backends.database:DatabaseBackend',
    'elasticsearch': 'celery.backends.elasticsearch:ElasticsearchBackend',
    'cassandra': 'celery.backends.cassandra:CassandraBackend',
    'couchbase': 'celery.backends.couchbase:CouchbaseBackend',
    'couchdb': 'celery.backends.couchdb:CouchBackend',
    'cosmosdbsql': 'celery.backends.cosmosdbsql:CosmosDBSQLBackend',
    'riak': 'celery.backends.riak:RiakBackend',
    'file': 'celery.backends.filesystem:FilesystemBackend',
    'filesystem': 'celery.backends.filesystem:FilesystemBackend',
    'disabled': 'celery.backends.base:DisabledBackend',
    'consul': 'celery.backends.consul:ConsulBackend',
    'dynamodb': 'celery.backends.dynamodb:DynamoDBBackend',
    'azureblockblob': 'celery.backends.azureblockblob:AzureBlockBlobBackend',
    'arangodb': 'celery.backends.arangodb:ArangoDbBackend',
    's3': 'celery.backends.s3:S3Backend',
    'gs': 'celery.backends.gcs:GCSBackend',
}

#: Aliases of Celery backends this implementation does not ship.
_NOT_SHIPPED = frozenset({
    'mongodb', 'elasticsearch', 'cassandra', 'couchbase', 'couchdb', 'cosmosdbsql',
    'riak', 'consul', 'dynamodb', 'azureblockblob', 'arangodb', 's3', 'gs',
})

#: Aliases that existed in older Celery versions.
_REMOVED = {
    'amqp': "the 'amqp' result backend was removed in Celery 5; use 'rpc://' instead",
}


def _known(aliases: dict) -> str:
    return ', '.join(sorted(name for name in aliases if name not in _NOT_SHIPPED))


def by_name(backend: Any = None, loader: Any = None,
            extension_namespace: str = 'celery.result_backends') -> type:
    """Return the backend class for an alias, a ``module:Class`` path or a class."""
    backend = backend or 'disabled'
    if not isinstance(backend, str):
        return backend
    loader = loader or current_app.loader
    aliases = dict(BACKEND_ALIASES, **(getattr(loader, 'override_backends', None) or {}))
    aliases.update(load_extension_class_names(extension_namespace))
    if backend in _REMOVED and backend not in aliases:
        raise ImproperlyConfigured(f'Unknown result backend {backend!r}: {_REMOVED[backend]}.')
    if backend not in aliases and '.' not in backend and ':' not in backend:
        raise ImproperlyConfigured(
            f'Unknown result backend {backend!r}. Known aliases: {_known(aliases)}; '
            f'or give the backend class as "module:Class".')
    try:
        cls = symbol_by_name(backend, aliases)
    except ImportError as exc:
        if backend in _NOT_SHIPPED and aliases.get(backend) == BACKEND_ALIASES.get(backend):
            raise ImproperlyConfigured(
                f'The {backend!r} result backend is not supported here. '
                f'Supported: {_known(aliases)}.') from None
        raise ImproperlyConfigured(
            f'Cannot load result backend {backend!r}: {exc}') from exc
    except (ValueError, AttributeError) as exc:
        raise ImproperlyConfigured(
            f'Cannot load result backend {backend!r}: {exc}') from exc
    if isinstance(cls, types.ModuleType):
        raise ImproperlyConfigured(
            f'Result backend {backend!r} is a Python module, not a backend class.')
    return cls


def by_url(backend: Any = None, loader: Any = None) -> tuple[type, str | None]:
    """Return ``(backend class, url)`` for a ``result_backend`` value."""
    url = None
    if isinstance(backend, str) and '://' in backend:
        url = backend
        scheme, _, _ = url.partition('://')
        if '+' in scheme:
            backend, url = url.split('+', 1)
        else:
            backend = scheme
    return by_name(backend, loader), url

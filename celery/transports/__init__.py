"""Broker transports of our own, and the choice between them and kombu's.

Only one so far: :mod:`celery.transports.redis`, kombu's Redis transport
with a fetch that pops messages and records them as unacked in one atomic
step.  :func:`connection_class` tells :meth:`Celery._connection` which
``kombu.Connection`` class to build for a broker URL.
"""
from __future__ import annotations

from typing import Any

__all__ = ('connection_class', 'BATCH_FETCH_OPTION')

#: Transport option: ``False`` selects kombu's stock Redis transport.
BATCH_FETCH_OPTION = 'batch_fetch'

#: Broker URL schemes / ``broker_transport`` names served by our Redis transport.
REDIS_NAMES = frozenset({'redis', 'rediss'})


def _scheme(url: Any) -> str:
    if isinstance(url, (list, tuple)):
        url = url[0] if url else ''
    if not isinstance(url, str):
        return ''
    url = url.split(';', 1)[0]
    return url.split('://', 1)[0].lower() if '://' in url else ''


def connection_class(url: Any, transport: Any, options: dict | None) -> type:
    """The ``kombu.Connection`` class for this broker: ours for Redis, else kombu's.

    Ours (:class:`celery.transports.redis.Connection`) differs only in the
    transport class it resolves ``redis`` / ``rediss`` to; its
    ``transport_cls`` stays the name, so ``as_uri()``, ``celery report``,
    ``clone()`` and failover look as with kombu's.  A ``transport`` given as
    a class, another scheme (``sentinel://``, ``amqp://``...), or
    ``broker_transport_options={'batch_fetch': False}`` keep kombu's.
    """
    from kombu import Connection
    if options and options.get(BATCH_FETCH_OPTION, True) is False:
        return Connection
    if transport is not None and not isinstance(transport, str):
        return Connection
    name = transport if transport else _scheme(url)
    if isinstance(name, str) and '+' not in _scheme(url) and name.lower() in REDIS_NAMES:
        from celery.transports.redis import Connection as RedisConnection
        return RedisConnection
    return Connection

"""Redis result backend (``redis://``, ``rediss://``, ``socket://``, ``sentinel://``).

Records are JSON (by default) strings at ``celery-task-meta-<id>``, written
with SET/SETEX and published on a channel of the same name, so
``AsyncResult.get`` waits on pub/sub instead of polling.  Chords are counted
natively, with the keys and Lua-scripted steps Celery 5.7 uses (see
:mod:`celery.backends._redis_chords`), so our workers and Celery's can finish
the same chord.

One client (with its connection pool) per backend instance; the pub/sub
connection belongs to the thread that waits.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from functools import partial
from typing import Any, Iterable, Iterator
from urllib.parse import unquote

from kombu.utils.functional import retry_over_time
from kombu.utils.objects import cached_property
from kombu.utils.url import maybe_sanitize_url, url_to_parts

from celery import states
from celery._state import task_join_will_block
from celery.backends._redis_chords import RedisChordMixin
from celery.backends.asynchronous import (AsyncBackendMixin, BaseResultConsumer,
                                          results_unawaited)
from celery.backends.base import BaseKeyValueStoreBackend
from celery.exceptions import BackendStoreError, ImproperlyConfigured
from celery.utils.time import humanize_seconds

try:
    import redis
    import redis.connection
    from kombu.transport.redis import get_redis_error_classes
except ImportError:  # pragma: no cover - redis is an optional extra
    redis = None
    get_redis_error_classes = None

__all__ = ('RedisBackend', 'SentinelBackend', 'ResultConsumer')

logger = logging.getLogger(__name__)

E_REDIS_MISSING = ('The Redis result backend needs the redis library: '
                   'pip install "celery[redis]".')
E_REDIS_SENTINEL_MISSING = 'The Sentinel result backend needs redis-py with sentinel support.'
E_SSL_SCHEME = ('SSL options were given but the URL scheme is redis://; '
                'use rediss:// for TLS connections.')
E_SSL_CERT_REQS = ('A rediss:// backend needs ssl_cert_reqs set to CERT_REQUIRED, '
                   'CERT_OPTIONAL or CERT_NONE.')
E_LOST = 'Connection to the Redis result backend lost: retry (%s/%s) %s.'
E_RETRY_LIMIT = ('Gave up reconnecting to the Redis result backend; '
                 'the application must be restarted.')

_SSL_KEYS = ('ssl_ca_certs', 'ssl_certfile', 'ssl_keyfile', 'ssl_cert_reqs')


#: Finished results are unsubscribed from in batches of this many channels:
#: a finished task publishes nothing more, so a late UNSUBSCRIBE is harmless
#: and saves a command per result.
UNSUBSCRIBE_BATCH = 64
#: A result subscribed to before its task was sent skips the catch-up read
#: when waited on; if nothing has arrived this many seconds later it gets
#: that read anyway (a lost message, a reconnect).
CATCH_UP_AFTER = 0.25


class ResultConsumer(BaseResultConsumer):
    """Receives records published on ``celery-task-meta-<id>`` channels.

    A task sent by this client is subscribed to before it is published, so
    waiting on it needs no read: the record arrives on the channel.  Any
    other result gets one catch-up read when waiting starts (it may have
    finished before we subscribed).  Channels of finished results are left
    ``UNSUBSCRIBE_BATCH`` at a time.
    """

    _pubsub: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reset_subscriptions()

    def _reset_subscriptions(self) -> None:
        #: Channels we want messages from.
        self.subscribed_to: set = set()
        #: Channels still subscribed on the server, no longer wanted.
        self._unsubscribe_later: set = set()
        #: Task ids subscribed to before their task was sent.
        self._fresh: set = set()
        #: Fresh ids waited on without the catch-up read, and when to read.
        self._unread: set = set()
        self._read_at = 0.0

    def on_after_fork(self) -> None:
        super().on_after_fork()
        self._reset_subscriptions()
        self._pubsub = None
        try:
            self.backend.client.connection_pool.reset()
        except Exception:  # noqa: BLE001,S110 - best effort in a new child
            pass

    def _reconnect_pubsub(self) -> None:
        self._pubsub = None
        self._unsubscribe_later = set()
        client = self.backend.client
        client.connection_pool.reset()
        # States may have changed while we were away: read them first.
        if self.subscribed_to:
            for payload in client.mget(list(self.subscribed_to)):
                if payload:
                    self.on_state_change(self.backend.decode_result(payload), None)
        self._unread = set()
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        if self.subscribed_to:
            self._pubsub.subscribe(*self.subscribed_to)

    @contextmanager
    def reconnect_on_error(self) -> Iterator[None]:
        try:
            yield
        except self.backend.connection_errors:
            try:
                self.backend.ensure(self._reconnect_pubsub, ())
            except self.backend.connection_errors:
                logger.critical(E_RETRY_LIMIT)
                raise

    def start(self, initial_task_id: str, **kwargs: Any) -> None:
        self._pubsub = self.backend.client.pubsub(ignore_subscribe_messages=True)
        self._unsubscribe_later = set()
        self._consume_from(initial_task_id)

    def stop(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
        self._unsubscribe_later = set()

    def on_wait_for_pending(self, result: Any, **kwargs: Any) -> None:
        # The record may have been published before we subscribed.
        if self._skip_read(result.id):
            return
        for meta in result._iter_meta(**kwargs):
            if meta is not None:
                self.on_state_change(meta, None)

    def on_wait_for_pending_many(self, results: Iterable) -> None:
        # One MGET for every result that needs the catch-up read.
        todo = [r for r in results if r._cache is None and not self._skip_read(r.id)]
        if len(todo) < 2:
            for result in todo:
                self.on_wait_for_pending(result)
            return
        backend = self.backend
        payloads = backend.mget([backend.get_key_for_task(r.id) for r in todo])
        for result, payload in zip(todo, payloads):
            if payload:
                meta = backend._decode_record(payload, result.id)
                if meta['status'] in states.READY_STATES:
                    meta.setdefault('task_id', result.id)
                    if self._pending_results.get(result.id) is not result:
                        result._maybe_set_cache(meta)  # a second handle on one id
            else:
                meta = {'status': states.PENDING, 'result': None}
            self.on_state_change(meta, None)

    def _skip_read(self, task_id: str) -> bool:
        # Subscribed before the task was sent: every record it publishes
        # reaches us, so the read can wait (see CATCH_UP_AFTER).
        if self.on_message is not None or task_id not in self._fresh:
            return False
        if not self._unread:
            self._read_at = time.monotonic() + CATCH_UP_AFTER
        self._unread.add(task_id)
        return True

    def _catch_up(self) -> None:
        # The deferred catch-up read of results waited on since _read_at.
        unread, self._unread = tuple(self._unread), set()
        ids = [task_id for task_id in unread if task_id in self._pending_results]
        self._fresh.difference_update(ids)
        if ids:
            backend = self.backend
            for payload in backend.mget([backend.get_key_for_task(i) for i in ids]):
                if payload:
                    self.on_state_change(backend.decode_result(payload), None)

    def on_state_change(self, meta: dict, message: Any) -> None:
        super().on_state_change(meta, message)
        if meta.get('status') in states.READY_STATES and meta.get('task_id'):
            self.cancel_for(meta['task_id'])

    def drain_events(self, timeout: float | None = None) -> None:
        if self._pubsub is None:
            if timeout:
                time.sleep(timeout)
            return
        with self.reconnect_on_error():
            message = self._pubsub.get_message(timeout=timeout)
            if message and message['type'] == 'message':
                self.on_state_change(self.backend.decode_result(message['data']), message)
            if self._unread and time.monotonic() >= self._read_at:
                self._catch_up()

    def consume_from(self, task_id: str) -> None:
        if self._pubsub is None:
            self.start(task_id)
        else:
            self._consume_from(task_id)

    def consume_before_send(self, task_id: str) -> None:
        """Subscribe to ``task_id``'s channel before its task is published."""
        self.consume_from(task_id)
        self._fresh.add(task_id)

    def _consume_from(self, task_id: str) -> None:
        key = self.backend.get_key_for_task(task_id)
        if key in self.subscribed_to:
            return
        self.subscribed_to.add(key)
        if key in self._unsubscribe_later:  # never left the channel
            self._unsubscribe_later.discard(key)
            return
        with self.reconnect_on_error():
            self._pubsub.subscribe(key)

    def cancel_for(self, task_id: str) -> None:
        self._fresh.discard(task_id)
        self._unread.discard(task_id)
        key = self.backend.get_key_for_task(task_id)
        if key in self.subscribed_to:
            self.subscribed_to.discard(key)
            if self._pubsub is not None:
                later = self._unsubscribe_later
                later.add(key)
                if len(later) >= UNSUBSCRIBE_BATCH:
                    self._unsubscribe_later = set()
                    with self.reconnect_on_error():
                        self._pubsub.unsubscribe(*later)


class RedisBackend(RedisChordMixin, BaseKeyValueStoreBackend, AsyncBackendMixin):
    """Redis task result store (GET, MGET, SET/SETEX, PUBLISH, DEL, INCR, EXPIRE)."""

    ResultConsumer = ResultConsumer
    redis = redis
    connection_class_ssl = redis.SSLConnection if redis else None

    #: Maximum number of connections in the pool.
    max_connections: int | None = None
    supports_autoexpire = True
    supports_native_join = True
    supports_result_compression = True
    supports_failure_expires = True
    #: Redis refuses string values above 512 MB.
    _MAX_STR_VALUE_SIZE = 536870912

    def __init__(self, host: str | None = None, port: int | None = None,
                 db: int | None = None, password: str | None = None,
                 max_connections: int | None = None, url: str | None = None,
                 connection_pool: Any = None, **kwargs: Any) -> None:
        super().__init__(expires_type=int, **kwargs)
        if self.redis is None:
            raise ImproperlyConfigured(E_REDIS_MISSING)
        get = self.app.conf.get
        failure_expires = get('result_failure_expires')
        self.failure_expires = (self.expires if failure_expires is None
                                else self.prepare_expires(failure_expires, type=int))
        if host and '://' in host:
            url, host = host, None
        self.max_connections = (max_connections or get('redis_max_connections')
                                or self.max_connections)
        self._ConnectionPool = connection_pool
        socket_timeout = get('redis_socket_timeout')
        connect_timeout = get('redis_socket_connect_timeout')
        self.connparams: dict = {
            'host': host or get('redis_host') or 'localhost',
            'port': port or get('redis_port') or 6379,
            'db': db or get('redis_db') or 0,
            'password': password or get('redis_password'),
            'max_connections': self.max_connections,
            'socket_timeout': socket_timeout and float(socket_timeout),
            'retry_on_timeout': get('redis_retry_on_timeout') or False,
            'socket_connect_timeout': connect_timeout and float(connect_timeout),
        }
        username = get('redis_username')
        if username:
            self.connparams['username'] = username
        health_check = get('redis_backend_health_check_interval')
        if health_check:
            self.connparams['health_check_interval'] = health_check
        if get('redis_socket_keepalive'):
            self.connparams['socket_keepalive'] = True
        client_name = get('redis_client_name')
        if client_name:
            self.connparams['client_name'] = client_name
        ssl = get('redis_backend_use_ssl')
        if ssl:
            self.connparams.update(ssl)
            self.connparams['connection_class'] = self.connection_class_ssl
        if url:
            self.connparams = self._params_from_url(url, self.connparams)
        self._check_ssl_params()
        self.url = url
        self.connection_errors, self.channel_errors = (
            get_redis_error_classes() if get_redis_error_classes else ((), ()))
        self._init_pending()
        self.result_consumer = self.ResultConsumer(
            self, self.app, self.accept, self._pending_results, self._pending_messages)

    def _check_ssl_params(self) -> None:
        from ssl import CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED
        cls = self.connparams.get('connection_class')
        if not (cls and isinstance(cls, type) and issubclass(cls, redis.SSLConnection)):
            return
        names = {'CERT_REQUIRED': CERT_REQUIRED, 'CERT_OPTIONAL': CERT_OPTIONAL,
                 'CERT_NONE': CERT_NONE, 'required': CERT_REQUIRED,
                 'optional': CERT_OPTIONAL, 'none': CERT_NONE}
        reqs = self.connparams.get('ssl_cert_reqs', 'MISSING')
        reqs = names.get(reqs, reqs)
        if reqs not in names.values():
            raise ValueError(E_SSL_CERT_REQS)
        if reqs != CERT_REQUIRED:
            logger.warning('Redis result backend: ssl_cert_reqs=%s means the server '
                           'identity is not fully verified.', reqs)
        self.connparams['ssl_cert_reqs'] = reqs

    def _params_from_url(self, url: str, defaults: dict) -> dict:
        scheme, host, port, username, password, path, query = url_to_parts(url)
        query = dict(query)
        params = dict(defaults)
        for name, value in (('host', host), ('port', port), ('username', username),
                            ('password', unquote(password) if password else password)):
            if value:
                params[name] = value
        vhost = query.pop('virtual_host', None)
        if scheme == 'socket':
            params.update(connection_class=self.redis.UnixDomainSocketConnection,
                          path='/' + (path or ''))
            for name in ('host', 'port', 'socket_connect_timeout'):
                params.pop(name, None)
            if vhost is not None:
                params['db'] = vhost
        else:
            params['db'] = path if path else (vhost or params.get('db'))
        if scheme == 'redis' and (any(k in params for k in _SSL_KEYS)
                                  or any(k in query for k in _SSL_KEYS)):
            raise ValueError(E_SSL_SCHEME)
        if scheme == 'rediss':
            params['connection_class'] = self.connection_class_ssl
            for name in _SSL_KEYS:
                value = query.pop(name, None)
                if value:
                    params[name] = unquote(value)
        db = params.get('db') or 0
        params['db'] = int(db.strip('/') if isinstance(db, str) else db)
        parsers = redis.connection.URL_QUERY_ARGUMENT_PARSERS
        for name, value in list(query.items()):
            if name in parsers:
                query[name] = parsers[name](value)
        params.update(query)
        return params

    @cached_property
    def _transport_options(self) -> dict:
        return self.app.conf.get('result_backend_transport_options') or {}

    @cached_property
    def retry_policy(self) -> dict:  # type: ignore[override]
        policy = dict(super().retry_policy)
        policy.update(self._transport_options.get('retry_policy') or {})
        return policy

    # -- client ----------------------------------------------------------------

    @property
    def ConnectionPool(self) -> Any:
        if self._ConnectionPool is None:
            self._ConnectionPool = self.redis.ConnectionPool
        return self._ConnectionPool

    def _get_client(self) -> Any:
        return self.redis.StrictRedis

    def _get_pool(self, **params: Any) -> Any:
        return self.ConnectionPool(**params)

    def _create_client(self, **params: Any) -> Any:
        return self._get_client()(connection_pool=self._get_pool(**params))

    @cached_property
    def client(self) -> Any:
        return self._create_client(**self.connparams)

    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, self.connection_errors)

    def ensure(self, fun: Any, args: tuple, **policy: Any) -> Any:
        """Call ``fun(*args)``, reconnecting and retrying on connection errors."""
        retry_policy = dict(self.retry_policy, **policy)
        max_retries = retry_policy.get('max_retries')
        return retry_over_time(fun, self.connection_errors, args, {},
                               partial(self.on_connection_error, max_retries),
                               **retry_policy)

    def on_connection_error(self, max_retries: Any, exc: BaseException,
                            intervals: Iterator, retries: int) -> float:
        tts = next(intervals)
        logger.error(E_LOST, retries, max_retries or 'Inf', humanize_seconds(tts, 'in '))
        return tts

    def on_task_call(self, producer: Any, task_id: str) -> dict:
        # Subscribe before the task is published so its result cannot be missed.
        if not task_join_will_block() and not results_unawaited():
            self.result_consumer.consume_before_send(task_id)
        return {}

    # -- primitives --------------------------------------------------------------

    def get(self, key: Any) -> Any:
        return self.client.get(key)

    def mget(self, keys: list) -> Any:
        return self.client.mget(keys)

    def _set_with_state(self, key: Any, value: Any, state: str) -> Any:
        if state == states.FAILURE:
            return self.set(key, value, expires=self.failure_expires)
        return self.set(key, value)

    def set(self, key: Any, value: Any, expires: int | None = None,
            **retry_policy: Any) -> Any:
        """Store ``value`` (expiring) and publish it on the channel ``key``."""
        if isinstance(value, (str, bytes)) and len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError('value too large for the Redis backend (max 512 MB)')
        return self.ensure(self._set, (key, value, expires), **retry_policy)

    def _set(self, key: Any, value: Any, expires: int | None = None) -> None:
        if expires is None:
            expires = self.expires
        # One round trip; no MULTI/EXEC needed: readers never see half of it.
        with self.client.pipeline(transaction=False) as pipe:
            if expires:
                pipe.set(key, value, ex=expires)
            else:
                pipe.set(key, value)
            pipe.publish(key, value)
            pipe.execute()

    def delete(self, key: Any) -> None:
        self.client.delete(key)

    def incr(self, key: Any) -> int:
        return self.client.incr(key)

    def expire(self, key: Any, value: Any) -> Any:
        return self.client.expire(key, value)

    def forget(self, task_id: str) -> None:
        super().forget(task_id)
        self.result_consumer.cancel_for(task_id)

    def __reduce__(self, args: tuple = (), kwargs: dict | None = None) -> tuple:
        return super().__reduce__((self.url,), {'expires': self.expires})


class SentinelBackend(RedisBackend):
    """Redis behind Sentinel: ``sentinel://host:26379/0;sentinel://other:26379/0``.

    The master's name comes from ``result_backend_transport_options['master_name']``.
    """

    _SERVER_URI_SEPARATOR = ';'
    sentinel = getattr(redis, 'sentinel', None) if redis else None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self.sentinel is None:
            try:
                import redis.sentinel
                type(self).sentinel = redis.sentinel
            except ImportError:  # pragma: no cover
                raise ImproperlyConfigured(E_REDIS_SENTINEL_MISSING) from None
        super().__init__(*args, **kwargs)

    def as_uri(self, include_password: bool = False) -> str:
        if include_password:
            return super().as_uri(include_password=True)
        chunks = (maybe_sanitize_url(chunk)
                  for chunk in (self.url or '').split(self._SERVER_URI_SEPARATOR))
        return self._SERVER_URI_SEPARATOR.join(
            uri[:-1] if uri.endswith(':///') else uri for uri in chunks)

    def _params_from_url(self, url: str, defaults: dict) -> dict:
        hosts = [RedisBackend._params_from_url(self, chunk, defaults)
                 for chunk in url.split(self._SERVER_URI_SEPARATOR)]
        params = dict(defaults, hosts=hosts)
        for name in ('host', 'port', 'db', 'password'):
            params.pop(name, None)
        for name in ('db', 'password'):
            if hosts and name in hosts[0]:
                params[name] = hosts[0][name]
        return params

    def _check_ssl_params(self) -> None:
        return None

    def _get_pool(self, **params: Any) -> Any:
        params = dict(params)
        hosts = params.pop('hosts')
        options = self._transport_options
        sentinel = self.sentinel.Sentinel(
            [(host['host'], host['port']) for host in hosts],
            min_other_sentinels=options.get('min_other_sentinels', 0),
            sentinel_kwargs=options.get('sentinel_kwargs', {}), **params)
        return sentinel.master_for(service_name=options.get('master_name'),
                                   redis_class=self._get_client()).connection_pool

"""Every configuration setting: its default, its type and its pre-4.0 name.

``NAMESPACES`` is the single source of truth. It is a nested mapping
(``NAMESPACES['broker']['url']``) of :class:`Option` objects; everything else
in this module (``DEFAULTS``, ``SETTING_KEYS``, the old/new key tables) is
derived from it once, at import time. The module has no side effects and
imports nothing heavy, so it is safe to import from anywhere.

Old (upper-case) names follow Celery's rules: a namespace either names its
old prefix (``task`` settings were ``CELERY_<KEY>``, ``worker`` settings were
``CELERYD_<KEY>``, ``beat`` settings were ``CELERYBEAT_<KEY>``), or the old
name is simply the new name in upper case (``broker_url`` -> ``BROKER_URL``).
An option can list its own old names; the first one is the canonical one.
"""
from __future__ import annotations

from collections import deque
from datetime import timedelta
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

__all__ = (
    'Option', 'NAMESPACES', 'DEFAULTS', 'SETTING_KEYS', 'flatten', 'find',
    'find_deprecated_settings', 'searchresult',
    'DEFAULT_POOL', 'DEFAULT_ACCEPT_CONTENT', 'DEFAULT_SECURITY_DIGEST',
    'DEFAULT_LOG_FMT', 'DEFAULT_PROCESS_LOG_FMT', 'DEFAULT_TASK_LOG_FMT',
)

DEFAULT_POOL = 'prefork'
DEFAULT_ACCEPT_CONTENT = ('json',)
DEFAULT_SECURITY_DIGEST = 'sha256'

#: Log line formats; users grep and parse these, so they match Celery's.
DEFAULT_LOG_FMT = '[%(asctime)s: %(levelname)s] %(message)s'
DEFAULT_PROCESS_LOG_FMT = '[%(asctime)s: %(levelname)s/%(processName)s] %(message)s'
DEFAULT_TASK_LOG_FMT = ('[%(asctime)s: %(levelname)s/%(processName)s] '
                        '%(task_name)s[%(task_id)s]: %(message)s')

#: Old-name formats of the namespaces that were renamed in 4.0.
OLD_NS = ('celery_{0}',)
OLD_NS_BEAT = ('celerybeat_{0}',)
OLD_NS_WORKER = ('celeryd_{0}',)


class searchresult(NamedTuple):
    """Where :func:`find` found a setting.

    ``type`` is the :class:`Option` (or the namespace mapping when the name
    given was a namespace).
    """

    namespace: str | None
    key: str
    type: Any


# -- coercion of strings (environment, command line) --------------------------

_TRUE = frozenset({'1', 'true', 'yes', 'on', 'y', 't'})
_FALSE = frozenset({'0', 'false', 'no', 'off', 'n', 'f', ''})


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        term = value.strip().lower()
        if term in _TRUE:
            return True
        if term in _FALSE:
            return False
    raise ValueError(
        f'{value!r} is not a boolean (use true/false, yes/no, on/off or 1/0)')


def _literal(value: str) -> Any:
    """Parse a Python or JSON literal, or raise ValueError."""
    import ast
    import json
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    try:
        return json.loads(value)
    except ValueError:
        raise ValueError(f'{value!r} is not a valid literal') from None


def _to_dict(value: Any) -> dict:
    if isinstance(value, str):
        value = _literal(value.strip()) if value.strip() else {}
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f'{value!r} is not a mapping')
    return dict(value)


def _to_sequence(value: Any) -> list:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ('[', '(', '{'):
            value = _literal(text)
        else:
            return [part.strip() for part in text.split(',') if part.strip()]
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ValueError(f'{value!r} is not a sequence')
    return list(value)


def _to_bytes(value: Any) -> bytes:
    return value.encode('utf-8') if isinstance(value, str) else bytes(value)


def _identity(value: Any) -> Any:
    return value


_COERCE: dict[str, Callable[[Any], Any]] = {
    'string': str,
    'str': str,
    'bytes': _to_bytes,
    'int': int,
    'float': float,
    'bool': _to_bool,
    'dict': _to_dict,
    'list': _to_sequence,
    'tuple': lambda value: tuple(_to_sequence(value)),
    'any': _identity,
}


class Option:
    """One setting: its default, its type and its old names.

    ``type`` names the coercion :meth:`to_python` applies to values that
    come in as strings (environment variables, ``celery worker -- key=value``):
    ``'string'``, ``'bytes'``, ``'int'``, ``'float'``, ``'bool'``, ``'dict'``,
    ``'list'``, ``'tuple'`` or ``'any'``. ``old`` holds old-name formats
    (``'celery_{0}'``, or a literal old name); the first is canonical.
    """

    alt: str | None = None
    deprecate_by: str | None = None
    remove_by: str | None = None
    old: tuple[str, ...] = ()

    def __init__(self, default: Any = None, *args: Any, type: str = 'string',
                 old: Iterable[str] = (), deprecate_by: str | None = None,
                 remove_by: str | None = None, alt: str | None = None,
                 **kwargs: Any) -> None:
        type = type or 'string'
        if type not in _COERCE:
            raise ValueError(f'unknown option type {type!r}')
        self.default = default
        self.type = type
        self.old = tuple(sorted(old) if isinstance(old, (set, frozenset)) else old)
        self.deprecate_by = deprecate_by
        self.remove_by = remove_by
        self.alt = alt
        for attr, value in kwargs.items():
            setattr(self, attr, value)

    def to_python(self, value: Any) -> Any:
        """Coerce ``value`` (usually a string) to this option's type."""
        return _COERCE[self.type](value)

    def __repr__(self) -> str:
        return f'<Option: type->{self.type} default->{self.default!r}>'


def _ns(old: tuple[str, ...] | None = None, **options: Option) -> dict[str, Option]:
    """A namespace: options without old names of their own get ``old``."""
    if old:
        for opt in options.values():
            if not opt.old:
                opt.old = old
    return options


def _lifecycle() -> dict[str, Option]:
    """Process options shared by the worker, beat and events commands."""
    return {name: Option(None, type=kind) for name, kind in (
        ('logfile', 'string'), ('pidfile', 'string'), ('uid', 'string'),
        ('gid', 'string'), ('umask', 'string'), ('executable', 'string'))}


NAMESPACES: dict[str, Any] = _ns(
    accept_content=Option(DEFAULT_ACCEPT_CONTENT, type='list', old=OLD_NS),
    result_accept_content=Option(None, type='list'),
    enable_utc=Option(True, type='bool', old=('celery_enable_utc', 'enable_utc')),
    imports=Option((), type='tuple', old=OLD_NS),
    include=Option((), type='tuple', old=OLD_NS),
    timezone=Option(None, type='string', old=OLD_NS),
    override_backends=Option(None, type='dict'),
    beat=_ns(
        OLD_NS_BEAT,
        max_loop_interval=Option(0, type='float'),
        schedule=Option({}, type='dict'),
        scheduler=Option('celery.beat:PersistentScheduler'),
        schedule_filename=Option('celerybeat-schedule'),
        sync_every=Option(0, type='int'),
        cron_starting_deadline=Option(None, type='int'),
        **_lifecycle(),
    ),
    broker=_ns(
        # None means kombu's default (amqp://guest@localhost//).
        url=Option(None, type='string'),
        read_url=Option(None, type='string'),
        write_url=Option(None, type='string'),
        transport=Option(None, type='string'),
        transport_options=Option({}, type='dict'),
        connection_timeout=Option(4, type='float'),
        connection_retry=Option(True, type='bool'),
        # None: follow broker_connection_retry (with Celery's warning).
        connection_retry_on_startup=Option(None, type='bool'),
        connection_max_retries=Option(100, type='int'),
        channel_error_retry=Option(False, type='bool'),
        # None: kombu's round-robin.
        failover_strategy=Option(None, type='any'),
        heartbeat=Option(120, type='int'),
        heartbeat_checkrate=Option(3.0, type='float'),
        # None: the transport's default (AMQPLAIN for amqp).
        login_method=Option(None, type='string'),
        native_delayed_delivery_queue_type=Option('quorum', type='string'),
        pool_limit=Option(10, type='int'),
        pool_acquire_timeout=Option(None, type='float'),
        use_ssl=Option(False, type='bool'),
        # Pre-URL style connection settings.
        host=Option(None, type='string'),
        port=Option(None, type='int'),
        user=Option(None, type='string'),
        password=Option(None, type='string'),
        vhost=Option(None, type='string'),
    ),
    cache=_ns(
        ('celery_cache_{0}',),
        backend=Option(None),
        backend_options=Option({}, type='dict'),
    ),
    cassandra=_ns(
        entry_ttl=Option(None, type='float'),
        keyspace=Option(None, type='string'),
        port=Option(9042, type='int'),
        read_consistency=Option(None, type='string'),
        servers=Option([], type='list'),
        secure_bundle_path=Option(None, type='string'),
        table=Option(None, type='string', old=('cassandra_column_family', 'cassandra_table')),
        write_consistency=Option(None, type='string'),
        auth_provider=Option(None, type='string'),
        auth_kwargs=Option({}, type='dict'),
        options=Option({}, type='dict'),
    ),
    s3=_ns(
        access_key_id=Option(None, type='string'),
        secret_access_key=Option(None, type='string'),
        bucket=Option(None, type='string'),
        base_path=Option(None, type='string'),
        endpoint_url=Option(None, type='string'),
        region=Option(None, type='string'),
    ),
    azureblockblob=_ns(
        container_name=Option('celery', type='string'),
        base_path=Option('', type='string'),
        retry_initial_backoff_sec=Option(2, type='int'),
        retry_increment_base=Option(2, type='int'),
        retry_max_attempts=Option(3, type='int'),
        connection_timeout=Option(20, type='int'),
        read_timeout=Option(120, type='int'),
    ),
    gcs=_ns(
        bucket=Option(None, type='string'),
        project=Option(None, type='string'),
        base_path=Option('', type='string'),
        ttl=Option(0, type='float'),
        threadpool_maxsize=Option(10, type='int'),
    ),
    control=_ns(
        queue_ttl=Option(300.0, type='float'),
        queue_expires=Option(10.0, type='float'),
        queue_exclusive=Option(False, type='bool'),
        queue_durable=Option(False, type='bool'),
        exchange=Option('celery', type='string'),
    ),
    couchbase=_ns(
        ('celery_couchbase_{0}',),
        backend_settings=Option(None, type='dict'),
    ),
    arangodb=_ns(
        ('celery_arangodb_{0}',),
        backend_settings=Option(None, type='dict'),
    ),
    mongodb=_ns(
        ('celery_mongodb_{0}',),
        backend_settings=Option(None, type='dict'),
    ),
    cosmosdbsql=_ns(
        database_name=Option('celerydb', type='string'),
        collection_name=Option('celerycol', type='string'),
        consistency_level=Option('Session', type='string'),
        max_retry_attempts=Option(9, type='int'),
        max_retry_wait_time=Option(30, type='int'),
    ),
    event=_ns(
        ('celery_event_{0}',),
        queue_expires=Option(60.0, type='float'),
        queue_ttl=Option(5.0, type='float'),
        queue_prefix=Option('celeryev'),
        queue_exclusive=Option(False, type='bool'),
        queue_durable=Option(False, type='bool'),
        serializer=Option('json'),
        exchange=Option('celeryev', type='string'),
    ),
    events=_ns(**_lifecycle()),
    redis=_ns(
        ('celery_redis_{0}',),
        backend_use_ssl=Option(None, type='dict'),
        backend_credential_provider=Option(None, type='any'),
        backend_health_check_interval=Option(None, type='int'),
        db=Option(None, type='int'),
        host=Option(None, type='string'),
        max_connections=Option(None, type='int'),
        username=Option(None, type='string'),
        password=Option(None, type='string'),
        port=Option(None, type='int'),
        socket_timeout=Option(120.0, type='float'),
        socket_connect_timeout=Option(None, type='float'),
        retry_on_timeout=Option(False, type='bool'),
        socket_keepalive=Option(False, type='bool'),
        client_name=Option(None, type='string'),
    ),
    result=_ns(
        ('celery_result_{0}',),
        backend=Option(None, type='string'),
        cache_max=Option(-1, type='int', old=('celery_max_cached_results',)),
        compression=Option(None, type='string'),
        exchange=Option('celeryresults'),
        exchange_type=Option('direct'),
        expires=Option(timedelta(days=1), type='float',
                       old=('celery_task_result_expires', 'celery_result_expires')),
        persistent=Option(None, type='bool'),
        extended=Option(False, type='bool'),
        serializer=Option('json'),
        backend_transport_options=Option({}, type='dict'),
        chord_retry_interval=Option(1.0, type='float'),
        chord_join_timeout=Option(3.0, type='float'),
        chord_expires=Option(None, type='float'),
        failure_expires=Option(None, type='float'),
        backend_max_sleep_between_retries_ms=Option(10000, type='int'),
        backend_max_retries=Option(float('inf'), type='float'),
        backend_base_sleep_between_retries_ms=Option(10, type='int'),
        backend_always_retry=Option(False, type='bool'),
        backend_thread_safe=Option(False, type='bool'),
    ),
    elasticsearch=_ns(
        ('celery_elasticsearch_{0}',),
        retry_on_timeout=Option(False, type='bool'),
        max_retries=Option(3, type='int'),
        timeout=Option(10.0, type='float'),
        save_meta_as_text=Option(True, type='bool'),
    ),
    security=_ns(
        ('celery_security_{0}',),
        certificate=Option(None, type='string'),
        cert_store=Option(None, type='string'),
        key=Option(None, type='string'),
        key_password=Option(None, type='bytes'),
        digest=Option(DEFAULT_SECURITY_DIGEST, type='string'),
    ),
    database=_ns(
        url=Option(None, old=('celery_result_dburi',)),
        engine_options=Option({'pool_pre_ping': True, 'pool_recycle': 3600}, type='dict',
                              old=('celery_result_engine_options',)),
        short_lived_sessions=Option(False, type='bool',
                                    old=('celery_result_db_short_lived_sessions',)),
        table_schemas=Option({}, type='dict'),
        table_names=Option({}, type='dict', old=('celery_result_db_tablenames',
                                                 'celery_result_db_table_names')),
        create_tables_at_setup=Option(True, type='bool'),
        engine_callback=Option(None, type='any'),
    ),
    task=_ns(
        OLD_NS,
        acks_late=Option(False, type='bool'),
        acks_on_failure_or_timeout=Option(True, type='bool'),
        # None: fall back to task_acks_on_failure_or_timeout.
        acks_on_failure=Option(None, type='bool'),
        acks_on_timeout=Option(None, type='bool'),
        always_eager=Option(False, type='bool', old=OLD_NS + ('celery_task_always_eager',)),
        annotations=Option(None, type='any'),
        compression=Option(None, type='string',
                           old=('celery_message_compression', 'celery_compression')),
        create_missing_queues=Option(True, type='bool'),
        create_missing_queue_type=Option('classic', type='string'),
        create_missing_queue_exchange_type=Option(None, type='string'),
        inherit_parent_priority=Option(False, type='bool'),
        # 2 is AMQP's "persistent"; kombu accepts either spelling.
        default_delivery_mode=Option(2, type='string'),
        default_queue=Option('celery'),
        default_queue_type=Option('classic', type='string'),
        default_exchange=Option(None, type='string'),      # None: the queue's name
        default_exchange_type=Option('direct'),
        default_routing_key=Option(None, type='string'),   # None: the queue's name
        default_rate_limit=Option(None, type='string'),
        default_priority=Option(None, type='int'),
        eager_propagates=Option(False, type='bool', old=('celery_eager_propagates_exceptions',
                                                         'celery_eager_propagates')),
        ignore_result=Option(False, type='bool'),
        store_eager_result=Option(False, type='bool'),
        protocol=Option(2, type='int', old=('celery_task_protocol',)),
        publish_retry=Option(True, type='bool', old=('celery_task_publish_retry',
                                                     'celery_publish_retry')),
        publish_retry_policy=Option(
            {'max_retries': 3, 'interval_start': 0, 'interval_max': 1, 'interval_step': 0.2},
            type='dict', old=('celery_task_publish_retry_policy', 'celery_publish_retry_policy')),
        queues=Option(None, type='dict'),
        queue_max_priority=Option(None, type='int'),
        reject_on_worker_lost=Option(None, type='bool',
                                     old=OLD_NS + ('celery_task_reject_on_worker_lost',)),
        remote_tracebacks=Option(False, type='bool'),
        routes=Option(None, type='any'),
        send_sent_event=Option(False, type='bool', old=('celery_send_task_sent_event',
                                                        'celery_send_sent_event')),
        serializer=Option('json', old=('celery_task_serializer',)),
        soft_time_limit=Option(None, type='float', old=('celeryd_task_soft_time_limit',
                                                        'celeryd_soft_time_limit')),
        time_limit=Option(None, type='float', old=('celeryd_task_time_limit',
                                                   'celeryd_time_limit')),
        store_errors_even_if_ignored=Option(False, type='bool'),
        track_started=Option(False, type='bool', old=OLD_NS + ('celery_task_track_started',)),
        allow_error_cb_on_chord_header=Option(False, type='bool'),
    ),
    worker=_ns(
        OLD_NS_WORKER,
        agent=Option(None, type='string'),
        autoscaler=Option('celery.worker.autoscale:Autoscaler'),
        cancel_long_running_tasks_on_connection_loss=Option(False, type='bool'),
        soft_shutdown_timeout=Option(0.0, type='float'),
        enable_soft_shutdown_on_idle=Option(False, type='bool'),
        concurrency=Option(None, type='int'),              # None: number of CPUs
        consumer=Option('celery.worker.consumer:Consumer', type='string'),
        direct=Option(False, type='bool', old=('celery_worker_direct',)),
        disable_rate_limits=Option(False, type='bool', old=('celery_disable_rate_limits',)),
        deduplicate_successful_tasks=Option(False, type='bool'),
        enable_remote_control=Option(True, type='bool', old=('celery_enable_remote_control',)),
        hijack_root_logger=Option(True, type='bool'),
        log_color=Option(None, type='bool'),               # None: on when a tty
        log_format=Option(DEFAULT_PROCESS_LOG_FMT,
                          old=OLD_NS_WORKER + ('celery_worker_log_format',)),
        lost_wait=Option(10.0, type='float', old=('celeryd_worker_lost_wait',)),
        max_memory_per_child=Option(None, type='int'),
        max_tasks_per_child=Option(None, type='int'),
        pool=Option(DEFAULT_POOL),
        pool_putlocks=Option(True, type='bool'),
        pool_restarts=Option(False, type='bool'),
        proc_alive_timeout=Option(4.0, type='float'),
        prefetch_multiplier=Option(4, type='int'),
        eta_task_limit=Option(None, type='int'),
        enable_prefetch_count_reduction=Option(True, type='bool'),
        disable_prefetch=Option(False, type='bool'),
        redirect_stdouts=Option(True, type='bool', old=('celery_redirect_stdouts',
                                                        'celeryd_redirect_stdouts')),
        redirect_stdouts_level=Option('WARNING', old=('celery_redirect_stdouts_level',
                                                      'celeryd_redirect_stdouts_level')),
        send_task_events=Option(False, type='bool', old=('celery_send_events',)),
        state_db=Option(None),
        task_log_format=Option(DEFAULT_TASK_LOG_FMT,
                               old=OLD_NS_WORKER + ('celery_worker_task_log_format',)),
        timer=Option(None, type='string'),                 # None: the pool's timer
        timer_precision=Option(1.0, type='float'),
        detect_quorum_queues=Option(True, type='bool'),
        **_lifecycle(),
    ),
)


# -- derived tables ------------------------------------------------------------

def _flatten_keys(ns: str, key: str, opt: Option) -> Iterable[tuple[str, Option]]:
    return [(ns + key, opt)]


def _to_compat(ns: str, key: str, opt: Option) -> Iterable[tuple[str, str, Option]]:
    """``(old_name, new_name, option)`` for each old name of an option."""
    if opt.old:
        return [(fmt.format(key).upper(), ns + key, opt) for fmt in opt.old]
    return [((ns + key).upper(), ns + key, opt)]


def flatten(d: Mapping[str, Any], root: str = '',
            keyfilter: Callable[[str, str, Option], Iterable[Any]] = _flatten_keys,
            ) -> Iterator[Any]:
    """Walk a nested options mapping, yielding ``keyfilter``'s items.

    By default yields ``(full_name, option)``, e.g. ``('broker_url', <Option>)``.
    """
    stack = deque([(root, d)])
    while stack:
        ns, options = stack.popleft()
        for key, opt in options.items():
            if isinstance(opt, Mapping):
                stack.append((f'{ns}{key}_', opt))
            else:
                yield from keyfilter(ns, key, opt)


#: Every setting's option by its full new name, and where it lives.
_OPTIONS: dict[str, Option] = dict(flatten(NAMESPACES))

#: New name -> default value.
DEFAULTS: dict[str, Any] = {key: opt.default for key, opt in _OPTIONS.items()}
SETTING_KEYS: set[str] = set(DEFAULTS)

_compat = list(flatten(NAMESPACES, keyfilter=_to_compat))
#: Old name -> default value.
_OLD_DEFAULTS: dict[str, Any] = {old: opt.default for old, _, opt in _compat}
#: Old name -> new name (every old spelling).
_TO_NEW_KEY: dict[str, str] = {old: new for old, new, _ in _compat}
#: New name -> canonical old name (the first one listed).
_TO_OLD_KEY: dict[str, str] = {}
for _old, _new, _ in _compat:
    _TO_OLD_KEY.setdefault(_new, _old)
_OLD_SETTING_KEYS: set[str] = set(_TO_NEW_KEY)
del _compat, _old, _new


def find_deprecated_settings(source: Any) -> Any:
    """Warn about settings of ``source`` that are scheduled for removal."""
    import warnings

    from celery.exceptions import CPendingDeprecationWarning
    for name, opt in _OPTIONS.items():
        if (opt.deprecate_by or opt.remove_by) and getattr(source, name, None):
            alternative = f' Use {opt.alt} instead.' if opt.alt else ''
            warnings.warn(CPendingDeprecationWarning(
                f'The {name!r} setting is deprecated and will be removed in '
                f'version {opt.remove_by or "6.0"}.{alternative}'), stacklevel=2)
    return source


@lru_cache(maxsize=None)
def find(name: str, namespace: str = 'celery') -> searchresult:
    """Find a setting by short name, full name or namespace name.

    ``find('always_eager')`` gives ``searchresult('task', 'always_eager',
    <Option>)``, ``find('task_always_eager')`` gives ``searchresult(None,
    'task_always_eager', <Option>)``; either way ``'_'.join`` of the
    non-empty parts is the setting's name. ``namespace`` is tried first when
    a short name is ambiguous (``find('url', 'database')``).
    Raises :exc:`KeyError` when there is no such setting.
    """
    name, namespace = name.lower(), (namespace or '').lower()
    preferred = NAMESPACES.get(namespace)
    if isinstance(preferred, Mapping) and name in preferred:
        return searchresult(namespace, name, preferred[name])
    if name in NAMESPACES:  # a top-level option, or a namespace's name
        return searchresult(None, name, NAMESPACES[name])
    for ns, options in NAMESPACES.items():
        if isinstance(options, Mapping) and name in options:
            return searchresult(ns, name, options[name])
    if name in _OPTIONS:  # a full name, as in Celery: no namespace
        return searchresult(None, name, _OPTIONS[name])
    raise KeyError(name)

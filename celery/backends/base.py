"""Result backend base classes.

:class:`Backend` holds everything a result store shares: encoding, the
result record (``{status, result, traceback, children, date_done, task_id}``),
exception (de)serialisation, the worker-facing ``mark_as_*`` calls, groups,
chords and retries.  :class:`BaseBackend` adds waiting by polling;
:class:`KeyValueStoreBackend` (in :mod:`celery.backends._keyvalue`, exported
here) builds a complete store from a few primitives.

A backend instance belongs to one thread unless ``result_backend_thread_safe``
is set; the worker calls ``mark_as_*`` from the pool process running the task.
"""
from __future__ import annotations

import time
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from kombu.compression import encoders as compression_encoders
from kombu.compression import get_encoder as get_compression_encoder
from kombu.serialization import dumps, loads, prepare_accept_content
from kombu.serialization import registry as serializer_registry
from kombu.utils.url import maybe_sanitize_url

from celery import states
from celery._state import current_app, get_current_task
from celery.exceptions import (BackendGetMetaError, BackendStoreError,
                               ImproperlyConfigured, NotRegistered, TaskRevokedError,
                               TimeoutError)
from celery.backends import _failures
from celery.backends._codec import (COMPRESSED_PAYLOAD_MAGIC, compress_payload,
                                    decompress_payload, exception_from_dict)
from celery.result import GroupResult, ResultBase, ResultSet
from celery.utils.serialization import (ensure_serializable, get_pickleable_exception,
                                        get_pickled_exception, raise_with_context)
from celery.utils.time import get_exponential_backoff_interval

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = (
    'Backend', 'BaseBackend', 'SyncBackendMixin', 'KeyValueStoreBackend',
    'BaseKeyValueStoreBackend', 'DisabledBackend', 'unpickle_backend',
    'COMPRESSED_PAYLOAD_MAGIC', 'compress_payload', 'decompress_payload',
)

#: Serializers that can carry exception instances as they are.
EXCEPTION_ABLE_CODECS = frozenset({'pickle'})

E_NO_BACKEND = (
    'No result backend is configured: set result_backend (or the backend= '
    'argument of Celery()) to store and retrieve task results.')

E_CHORD_NO_BACKEND = (
    'Chords need a result backend: configure result_backend (Redis, a '
    'database, Memcached, ...). A group chained with a task is a chord too.')

E_CORRUPT = 'Result record for task {0} cannot be read: {1}'

def unpickle_backend(cls: type, args: tuple, kwargs: dict) -> Backend:
    """Rebuild a pickled backend against the current app."""
    return cls(*args, app=current_app._get_current_object(), **kwargs)


class _nulldict(dict):
    """A dict that never stores anything (the cache when it is disabled)."""

    def _ignore(self, *args: Any, **kwargs: Any) -> None:
        pass

    __setitem__ = update = setdefault = _ignore  # type: ignore[assignment]


class _LRUCache(dict):
    """A small bounded cache of ready result records."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().pop(key, None)
        super().__setitem__(key, value)
        while len(self) > self.limit:
            super().pop(next(iter(self)))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


def _is_request_ignore_result(request: Any) -> bool:
    return bool(request is not None and getattr(request, 'ignore_result', False))


class Backend:
    """Base class of result backends; see the module docstring."""

    READY_STATES = states.READY_STATES
    UNREADY_STATES = states.UNREADY_STATES
    EXCEPTION_STATES = states.EXCEPTION_STATES

    TimeoutError = TimeoutError

    #: Seconds to sleep between items when polling many results.
    subpolling_interval: float | None = None
    #: The backend can wait for many results at once (``get_many``).
    supports_native_join = False
    #: The store expires results itself (no ``celery.backend_cleanup`` needed).
    supports_autoexpire = False
    #: Results survive a restart of the store by default.
    persistent = True
    #: The store keeps payload bytes as they are, so ``result_compression``
    #: can apply (others ignore the setting with a warning).
    supports_result_compression = False
    #: Failed results can expire on their own schedule (``result_failure_expires``).
    supports_failure_expires = False
    retry_policy = {
        'max_retries': 20, 'interval_start': 0, 'interval_step': 1, 'interval_max': 1,
    }

    def __init__(self, app: Celery, serializer: str | None = None,
                 max_cached_results: int | None = None, accept: Any = None,
                 expires: Any = None, expires_type: Callable | None = None,
                 url: str | None = None, **kwargs: Any) -> None:
        self.app = app
        conf = app.conf
        self.serializer = serializer or conf.get('result_serializer') or 'json'
        try:
            (self.content_type, self.content_encoding,
             self.encoder) = serializer_registry._encoders[self.serializer]
        except KeyError:
            raise ImproperlyConfigured(
                f'Unknown result_serializer {self.serializer!r}; known: '
                f'{", ".join(sorted(serializer_registry._encoders))}') from None
        self.compression = self.prepare_compression(conf.get('result_compression'))
        cmax = max_cached_results or conf.get('result_cache_max', -1)
        self._cache: dict = _nulldict() if cmax == -1 else _LRUCache(cmax or 100)
        self.expires = self.prepare_expires(expires, expires_type)
        if accept is None:
            accept = conf.get('result_accept_content')
        if accept is None:
            accept = conf.get('accept_content') or ['json']
        self.accept = prepare_accept_content(accept)
        if conf.get('result_failure_expires') is not None and not self.supports_failure_expires:
            warnings.warn(f'The {type(self).__name__} result backend ignores '
                          f'result_failure_expires: failed results expire like others.',
                          UserWarning, stacklevel=2)
        self.always_retry = conf.get('result_backend_always_retry', False)
        self.max_sleep_between_retries_ms = conf.get(
            'result_backend_max_sleep_between_retries_ms', 10000)
        self.base_sleep_between_retries_ms = conf.get(
            'result_backend_base_sleep_between_retries_ms', 10)
        self.max_retries = conf.get('result_backend_max_retries', float('inf'))
        self.thread_safe = conf.get('result_backend_thread_safe', False)
        self._result_extended = bool(conf.get('result_extended', False))
        self.url = url

    # -- identity ------------------------------------------------------------

    def as_uri(self, include_password: bool = False) -> str:
        """The backend's URL, with the password masked unless asked for."""
        if include_password:
            return self.url or ''
        url = maybe_sanitize_url(self.url or '')
        return url[:-1] if url.endswith(':///') else url

    def __reduce__(self, args: tuple = (), kwargs: dict | None = None) -> tuple:
        kwargs = dict(kwargs or {})
        kwargs.setdefault('url', self.url)
        return unpickle_backend, (self.__class__, args, kwargs)

    # -- worker-facing calls ---------------------------------------------------

    def mark_as_started(self, task_id: str, **meta: Any) -> Any:
        """Record that the task started (``meta`` becomes the result)."""
        return self.store_result(task_id, meta, states.STARTED)

    def mark_as_done(self, task_id: str, result: Any, request: Any = None,
                     store_result: bool = True, state: str = states.SUCCESS) -> None:
        """Record the task's return value; count it as a chord part."""
        if store_result and not _is_request_ignore_result(request):
            self.store_result(task_id, result, state, request=request)
        if request is not None and request.chord:
            self.on_chord_part_return(request, state, result)

    def mark_as_failure(self, task_id: str, exc: BaseException, traceback: str | None = None,
                        request: Any = None, store_result: bool = True,
                        call_errbacks: bool = True, state: str = states.FAILURE) -> None:
        """Record the task's exception; fail the rest of its chain; call errbacks."""
        if store_result:
            self.store_result(task_id, exc, state, traceback=traceback, request=request)
        if request is None:
            return
        if request.chord:
            self.on_chord_part_return(request, state, exc)
        self._fail_chain(getattr(request, 'chain', None), exc, traceback,
                         store_result=store_result, state=state)
        if call_errbacks and request.errbacks:
            self._call_task_errbacks(request, exc, traceback)

    def _fail_chain(self, chain: Any, exc: BaseException, traceback: str | None = None,
                    store_result: bool = True, state: str = states.FAILURE) -> None:
        """Fail the steps chained after a failed task, so nobody waits on them."""
        _failures.fail_chain(self, chain, exc, traceback, store_result, state)

    def _call_task_errbacks(self, request: Any, exc: BaseException,
                            traceback: str | None) -> None:
        """Call the errbacks linked to the failed task of ``request``."""
        _failures.call_task_errbacks(self, request, exc, traceback)

    def mark_as_revoked(self, task_id: str, reason: str = '', request: Any = None,
                        store_result: bool = True, state: str = states.REVOKED) -> None:
        """Record that the task was revoked."""
        exc = TaskRevokedError(reason)
        if store_result:
            self.store_result(task_id, exc, state, traceback=None, request=request)
        if request is not None and request.chord:
            self.on_chord_part_return(request, state, exc)

    def mark_as_retry(self, task_id: str, exc: BaseException, traceback: str | None = None,
                      request: Any = None, store_result: bool = True,
                      state: str = states.RETRY) -> Any:
        """Record that the task will be retried (the exception is the result)."""
        return self.store_result(task_id, exc, state, traceback=traceback, request=request)

    def chord_error_from_stack(self, callback: Any, exc: BaseException | None = None) -> Any:
        """Fail the chord body ``callback`` with ``exc``, calling its errbacks."""
        return _failures.chord_error_from_stack(self, callback, exc)

    def fail_from_current_stack(self, task_id: str, exc: BaseException | None = None,
                                request: Any = None) -> Any:
        """Mark ``task_id`` failed with the exception being handled (or ``exc``)."""
        return _failures.fail_from_current_stack(self, task_id, exc, request)

    # -- encoding --------------------------------------------------------------

    def prepare_exception(self, exc: BaseException, serializer: str | None = None) -> Any:
        """Return ``exc`` in a form the serializer can carry."""
        serializer = self.serializer if serializer is None else serializer
        if serializer in EXCEPTION_ABLE_CODECS:
            return get_pickleable_exception(exc)
        exc_type = type(exc)
        return {
            'exc_type': getattr(exc_type, '__qualname__', exc_type.__name__),
            'exc_message': ensure_serializable(exc.args, self.encode),
            'exc_module': exc_type.__module__,
        }

    def exception_to_python(self, exc: Any) -> BaseException | None:
        """Rebuild an exception from its stored form.

        Classes are looked up only among modules already imported; unknown
        ones are replaced by a generated subclass of :exc:`Exception` with
        the same name, so reading a record never imports code.
        """
        if not exc:
            return None
        if isinstance(exc, BaseException):
            if self.serializer in EXCEPTION_ABLE_CODECS:
                exc = get_pickled_exception(exc)
            return exc
        return exception_from_dict(exc)

    def prepare_value(self, result: Any) -> Any:
        """Turn result handles into their tuple form for storage."""
        if result is not None and isinstance(result, ResultBase):
            return result.as_tuple()
        return result

    def encode(self, data: Any) -> Any:
        """Serialize ``data`` with the result serializer (and compress it)."""
        payload = dumps(data, serializer=self.serializer)[2]
        if self.compression:
            payload = compress_payload(payload, self.compression)
        return payload

    def decode(self, payload: Any) -> Any:
        """Deserialize ``payload`` (only accepted content types).

        Compressed payloads are recognised by their marker, whatever this
        backend's own ``result_compression`` is.
        """
        if payload is None:
            return None
        return loads(decompress_payload(payload), content_type=self.content_type,
                     content_encoding=self.content_encoding, accept=self.accept)

    def prepare_compression(self, method: str | None) -> str | None:
        """The compression to store records with (None: uncompressed)."""
        if not method:
            return None
        if not self.supports_result_compression:
            warnings.warn(f'The {type(self).__name__} result backend cannot store '
                          f'compressed records: result_compression is ignored.',
                          UserWarning, stacklevel=3)
            return None
        try:
            get_compression_encoder(method)
        except KeyError:
            raise ImproperlyConfigured(
                f'Unknown result_compression {method!r}; known: '
                f'{", ".join(sorted(compression_encoders()))}') from None
        return method

    def meta_from_decoded(self, meta: dict) -> dict:
        """Rebuild the exception of a decoded record in an exception state."""
        if meta['status'] in self.EXCEPTION_STATES:
            meta['result'] = self.exception_to_python(meta['result'])
        return meta

    def decode_result(self, payload: Any) -> dict:
        """Decode a stored record and rebuild its exception."""
        return self.meta_from_decoded(self.decode(payload))

    def _decode_record(self, payload: Any, task_id: Any) -> dict:
        # decode_result with a clear error for corrupt or foreign records.
        try:
            meta = self.decode(payload)
        except Exception as exc:  # noqa: BLE001 - decoder errors vary
            raise BackendGetMetaError(
                E_CORRUPT.format(_text(task_id), f'{type(exc).__name__}: {exc}'),
                task_id=_text(task_id)) from exc
        if not isinstance(meta, dict) or 'status' not in meta:
            raise BackendGetMetaError(
                E_CORRUPT.format(_text(task_id), 'not a Celery result record'),
                task_id=_text(task_id))
        meta.setdefault('result', None)
        try:
            return self.meta_from_decoded(meta)
        except (TypeError, ValueError) as exc:
            raise BackendGetMetaError(
                E_CORRUPT.format(_text(task_id), exc), task_id=_text(task_id)) from exc

    def encode_result(self, result: Any, state: str) -> Any:
        """Prepare a task's value (or exception) for storage."""
        if state in self.EXCEPTION_STATES and isinstance(result, BaseException):
            return self.prepare_exception(result)
        return self.prepare_value(result)

    def prepare_expires(self, value: Any, type: Callable | None = None) -> Any:
        """Resolve ``expires`` (default ``result_expires``) to seconds."""
        if value is None:
            value = self.app.conf.get('result_expires')
        if isinstance(value, timedelta):
            value = value.total_seconds()
        if value is not None and type:
            return type(value)
        return value

    def prepare_persistent(self, enabled: bool | None = None) -> bool:
        """Resolve ``persistent`` (default ``result_persistent``)."""
        if enabled is not None:
            return enabled
        persistent = self.app.conf.get('result_persistent')
        return self.persistent if persistent is None else persistent

    # -- storing -------------------------------------------------------------

    def _get_result_meta(self, result: Any, state: str, traceback: str | None,
                         request: Any, format_date: bool = True,
                         encode: bool = False) -> dict:
        if state in self.READY_STATES:
            date_done: Any = self.app.now()
            if format_date:
                date_done = date_done.isoformat()
        else:
            date_done = None
        meta = {
            'status': state,
            'result': result,
            'traceback': traceback,
            'children': self.current_task_children(request),
            'date_done': date_done,
        }
        if request is not None:
            if getattr(request, 'group', None):
                meta['group_id'] = request.group
            if getattr(request, 'parent_id', None):
                meta['parent_id'] = request.parent_id
            if self._result_extended:
                meta.update(self._extended_meta(request, encode))
        return meta

    def _extended_meta(self, request: Any, encode: bool) -> dict:
        delivery_info = getattr(request, 'delivery_info', None)
        extra = {
            'name': getattr(request, 'task', None),
            'args': getattr(request, 'args', None),
            'kwargs': getattr(request, 'kwargs', None),
            'worker': getattr(request, 'hostname', None),
            'retries': getattr(request, 'retries', None),
            'queue': delivery_info.get('routing_key') if delivery_info else None,
        }
        stamps = getattr(request, 'stamps', None)
        if stamps:
            stamped = request.stamped_headers or ()
            extra['stamped_headers'] = request.stamped_headers
            extra.update({k: v for k, v in stamps.items() if k in stamped})
        if encode:
            for field in ('args', 'kwargs'):
                value = self.encode(extra[field])
                extra[field] = value.encode('utf-8') if isinstance(value, str) else value
        return extra

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _retry_sleep(self, retries: int) -> None:
        self._sleep(get_exponential_backoff_interval(
            self.base_sleep_between_retries_ms, retries,
            self.max_sleep_between_retries_ms, True) / 1000)

    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        """True if ``exc`` is a transient store error worth retrying."""
        return False

    def store_result(self, task_id: str, result: Any, state: str,
                     traceback: str | None = None, request: Any = None,
                     **kwargs: Any) -> Any:
        """Store the task's state and result (retried when configured)."""
        result = self.encode_result(result, state)
        self._retrying_store(self._store_result, task_id, state,
                             (task_id, result, state, traceback), dict(kwargs, request=request))
        return result

    def _retrying_store(self, fun: Callable, task_id: str, state: str,
                        args: tuple, kwargs: dict) -> Any:
        # ``fun(*args, **kwargs)``, retried on transient errors when
        # ``result_backend_always_retry`` is set (the store_result policy).
        retries = 0
        while True:
            try:
                return fun(*args, **kwargs)
            except Exception as exc:
                if not (self.always_retry and self.exception_safe_to_retry(exc)):
                    raise
                if retries >= self.max_retries:
                    raise_with_context(BackendStoreError(
                        'failed to store result on the backend',
                        task_id=task_id, state=state))
                retries += 1
                self._retry_sleep(retries)

    def _store_result(self, task_id: str, result: Any, state: str,
                      traceback: str | None = None, request: Any = None,
                      **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'{type(self).__name__} does not implement _store_result')

    def forget(self, task_id: str) -> None:
        """Delete the stored result of ``task_id``."""
        self._cache.pop(task_id, None)
        self._forget(task_id)

    def _forget(self, task_id: str) -> None:
        raise NotImplementedError(f'{type(self).__name__} does not implement forget')

    # -- reading ---------------------------------------------------------------

    def get_state(self, task_id: str) -> str:
        return self.get_task_meta(task_id)['status']

    get_status = get_state

    def get_traceback(self, task_id: str) -> str | None:
        return self.get_task_meta(task_id).get('traceback')

    def get_result(self, task_id: str) -> Any:
        return self.get_task_meta(task_id).get('result')

    def get_children(self, task_id: str) -> list | None:
        return self.get_task_meta(task_id).get('children')

    def _ensure_not_eager(self) -> None:
        conf = self.app.conf
        if conf.get('task_always_eager') and not conf.get('task_store_eager_result'):
            warnings.warn(
                'Results are not stored when task_always_eager is enabled '
                '(unless task_store_eager_result is): this lookup will not find them.',
                RuntimeWarning, stacklevel=3)

    def get_task_meta(self, task_id: str, cache: bool = True) -> dict:
        """Return the stored record of ``task_id`` (PENDING if there is none)."""
        self._ensure_not_eager()
        if cache:
            try:
                return self._cache[task_id]
            except KeyError:
                pass
        retries = 0
        while True:
            try:
                meta = self._get_task_meta_for(task_id)
                break
            except Exception as exc:
                if not (self.always_retry and self.exception_safe_to_retry(exc)):
                    raise
                if retries >= self.max_retries:
                    raise_with_context(BackendGetMetaError(
                        'failed to get meta', task_id=task_id))
                retries += 1
                self._retry_sleep(retries)
        if cache and meta.get('status') == states.SUCCESS:
            self._cache[task_id] = meta
        return meta

    def _get_task_meta_for(self, task_id: str) -> dict:
        raise NotImplementedError(
            f'{type(self).__name__} does not implement _get_task_meta_for')

    def task_result_exists(self, task_id: str) -> bool:
        """True if the backend holds a record for ``task_id``."""
        return self._get_task_meta_for(task_id)['status'] != states.PENDING

    def reload_task_result(self, task_id: str) -> None:
        """Fetch the record again even if it was cached."""
        self._cache[task_id] = self.get_task_meta(task_id, cache=False)

    def reload_group_result(self, group_id: str) -> None:
        self._cache[group_id] = self.get_group_meta(group_id, cache=False)

    def is_cached(self, task_id: str) -> bool:
        return task_id in self._cache

    def get_many(self, task_ids: Iterable[str], timeout: float | None = None,
                 interval: float = 0.5, no_ack: bool = True,
                 on_message: Callable | None = None, on_interval: Callable | None = None,
                 max_iterations: int | None = None,
                 READY_STATES: frozenset = states.READY_STATES) -> Iterator[tuple]:
        """Yield ``(task_id, meta)`` as each task becomes ready (by polling)."""
        interval = 0.5 if interval is None else interval
        ids = set(task_ids)
        started = time.monotonic()
        iterations = 0
        while ids:
            for task_id in list(ids):
                meta = self.get_task_meta(task_id)
                if meta['status'] in READY_STATES:
                    ids.discard(task_id)
                    if on_message is not None:
                        on_message(meta)
                    yield task_id, meta
            iterations += 1
            if not ids or (max_iterations and iterations >= max_iterations):
                break
            if timeout and time.monotonic() - started >= timeout:
                raise TimeoutError(f'Operation timed out ({timeout})')
            if on_interval:
                on_interval()
            time.sleep(interval)

    # -- groups --------------------------------------------------------------

    def get_group_meta(self, group_id: str, cache: bool = True) -> dict | None:
        self._ensure_not_eager()
        if cache:
            try:
                return self._cache[group_id]
            except KeyError:
                pass
        meta = self._restore_group(group_id)
        if cache and meta is not None:
            self._cache[group_id] = meta
        return meta

    def restore_group(self, group_id: str, cache: bool = True) -> GroupResult | None:
        """Return the saved :class:`GroupResult` of ``group_id`` (or None)."""
        meta = self.get_group_meta(group_id, cache=cache)
        if meta:
            return meta['result']
        return None

    def save_group(self, group_id: str, result: GroupResult) -> GroupResult:
        """Store ``result`` so it can be restored by id."""
        return self._save_group(group_id, result)

    def delete_group(self, group_id: str) -> None:
        self._cache.pop(group_id, None)
        return self._delete_group(group_id)

    def _save_group(self, group_id: str, result: GroupResult) -> GroupResult:
        raise NotImplementedError(f'{type(self).__name__} does not support groups')

    def _restore_group(self, group_id: str) -> dict | None:
        raise NotImplementedError(f'{type(self).__name__} does not support groups')

    def _delete_group(self, group_id: str) -> None:
        raise NotImplementedError(f'{type(self).__name__} does not support groups')

    # -- hooks ---------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete expired results (run daily by ``celery.backend_cleanup``)."""

    def process_cleanup(self) -> None:
        """Release per-task resources at the end of a task (worker side)."""

    def on_task_call(self, producer: Any, task_id: str) -> dict:
        """Called by the client just before it publishes task ``task_id``."""
        return {}

    # -- chords ----------------------------------------------------------------

    def add_to_chord(self, chord_id: str, result: Any) -> None:
        raise NotImplementedError(f'{type(self).__name__} does not support add_to_chord')

    def on_chord_part_return(self, request: Any, state: str, result: Any,
                             **kwargs: Any) -> None:
        """Count one finished task of a chord header (no-op here)."""

    def set_chord_size(self, group_id: str, chord_size: int) -> None:
        """Record how many header tasks the chord ``group_id`` waits for."""

    def ensure_chords_allowed(self) -> None:
        """Raise if this backend cannot run chords."""

    def apply_chord(self, header_result_args: tuple, body: Any, **kwargs: Any) -> None:
        """Prepare the chord; by default poll for it with ``celery.chord_unlock``."""
        self.ensure_chords_allowed()
        header_result = self.app.GroupResult(*header_result_args)
        self.fallback_chord_unlock(header_result, body, **kwargs)

    def fallback_chord_unlock(self, header_result: GroupResult, body: Any,
                              countdown: float = 1, **kwargs: Any) -> None:
        """Send ``celery.chord_unlock``, which polls the header and runs the body."""
        kwargs['result'] = [r.as_tuple() for r in header_result]
        try:
            body_type = getattr(body, 'type', None)
        except NotRegistered:
            body_type = None
        queue = body.options.get('queue', getattr(body_type, 'queue', None))
        if queue is None:
            route = self.app.amqp.router.route(dict(body.options), body.name)
            queue = getattr(route.get('queue'), 'name', route.get('queue'))
        priority = body.options.get('priority', getattr(body_type, 'priority', 0))
        self.app.tasks['celery.chord_unlock'].apply_async(
            (header_result.id, body), kwargs,
            countdown=countdown, queue=queue, priority=priority)

    def current_task_children(self, request: Any = None) -> list | None:
        """The tuple form of the results the current task sent."""
        request = request or getattr(get_current_task(), 'request', None)
        if request is not None:
            return [r.as_tuple() for r in getattr(request, 'children', None) or ()]
        return None


class SyncBackendMixin:
    """Waiting for results by polling the store."""

    def iter_native(self, result: ResultSet, timeout: float | None = None,
                    interval: float = 0.5, no_ack: bool = True,
                    on_message: Callable | None = None,
                    on_interval: Callable | None = None) -> Iterator[tuple]:
        """Yield ``(id, meta)`` for each member of ``result`` as it becomes ready."""
        self._ensure_not_eager()
        task_ids = set()
        for node in result.results:
            if isinstance(node, ResultSet):
                yield node.id, node.results
            else:
                task_ids.add(node.id)
        yield from self.get_many(task_ids, timeout=timeout, interval=interval,
                                 no_ack=no_ack, on_message=on_message,
                                 on_interval=on_interval)

    def wait_for_pending(self, result: Any, timeout: float | None = None,
                         interval: float = 0.5, no_ack: bool = True,
                         on_message: Callable | None = None,
                         on_interval: Callable | None = None,
                         callback: Callable | None = None, propagate: bool = True) -> Any:
        """Wait for ``result`` and return its value (or raise its exception)."""
        self._ensure_not_eager()
        if on_message is not None:
            raise ImproperlyConfigured('Backend does not support on_message callback')
        meta = self.wait_for(result.id, timeout=timeout, interval=interval,
                             on_interval=on_interval, no_ack=no_ack)
        if meta:
            result._maybe_set_cache(meta)
            return result.maybe_throw(propagate=propagate, callback=callback)
        return None

    def wait_for(self, task_id: str, timeout: float | None = None, interval: float = 0.5,
                 no_ack: bool = True, on_interval: Callable | None = None) -> dict:
        """Poll until ``task_id`` is ready and return its record."""
        self._ensure_not_eager()
        deadline = None if not timeout else time.monotonic() + timeout
        while True:
            meta = self.get_task_meta(task_id)
            if meta['status'] in states.READY_STATES:
                return meta
            if on_interval:
                on_interval()
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError('The operation timed out.')
                time.sleep(min(interval, remaining))
            else:
                time.sleep(interval)

    @property
    def is_async(self) -> bool:
        """False: results are polled for, not pushed."""
        return False

    def add_pending_result(self, result: Any, weak: bool = False) -> Any:
        return result

    def remove_pending_result(self, result: Any) -> Any:
        return result


class BaseBackend(Backend, SyncBackendMixin):
    """A backend that waits by polling."""


class DisabledBackend(BaseBackend):
    """The backend used when no ``result_backend`` is configured."""

    def store_result(self, *args: Any, **kwargs: Any) -> None:
        pass

    def ensure_chords_allowed(self) -> None:
        raise NotImplementedError(E_CHORD_NO_BACKEND)

    def _is_disabled(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(E_NO_BACKEND)

    def as_uri(self, *args: Any, **kwargs: Any) -> str:
        return 'disabled://'

    get_state = get_status = get_result = get_traceback = _is_disabled
    get_task_meta = _get_task_meta_for = wait_for = get_many = _is_disabled
    wait_for_pending = iter_native = get_children = _is_disabled
    restore_group = save_group = delete_group = forget = _is_disabled


def _text(value: Any) -> str:
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value)


from celery.backends._keyvalue import (BaseKeyValueStoreBackend,  # noqa: E402
                                       KeyValueStoreBackend)

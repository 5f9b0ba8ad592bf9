"""Result stores built from key-value primitives.

A subclass of :class:`KeyValueStoreBackend` implements ``get``, ``mget``,
``set`` and ``delete`` (plus ``incr`` and ``expire`` to count chords
natively) and gets the rest: Celery's key names (``celery-task-meta-<id>``,
``celery-taskset-meta-<id>``, ``chord-unlock-<id>``), records, groups,
bulk waiting and chord counting.  Public through :mod:`celery.backends.base`.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable, Iterator

from kombu.utils.encoding import bytes_to_str, ensure_bytes

from celery import states
from celery.backends.base import Backend, SyncBackendMixin, _text
from celery.exceptions import BackendStoreError, ChordError, TimeoutError
from celery.result import GroupResult, allow_join_result, result_from_tuple

__all__ = ('BaseKeyValueStoreBackend', 'KeyValueStoreBackend')

logger = logging.getLogger('celery.backends')


class BaseKeyValueStoreBackend(Backend):
    """Backend logic over the primitives; see the module docstring."""

    key_t: Callable = ensure_bytes
    task_keyprefix: Any = 'celery-task-meta-'
    group_keyprefix: Any = 'celery-taskset-meta-'
    chord_keyprefix: Any = 'chord-unlock-'
    #: True when ``incr`` is implemented: chords are then counted in the
    #: store (``chord-unlock-<group>``) instead of polled by chord_unlock.
    implements_incr = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if hasattr(self.key_t, '__func__'):
            self.key_t = self.key_t.__func__  # type: ignore[attr-defined]
        super().__init__(*args, **kwargs)
        self._add_global_keyprefix()
        self._encode_prefixes()
        if self.implements_incr:
            self.apply_chord = self._apply_chord_incr  # type: ignore[method-assign]

    def _add_global_keyprefix(self) -> None:
        options = self.app.conf.get('result_backend_transport_options') or {}
        prefix = options.get('global_keyprefix')
        if prefix:
            if prefix[-1] not in ':_-.':
                prefix += '_'
            self.task_keyprefix = f'{prefix}{self.task_keyprefix}'
            self.group_keyprefix = f'{prefix}{self.group_keyprefix}'
            self.chord_keyprefix = f'{prefix}{self.chord_keyprefix}'

    def _encode_prefixes(self) -> None:
        self.task_keyprefix = self.key_t(self.task_keyprefix)
        self.group_keyprefix = self.key_t(self.group_keyprefix)
        self.chord_keyprefix = self.key_t(self.chord_keyprefix)

    # -- the primitives ----------------------------------------------------------

    def get(self, key: Any) -> Any:
        """Return the value stored at ``key`` (None if missing)."""
        raise NotImplementedError(f'{type(self).__name__} must implement get(key)')

    def mget(self, keys: list) -> Any:
        """Return the values of ``keys``: a list in order, or a mapping."""
        raise NotImplementedError(f'{type(self).__name__} must implement mget(keys)')

    def set(self, key: Any, value: Any) -> Any:
        """Store ``value`` at ``key`` (expiring it after ``self.expires``)."""
        raise NotImplementedError(f'{type(self).__name__} must implement set(key, value)')

    def delete(self, key: Any) -> Any:
        """Remove ``key``."""
        raise NotImplementedError(f'{type(self).__name__} must implement delete(key)')

    def incr(self, key: Any) -> int:
        """Atomically add one to the counter at ``key`` and return it."""
        raise NotImplementedError(f'{type(self).__name__} does not implement incr(key)')

    def expire(self, key: Any, value: Any) -> Any:
        """Make ``key`` expire after ``value`` seconds."""

    def _set_with_state(self, key: Any, value: Any, state: str) -> Any:
        return self.set(key, value)

    # -- keys ------------------------------------------------------------------

    def get_key_for_task(self, task_id: Any, key: Any = '') -> bytes:
        """``celery-task-meta-<task_id><key>``."""
        key_t = self.key_t
        return key_t('').join([self.task_keyprefix, key_t(task_id), key_t(key)])

    def get_key_for_group(self, group_id: Any, key: Any = '') -> bytes:
        """``celery-taskset-meta-<group_id><key>``."""
        key_t = self.key_t
        return key_t('').join([self.group_keyprefix, key_t(group_id), key_t(key)])

    def get_key_for_chord(self, group_id: Any, key: Any = '') -> bytes:
        """``chord-unlock-<group_id><key>``."""
        key_t = self.key_t
        return key_t('').join([self.chord_keyprefix, key_t(group_id), key_t(key)])

    def _strip_prefix(self, key: Any) -> str:
        for prefix in (self.task_keyprefix, self.group_keyprefix):
            if key.startswith(prefix):
                return bytes_to_str(key[len(prefix):])
        return bytes_to_str(key)

    # -- records ---------------------------------------------------------------

    def _get_task_meta_for(self, task_id: Any) -> dict:
        payload = self.get(self.get_key_for_task(task_id))
        if not payload:
            return {'status': states.PENDING, 'result': None}
        return self._decode_record(payload, task_id)

    def _store_result(self, task_id: Any, result: Any, state: str,
                      traceback: str | None = None, request: Any = None,
                      **kwargs: Any) -> Any:
        if state != states.SUCCESS:
            # A SUCCESS record is final: a late STARTED/RETRY/FAILURE from a
            # duplicate delivery must not overwrite it.  (Writing SUCCESS
            # needs no look-up: it wins either way.)
            current = self.get(self.get_key_for_task(task_id))
            if current:
                try:
                    current_state = self.decode(current).get('status')
                except Exception:  # noqa: BLE001 - a corrupt record is replaced
                    current_state = None
                if current_state == states.SUCCESS:
                    return result
        record = self._encode_record(task_id, result, state, traceback, request)
        try:
            self._set_with_state(self.get_key_for_task(task_id), record, state)
        except BackendStoreError as exc:
            raise BackendStoreError(str(exc), state=state, task_id=_text(task_id)) from exc
        return result

    def _encode_record(self, task_id: Any, result: Any, state: str,
                       traceback: str | None, request: Any) -> Any:
        """The stored form of a task's record (``result`` already encoded)."""
        meta = self._get_result_meta(result=result, state=state,
                                      traceback=traceback, request=request)
        meta['task_id'] = bytes_to_str(task_id)
        return self.encode(meta)

    def task_result_exists(self, task_id: Any) -> bool:
        """True if a record is stored for ``task_id`` (whatever its state)."""
        return bool(self.get(self.get_key_for_task(task_id)))

    def _forget(self, task_id: Any) -> None:
        self.delete(self.get_key_for_task(task_id))

    def _filter_ready(self, values: Iterable, READY_STATES: frozenset) -> Iterator[tuple]:
        for key, payload in values:
            if payload is not None:
                meta = self._decode_record(payload, key)
                if meta['status'] in READY_STATES:
                    yield key, meta

    def _mget_to_results(self, values: Any, keys: list,
                         READY_STATES: frozenset) -> dict:
        if hasattr(values, 'items'):
            # The client answered with a mapping keyed by the full keys.
            return {self._strip_prefix(k): v
                    for k, v in self._filter_ready(values.items(), READY_STATES)}
        return {bytes_to_str(keys[i]): v
                for i, v in self._filter_ready(enumerate(values), READY_STATES)}

    def get_many(self, task_ids: Iterable, timeout: float | None = None,
                 interval: float = 0.5, no_ack: bool = True,
                 on_message: Callable | None = None, on_interval: Callable | None = None,
                 max_iterations: int | None = None,
                 READY_STATES: frozenset = states.READY_STATES) -> Iterator[tuple]:
        """Yield ``(task_id, meta)`` as tasks become ready, one MGET per round."""
        interval = 0.5 if interval is None else interval
        ids = set(task_ids)
        cache = self._cache
        for task_id in list(ids):
            cached = cache.get(task_id)
            if cached is not None and cached['status'] in READY_STATES:
                ids.discard(task_id)
                yield bytes_to_str(task_id), cached
        started = time.monotonic()
        iterations = 0
        while ids:
            keys = list(ids)
            found = self._mget_to_results(
                self.mget([self.get_key_for_task(k) for k in keys]), keys, READY_STATES)
            cache.update(found)
            ids.difference_update({bytes_to_str(v) for v in found})
            for key, meta in found.items():
                if on_message is not None:
                    on_message(meta)
                yield bytes_to_str(key), meta
            iterations += 1
            if not ids or (max_iterations and iterations >= max_iterations):
                break
            if timeout and time.monotonic() - started >= timeout:
                raise TimeoutError(f'Operation timed out ({timeout})')
            if on_interval:
                on_interval()
            time.sleep(interval)

    # -- groups --------------------------------------------------------------

    def _save_group(self, group_id: Any, result: GroupResult) -> GroupResult:
        self._set_with_state(self.get_key_for_group(group_id),
                             self.encode({'result': result.as_tuple()}), states.SUCCESS)
        return result

    def _delete_group(self, group_id: Any) -> None:
        self.delete(self.get_key_for_group(group_id))

    def _restore_group(self, group_id: Any) -> dict | None:
        payload = self.get(self.get_key_for_group(group_id))
        if not payload:
            return None
        meta = self.decode(payload)
        try:
            meta['result'] = result_from_tuple(meta['result'], self.app)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f'Stored group {_text(group_id)} is not a Celery group record: {exc}'
            ) from None
        return meta

    # -- chords counted with incr ----------------------------------------------

    def _apply_chord_incr(self, header_result_args: tuple, body: Any,
                          **kwargs: Any) -> None:
        self.ensure_chords_allowed()
        header_result = self.app.GroupResult(*header_result_args)
        header_result.save(backend=self)

    def add_to_chord(self, group_id: Any, result: Any) -> None:
        """Grow the chord ``group_id`` by one task (``Task.add_to_chord``)."""
        if not self.implements_incr:
            super().add_to_chord(group_id, result)
        self.incr(self.get_key_for_chord(group_id, '.t'))
        deps = GroupResult.restore(group_id, backend=self, app=self.app)
        if deps is not None:
            deps.add(result)
            deps.save(backend=self)

    def on_chord_part_return(self, request: Any, state: str, result: Any,
                             **kwargs: Any) -> None:
        """Count a finished header task; the last one runs the chord body."""
        if not self.implements_incr:
            return
        from celery.canvas import maybe_signature
        app = self.app
        gid = request.group
        if not gid:
            return
        key = self.get_key_for_chord(gid)
        try:
            deps = GroupResult.restore(gid, backend=self, app=app)
        except Exception as exc:  # noqa: BLE001 - reported to the chord body
            callback = maybe_signature(request.chord, app=app)
            logger.exception('Chord %r raised: %r', gid, exc)
            return self.chord_error_from_stack(
                callback, ChordError(f'Cannot restore group: {exc!r}'))
        if deps is None:
            callback = maybe_signature(request.chord, app=app)
            logger.error('Chord %r: the group result no longer exists', gid)
            return self.chord_error_from_stack(
                callback, ChordError(f'GroupResult {gid} no longer exists'))
        count = self.incr(key)
        size = (request.chord or {}).get('chord_size')
        if size is None:
            size = len(deps)
        else:
            size += int(self.get(self.get_key_for_chord(gid, '.t')) or 0)
        if count > size:  # pragma: no cover - duplicate deliveries
            logger.warning('Chord counter incremented too many times for %r', gid)
        elif count == size:
            self._run_chord_body(request, deps, key)
        else:
            self.expire(key, self.expires)
        return None

    def _run_chord_body(self, request: Any, deps: GroupResult, key: Any) -> None:
        from celery.canvas import maybe_signature
        app = self.app
        gid = request.group
        callback = maybe_signature(request.chord, app=app)
        join = deps.join_native if deps.supports_native_join else deps.join
        try:
            with allow_join_result():
                values = join(timeout=app.conf.get('result_chord_join_timeout', 3.0),
                              propagate=True)
        except Exception as exc:  # noqa: BLE001 - reported to the chord body
            culprit = next(deps._failed_join_report(), None)
            reason = (f'Dependency {culprit.id} raised {exc!r}'
                      if culprit is not None else repr(exc))
            logger.exception('Chord %r raised: %r', gid, reason)
            self.chord_error_from_stack(callback, ChordError(reason))
        else:
            try:
                callback.delay(values)
            except Exception as exc:  # noqa: BLE001 - reported to the chord body
                logger.exception('Chord %r raised: %r', gid, exc)
                self.chord_error_from_stack(
                    callback, ChordError(f'Callback error: {exc!r}'))
        finally:
            deps.delete(backend=self)
            self.delete(key)
            self.delete(self.get_key_for_chord(gid, '.t'))


class KeyValueStoreBackend(BaseKeyValueStoreBackend, SyncBackendMixin):
    """A key-value store whose results are waited for by polling."""


for _cls in (BaseKeyValueStoreBackend, KeyValueStoreBackend):
    _cls.__module__ = 'celery.backends.base'
del _cls

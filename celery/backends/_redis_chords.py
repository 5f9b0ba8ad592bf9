"""Chord counting in Redis, compatible with Celery 5.7 workers.

Keys, for a chord whose header group is ``<gid>`` (``G`` below stands for
``celery-taskset-meta-<gid>``):

``G.j``  finished parts: a sorted set of ``[1, task_id, state, result]``
         scored by group index (or a list with ``result_chord_ordered: False``);
``G.d``  the ``"<task_id>:<index>"`` members already counted (a redelivered
         part is counted once);
``G.s``  the chord size (``set_chord_size``), ``G.t`` parts added later
         (``add_to_chord``);
``G.c``  who runs the body: a claim token while one worker does, then
         ``"done"`` so late duplicates change nothing.

A part is recorded, counted and (when it completes the count) the body
claimed in one Lua script, so two workers -- ours or Celery's -- finishing
the last parts at once run the body exactly once.  A successful part's
record is stored, published and counted in one pipeline (one round trip).
"""
from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from kombu.utils.objects import cached_property

from celery import states
from celery.exceptions import BackendStoreError, ChordError
from celery.result import GroupResult, allow_join_result

__all__ = ('RedisChordMixin',)

logger = logging.getLogger('celery.backends.redis')

#: KEYS: j t s d group c; ARGV: task_id entry ordered score expires
#: group_expires claim_expires token.  Returns {count, added, size, claimed}.
_PART_RETURN = """
local j, t, s, d, g, c = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local expires, group_expires = tonumber(ARGV[5]), tonumber(ARGV[6])
if redis.call('GET', c) == 'done' then
    return {-1, 0, 0, 0}
end
local member = ARGV[1] .. ':' .. ARGV[4]
if redis.call('SISMEMBER', d, member) == 0 then
    if ARGV[3] == '1' then
        redis.call('ZADD', j, ARGV[4], ARGV[2])
    else
        redis.call('RPUSH', j, ARGV[2])
    end
    redis.call('SADD', d, member)
end
local count
if ARGV[3] == '1' then
    count = redis.call('ZCOUNT', j, '-inf', '+inf')
else
    count = redis.call('LLEN', j)
end
if expires > 0 then
    for _, key in ipairs({j, t, s, d}) do
        redis.call('EXPIRE', key, expires)
    end
    if group_expires > 0 then
        redis.call('EXPIRE', g, group_expires)
    end
end
local added = redis.call('GET', t)
local size = redis.call('GET', s)
local claimed = 0
if size and count == tonumber(size) + tonumber(added or 0) then
    -- A retried call (same token) keeps the claim it may already hold.
    if redis.call('SET', c, ARGV[8], 'NX', 'EX', tonumber(ARGV[7]))
            or redis.call('GET', c) == ARGV[8] then
        claimed = 1
    end
end
return {count, added, size, claimed}
"""

#: KEYS: c j t s d; ARGV: token done_expires.  Drops the chord's keys and
#: marks it done, if we still hold the claim.
_CLEANUP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
local done_expires = tonumber(ARGV[2])
if done_expires and done_expires > 0 then
    redis.call('SET', KEYS[1], 'done', 'EX', done_expires)
end
return 1
"""

#: KEYS: c s; ARGV: token expires.  Keeps (or retakes) the claim while publishing.
_EXTEND_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    return redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
if not holder and redis.call('EXISTS', KEYS[2]) == 1 then
    if redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]), 'NX') then
        return 1
    end
end
return 0
"""


class RedisChordMixin:
    """Chord methods of :class:`~celery.backends.redis.RedisBackend`."""

    @property
    def chord_expires(self) -> int | None:
        """Seconds the chord keys live (``result_chord_expires``, else ``result_expires``)."""
        value = self.app.conf.get('result_chord_expires')
        if value is None:
            return self.expires
        return self.prepare_expires(value, type=int)

    @property
    def _chord_result_expires(self) -> int:
        # The saved header group is read by users too: keep it at least as
        # long as results (0: no expiry).
        expires = self.chord_expires
        if not expires or not self.expires:
            return 0
        return max(expires, self.expires)

    @cached_property
    def _chord_zset(self) -> bool:
        return self._transport_options.get('result_chord_ordered', True)

    @cached_property
    def _part_return_script(self) -> Any:
        return self.client.register_script(_PART_RETURN)

    @cached_property
    def _cleanup_script(self) -> Any:
        return self.client.register_script(_CLEANUP)

    @cached_property
    def _extend_claim_script(self) -> Any:
        return self.client.register_script(_EXTEND_CLAIM)

    def _set_chord_key(self, key: Any, value: Any) -> Any:
        if isinstance(value, (str, bytes)) and len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError('value too large for the Redis backend (max 512 MB)')
        return self.ensure(
            lambda k, v: self.client.set(k, v, ex=self.chord_expires or None), (key, value))

    def add_to_chord(self, group_id: str, result: Any) -> None:
        """Expect one more part (``Task.add_to_chord``)."""
        self.client.incr(self.get_key_for_group(group_id, '.t'), 1)

    def set_chord_size(self, group_id: str, chord_size: int) -> None:
        """Record the header size; a re-run of a frozen chord starts afresh."""
        self.ensure(self.client.delete, (self.get_key_for_group(group_id, '.c'),))
        self._set_chord_key(self.get_key_for_group(group_id, '.s'), chord_size)

    def apply_chord(self, header_result_args: tuple, body: Any, **kwargs: Any) -> None:
        # Simple headers are rebuilt from the '.j' entries; a header holding
        # groups is saved so the body gets values of the same shape.
        from celery.utils.functional import _regen
        if isinstance(header_result_args[1], _regen):
            return
        header = self.app.GroupResult(*header_result_args)
        if any(isinstance(node, GroupResult) for node in header.results):
            self._set_chord_key(self.get_key_for_group(header.id),
                                self.encode({'result': header.as_tuple()}))

    def _unpack_chord_result(self, entry: Any) -> Any:
        _, task_id, state, value = self.decode(entry)
        if state in states.EXCEPTION_STATES:
            value = self.exception_to_python(value)
        if state in states.PROPAGATE_STATES:
            error = ChordError(f'Dependency {task_id} raised {value!r}')
            if isinstance(value, BaseException):
                error.__cause__ = value
            raise error
        return value

    def _claim_for_publishing(self, initial: int) -> int:
        # How long the claim must survive callback.delay() retrying the broker.
        conf = self.app.conf
        timeout = conf.get('broker_connection_timeout')
        if timeout is None:
            return initial * 2
        policy = dict(conf.get('task_publish_retry_policy') or {})
        retries = int(policy.get('max_retries') or 3) if conf.get('task_publish_retry', True) else 0
        start = float(policy.get('interval_start', 0))
        step = float(policy.get('interval_step', 0.2))
        most = float(policy.get('interval_max', 1))
        waits = sum(min(start + step * n, most) for n in range(retries))
        timeout = max(0.0, float(timeout))
        return max(initial, math.ceil((retries + 1) * timeout + waits + max(timeout, 1)))

    def mark_as_done(self, task_id: str, result: Any, request: Any = None,
                     store_result: bool = True, state: str = states.SUCCESS) -> None:
        """Store a header task's result and count it in one round trip.

        The record is written and published, then the part recorded, in
        one pipeline -- the same commands, in the same order, as storing
        and then counting; other tasks take the general path.
        """
        if (store_result and state == states.SUCCESS and request is not None
                and request.chord and request.group and request.id
                and not getattr(request, 'ignore_result', False)
                and self._stores_plainly):
            encoded = self.encode_result(result, state)
            record = self._encode_record(task_id, encoded, state, None, request)
            if isinstance(record, (str, bytes)) and len(record) > self._MAX_STR_VALUE_SIZE:
                raise BackendStoreError('value too large for the Redis backend (max 512 MB)',
                                        state=state, task_id=task_id)
            part = self._chord_part(request, state, encoded)
            reply = self._retrying_store(
                self.ensure, task_id, state,
                (self._store_and_count, (self.get_key_for_task(task_id), record, part)), {})
            self._on_part_counted(request, part, reply)
            return
        super().mark_as_done(task_id, result, request, store_result, state)  # type: ignore[misc]

    @cached_property
    def _stores_plainly(self) -> bool:
        # A subclass that changes how records are stored keeps the general path.
        from celery.backends.base import BaseKeyValueStoreBackend
        from celery.backends.redis import RedisBackend
        cls = type(self)
        return (cls._store_result is BaseKeyValueStoreBackend._store_result
                and cls.set is RedisBackend.set and cls._set is RedisBackend._set
                and cls._set_with_state is RedisBackend._set_with_state)

    def _store_and_count(self, key: Any, record: Any, part: tuple) -> Any:
        # SET + PUBLISH + EVALSHA of the part script, one write, one read.
        keys, args = part[0], part[1]
        script = self._part_return_script
        with self.client.pipeline(transaction=False) as pipe:
            if self.expires:
                pipe.set(key, record, ex=self.expires)
            else:
                pipe.set(key, record)
            pipe.publish(key, record)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            stored, published, counted = pipe.execute(raise_on_error=False)
        for reply in (stored, published):
            if isinstance(reply, Exception):
                raise reply
        if isinstance(counted, self.redis.exceptions.NoScriptError):
            return script(keys=keys, args=args, client=self.client)  # loads it
        if isinstance(counted, Exception):
            raise counted
        return counted

    def _chord_part(self, request: Any, state: str, encoded: Any) -> tuple:
        """``(keys, args, token, claim_expires)`` of the part script for ``request``."""
        task_id, gid = request.id, request.group
        group_index = request.group_index
        if group_index is None:
            group_index = '+inf'
        key = self.get_key_for_group
        keys = [key(gid, '.j'), key(gid, '.t'), key(gid, '.s'), key(gid, '.d'),
                key(gid), key(gid, '.c')]
        entry = self.encode([1, task_id, state, encoded])
        join_timeout = self.app.conf.get('result_chord_join_timeout') or 5.0
        claim_expires = max(5, int(join_timeout * 2))
        token = uuid.uuid4().hex
        args = [task_id, entry, 1 if self._chord_zset else 0, group_index,
                self.chord_expires or 0, self._chord_result_expires, claim_expires, token]
        return keys, args, token, claim_expires

    def on_chord_part_return(self, request: Any, state: str, result: Any,
                             propagate: Any = None, **kwargs: Any) -> None:
        """Record a finished header task; the one completing the count runs the body."""
        if not request.group or not request.id:
            return
        part = self._chord_part(request, state, self.encode_result(result, state))
        reply = self._part_return_script(keys=part[0], args=part[1], client=self.client)
        self._on_part_counted(request, part, reply)

    def _on_part_counted(self, request: Any, part: tuple, reply: Any) -> None:
        # The script's reply: run the body if this part completed the chord.
        count, added, size, claimed = reply
        if count == -1 or not size:
            return
        total = int(size) + int(added or 0)
        if count != total or not claimed:
            return
        gid = request.group
        keys, _, token, claim_expires = part
        jkey, ckey, skey = keys[0], keys[5], keys[2]
        from celery.canvas import maybe_signature
        callback = maybe_signature(request.chord, app=self.app)
        try:
            values = self._collect_chord_values(gid, jkey, total)
            if not self._extend_claim_script(
                    keys=[ckey, skey],
                    args=[token, self._claim_for_publishing(claim_expires)],
                    client=self.client):
                logger.warning('Chord body for %r not sent: another worker took over', gid)
                return
            try:
                callback.delay(values)
            except Exception as exc:  # noqa: BLE001 - reported to the body
                logger.exception('Chord callback for %r raised: %r', gid, exc)
                self.chord_error_from_stack(callback, ChordError(f'Callback error: {exc!r}'))
            finally:
                if not self._cleanup_script(
                        keys=[ckey, jkey, keys[1], skey, keys[3]],
                        args=[token, int(max(claim_expires * 2, 300))], client=self.client):
                    logger.warning('Chord %r: claim lost before clean-up; '
                                   'its keys are left to expire', gid)
        except ChordError as exc:
            logger.exception('Chord %r raised: %r', gid, exc)
            try:
                self.chord_error_from_stack(callback, exc)
            finally:
                # A late copy of a header task must not fail the chord again.
                self.client.delete(skey)
        except Exception as exc:  # noqa: BLE001 - reported to the body
            logger.exception('Chord %r raised: %r', gid, exc)
            try:
                self.chord_error_from_stack(callback, ChordError(f'Join error: {exc!r}'))
            finally:
                self.client.delete(skey)

    def _collect_chord_values(self, gid: str, jkey: Any, total: int) -> list:
        header = GroupResult.restore(gid, backend=self, app=self.app)
        if header is not None:
            # A saved header has nested groups: join it to keep its shape.
            header.on_ready()
            join = header.join_native if header.supports_native_join else header.join
            with allow_join_result():
                return join(timeout=self.app.conf.get('result_chord_join_timeout', 3.0),
                            propagate=True)
        if self._chord_zset:
            entries = self.client.zrange(jkey, 0, -1)
        else:
            entries = self.client.lrange(jkey, 0, total)
        return [self._unpack_chord_result(entry) for entry in entries]

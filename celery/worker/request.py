"""One task message held by the worker: :class:`Request`.

A request is made for every task message the consumer accepts.  It knows
the message (to ack or reject it), when it may run (ETA, expiry, revoked
ids), sends it to the pool, and handles what the pool reports back:
accepted by a process, the result, a failure, a time limit, a lost process.

The message body is not decoded here: the pool child decodes it
(:func:`celery.app.trace.fast_trace_task`).  ``args``/``kwargs`` are decoded
lazily, only when someone asks (``inspect``, failure handling).

A message whose headers the worker cannot use (an id that is not a
string, a ``shadow`` that is not a name, a malformed ``timelimit``...)
raises :exc:`~celery.exceptions.InvalidTaskError` when the request is
made, naming the task id and the header, so the consumer logs it and
rejects the message before anything is reserved.

All methods run in the worker's event loop thread.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable
from weakref import ref

from billiard.common import TERM_SIGNAME
from billiard.einfo import ExceptionWithTraceback
from kombu.utils.encoding import safe_repr, safe_str
from kombu.utils.objects import cached_property

from celery import signals
from celery.app.task import Context
from celery.app.trace import fast_trace_task, trace_task_ret
from celery.exceptions import (Ignore, InvalidTaskError, Reject, Retry,
                               TaskRevokedError, Terminated,
                               TimeLimitExceeded, WorkerLostError)
from celery.platforms import signals as _signals
from celery.utils.log import get_logger
from celery.utils.nodenames import gethostname
from celery.utils.serialization import get_pickled_exception
from celery.utils.time import maybe_iso8601, maybe_make_aware
from celery.worker import state

__all__ = ('Request',)

logger = get_logger(__name__)
debug, info, warn, error = (logger.debug, logger.info, logger.warning, logger.error)

_does_info = False
_does_debug = False


def __optimize__() -> None:
    """Cache the logger's level (call again after logging is set up)."""
    global _does_debug, _does_info
    _does_debug = logger.isEnabledFor(logging.DEBUG)
    _does_info = logger.isEnabledFor(logging.INFO)


__optimize__()

_NO_TIME_LIMITS = (None, None)
_NONE = type(None)

#: Optional headers the worker reads, and the types they may have (or None).
#: A message breaking these is invalid: rejected before it is reserved.
_HEADER_TYPES = (
    ('root_id', str), ('parent_id', str), ('group', str), ('retries', int),
    ('group_index', int), ('stamps', dict), ('stamped_headers', (list, tuple)),
)
_STR = (str, _NONE)
_INT = (int, _NONE)


def _bad_header(task_id: str, field: str, value: Any, wanted: str) -> InvalidTaskError:
    return InvalidTaskError(
        f'invalid {field} header {safe_repr(value)[:200]} of task {task_id}: must be {wanted}')


def _check_header_types(task_id: str, request: dict) -> None:
    """Raise InvalidTaskError if an optional header has a type the worker can't use."""
    get = request.get
    group_index = get('group_index')
    if (isinstance(get('root_id'), _STR) and isinstance(get('parent_id'), _STR)
            and isinstance(get('group'), _STR) and isinstance(get('retries'), _INT)
            and (group_index is None or (isinstance(group_index, int) and group_index >= 0))
            and isinstance(get('stamps'), (dict, _NONE))
            and isinstance(get('stamped_headers'), (list, tuple, _NONE))):
        return  # the common case: one pass, no loop
    for field, types in _HEADER_TYPES:
        value = get(field)
        if value is not None and not isinstance(value, types):
            raise _bad_header(task_id, field, value,
                              getattr(types, '__name__', 'a list') + ' or null')
    raise _bad_header(task_id, 'group_index', group_index, 'a non-negative int or null')


def _time_limits(task_id: str, timelimit: Any) -> Any:
    """The ``timelimit`` header, checked: ``[hard, soft]``, each None or seconds >= 0."""
    if isinstance(timelimit, (list, tuple)) and len(timelimit) == 2:
        hard, soft = timelimit
        if ((hard is None or (type(hard) in (int, float) and hard >= 0))
                and (soft is None or (type(soft) in (int, float) and soft >= 0))):
            return timelimit
    raise _bad_header(task_id, 'timelimit', timelimit, '[hard, soft] seconds or null')


class Request:
    """A task request: one received task message.

    Arguments:
        message: the :class:`kombu.Message`.
        on_ack, on_reject: how to ack/reject (default: the message's own
            ``ack_log_error``/``reject_log_error``).
        hostname: the worker's node name.
        eventer: the event dispatcher, if events are on.
        app: the app.
        connection_errors: errors that mean the broker connection is gone.
        task: the task object (default: looked up by name).
        body: the body if already decoded (protocol 1), else the raw body.
        headers: the protocol 2 headers (default: the message's).
        decoded: true if ``body`` is decoded ``(args, kwargs, embed)``.
        utc: whether ETA/expires without time zone are in UTC.
    """

    acknowledged = False
    time_start: float | None = None
    worker_pid: int | None = None
    time_limits = _NO_TIME_LIMITS
    _already_revoked = False
    _already_cancelled = False
    _terminate_on_ack: Any = None
    _apply_result: Any = None
    _tzlocal: Any = None

    __slots__ = (
        '_app', '_type', 'name', 'id', '_root_id', '_parent_id', '_on_ack',
        '_body', '_hostname', '_eventer', '_connection_errors', '_task',
        '_eta', '_expires', '_request_dict', '_on_reject', '_utc',
        '_content_type', '_content_encoding', '_argsrepr', '_kwargsrepr',
        '_message', '_decoded', '_delivery_info', '_acker', '__weakref__', '__dict__',
    )

    def __init__(self, message: Any, on_ack: Callable | None = None,
                 hostname: str | None = None, eventer: Any = None,
                 app: Any = None, connection_errors: tuple | None = None,
                 request_dict: dict | None = None, task: Any = None,
                 on_reject: Callable | None = None, body: Any = None,
                 headers: dict | None = None, decoded: bool = False,
                 utc: bool = True, maybe_make_aware: Callable = maybe_make_aware,
                 maybe_iso8601: Callable = maybe_iso8601, acker: Any = None,
                 **opts: Any) -> None:
        self._message = message
        self._acker = acker
        request = self._request_dict = dict(message.headers if headers is None else headers)
        self._body = message.body if body is None else body
        self._app = app
        self._utc = utc
        self._decoded = decoded
        if decoded:
            self._content_type = self._content_encoding = None
        else:
            self._content_type = message.content_type
            self._content_encoding = message.content_encoding
        self.id = task_id = request['id']
        if not (task_id and isinstance(task_id, str)):
            raise InvalidTaskError(
                f'invalid task id {safe_repr(task_id)[:200]}: must be a non-empty string')
        self._type = self.name = request['task']
        shadow = request.get('shadow')
        if shadow:
            if not isinstance(shadow, str):
                raise _bad_header(task_id, 'shadow', shadow, 'a string')
            self.name = shadow
        self._root_id = request.get('root_id')
        self._parent_id = request.get('parent_id')
        timelimit = request.get('timelimit')
        if timelimit:
            self.time_limits = _time_limits(task_id, timelimit)
        _check_header_types(task_id, request)
        self._argsrepr = request.get('argsrepr', '')
        self._kwargsrepr = request.get('kwargsrepr', '')
        self._on_ack = on_ack
        self._on_reject = on_reject
        self._hostname = hostname or gethostname()
        self._eventer = eventer
        self._connection_errors = connection_errors or ()
        self._task = task or app.tasks[self._type]

        eta = request.get('eta')
        if eta is not None:
            try:
                eta = maybe_iso8601(eta)
            except (AttributeError, ValueError, TypeError) as exc:
                raise InvalidTaskError(f'invalid ETA value {eta!r} of task {task_id}: {exc}')
            self._eta = maybe_make_aware(eta, self.tzlocal)
        else:
            self._eta = None

        expires = request.get('expires')
        if expires is not None:
            try:
                expires = maybe_iso8601(expires)
            except (AttributeError, ValueError, TypeError) as exc:
                raise InvalidTaskError(
                    f'invalid expires value {expires!r} of task {task_id}: {exc}')
            self._expires = maybe_make_aware(expires, self.tzlocal)
        else:
            self._expires = None

        delivery_info = message.delivery_info or {}
        properties = message.properties or {}
        self._delivery_info = {
            'exchange': delivery_info.get('exchange'),
            'routing_key': delivery_info.get('routing_key'),
            'priority': properties.get('priority'),
            'redelivered': delivery_info.get('redelivered', False),
        }
        request.update({
            'properties': properties,
            'reply_to': properties.get('reply_to'),
            'correlation_id': properties.get('correlation_id'),
            'hostname': self._hostname,
            'delivery_info': self._delivery_info,
        })
        if decoded:
            request['args'], request['kwargs'], _ = self._body

    # -- attributes ----------------------------------------------------------------

    @property
    def delivery_info(self) -> dict:
        return self._delivery_info

    @property
    def message(self) -> Any:
        return self._message

    @property
    def request_dict(self) -> dict:
        return self._request_dict

    @property
    def body(self) -> Any:
        return self._body

    @property
    def app(self) -> Any:
        return self._app

    @property
    def utc(self) -> bool:
        return self._utc

    @property
    def content_type(self) -> str | None:
        return self._content_type

    @property
    def content_encoding(self) -> str | None:
        return self._content_encoding

    @property
    def type(self) -> str:
        return self._type

    @property
    def root_id(self) -> str | None:
        return self._root_id

    @property
    def parent_id(self) -> str | None:
        return self._parent_id

    @property
    def argsrepr(self) -> str:
        return self._argsrepr

    @property
    def kwargsrepr(self) -> str:
        return self._kwargsrepr

    @property
    def on_ack(self) -> Callable | None:
        return self._on_ack

    @property
    def on_reject(self) -> Callable | None:
        return self._on_reject

    @on_reject.setter
    def on_reject(self, value: Callable) -> None:
        self._on_reject = value

    @property
    def hostname(self) -> str:
        return self._hostname

    @property
    def eventer(self) -> Any:
        return self._eventer

    @eventer.setter
    def eventer(self, eventer: Any) -> None:
        self._eventer = eventer

    @property
    def connection_errors(self) -> tuple:
        return self._connection_errors

    @property
    def task(self) -> Any:
        return self._task

    @property
    def eta(self) -> datetime | None:
        return self._eta

    @property
    def expires(self) -> datetime | None:
        return self._expires

    @expires.setter
    def expires(self, value: datetime | None) -> None:
        self._expires = value

    @property
    def tzlocal(self) -> Any:
        if self._tzlocal is None:
            self._tzlocal = self._app.conf.timezone
        return self._tzlocal

    @property
    def store_errors(self) -> bool:
        task = self._task
        return not task.ignore_result or bool(task.store_errors_even_if_ignored)

    @property
    def task_id(self) -> str:
        return self.id

    @task_id.setter
    def task_id(self, value: str) -> None:
        self.id = value

    @property
    def task_name(self) -> str:
        return self.name

    @task_name.setter
    def task_name(self, value: str) -> None:
        self.name = value

    @property
    def reply_to(self) -> str | None:
        return self._request_dict['reply_to']

    @property
    def replaced_task_nesting(self) -> int:
        return self._request_dict.get('replaced_task_nesting', 0)

    @property
    def correlation_id(self) -> str | None:
        return self._request_dict['correlation_id']

    @property
    def stamped_headers(self) -> list:
        return self._request_dict.get('stamped_headers') or []

    @property
    def stamps(self) -> dict:
        stamps = self._request_dict.get('stamps') or {}
        return {header: stamps.get(header) for header in self.stamped_headers}

    @cached_property
    def _payload(self) -> tuple:
        """The decoded ``(args, kwargs, embed)`` (decoded on first use)."""
        if self._decoded:
            return self._body
        payload = self._message.decode()
        if isinstance(payload, dict):  # a protocol 1 body behind v2 headers
            return (payload.get('args') or (), payload.get('kwargs') or {},
                    {k: payload.get(k) for k in ('callbacks', 'errbacks', 'chain', 'chord')})
        return payload

    @property
    def args(self) -> Any:
        try:
            return self._payload[0]
        except Exception:  # undecodable body: show what we know
            return self._argsrepr

    @property
    def kwargs(self) -> Any:
        try:
            return self._payload[1]
        except Exception:
            return self._kwargsrepr

    def _embed(self) -> dict:
        try:
            embed = self._payload[2]
        except Exception:
            return {}
        return embed if isinstance(embed, dict) else {}

    @property
    def chord(self) -> Any:
        return self._embed().get('chord')

    @property
    def errbacks(self) -> Any:
        return self._embed().get('errbacks')

    @property
    def group(self) -> str | None:
        return self._request_dict.get('group')

    @property
    def group_index(self) -> int | None:
        return self._request_dict.get('group_index')

    @cached_property
    def _context(self) -> Context:
        """The request as the task would see it (for backend calls here)."""
        request = dict(self._request_dict)
        try:
            args, kwargs, embed = self._payload
        except Exception:
            args, kwargs, embed = (), {}, {}
        if isinstance(embed, dict):
            request.update(embed)
        request.setdefault('args', args)
        request.setdefault('kwargs', kwargs)
        return Context(request)

    # -- running -------------------------------------------------------------------

    def execute_using_pool(self, pool: Any, **kwargs: Any) -> Any:
        """Send the task to the pool; raise TaskRevokedError if it was revoked."""
        task = self._task
        if self._expires is not None or self.id in state.revoked or self._already_revoked:
            if self.revoked():
                raise TaskRevokedError(self.id)
        time_limit, soft_time_limit = self.time_limits
        # early ack: the pool starts it now if a process is idle (ack at once),
        # else when a process takes it (on_accepted)
        ack_now = not task.acks_late and pool.starts_now()
        if pool.in_child_process or getattr(self._app, 'use_fast_trace_task', False):
            trace, trace_kwargs = fast_trace_task, None
        else:  # in this process, maybe next to other apps: name ours
            trace, trace_kwargs = trace_task_ret, {'app': self._app}
        result = pool.apply_async(
            trace,
            args=(self._type, self.id, self._request_dict, self._body,
                  self._content_type, self._content_encoding),
            kwargs=trace_kwargs,
            accept_callback=self.on_accepted,
            timeout_callback=self.on_timeout,
            callback=self.on_success,
            error_callback=self.on_failure,
            soft_timeout=soft_time_limit or task.soft_time_limit,
            timeout=time_limit or task.time_limit,
            correlation_id=self.id,
        )
        if result is not None:
            self._apply_result = ref(result)
            if ack_now:
                self.acknowledge()
        return result

    def execute(self, loglevel: int | None = None, logfile: str | None = None) -> Any:
        """Run the task here (no pool), acknowledging as the task asks."""
        if self.revoked():
            return None
        if not self._task.acks_late:
            self.acknowledge()
        request = dict(self._request_dict)
        args, kwargs, embed = self._payload
        request.update({'loglevel': loglevel, 'logfile': logfile, 'is_eager': False},
                       **(embed or {}))
        from celery.app.trace import trace_task
        retval, I, _, _ = trace_task(self._task, self.id, args, kwargs, request,
                                     hostname=self._hostname, loader=self._app.loader,
                                     app=self._app)
        if I:
            self.reject(requeue=False)
        else:
            self.acknowledge()
        return retval

    def maybe_expire(self) -> bool:
        """Mark the task revoked if it has expired; return true if it has."""
        now = datetime.now(self._expires.tzinfo)
        if now > self._expires:
            state.revoked.add(self.id)
            return True
        return False

    def terminate(self, pool: Any, signal: Any = None) -> None:
        """Kill the process running this task (or do so once it starts)."""
        signal = _signals.signum(signal or TERM_SIGNAME)
        if self.time_start:
            pool.terminate_job(self.worker_pid, signal)
            self._announce_revoked('terminated', True, signal, False)
        else:
            self._terminate_on_ack = pool, signal
        if self._apply_result is not None:
            obj = self._apply_result()
            if obj is not None:
                obj.terminate(signal)

    def cancel(self, pool: Any, signal: Any = None) -> None:
        """Kill the process running this task without revoking it."""
        signal = _signals.signum(signal or TERM_SIGNAME)
        if self.time_start:
            pool.terminate_job(self.worker_pid, signal)
            self._announce_cancelled()
        if self._apply_result is not None:
            obj = self._apply_result()
            if obj is not None:
                obj.terminate(signal)

    def _announce_cancelled(self) -> None:
        state.task_ready(self)
        self.send_event('task-cancelled')
        reason = 'cancelled by Celery'
        exc = Retry(message=reason)
        self._task.backend.mark_as_retry(self.id, exc, request=self._context)
        self._task.on_retry(exc, self.id, self.args, self.kwargs, None)
        self._already_cancelled = True
        if signals.task_retry.receivers:
            signals.task_retry.send(sender=self._task, request=self._context,
                                    reason=reason, einfo=None)

    def _announce_revoked(self, reason: str, terminated: bool, signum: Any,
                          expired: bool) -> None:
        state.task_ready(self)
        self.send_event('task-revoked', terminated=terminated, signum=signum,
                        expired=expired)
        self._task.backend.mark_as_revoked(self.id, reason, request=self._context,
                                           store_result=self.store_errors)
        self.acknowledge()
        self._already_revoked = True
        if signals.task_revoked.receivers:
            signals.task_revoked.send(sender=self._task, request=self._context,
                                      terminated=terminated, signum=signum,
                                      expired=expired)

    def revoked(self) -> bool:
        """If revoked (or expired): log, record, ack; return true."""
        if self._already_revoked:
            return True
        expired = False
        if self._expires is not None:
            expired = self.maybe_expire()
        revoked_by_id = self.id in state.revoked
        revoking_header = None
        if not revoked_by_id and state.revoked_stamps and self.stamped_headers:
            stamps = self.stamps
            for header, values in state.revoked_stamps.items():
                value = stamps.get(header)
                wanted = values if isinstance(values, (list, tuple, set)) else [values]
                if value is not None and (value in wanted or (
                        isinstance(value, (list, tuple)) and set(value) & set(wanted))):
                    revoking_header = {header: value}
                    break
        if expired or revoked_by_id or revoking_header:
            msg = 'Discarding revoked task: %s[%s]'
            if revoking_header:
                msg += f' (revoked by header: {revoking_header})'
            info(msg, self.name, self.id)
            self._announce_revoked('expired' if expired else 'revoked', False, None, expired)
            return True
        return False

    def send_event(self, type: str, **fields: Any) -> None:
        eventer = self._eventer
        if eventer is not None and eventer.enabled and self._task.send_events:
            eventer.send(type, uuid=self.id, **fields)

    # -- pool callbacks ------------------------------------------------------------

    def on_accepted(self, pid: int, time_accepted: float) -> None:
        """A pool process started the task."""
        state.task_accepted(self)
        self.time_start = time_accepted
        self.worker_pid = pid
        if not self._task.acks_late:
            self.acknowledge()
        if self._eventer is not None:
            self.send_event('task-started')
        if _does_debug:
            debug('Task accepted: %s[%s] pid:%r', self.name, self.id, pid)
        if self._terminate_on_ack is not None:
            self.terminate(*self._terminate_on_ack)

    def on_timeout(self, soft: bool, timeout: float) -> None:
        """A time limit was reached."""
        if soft:
            warn('Soft time limit (%ss) exceeded for %s[%s]', timeout, self.name, self.id)
            return
        error('Hard time limit (%ss) exceeded for %s[%s]', timeout, self.name, self.id)
        exc = TimeLimitExceeded(timeout)
        self._task.backend.mark_as_failure(self.id, exc, request=self._context,
                                           store_result=self.store_errors)
        if self._task.acks_late and self._acks_on('timeout'):
            self.acknowledge()

    def on_success(self, failed__retval__runtime: tuple, **kwargs: Any) -> None:
        """The pool returned (the task may still have failed)."""
        failed, retval, runtime = failed__retval__runtime
        if failed:
            exc = retval.exception
            if isinstance(exc, ExceptionWithTraceback):
                exc = exc.exc
            if isinstance(exc, (SystemExit, KeyboardInterrupt)):
                raise exc
            return self.on_failure(retval, return_ok=True)
        state.task_ready(self, successful=True)
        if self._task.acks_late:
            self.acknowledge()
        if self._eventer is not None:
            self.send_event('task-succeeded', result=retval, runtime=runtime)

    def on_retry(self, exc_info: Any) -> None:
        """The task asked to be retried (it was sent again already)."""
        state.task_ready(self)
        if self._task.acks_late:
            self.acknowledge()
        if self._eventer is not None:
            exc = exc_info.exception
            self.send_event('task-retried',
                            exception=safe_repr(get_pickled_exception(getattr(exc, 'exc', exc))),
                            traceback=safe_str(exc_info.traceback))

    def on_failure(self, exc_info: Any, send_failed_event: bool = True,
                   return_ok: bool = False) -> None:
        """The task failed, or the pool could not run it (``return_ok`` false)."""
        state.task_ready(self)
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, Terminated):
            if not self._already_cancelled and not self._already_revoked:
                self._announce_revoked('terminated', True, str(exc), False)
            return
        if isinstance(exc, MemoryError):
            raise MemoryError(f'Process got: {exc}')
        if isinstance(exc, Reject):
            return self.reject(requeue=exc.requeue)
        if isinstance(exc, Ignore):
            return self.acknowledge()
        if isinstance(exc, Retry):
            return self.on_retry(exc_info)
        if isinstance(exc, InvalidTaskError) and exc_info.internal and return_ok:
            # the pool process could not decode the body
            return self._on_invalid_body(exc)

        requeue = False
        is_worker_lost = isinstance(exc, WorkerLostError)
        if self._task.acks_late:
            if self._task.reject_on_worker_lost and is_worker_lost:
                requeue = True
                self.reject(requeue=True)
                send_failed_event = False
            elif self._acks_on('failure'):
                self.acknowledge()
            else:
                self.reject(requeue=False)

        if not requeue and (is_worker_lost or not return_ok):
            # the process died before it could store the failure itself
            self._task.backend.mark_as_failure(self.id, exc, request=self._context,
                                               store_result=self.store_errors)
            if signals.task_failure.receivers:
                signals.task_failure.send(sender=self._task, task_id=self.id, exception=exc,
                                          args=self.args, kwargs=self.kwargs,
                                          traceback=exc_info.traceback, einfo=exc_info)
        if send_failed_event and self._eventer is not None:
            self.send_event('task-failed',
                            exception=safe_repr(get_pickled_exception(exc_info.exception)),
                            traceback=exc_info.traceback)
        if not return_ok:
            error('Task handler raised error: %s[%s]: %r', self.name, self.id, exc,
                  exc_info=exc_info.exc_info)

    def _on_invalid_body(self, problem: Any) -> None:
        """The body is not a task message body: log it, and drop the message."""
        error('Received invalid task message %s[%s]: %s', self.name, self.id, problem)
        self.reject(requeue=False)  # no-op if it was acked when it started

    def _acks_on(self, what: str) -> bool:
        """Whether a late-acked task is acked on ``'failure'`` or ``'timeout'``."""
        value = self._app.conf.get(f'task_acks_on_{what}')
        if value is None:
            value = self._task.acks_on_failure_or_timeout
        return bool(value)

    # -- the message -----------------------------------------------------------------

    def acknowledge(self) -> None:
        """Ack the message (once)."""
        if not self.acknowledged:
            if self._on_ack is not None:
                self._on_ack(logger, self._connection_errors)
            elif self._acker is not None:
                self._acker.ack(self._message)
            else:
                self._message.ack_log_error(logger, self._connection_errors)
            self.acknowledged = True

    def reject(self, requeue: bool = False) -> None:
        """Reject the message (once), back to the queue if ``requeue``."""
        if not self.acknowledged:
            if self._on_reject is not None:
                self._on_reject(logger, self._connection_errors, requeue)
            else:
                self._message.reject_log_error(logger, self._connection_errors, requeue)
            self.acknowledged = True
            self.send_event('task-rejected', requeue=requeue)

    # -- describing ----------------------------------------------------------------

    def info(self, safe: bool = False) -> dict:
        return {
            'id': self.id,
            'name': self.name,
            'args': self._argsrepr if safe else self.args,
            'kwargs': self._kwargsrepr if safe else self.kwargs,
            'type': self._type,
            'hostname': self._hostname,
            'time_start': self.time_start,
            'acknowledged': self.acknowledged,
            'delivery_info': self._delivery_info,
            'worker_pid': self.worker_pid,
        }

    def humaninfo(self) -> str:
        return f'{self.name}[{self.id}]'

    def __str__(self) -> str:
        return ' '.join([
            self.humaninfo(),
            f' ETA:[{self._eta}]' if self._eta else '',
            f' expires:[{self._expires}]' if self._expires else '',
        ]).strip()

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self.humaninfo()} {self._argsrepr} {self._kwargsrepr}>'


def create_request_cls(base: type, task: Any, pool: Any, hostname: str, eventer: Any,
                       ref: Any = ref, revoked_tasks: Any = None,
                       task_ready: Any = None, trace: Any = None,
                       app: Any = None) -> type:
    """Return the request class for ``task`` (Celery's hook; ``base`` as is)."""
    return base


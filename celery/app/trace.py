"""Running one task with everything around it: the tracer.

A :class:`Tracer` (made by :func:`build_tracer`) calls the task and does
what surrounds the call in a worker: task signals, the ``STARTED`` state,
the result (or error) stored in the backend, the callbacks, the next step
of a chain, chord counting, the handlers ``on_success``/``on_failure``/
``on_retry``/``after_return``, and the log lines of the outcome.

It runs in the pool: in a prefork child :func:`fast_trace_task` decodes the
raw message body (the parent never unpickles task arguments) and calls the
task's tracer.  The log formats ``LOG_*`` may be changed by users.
"""
from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections import namedtuple
from collections.abc import Mapping
from typing import Any, Callable

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from kombu.exceptions import ContentDisallowed, DecodeError, EncodeError
from kombu.serialization import loads as loads_message
from kombu.serialization import prepare_accept_content

from celery import signals, states
from celery._state import _task_stack, get_current_app
from celery.app.task import Context
from celery.app.task import Task as BaseTask
from celery.exceptions import Ignore, InvalidTaskError, Reject, Retry
from celery.utils.log import get_logger
from celery.utils.nodenames import gethostname
from celery.utils.saferepr import saferepr
from celery.utils.serialization import (get_pickleable_etype,
                                        get_pickleable_exception,
                                        get_pickled_exception)

__all__ = (
    'TraceInfo', 'Tracer', 'build_tracer', 'trace_task', 'trace_task_ret',
    'fast_trace_task', 'setup_worker_optimizations',
    'reset_worker_optimizations', 'get_log_policy', 'log_policy_t',
    'report_internal_error', 'traceback_clear', 'trace_ok_t',
    'LOG_SUCCESS', 'LOG_FAILURE', 'LOG_INTERNAL_ERROR', 'LOG_IGNORED',
    'LOG_REJECTED', 'LOG_RETRY', 'LOG_RECEIVED',
)

logger = get_logger(__name__)

#: Format of the line the worker logs when a task message arrives.
LOG_RECEIVED = """\
Task %(name)s[%(id)s] received\
"""
#: Format of the line logged when a task succeeds.
LOG_SUCCESS = """\
Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s\
"""
#: Format of the line logged when a task raises.
LOG_FAILURE = """\
Task %(name)s[%(id)s] %(description)s: %(exc)s\
"""
#: Format of the line logged when the tracer itself fails.
LOG_INTERNAL_ERROR = """\
Task %(name)s[%(id)s] %(description)s: %(exc)s\
"""
#: Format of the line logged when a task raises :exc:`~celery.exceptions.Ignore`.
LOG_IGNORED = """\
Task %(name)s[%(id)s] %(description)s\
"""
#: Format of the line logged when a task raises :exc:`~celery.exceptions.Reject`.
LOG_REJECTED = """\
Task %(name)s[%(id)s] %(exc)s\
"""
#: Format of the line logged when a task is retried.
LOG_RETRY = """\
Task %(name)s[%(id)s] retry: %(exc)s\
"""

log_policy_t = namedtuple(
    'log_policy_t', ('format', 'description', 'severity', 'traceback', 'mail'))

log_policy_reject = log_policy_t(LOG_REJECTED, 'rejected', logging.WARN, 1, 1)
log_policy_ignore = log_policy_t(LOG_IGNORED, 'ignored', logging.INFO, 0, 0)
log_policy_internal = log_policy_t(LOG_INTERNAL_ERROR, 'INTERNAL ERROR', logging.CRITICAL, 1, 1)
log_policy_expected = log_policy_t(LOG_FAILURE, 'raised expected', logging.INFO, 0, 0)
log_policy_unexpected = log_policy_t(LOG_FAILURE, 'raised unexpected', logging.ERROR, 1, 1)

#: What a tracer returns: the return value (or exception info), the
#: :class:`TraceInfo` of a non-success (else None), the runtime and the
#: return value's repr.
trace_ok_t = namedtuple('trace_ok_t', ('retval', 'info', 'runtime', 'retstr'))

SUCCESS = states.SUCCESS
STARTED = states.STARTED
FAILURE = states.FAILURE
RETRY = states.RETRY
REJECTED = states.REJECTED
IGNORED = states.IGNORED

#: States after which ``after_return`` is not called.
IGNORE_STATES = frozenset({IGNORED, RETRY, REJECTED})

#: Set in pool children by :func:`setup_worker_optimizations`:
#: ``[task registry, accepted content types, hostname]``.
_localized: list = []

_SIMPLE_REPR = (int, float, bool, type(None))


def info(fmt: str, context: dict) -> None:
    """Log ``fmt % context`` at INFO, with the context as ``extra['data']``."""
    logger.info(fmt, context, extra={'data': context})


def get_log_policy(task: Any, einfo: ExceptionInfo, exc: BaseException) -> log_policy_t:
    """Return how to log the outcome ``exc`` of ``task``."""
    if isinstance(exc, Reject):
        return log_policy_reject
    if isinstance(exc, Ignore):
        return log_policy_ignore
    if einfo.internal:
        return log_policy_internal
    if task.throws and isinstance(exc, task.throws):
        return log_policy_expected
    return log_policy_unexpected


def get_task_name(request: Any, default: str) -> str:
    """Return the shadow name of the request if it has one, else ``default``."""
    return getattr(request, 'shadow', None) or default


def traceback_clear(exc: BaseException | None = None) -> None:
    """Drop the frames' locals of a handled exception to free memory early."""
    tb = exc.__traceback__ if exc is not None else sys.exc_info()[2]
    while tb is not None:
        try:
            tb.tb_frame.clear()
        except RuntimeError:  # the frame is still executing
            pass
        tb = tb.tb_next


def _has_custom(task: Any, attr: str) -> bool:
    """Return true if ``task``'s class overrides ``attr`` of :class:`Task`."""
    return getattr(type(task), attr, None) is not getattr(BaseTask, attr, None)


class TraceInfo:
    """The outcome of a task that did not succeed: its state and exception."""

    __slots__ = ('state', 'retval')

    def __init__(self, state: str, retval: Any = None) -> None:
        self.state = state
        self.retval = retval

    def handle_error_state(self, task: Any, req: Any, eager: bool = False,
                           call_errbacks: bool = True) -> ExceptionInfo:
        store_errors = not eager
        if task.ignore_result:
            store_errors = task.store_errors_even_if_ignored
        elif eager and task.store_eager_result:
            store_errors = True
        if self.state == RETRY:
            return self.handle_retry(task, req, store_errors=store_errors)
        return self.handle_failure(task, req, store_errors=store_errors,
                                   call_errbacks=call_errbacks)

    def handle_reject(self, task: Any, req: Any, **kwargs: Any) -> None:
        self._log_error(task, req, ExceptionInfo())

    def handle_ignore(self, task: Any, req: Any, **kwargs: Any) -> None:
        self._log_error(task, req, ExceptionInfo())

    def handle_retry(self, task: Any, req: Any, store_errors: bool = True,
                     **kwargs: Any) -> ExceptionInfo:
        """Record and announce a retry (``self.retval`` is the Retry)."""
        type_, _, tb = sys.exc_info()
        try:
            reason = self.retval
            einfo = ExceptionInfo((type_, reason, tb))
            if store_errors:
                task.backend.mark_as_retry(req.id, reason.exc, einfo.traceback, request=req)
            task.on_retry(reason.exc, req.id, req.args, req.kwargs, einfo)
            if signals.task_retry.receivers:
                signals.task_retry.send(sender=task, request=req, reason=reason, einfo=einfo)
            info(LOG_RETRY, {'id': req.id, 'name': get_task_name(req, task.name),
                             'exc': str(reason)})
            return einfo
        finally:
            del tb

    def handle_failure(self, task: Any, req: Any, store_errors: bool = True,
                       call_errbacks: bool = True) -> ExceptionInfo:
        """Record and announce a failure (``self.retval`` is the exception)."""
        _, _, tb = sys.exc_info()
        try:
            exc = self.retval
            einfo = ExceptionInfo()
            # only exceptions the parent can unpickle go back through the pipe
            einfo.exception = get_pickleable_exception(einfo.exception)
            einfo.type = get_pickleable_etype(einfo.type)
            task.backend.mark_as_failure(req.id, exc, einfo.traceback, request=req,
                                         store_result=store_errors,
                                         call_errbacks=call_errbacks)
            task.on_failure(exc, req.id, req.args, req.kwargs, einfo)
            if signals.task_failure.receivers:
                signals.task_failure.send(sender=task, task_id=req.id, exception=exc,
                                          args=req.args, kwargs=req.kwargs,
                                          traceback=tb, einfo=einfo)
            self._log_error(task, req, einfo)
            return einfo
        finally:
            del tb

    def _log_error(self, task: Any, req: Any, einfo: ExceptionInfo) -> None:
        eobj = einfo.exception = get_pickled_exception(einfo.exception)
        if isinstance(eobj, ExceptionWithTraceback):
            eobj = einfo.exception = eobj.exc
        policy = get_log_policy(task, einfo, eobj)
        context = {
            'hostname': req.hostname,
            'id': req.id,
            'name': get_task_name(req, task.name),
            'exc': saferepr(eobj),
            'traceback': str(einfo.traceback),
            'args': req.get('argsrepr') or saferepr(req.args),
            'kwargs': req.get('kwargsrepr') or saferepr(req.kwargs),
            'description': policy.description,
            'internal': einfo.internal,
        }
        logger.log(policy.severity, policy.format.strip(), context,
                   exc_info=einfo.exc_info if policy.traceback else None,
                   extra={'data': context})


class Tracer:
    """Runs task ``name`` for one request at a time; see the module docstring.

    Everything that does not change between calls (the function to call,
    which handlers the task overrides, whether results are stored) is worked
    out once here.
    """

    def __init__(self, name: str, task: Any, loader: Any = None,
                 hostname: str | None = None, store_errors: bool = True,
                 Info: type = TraceInfo, eager: bool = False, propagate: bool = False,
                 app: Any = None, monotonic: Callable[[], float] = time.monotonic,
                 trace_ok_t: type = trace_ok_t, IGNORE_STATES: frozenset = IGNORE_STATES) -> None:
        app = app or get_current_app()
        task = getattr(task, '_get_current_object', None) and task._get_current_object() or task
        self.name = name
        self.task = task
        self.app = app
        self.loader = loader or app.loader
        self.hostname = hostname or gethostname()
        self.Info = Info
        self.eager = eager
        self.propagate = propagate
        self.monotonic = monotonic
        self.trace_ok_t = trace_ok_t
        self.ignore_states = IGNORE_STATES
        self.fun = task if _has_custom(task, '__call__') else task.run
        ignore_result = task.ignore_result
        self.track_started = not eager and bool(task.track_started) and not ignore_result
        if eager and not ignore_result and task.store_eager_result:
            self.publish_result = True
        else:
            self.publish_result = not eager and not ignore_result
        self.deduplicate = bool(
            not eager and (app.conf.task_acks_late or task.acks_late)
            and app.conf.worker_deduplicate_successful_tasks
            and getattr(app.backend, 'persistent', False))
        self.inherit_parent_priority = app.conf.task_inherit_parent_priority
        self.resultrepr_maxsize = task.resultrepr_maxsize
        self.before_start = task.before_start if _has_custom(task, 'before_start') else None
        self.on_success = task.on_success if _has_custom(task, 'on_success') else None
        self.after_return = task.after_return if _has_custom(task, 'after_return') else None
        self.loader_task_init = self.loader.on_task_init
        self.loader_cleanup = self.loader.on_process_cleanup

    # -- one call ---------------------------------------------------------------

    def __call__(self, uuid: str, args: Any, kwargs: Any, request: dict | None = None) -> Any:
        """Run the task; never raises (unless eager with ``propagate``)."""
        task_request = None
        R = I = T = Rstr = None
        try:
            if not isinstance(kwargs, dict) and not hasattr(kwargs, 'items'):
                raise InvalidTaskError('Task keyword arguments is not a mapping')
            task_request = Context(request or {}, args=args, called_directly=False,
                                   kwargs=kwargs)
            if self.deduplicate and self._already_done(task_request):
                return self.trace_ok_t(None, None, None, None)
            R, I, T, Rstr = self._run(task_request, uuid, args, kwargs)
        except MemoryError:
            raise
        except Exception as exc:
            _signal_internal_error(self.task, uuid, args, kwargs, request, exc)
            if self.eager:
                raise
            R = report_internal_error(self.task, exc)
            if task_request is not None:
                I = self._on_error(task_request, exc)[0]
        return self.trace_ok_t(R, I, T, Rstr)

    def _run(self, req: Context, uuid: str, args: Any, kwargs: Any) -> tuple:
        task = self.task
        time_start = self.monotonic()
        R = I = T = Rstr = retval = state = None
        _task_stack.push(task)
        task.request_stack.push(req)
        try:
            self._before(req, uuid, args, kwargs)
            try:
                if self.before_start is not None:
                    self.before_start(uuid, args, kwargs)
                R = retval = self.fun(*args, **kwargs)
                state = SUCCESS
            except Reject as exc:
                I, R = self.Info(REJECTED, exc), ExceptionInfo(internal=True)
                state, retval = I.state, I.retval
                I.handle_reject(task, req)
                traceback_clear(exc)
            except Ignore as exc:
                I, R = self.Info(IGNORED, exc), ExceptionInfo(internal=True)
                state, retval = I.state, I.retval
                I.handle_ignore(task, req)
                traceback_clear(exc)
            except Retry as exc:
                I, R, state, retval = self._on_error(req, exc, RETRY, call_errbacks=False)
                traceback_clear(exc)
            except Exception as exc:
                I, R, state, retval = self._on_error(req, exc)
                traceback_clear(exc)
            else:
                try:
                    self._send_followers(req, uuid, retval)
                    if self.publish_result or req.chord:
                        task.backend.mark_as_done(uuid, retval, req, self.publish_result)
                except EncodeError as exc:
                    I, R, state, retval = self._on_error(req, exc)
                else:
                    Rstr = _result_repr(R, self.resultrepr_maxsize)
                    T = self.monotonic() - time_start
                    self._on_succeeded(req, uuid, args, kwargs, retval, Rstr, T)
            if self.after_return is not None and state not in self.ignore_states:
                self.after_return(state, retval, uuid, args, kwargs, None)
        finally:
            self._after(req, uuid, args, kwargs, retval, state)
        return R, I, T, Rstr

    # -- the parts ---------------------------------------------------------------

    def _before(self, req: Context, uuid: str, args: Any, kwargs: Any) -> None:
        task = self.task
        if signals.task_prerun.receivers:
            signals.task_prerun.send(sender=task, task_id=uuid, task=task,
                                     args=args, kwargs=kwargs)
        self.loader_task_init(uuid, task)
        if self.track_started:
            task.backend.store_result(uuid, {'pid': os.getpid(), 'hostname': self.hostname},
                                      STARTED, request=req)

    def _send_followers(self, req: Context, uuid: str, retval: Any) -> None:
        """Send the callbacks and the next step of the chain, with ``retval``."""
        callbacks = req.callbacks
        chain = req.chain
        if not callbacks and not chain:
            return
        from celery.canvas import group, signature
        app = self.app
        root_id = req.root_id or uuid
        priority = ((req.delivery_info or {}).get('priority')
                    if self.inherit_parent_priority else None)
        if callbacks:
            if len(callbacks) > 1:
                sigs, groups = [], []
                for sig in callbacks:
                    sig = signature(sig, app=app)
                    (groups if isinstance(sig, group) else sigs).append(sig)
                for group_ in groups:  # groups store their own trail
                    group_.apply_async((retval,), parent_id=uuid, root_id=root_id,
                                       priority=priority)
                if sigs:
                    group(sigs, app=app).apply_async((retval,), parent_id=uuid,
                                                     root_id=root_id, priority=priority)
            else:
                signature(callbacks[0], app=app).apply_async(
                    (retval,), parent_id=uuid, root_id=root_id, priority=priority)
        if chain:
            next_step = signature(chain.pop(), app=app)
            next_step.apply_async((retval,), chain=chain, parent_id=uuid,
                                  root_id=root_id, priority=priority)

    def _on_succeeded(self, req: Context, uuid: str, args: Any, kwargs: Any,
                      retval: Any, Rstr: str, T: float) -> None:
        if self.on_success is not None:
            self.on_success(retval, uuid, args, kwargs)
        if signals.task_success.receivers:
            signals.task_success.send(sender=self.task, result=retval)
        if logger.isEnabledFor(logging.INFO):
            info(LOG_SUCCESS, {
                'id': uuid, 'name': get_task_name(req, self.name),
                'return_value': Rstr, 'runtime': T,
                'args': req.get('argsrepr') or saferepr(args),
                'kwargs': req.get('kwargsrepr') or saferepr(kwargs),
            })

    def _on_error(self, req: Context, exc: BaseException, state: str = FAILURE,
                  call_errbacks: bool = True) -> tuple:
        if self.propagate:
            raise
        I = self.Info(state, exc)
        R = I.handle_error_state(self.task, req, eager=self.eager,
                                 call_errbacks=call_errbacks)
        return I, R, I.state, I.retval

    def _after(self, req: Context, uuid: str, args: Any, kwargs: Any,
               retval: Any, state: str | None) -> None:
        task = self.task
        try:
            if signals.task_postrun.receivers:
                signals.task_postrun.send(sender=task, task_id=uuid, task=task, args=args,
                                          kwargs=kwargs, retval=retval, state=state)
        finally:
            _task_stack.pop()
            task.request_stack.pop()
            if not self.eager:
                try:
                    task.backend.process_cleanup()
                    self.loader_cleanup()
                except (KeyboardInterrupt, SystemExit, MemoryError):
                    raise
                except Exception as exc:
                    logger.error('Process cleanup failed: %r', exc, exc_info=True)

    def _already_done(self, req: Context) -> bool:
        """With late acks, skip a redelivered task that already succeeded."""
        delivery_info = req.delivery_info or {}
        if not delivery_info.get('redelivered'):
            return False
        from celery.worker.state import successful_requests
        if req.id in successful_requests:
            return True
        try:
            state = self.app.AsyncResult(req.id).state
        except Exception:  # the backend could not tell: run the task
            return False
        if state == SUCCESS:
            info(LOG_IGNORED, {'id': req.id, 'name': get_task_name(req, self.name),
                               'description': 'Task already completed successfully.'})
            return True
        return False


def _result_repr(value: Any, maxsize: int) -> str:
    if type(value) in _SIMPLE_REPR:
        return repr(value)
    return saferepr(value, maxsize)


def build_tracer(name: str, task: Any, loader: Any = None, hostname: str | None = None,
                 store_errors: bool = True, Info: type = TraceInfo, eager: bool = False,
                 propagate: bool = False, app: Any = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 trace_ok_t: type = trace_ok_t,
                 IGNORE_STATES: frozenset = IGNORE_STATES) -> Tracer:
    """Return a callable ``fun(uuid, args, kwargs, request=None) -> trace_ok_t``."""
    return Tracer(name, task, loader=loader, hostname=hostname, store_errors=store_errors,
                  Info=Info, eager=eager, propagate=propagate, app=app,
                  monotonic=monotonic, trace_ok_t=trace_ok_t, IGNORE_STATES=IGNORE_STATES)


def trace_task(task: Any, uuid: str, args: Any, kwargs: Any, request: dict | None = None,
               **opts: Any) -> Any:
    """Run ``task`` with its tracer (built on first use)."""
    try:
        if task.__trace__ is None:
            task.__trace__ = build_tracer(task.name, task, **opts)
        return task.__trace__(uuid, args, kwargs, request)
    except Exception as exc:
        _signal_internal_error(task, uuid, args, kwargs, request, exc)
        return trace_ok_t(report_internal_error(task, exc), TraceInfo(FAILURE, exc), 0.0, None)


def _decode_body(body: Any, content_type: str | None, content_encoding: str | None,
                 accept: Any) -> tuple:
    """Return ``(args, kwargs, embed)`` from a raw (or decoded) message body."""
    if content_type:
        body = loads_message(body, content_type, content_encoding, accept=accept)
    if isinstance(body, dict):  # a protocol 1 body behind protocol 2 headers
        return (body.get('args') or (), body.get('kwargs') or {},
                {key: body.get(key) for key in ('callbacks', 'errbacks', 'chain', 'chord')})
    args, kwargs, embed = body  # TypeError/ValueError if it is not a triple
    if not (isinstance(args, (list, tuple)) and isinstance(kwargs, Mapping)
            and (embed is None or isinstance(embed, Mapping))):
        raise TypeError('the body is not (args: list, kwargs: dict, embed: dict | None): '
                        f'{type(args).__name__}, {type(kwargs).__name__}, '
                        f'{type(embed).__name__}')
    return args, kwargs, embed


#: What decoding a body raises when it is not a task message body.
_BODY_ERRORS = (ContentDisallowed, DecodeError, TypeError, ValueError)


def _load_request(request: dict, body: Any, content_type: str | None,
                  content_encoding: str | None, accept: Any, **fields: Any) -> tuple:
    """Decode ``body`` into ``request`` (args, kwargs, its embedded links, ``fields``)."""
    args, kwargs, embed = _decode_body(body, content_type, content_encoding, accept)
    request.update(args=args, kwargs=kwargs, is_eager=False, **fields)
    if embed:
        request.update(embed)
    return args, kwargs


def _invalid_body(exc: BaseException) -> tuple:
    """What the pool returns for a body that cannot be decoded here."""
    try:
        raise InvalidTaskError(f'Cannot decode task message body: {exc!r}') from exc
    except InvalidTaskError:
        return (1, ExceptionInfo(internal=True), None)


def fast_trace_task(task: str, uuid: str, request: dict, body: Any,
                    content_type: str | None, content_encoding: str | None,
                    loads: Callable = loads_message, _loc: list | None = None,
                    hostname: str | None = None, **_: Any) -> tuple:
    """The function a pool runs for each task message.

    Decodes ``body`` (if ``content_type`` is set; else it is the decoded
    ``(args, kwargs, embed)``) and runs the tracer of task ``task``.  Returns
    ``(failed, retval_or_exception_info, runtime)``, where ``retval`` is the
    return value's repr.  Needs :func:`setup_worker_optimizations`.
    """
    tasks, accept, hostname = _loc or _localized
    try:
        args, kwargs = _load_request(request, body, content_type, content_encoding, accept,
                                     hostname=hostname)
    except _BODY_ERRORS as exc:
        return _invalid_body(exc)
    task_obj = tasks[task]
    tracer = task_obj.__trace__
    if tracer is None:  # a task registered after the pool started
        tracer = task_obj.__trace__ = build_tracer(task, task_obj, hostname=hostname)
    R, I, T, Rstr = tracer(uuid, args, kwargs, request)
    return (1, R, T) if I else (0, Rstr, T)


def trace_task_ret(name: str, uuid: str, request: dict, body: Any,
                   content_type: str | None, content_encoding: str | None,
                   loads: Callable = loads_message, app: Any = None,
                   **extra_request: Any) -> tuple:
    """Like :func:`fast_trace_task`, without needing the worker optimizations."""
    app = app or get_current_app()
    accept = prepare_accept_content(app.conf.accept_content)
    try:
        args, kwargs = _load_request(request, body, content_type, content_encoding, accept,
                                     hostname=gethostname(), **extra_request)
    except _BODY_ERRORS as exc:
        return _invalid_body(exc)
    R, I, T, Rstr = trace_task(app.tasks[name], uuid, args, kwargs, request, app=app)
    return (1, R, T) if I else (0, Rstr, T)


def setup_worker_optimizations(app: Any, hostname: str | None = None) -> None:
    """Prepare this process to run :func:`fast_trace_task` for ``app``."""
    hostname = hostname or gethostname()
    app.set_default()
    app.finalize()
    _install_stack_protection()
    _localized[:] = [app._tasks, prepare_accept_content(app.conf.accept_content), hostname]
    app.use_fast_trace_task = True


def reset_worker_optimizations(app: Any = None) -> None:
    """Undo :func:`setup_worker_optimizations`."""
    _localized[:] = []
    if app is not None:
        app.use_fast_trace_task = False
    original = BaseTask.__dict__.get('_unprotected_call')
    if original is not None:
        BaseTask.__call__ = original
        BaseTask._unprotected_call = None
        BaseTask._stackprotected = False


def _install_stack_protection() -> None:
    """Keep the tracer's request when a task's own ``__call__`` calls ``super()``.

    The tracer pushes the request and calls a custom ``__call__``; when that
    calls :meth:`Task.__call__`, the task runs in that same request instead of
    a new, empty one.
    """
    if getattr(BaseTask, '_stackprotected', False):
        return
    unprotected = BaseTask.__call__

    def __protected_call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        stack = self.request_stack
        req = stack.top
        if req is not None and not req._protected and len(stack) == 1 and \
                not req.called_directly:
            req._protected = 1
            return self.run(*args, **kwargs)
        return unprotected(self, *args, **kwargs)

    BaseTask._unprotected_call = unprotected
    BaseTask.__call__ = __protected_call__
    BaseTask._stackprotected = True


def report_internal_error(task: Any, exc: BaseException) -> ExceptionInfo:
    """Return exception info for an error of the tracer itself, with a warning."""
    _type, _value, _tb = sys.exc_info()
    try:
        _value = task.backend.prepare_exception(exc, 'pickle')
        exc_info = ExceptionInfo((_type, _value, _tb), internal=True)
        warnings.warn(RuntimeWarning(
            f'Exception raised outside body: {exc!r}:\n{exc_info.traceback}'))
        return exc_info
    finally:
        del _tb


def _signal_internal_error(task: Any, uuid: str, args: Any, kwargs: Any,
                           request: Any, exc: BaseException) -> None:
    """Send :data:`~celery.signals.task_internal_error` (if anyone listens)."""
    if not signals.task_internal_error.receivers:
        return
    try:
        _, _, tb = sys.exc_info()
        einfo = ExceptionInfo()
        einfo.exception = get_pickleable_exception(einfo.exception)
        einfo.type = get_pickleable_etype(einfo.type)
        signals.task_internal_error.send(
            sender=task, task_id=uuid, args=args, kwargs=kwargs, request=request,
            exception=exc, traceback=tb, einfo=einfo)
    finally:
        del tb


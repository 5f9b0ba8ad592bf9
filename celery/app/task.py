"""The task base class (:class:`Task`) and the request context (:class:`Context`).

A task class is created per decorated function; its single instance is what
``app.tasks[name]`` holds. Per-call state lives in ``task.request``, a stack
of :class:`Context` objects local to the thread.
"""
from __future__ import annotations

from functools import partial
from inspect import Parameter, Signature
from typing import Any, Callable
from weakref import WeakKeyDictionary

from kombu.exceptions import OperationalError
from kombu.utils.uuid import uuid

from celery import states
from celery._state import _task_stack, current_app
from celery.exceptions import MaxRetriesExceededError, Reject, Retry
from celery.result import EagerResult, denied_join_result
from celery.utils import abstract
from celery.utils.functional import mattrgetter, maybe_list
from celery.utils.imports import instantiate
from celery.utils.nodenames import gethostname
from celery.utils.objects import class_property
from celery.utils.serialization import raise_with_context

__all__ = ('Context', 'Task')

#: extracts attributes related to publishing a message from an object.
extract_exec_options = mattrgetter(
    'queue', 'routing_key', 'exchange', 'priority', 'expires',
    'serializer', 'delivery_mode', 'compression', 'time_limit',
    'soft_time_limit', 'immediate', 'mandatory',
)

#: Argument check -> (fewest, most or None) positional arguments it accepts, or None.
_POSITIONAL: WeakKeyDictionary = WeakKeyDictionary()
_POSITIONAL_KINDS = (Parameter.POSITIONAL_ONLY, Parameter.POSITIONAL_OR_KEYWORD)


def _positional_range(check: Any) -> tuple[int, int | None] | None:
    """How many positional arguments (and nothing else) ``check`` surely accepts.

    ``check`` is a task's ``__header__``: a function carrying the task's
    ``__signature__``, or a :func:`~functools.partial` of one (bound tasks).
    ``None`` when that cannot be told from the signature alone.
    """
    skip = 0
    if isinstance(check, partial):
        if check.keywords:
            return None
        check, skip = check.func, len(check.args)
    sig = getattr(check, '__signature__', None)
    if not isinstance(sig, Signature):
        return None
    params = list(sig.parameters.values())
    if len(params) < skip or any(p.kind not in _POSITIONAL_KINDS for p in params[:skip]):
        return None
    fewest = most = 0
    for param in params[skip:]:
        if param.kind in _POSITIONAL_KINDS:
            most += 1
            if param.default is param.empty:
                fewest = most
        elif param.kind is Parameter.VAR_POSITIONAL:
            return fewest, None
        elif param.kind is Parameter.KEYWORD_ONLY and param.default is param.empty:
            return None
    return fewest, most


def _takes_positional(check: Any, n: int) -> bool:
    """True if ``check`` accepts exactly ``n`` positional arguments; False
    means "ask ``check``" (Signature.bind is the slow part of a task call)."""
    try:
        span = _POSITIONAL[check]
    except KeyError:
        span = _POSITIONAL[check] = _positional_range(check)
    except TypeError:  # not weakly referenceable: no shortcut
        return False
    if span is None:
        return False
    fewest, most = span
    return fewest <= n and (most is None or n <= most)


R_BOUND_TASK = '<class {0.__name__} of {app}{flags}>'
R_UNBOUND_TASK = '<unbound {0.__name__}{flags}>'
R_INSTANCE = '<@task: {0.name} of {app}{flags}>'

#: Here for backwards compatibility as tasks no longer use a custom meta-class.
TaskType = type


def _strflags(flags: Any, default: str = '') -> str:
    if flags:
        return ' ({})'.format(', '.join(flags))
    return default


def _reprtask(task: Any, fmt: str | None = None, flags: Any = None) -> str:
    flags = list(flags) if flags is not None else []
    flags.append('v2 compatible') if task.__v2_compat__ else None
    if not fmt:
        fmt = R_BOUND_TASK if task._app else R_UNBOUND_TASK
    return fmt.format(task, flags=_strflags(flags), app=task._app)


class Context:
    """The request of one task execution (``task.request``).

    Attributes are the message's headers and delivery details; unknown
    attributes read as the class defaults below.
    """

    _children = None   # see property
    _protected = 0
    args = None
    callbacks = None
    called_directly = True
    chain = None
    chord = None
    correlation_id = None
    delivery_info = None
    errbacks = None
    eta = None
    expires = None
    group = None
    group_index = None
    hostname = None
    id = None
    ignore_result = False
    is_eager = False
    kwargs = None
    logfile = None
    loglevel = None
    origin = None
    parent_id = None
    properties = None
    retries = 0
    reply_to = None
    replaced_task_nesting = 0
    root_id = None
    shadow = None
    taskset = None   # compat alias to group
    timelimit = None
    utc = None
    stamped_headers = None
    stamps = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.update(*args, **kwargs)

    @property
    def headers(self) -> dict | None:
        """The caller's own message headers: those that are not Celery's.

        Collected when asked for (rarely), not for every task run.
        """
        given = self.__dict__.get('headers')
        if given is not None:
            return given
        custom = {key: value for key, value in self.__dict__.items()
                  if key not in _OWN_HEADERS}
        return custom or None

    @headers.setter
    def headers(self, value: dict | None) -> None:
        self.__dict__['headers'] = value

    def update(self, *args: Any, **kwargs: Any) -> None:
        return self.__dict__.update(*args, **kwargs)

    def clear(self) -> None:
        return self.__dict__.clear()

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def __repr__(self) -> str:
        return f'<Context: {vars(self)!r}>'

    def as_execution_options(self) -> dict:
        """Return the options that re-send this request as it was sent."""
        limit_hard, limit_soft = self.timelimit or (None, None)
        execution_options = {
            'task_id': self.id,
            'root_id': self.root_id,
            'parent_id': self.parent_id,
            'group_id': self.group,
            'group_index': self.group_index,
            'shadow': self.shadow,
            'chord': self.chord,
            'chain': self.chain,
            'link': self.callbacks,
            'link_error': self.errbacks,
            'expires': self.expires,
            'soft_time_limit': limit_soft,
            'time_limit': limit_hard,
            'headers': self.headers,
            'retries': self.retries,
            'reply_to': self.reply_to,
            'replaced_task_nesting': self.replaced_task_nesting,
            'origin': self.origin,
        }
        if hasattr(self, 'stamps') and hasattr(self, 'stamped_headers'):
            if self.stamps is not None and self.stamped_headers is not None:
                execution_options['stamped_headers'] = self.stamped_headers
                execution_options['stamps'] = self.stamps
        return execution_options

    @property
    def children(self) -> list:
        # Each request gets its own list (never a shared class attribute).
        if self._children is None:
            self._children = []
        return self._children


#: Names a request carries for Celery itself; the rest are the caller's headers.
_OWN_HEADERS = frozenset(vars(Context)) | {
    'lang', 'task', 'argsrepr', 'kwargsrepr', 'compression', 'ignore_result'}


class Task:
    """The base class of tasks.

    ``@app.task`` creates a subclass per function and registers one instance;
    class-based tasks subclass ``app.Task`` and define :meth:`run`.
    """

    __trace__ = None
    __v2_compat__ = False  # set by old base in celery.task.base

    MaxRetriesExceededError = MaxRetriesExceededError
    OperationalError = OperationalError

    #: Execution strategy used, or the qualified name of one.
    Strategy = 'celery.worker.strategy:default'

    #: Request class used, or the qualified name of one.
    Request = 'celery.worker.request:Request'

    #: The application instance associated with this task class.
    _app = None

    #: Name of the task.
    name: str | None = None

    #: Check the arguments at call time (None: the app's ``strict_typing``).
    typing: bool | None = None

    #: Maximum number of retries before giving up (None: retry forever).
    max_retries: int | None = 3

    #: Default seconds to wait before a retry.
    default_retry_delay = 3 * 60

    #: Rate limit for this task type, e.g. ``'10/m'``.
    rate_limit = None

    #: Don't store the return value in the result backend.
    ignore_result = None

    #: Add the results of tasks called from this one to ``request.children``.
    trail = True

    #: Send the worker's task events for this task (when events are on).
    send_events = True

    #: Store errors even if the task is configured to ignore results.
    store_errors_even_if_ignored = None

    #: The name of a serializer registered with kombu.
    serializer = None

    #: Hard time limit (seconds); overrides ``task_time_limit``.
    time_limit = None

    #: Soft time limit (seconds); overrides ``task_soft_time_limit``.
    soft_time_limit = None

    #: Register the task automatically (class-based tasks).
    autoregister = True

    #: Report the STARTED state when the worker starts the task.
    track_started = None

    #: Acknowledge the message after the task ran, not before.
    acks_late = None

    #: With ``acks_late``: ack even when the task failed or timed out.
    acks_on_failure_or_timeout = None

    #: With ``acks_late``: requeue the message if the worker process dies.
    reject_on_worker_lost = None

    #: Exceptions that are expected: logged as INFO, without traceback.
    throws: tuple = ()

    #: Default expiry (seconds or datetime) of calls of this task.
    expires = None

    #: Default priority of calls of this task.
    priority = None

    #: Max length of the result's repr in logs and events.
    resultrepr_maxsize = 1024

    #: Task request stack (thread local; set when the class is bound).
    request_stack = None

    #: Store results of eager calls in the backend (``task_store_eager_result``).
    store_eager_result = None

    _default_request = None
    abstract = True
    _exec_options = None
    __bound__ = False

    #: Attributes that default to a setting when left as None.
    from_config = (
        ('serializer', 'task_serializer'),
        ('rate_limit', 'task_default_rate_limit'),
        ('priority', 'task_default_priority'),
        ('track_started', 'task_track_started'),
        ('acks_late', 'task_acks_late'),
        ('acks_on_failure_or_timeout', 'task_acks_on_failure_or_timeout'),
        ('reject_on_worker_lost', 'task_reject_on_worker_lost'),
        ('ignore_result', 'task_ignore_result'),
        ('store_eager_result', 'task_store_eager_result'),
        ('store_errors_even_if_ignored', 'task_store_errors_even_if_ignored'),
    )

    _backend = None

    # -- binding -------------------------------------------------------------

    @classmethod
    def bind(cls, app: Any) -> Any:
        """Attach the task class to ``app``, taking unset options from its settings."""
        was_bound, cls.__bound__ = cls.__bound__, True
        cls._app = app
        conf = app.conf
        cls._exec_options = None
        if cls.typing is None:
            cls.typing = app.strict_typing
        for attr_name, config_name in cls.from_config:
            if getattr(cls, attr_name, None) is None:
                setattr(cls, attr_name, conf[config_name])
        if not was_bound:
            cls.annotate()
            from celery.utils.threads import LocalStack
            cls.request_stack = LocalStack()
        cls.on_bound(app)
        return app

    @classmethod
    def on_bound(cls, app: Any) -> None:
        """Called when the class is bound to an app; override to do more."""

    @classmethod
    def _get_app(cls) -> Any:
        if cls._app is None:
            cls._app = current_app
        if not cls.__bound__:
            cls.bind(cls._app)
        return cls._app

    app = class_property(_get_app, bind)

    @classmethod
    def annotate(cls) -> None:
        """Apply ``task_annotations`` that match this task."""
        for d in resolve_all_annotations(cls.app.annotations, cls):
            for key, value in d.items():
                if key.startswith('@'):
                    cls.add_around(key[1:], value)
                else:
                    setattr(cls, key, value)

    @classmethod
    def add_around(cls, attr: str, around: Callable) -> None:
        orig = getattr(cls, attr)
        if getattr(orig, '__wrapped__', None):
            orig = orig.__wrapped__
        meth = around(orig)
        meth.__wrapped__ = orig
        setattr(cls, attr, meth)

    # -- running -------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _task_stack.push(self)
        self.push_request(args=args, kwargs=kwargs)
        try:
            return self.run(*args, **kwargs)
        finally:
            self.pop_request()
            _task_stack.pop()

    def __reduce__(self) -> Any:
        # Tasks pickle by name; the other side looks them up in its app.
        mod = type(self).__module__
        mod = mod if mod and mod in __import__('sys').modules else None
        from celery.app.registry import _unpickle_task_v2
        return (_unpickle_task_v2, (self.name, mod), None)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The body of the task, executed by workers."""
        raise NotImplementedError('Tasks must define the run method.')

    def start_strategy(self, app: Any, consumer: Any, **kwargs: Any) -> Any:
        return instantiate(self.Strategy, self, app, consumer, **kwargs)

    # -- calling -------------------------------------------------------------

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """Send the task with these arguments (``apply_async`` without options)."""
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Any = None, kwargs: Any = None, task_id: str | None = None,
                    producer: Any = None, link: Any = None, link_error: Any = None,
                    shadow: str | None = None, **options: Any) -> Any:
        """Send the task to a worker; see the calling guide for ``options``.

        Raises :exc:`TypeError` at once if the arguments don't fit the task
        (unless ``typing`` is off). With ``task_always_eager`` the task runs
        here and an :class:`~celery.result.EagerResult` is returned.
        """
        if self.typing:
            try:
                check_arguments = self.__header__
            except AttributeError:  # pragma: no cover
                pass
            else:
                if kwargs or not _takes_positional(check_arguments, len(args or ())):
                    check_arguments(*(args or ()), **(kwargs or {}))

        if self.__v2_compat__:
            shadow = shadow or self.shadow_name(self(), args, kwargs, options)
        else:
            shadow = shadow or self.shadow_name(args, kwargs, options)

        preopts = self._get_exec_options()
        options = dict(preopts, **options) if options else dict(preopts)

        options.setdefault('ignore_result', self.ignore_result)
        if self.priority:
            options.setdefault('priority', self.priority)

        app = self._get_app()
        if app.conf.get('task_always_eager'):
            with denied_join_result():
                return self.apply(args, kwargs, task_id=task_id or uuid(),
                                  link=link, link_error=link_error, **options)
        return app.send_task(
            self.name, args, kwargs, task_id=task_id, producer=producer,
            link=link, link_error=link_error, result_cls=self.AsyncResult,
            shadow=shadow, task_type=self, **options)

    def shadow_name(self, args: Any, kwargs: Any, options: dict) -> str | None:
        """Override to give calls another name in logs and monitors."""
        return None

    def signature_from_request(self, request: Context | None = None, args: Any = None,
                               kwargs: Any = None, queue: str | None = None,
                               **extra_options: Any) -> Any:
        """Return a signature that re-sends ``request`` (the current one by default)."""
        request = self.request if request is None else request
        args = request.args if args is None else args
        kwargs = request.kwargs if kwargs is None else kwargs
        options = {**request.as_execution_options(), **extra_options}
        delivery_info = request.delivery_info or {}
        priority = delivery_info.get('priority')
        if priority is not None:
            options['priority'] = priority
        if queue:
            options['queue'] = queue
        else:
            exchange = delivery_info.get('exchange')
            routing_key = delivery_info.get('routing_key')
            if exchange == '' and routing_key:
                # Sent to a queue directly through the default exchange.
                options['queue'] = routing_key
            else:
                options['exchange'] = exchange
                options['routing_key'] = routing_key
        return self.signature(args, kwargs, options, type=self, **extra_options)

    subtask_from_request = signature_from_request

    def retry(self, args: Any = None, kwargs: Any = None, exc: BaseException | None = None,
              throw: bool = True, eta: Any = None, countdown: float | None = None,
              max_retries: int | None = None, **options: Any) -> Retry:
        """Re-send this task to run again later; raises :exc:`~celery.exceptions.Retry`.

        Use as ``raise self.retry(exc=exc, countdown=60)``. Past
        ``max_retries`` the original exception ``exc`` (or
        :exc:`MaxRetriesExceededError`) is raised instead.
        """
        request = self.request
        retries = request.retries + 1
        if max_retries is not None:
            self.override_max_retries = max_retries
        max_retries = self.max_retries if max_retries is None else max_retries

        # Calling the task directly (not through a worker or apply): just raise.
        if request.called_directly:
            raise_with_context(exc or Retry('Task can be retried', None))

        if not eta and countdown is None:
            countdown = self.default_retry_delay

        is_eager = request.is_eager
        S = self.signature_from_request(
            request, args, kwargs,
            countdown=countdown, eta=eta, retries=retries,
            **options)

        if max_retries is not None and retries > max_retries:
            if exc:
                raise_with_context(exc)
            raise self.MaxRetriesExceededError(
                "Can't retry {}[{}] args:{} kwargs:{}".format(
                    self.name, request.id, S.args, S.kwargs),
                task_args=S.args, task_kwargs=S.kwargs)

        ret = Retry(exc=exc, when=eta or countdown, is_eager=is_eager, sig=S)

        if is_eager:
            # The eager caller re-applies the signature (see Task.apply).
            if throw:
                raise ret
            return ret

        try:
            S.apply_async()
        except Exception as exc2:
            raise Reject(exc2, requeue=False)
        if throw:
            raise ret
        return ret

    def apply(self, args: Any = None, kwargs: Any = None, link: Any = None,
              link_error: Any = None, task_id: str | None = None, retries: int | None = None,
              throw: bool | None = None, logfile: str | None = None,
              loglevel: int | None = None, headers: dict | None = None,
              **options: Any) -> EagerResult:
        """Run the task here and now, returning an :class:`~celery.result.EagerResult`.

        Handlers, signals, retries and callbacks behave as in a worker.
        ``throw`` (default: ``task_eager_propagates``) re-raises the error.
        """
        from celery.app.trace import build_tracer

        app = self._get_app()
        args = args or ()
        kwargs = kwargs or {}
        task_id = task_id or uuid()
        retries = retries or 0
        if throw is None:
            throw = app.conf.task_eager_propagates

        # The registered instance, not a possibly different one.
        task = app._tasks[self.name]

        request = {
            'id': task_id,
            'task': self.name,
            'retries': retries,
            'is_eager': True,
            'logfile': logfile,
            'loglevel': loglevel or 0,
            'hostname': gethostname(),
            'callbacks': maybe_list(link),
            'errbacks': maybe_list(link_error),
            'headers': headers,
            'ignore_result': options.get('ignore_result', False),
            'delivery_info': {
                'is_eager': True,
                'exchange': options.get('exchange'),
                'routing_key': options.get('routing_key'),
                'priority': options.get('priority'),
            },
        }
        for key in ('root_id', 'parent_id', 'group_id', 'group_index', 'chord',
                    'chain', 'shadow', 'stamped_headers', 'stamps'):
            if options.get(key) is not None:
                request['group' if key == 'group_id' else key] = options[key]

        tb = None
        tracer = build_tracer(task.name, task, eager=True, propagate=throw, app=app)
        ret = tracer(task_id, args, kwargs, request)
        retval = ret.retval
        if hasattr(retval, 'exception') and hasattr(retval, 'traceback'):
            # billiard ExceptionInfo
            retval, tb = retval.exception, retval.traceback
            exc = getattr(retval, 'exc', None)
            if exc is not None and type(retval).__name__ == 'ExceptionWithTraceback':
                retval = exc
        if isinstance(retval, Retry) and retval.sig is not None:
            return retval.sig.apply(retries=retries + 1)
        state = states.SUCCESS if ret.info is None else ret.info.state
        return EagerResult(task_id, retval, state, traceback=tb, name=self.name)

    def AsyncResult(self, task_id: str, **kwargs: Any) -> Any:
        """Return the result of ``task_id`` as this task's result class."""
        return self._get_app().AsyncResult(task_id, backend=self.backend,
                                           task_name=self.name, **kwargs)

    # -- signatures ----------------------------------------------------------

    def signature(self, args: Any = None, *starargs: Any, **starkwargs: Any) -> Any:
        """Return a :class:`~celery.canvas.Signature` of this task."""
        from celery.canvas import signature
        starkwargs.setdefault('app', self.app)
        return signature(self, args, *starargs, **starkwargs)

    subtask = signature

    def s(self, *args: Any, **kwargs: Any) -> Any:
        """Shortcut: ``task.s(*a, **k)`` is ``task.signature(a, k)``."""
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Any:
        """Immutable signature: results of parents are not passed to it."""
        return self.signature(args, kwargs, immutable=True)

    def chunks(self, it: Any, n: int) -> Any:
        """Split the argument tuples of ``it`` into ``n``-sized chunk tasks."""
        from celery import chunks
        return chunks(self.s(), it, n, app=self.app)

    def map(self, it: Any) -> Any:
        """Apply the task to each argument of ``it`` in one task."""
        from celery import xmap
        return xmap(self.s(), it, app=self.app)

    def starmap(self, it: Any) -> Any:
        """Apply the task to each argument tuple of ``it`` in one task."""
        from celery import xstarmap
        return xstarmap(self.s(), it, app=self.app)

    def send_event(self, type_: str, retry: bool = True, retry_policy: dict | None = None,
                   **fields: Any) -> None:
        """Send a custom event (e.g. for Flower) from inside a task."""
        req = self.request
        if retry_policy is None:
            retry_policy = self.app.conf.task_publish_retry_policy
        with self.app.events.default_dispatcher(hostname=req.hostname) as d:
            return d.send(type_, uuid=req.id, retry=retry, retry_policy=retry_policy, **fields)

    def replace(self, sig: Any) -> None:
        """Replace this task by ``sig``, which takes over its place in a workflow.

        Always raises :exc:`~celery.exceptions.Ignore`.
        """
        from celery.canvas import _replace_task
        return _replace_task(self, sig)

    def add_to_chord(self, sig: Any, lazy: bool = False) -> Any:
        """Add ``sig`` to the chord this task belongs to (needs a key-value backend)."""
        from celery.canvas import _add_to_chord
        return _add_to_chord(self, sig, lazy=lazy)

    def update_state(self, task_id: str | None = None, state: str | None = None,
                     meta: Any = None, **kwargs: Any) -> None:
        """Store a state (a custom one is fine) and its meta for this task."""
        if task_id is None:
            task_id = self.request.id
        self.backend.store_result(task_id, meta, state, request=self.request, **kwargs)

    # -- handlers (override in subclasses) -----------------------------------

    def before_start(self, task_id: str, args: tuple, kwargs: dict) -> None:
        """Run by the worker before the task starts."""

    def on_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict) -> None:
        """Run by the worker when the task succeeds."""

    def on_retry(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict,
                 einfo: Any) -> None:
        """Run by the worker when the task is to be retried."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict,
                   einfo: Any) -> None:
        """Run by the worker when the task fails."""

    def after_return(self, status: str, retval: Any, task_id: str, args: tuple,
                     kwargs: dict, einfo: Any) -> None:
        """Run by the worker after the task returned, whatever the outcome."""

    def on_replace(self, sig: Any) -> Any:
        """Put ``sig`` in this task's place (see :meth:`replace`).

        Override to act on the replacement, ending with
        ``return super().on_replace(sig)``.
        """
        from celery.canvas import _apply_replacement
        return _apply_replacement(self, sig)

    def add_trail(self, result: Any) -> Any:
        if self.trail:
            self.request.children.append(result)
        return result

    # -- request stack -------------------------------------------------------

    def push_request(self, *args: Any, **kwargs: Any) -> None:
        self.request_stack.push(Context(*args, **kwargs))

    def pop_request(self) -> None:
        self.request_stack.pop()

    def __repr__(self) -> str:
        return _reprtask(self, R_INSTANCE)

    def _get_request(self) -> Context:
        """The request of the current execution (a default one when idle)."""
        req = self.request_stack.top
        if req is None:
            if self._default_request is None:
                self._default_request = Context()
            return self._default_request
        return req

    request = property(_get_request)

    def _get_exec_options(self) -> dict:
        if self._exec_options is None:
            self._exec_options = extract_exec_options(self)
        return self._exec_options

    @property
    def backend(self) -> Any:
        """The result backend of this task (the app's unless set)."""
        backend = self._backend
        if backend is None:
            return self.app.backend
        return backend

    @backend.setter
    def backend(self, value: Any) -> None:
        self._backend = value

    @property
    def __name__(self) -> str:
        return self.__class__.__name__


def resolve_all_annotations(annotations: Any, task: Any) -> Any:
    from celery.app.annotations import resolve_all
    return resolve_all(annotations, task)


abstract.CallableTask.register(Task)
BaseTask = Task  # compat alias

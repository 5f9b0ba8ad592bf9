"""The :class:`Celery` application: configuration, task registry and the subsystems.

An app is cheap to create: configuration is read, tasks are created and the
broker is contacted only when first needed (lazy finalization).
"""
from __future__ import annotations

import os
import threading
import warnings
import weakref
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from kombu.clocks import LamportClock
from kombu.common import oid_from
from kombu.utils.objects import cached_property

from celery import signals
from celery._state import (_announce_app_finalized, _deregister_app,
                           _register_app, _set_current_app, _task_stack,
                           connect_on_app_finalize, get_current_app,
                           get_current_worker_task, set_default_app)
from celery.app.registry import TaskRegistry
from celery.app.utils import _unpickle_app, _unpickle_app_v2
from celery.exceptions import AlwaysEagerIgnored, ImproperlyConfigured
from celery.local import PromiseProxy, maybe_evaluate
from celery.utils.dispatch import Signal
from celery.utils.functional import first, head_from_fun, maybe_list
from celery.utils.imports import gen_task_name, instantiate, symbol_by_name
from celery.utils.log import get_logger
from celery.utils.objects import FallbackContext
from celery.utils.uuid import uuid

from . import _config

__all__ = ('Celery',)

logger = get_logger(__name__)

BUILTIN_FIXUPS = frozenset({'celery.fixups.django:fixup'})
USING_EXECV = os.environ.get('FORKED_BY_MULTIPROCESSING')

ERR_EXPIRES_PAST = """\
%s has an expiration date in the past (%ss ago).
The expiration is set to 0 instead, so the message is discarded if not consumed at once.\
"""


def _after_fork_cleanup_app(app: 'Celery') -> None:
    try:
        app._after_fork()
    except Exception as exc:  # pragma: no cover - must never break a fork
        logger.info('after forker raised exception: %r', exc, exc_info=True)


_apps_to_reset: weakref.WeakSet = weakref.WeakSet()

#: Not given (``send_task``'s named publish options).
_UNSET: Any = object()
#: The publish options ``send_task`` names (see there), in ``Task`` exec-option order.
_PUBLISH_OPTIONS = ('queue', 'routing_key', 'exchange', 'priority', 'serializer',
                    'delivery_mode', 'compression', 'immediate', 'mandatory')
_ALL_UNSET = (_UNSET,) * len(_PUBLISH_OPTIONS)


def _reset_apps_after_fork() -> None:
    for app in list(_apps_to_reset):
        _after_fork_cleanup_app(app)


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_reset_apps_after_fork)


class AppPickler:
    """Old-style app pickling (kept for apps defining ``__reduce_args__``)."""

    def __call__(self, cls: type, *args: Any) -> 'Celery':
        kwargs = self.build_kwargs(*args)
        app = self.construct(cls, **kwargs)
        self.prepare(app, **kwargs)
        return app

    def prepare(self, app: 'Celery', **kwargs: Any) -> None:
        app.conf.update(kwargs['changes'])

    def build_kwargs(self, *args: Any) -> dict:
        return self.build_standard_kwargs(*args)

    def build_standard_kwargs(self, main: Any, changes: Any, loader: Any, backend: Any,
                              amqp: Any, events: Any, log: Any, control: Any,
                              accept_magic_kwargs: Any, config_source: Any = None) -> dict:
        return {'main': main, 'loader': loader, 'backend': backend, 'amqp': amqp,
                'changes': changes, 'events': events, 'log': log, 'control': control,
                'set_as_current': False, 'config_source': config_source}

    def construct(self, cls: type, **kwargs: Any) -> 'Celery':
        return cls(**kwargs)


class Celery:
    """A Celery application: holds configuration, tasks and connections.

    Arguments:
        main: Name of the main module, the prefix of generated task names
            when tasks are defined in ``__main__``.
        broker: URL of the default broker (the ``broker_url`` setting).
        backend: The result backend: URL, alias or class (``result_backend``).
        include: Modules every worker imports.
        set_as_current: Make this the current app of the thread.
        autofinalize: If False, using the task registry before
            :meth:`finalize` is an error.
        namespace: Prefix of the setting names in the configuration source
            (``'CELERY'`` reads ``CELERY_BROKER_URL``).
        config_source: A class, object or module name to read settings from.
        changes: Settings to apply on top of the configuration.
        **kwargs: Any setting, by its lower-case name.
    """

    #: Platform name, for the banner.
    SYSTEM = os.uname().sysname if hasattr(os, 'uname') else 'Windows'
    IS_macOS = SYSTEM == 'Darwin'
    IS_WINDOWS = SYSTEM == 'Windows'

    Pickler = AppPickler

    main: str | None = None
    #: Classes (or user-supplied dotted names) of the subsystems; None = built-in.
    amqp_cls: Any = None
    backend_cls: Any = None
    events_cls: Any = None
    loader_cls: Any = None
    log_cls: Any = None
    control_cls: Any = None
    task_cls: Any = None
    registry_cls: Any = TaskRegistry

    builtin_fixups = BUILTIN_FIXUPS

    #: Set by the prefork pool in its children: tasks are run by
    #: :func:`celery.app.trace.fast_trace_task` from raw message bodies.
    use_fast_trace_task = False

    #: Custom command-line options: ``{'worker': {click.Option, ...}, ...}``.
    user_options: Any = None
    #: Custom bootsteps: ``{'worker': {Step, ...}, 'consumer': {...}}``.
    steps: Any = None

    on_configure: Signal | None = None
    on_after_configure: Signal | None = None
    on_after_finalize: Signal | None = None
    on_after_fork: Signal | None = None

    _fixups: list | None = None
    _pool = None
    _conf = None

    def __init__(self, main: str | None = None, loader: Any = None, backend: Any = None,
                 amqp: Any = None, events: Any = None, log: Any = None, control: Any = None,
                 set_as_current: bool = True, tasks: Any = None, broker: str | None = None,
                 include: Iterable[str] | None = None, changes: dict | None = None,
                 config_source: Any = None, fixups: Iterable[str] | None = None,
                 task_cls: Any = None, autofinalize: bool = True,
                 namespace: str | None = None, strict_typing: bool = True,
                 **kwargs: Any) -> None:
        self._local = threading.local()
        self.clock = LamportClock()
        self.main = main
        self.amqp_cls = amqp or self.amqp_cls
        self.events_cls = events or self.events_cls
        self.loader_cls = loader or self._get_default_loader()
        self.log_cls = log or self.log_cls
        self.control_cls = control or self.control_cls
        # custom: given here, set on a subclass, or a subclass's own ``Task``
        self._custom_task_cls_used = (bool(task_cls or self.task_cls)
                                      or type(self).Task is not Celery.Task)
        self.task_cls = task_cls or self.task_cls
        self.set_as_current = set_as_current
        self.registry_cls = symbol_by_name(self.registry_cls)
        self.user_options = defaultdict(set)
        self.steps = defaultdict(set)
        self.autofinalize = autofinalize
        self.namespace = namespace
        self.strict_typing = strict_typing

        self.configured = False
        self._config_source = config_source
        self._pending_defaults: deque = deque()
        self._pending_periodic_tasks: deque = deque()

        self.finalized = False
        self._finalize_mutex = threading.RLock()
        self._pending: deque = deque()
        self._tasks = tasks
        if not isinstance(self._tasks, TaskRegistry):
            self._tasks = self.registry_cls(self._tasks or {})

        self._using_v1_reduce = _defines(self, '__reduce_args__')

        # Constructor arguments become settings, so that pickling the app
        # is just pickling its configuration.
        self._preconf: dict = dict(changes or {})
        self._preconf_set_by_auto: set = set()
        self.__autoset('broker_url', broker)
        self.__autoset('result_backend', backend)
        self.__autoset('include', include)
        for key, value in kwargs.items():
            self.__autoset(key, value)

        self._conf = _config.PendingConfiguration(self._preconf, self._load_config)

        self.fixups = set(self.builtin_fixups) if fixups is None else fixups
        self._fixups = [f for f in (symbol_by_name(fixup)(self) for fixup in self.fixups) if f]

        if self.set_as_current:
            self.set_current()

        self.on_configure = Signal(name='app.on_configure')
        self.on_after_configure = Signal(name='app.on_after_configure',
                                         providing_args={'source'})
        self.on_after_finalize = Signal(name='app.on_after_finalize')
        self.on_after_fork = Signal(name='app.on_after_fork')

        # Apps created with no name get the worker's/shell's main module name.
        self.on_init()
        _register_app(self)
        _apps_to_reset.add(self)

    def _get_default_loader(self) -> Any:
        return os.environ.get('CELERY_LOADER') or self.loader_cls or 'celery.loaders.app:AppLoader'

    def on_init(self) -> None:
        """Called at the end of the constructor; override in subclasses."""

    def __autoset(self, key: str, value: Any) -> None:
        if value is not None:
            self._preconf[key] = value
            self._preconf_set_by_auto.add(key)

    # -- current app ---------------------------------------------------------

    def set_current(self) -> None:
        """Make this the current app of this thread."""
        _set_current_app(self)

    def set_default(self) -> None:
        """Make this the default app of all threads."""
        set_default_app(self)

    def _ensure_after_fork(self) -> None:
        """Kept for API compatibility: fork handling is registered process-wide."""

    def close(self) -> None:
        """Release the connection pools; the app stays usable and reconnects lazily."""
        self._pool = None
        _deregister_app(self)
        pool = self.__dict__.pop('producer_pool_', None)
        if pool is not None:  # pragma: no cover
            pool.force_close_all()

    def __enter__(self) -> 'Celery':
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _after_fork(self) -> None:
        self._pool = None
        try:
            self.__dict__['amqp']._producer_pool = None
        except (AttributeError, KeyError):
            pass
        if self.on_after_fork is not None and self.on_after_fork.receivers:
            self.on_after_fork.send(sender=self)

    # -- starting ------------------------------------------------------------

    def start(self, argv: list | None = None) -> None:
        """Run the ``celery`` command line with this app (``argv`` as in ``sys.argv``)."""
        from celery.bin.celery import celery as celery_cli
        from celery.bin.celery import main as _main
        celery_cli.params[0].default = self
        if argv is None:
            import sys
            argv = sys.argv
        try:
            celery_cli.main(args=argv[1:], standalone_mode=False)
        except SystemExit as exc:
            return exc.code
        finally:
            celery_cli.params[0].default = None
        del _main

    def worker_main(self, argv: list | None = None) -> None:
        """Run ``celery worker`` with this app; ``argv`` must start with ``worker``."""
        if argv is None:
            import sys
            argv = sys.argv
        if 'worker' not in argv:
            raise ValueError("The worker sub-command must be specified in argv.\n"
                             "Use app.start() to programmatically start other commands.")
        self.start(argv=argv)

    # -- tasks ---------------------------------------------------------------

    def task(self, *args: Any, **opts: Any) -> Any:
        """Decorator turning a function into a task of this app.

        Used bare (``@app.task``) or with options (``@app.task(bind=True)``).
        Until the app is finalized it returns a lazy proxy, so that defining
        tasks costs nothing and the app can still be configured.
        """
        if USING_EXECV and opts.get('lazy', True):  # pragma: no cover
            from celery import shared_task
            return shared_task(*args, lazy=False, **opts)

        def inner_create_task_cls(shared: bool = True, filter: Callable | None = None,
                                  lazy: bool = True, **opts: Any) -> Callable:
            def _create_task_cls(fun: Callable) -> Any:
                if shared:
                    def cons(app: Celery) -> Any:
                        return app._task_from_fun(fun, **opts)
                    cons.__name__ = fun.__name__
                    connect_on_app_finalize(cons)
                if not lazy or self.finalized:
                    ret = self._task_from_fun(fun, **opts)
                else:
                    ret = PromiseProxy(self._task_from_fun, (fun,), opts,
                                       __doc__=fun.__doc__)
                    self._pending.append(ret)
                return filter(ret) if filter else ret
            return _create_task_cls

        if len(args) == 1:
            if callable(args[0]):
                return inner_create_task_cls(**opts)(*args)
            raise TypeError('argument 1 to @task() must be a callable')
        if args:
            raise TypeError(f'@task() takes exactly 1 argument ({len(args) + len(opts)} given)')
        return inner_create_task_cls(**opts)

    def type_checker(self, fun: Callable, bound: bool = False) -> Callable:
        return head_from_fun(fun, bound=bound)

    def _task_from_fun(self, fun: Callable, name: str | None = None, base: type | None = None,
                       bind: bool = False, **options: Any) -> Any:
        if not self.finalized and not self.autofinalize:
            raise RuntimeError('Contract breach: app not finalized')
        name = name or self.gen_task_name(fun.__name__, fun.__module__)
        base = base or self.Task

        if name not in self._tasks:
            run = fun if bind else staticmethod(fun)
            task = type(fun.__name__, (base,), dict({
                'app': self,
                'name': name,
                'run': run,
                '_decorated': True,
                '__doc__': fun.__doc__,
                '__module__': fun.__module__,
                '__annotations__': getattr(fun, '__annotations__', {}),
                '__header__': staticmethod(head_from_fun(fun, bound=bind)),
                '__wrapped__': run}, **options))()
            try:
                task.__qualname__ = fun.__qualname__
            except AttributeError:  # pragma: no cover
                pass
            self._tasks[task.name] = task
            task.bind(self)
            from celery.app.autoretry import add_autoretry_behaviour
            add_autoretry_behaviour(task, **options)
        else:
            task = self._tasks[name]
        return task

    def register_task(self, task: Any, **options: Any) -> Any:
        """Register a class-based task (an instance or a class) with this app."""
        if not task.name:
            task_cls = type(task) if not isinstance(task, type) else task
            task.name = self.gen_task_name(task_cls.__name__, task_cls.__module__)
        add_autoretry = options.pop('autoretry', True)
        task = task() if isinstance(task, type) else task
        self.tasks[task.name] = task
        task._app = self
        task.bind(self)
        if add_autoretry:
            from celery.app.autoretry import add_autoretry_behaviour
            add_autoretry_behaviour(task, **options)
        return task

    def gen_task_name(self, name: str, module: str) -> str:
        """Return the name of a task defined as ``name`` in ``module``."""
        return gen_task_name(self, name, module)

    def finalize(self, auto: bool = False) -> None:
        """Create the pending tasks and the shared ones; after this the registry is complete."""
        with self._finalize_mutex:
            if not self.finalized:
                if auto and not self.autofinalize:
                    raise RuntimeError('Contract breach: app not finalized')
                self.finalized = True
                from celery.app import builtins  # noqa: F401  registers the built-in tasks
                _announce_app_finalized(self)
                pending = self._pending
                while pending:
                    maybe_evaluate(pending.popleft())
                for task in self._tasks.values():
                    task.bind(self)
                self.on_after_finalize.send(sender=self)

    @property
    def tasks(self) -> TaskRegistry:
        """The task registry (finalizes the app on first access)."""
        self.finalize(auto=True)
        return self._tasks

    @property
    def pool(self) -> Any:
        """The broker connection pool (not the worker's process pool)."""
        if self._pool is None:
            self._pool = self.connection_for_write().Pool(limit=self.conf.broker_pool_limit)
        return self._pool

    @property
    def current_task(self) -> Any:
        """The task executing in this thread, or None."""
        return _task_stack.top

    @property
    def current_worker_task(self) -> Any:
        """The task the worker executes in this thread (eager calls excluded), or None."""
        return get_current_worker_task()

    # -- configuration -------------------------------------------------------

    def add_defaults(self, fun: Any) -> None:
        """Add default settings, from a mapping or a callable returning one (called lazily)."""
        if not callable(fun):
            d, fun = fun, lambda: d
        if self.configured:
            return self._conf.add_defaults(fun())
        self._pending_defaults.append(fun)

    def config_from_object(self, obj: Any, silent: bool = False, force: bool = False,
                           namespace: str | None = None) -> Any:
        """Read settings from a module (or its name), class, or object.

        The source is read lazily, when the configuration is first used,
        unless ``force`` is set or the app is already configured.
        """
        self._config_source = obj
        self.namespace = namespace or self.namespace
        if force or self.configured:
            self._conf = _config.PendingConfiguration(self._preconf, self._load_config)
            self.configured = False
            if self.loader.config_from_object(obj, silent=silent):
                return self.conf
        return None

    def config_from_envvar(self, variable_name: str, silent: bool = False,
                           force: bool = False) -> Any:
        """Read settings from the module named by the environment variable."""
        module_name = os.environ.get(variable_name)
        if not module_name:
            if silent:
                return False
            raise ImproperlyConfigured(
                f'The environment variable {variable_name!r} is not set, '
                'and has to be set to a module name to read the configuration from.')
        return self.config_from_object(module_name, silent=silent, force=force)

    def config_from_cmdline(self, argv: list, namespace: str = 'celery') -> None:
        self._conf.update(self.loader.cmdline_config_parser(argv, namespace))

    def autodiscover_tasks(self, packages: Any = None, related_name: str = 'tasks',
                           force: bool = False) -> None:
        """Import ``<package>.tasks`` of each package, when the worker imports modules.

        ``packages`` may be a callable returning the list (evaluated lazily);
        with ``force`` the modules are imported now.
        """
        if force:
            return self._autodiscover_tasks(packages, related_name)
        signals.import_modules.connect(
            _Discoverer(self, packages, related_name), weak=False, sender=self)
        return None

    def _autodiscover_tasks(self, packages: Any, related_name: str, **kwargs: Any) -> Any:
        if packages:
            return self._autodiscover_tasks_from_names(packages, related_name)
        return self._autodiscover_tasks_from_fixups(related_name)

    def _autodiscover_tasks_from_names(self, packages: Any, related_name: str) -> Any:
        return self.loader.autodiscover_tasks(
            packages() if callable(packages) else packages, related_name)

    def _autodiscover_tasks_from_fixups(self, related_name: str) -> Any:
        return self._autodiscover_tasks_from_names([
            pkg for fixup in self._fixups if hasattr(fixup, 'autodiscover_tasks')
            for pkg in fixup.autodiscover_tasks()], related_name=related_name)

    def setup_security(self, allowed_serializers: Any = None, key: str | None = None,
                       key_password: bytes | None = None, cert: str | None = None,
                       store: str | None = None, digest: str | None = None,
                       serializer: str = 'json') -> None:
        """Enable message signing (the ``auth`` serializer); see :mod:`celery.security`."""
        from celery.security import setup_security
        return setup_security(allowed_serializers, key, key_password, cert, store,
                              digest, serializer, app=self)

    def prepare_config(self, c: Any) -> Any:
        """Hook to transform the configuration source before it is read."""
        return find_deprecated_settings(c)

    @property
    def conf(self) -> Any:
        """The configuration (loaded on first read)."""
        if self._conf is None:
            self._conf = _config.PendingConfiguration(self._preconf, self._load_config)
        return self._conf

    @conf.setter
    def conf(self, value: Any) -> None:
        self._conf = value

    def _load_config(self) -> Any:
        if isinstance(self.on_configure, Signal):
            self.on_configure.send(sender=self)
        else:  # pragma: no cover - used as a method in subclasses
            self.on_configure()
        if self._config_source:
            self.loader.config_from_object(self._config_source)
        self.configured = True
        from celery.app.utils import detect_settings
        settings = detect_settings(
            self.prepare_config(self.loader.conf), self._preconf,
            ignore_keys=self._preconf_set_by_auto, prefix=self.namespace)
        if isinstance(self._conf, _config.PendingConfiguration):
            self._conf._settings = settings
        self._conf = settings
        pending_def = self._pending_defaults
        while pending_def:
            _config.add_defaults(settings, maybe_evaluate(pending_def.popleft()()))
        pending_beat = self._pending_periodic_tasks
        while pending_beat:
            key, entry, name = pending_beat.popleft()
            self._add_periodic_task(key, entry, name=name)
        self.on_after_configure.send(sender=self, source=settings)
        return settings

    def either(self, default_key: str, *defaults: Any) -> Any:
        """Return the first of ``defaults`` that is not None, else the setting."""
        return first(None, [first(None, defaults), self.conf.get(default_key)])

    def bugreport(self) -> str:
        """Return a report of versions and settings, for bug reports."""
        from celery.app.utils import bugreport
        return bugreport(self)

    # -- periodic tasks ------------------------------------------------------

    def add_periodic_task(self, schedule: Any, sig: Any, args: tuple = (), kwargs: Any = (),
                          name: str | None = None, **opts: Any) -> str:
        """Add an entry to ``beat_schedule``; returns the entry's key.

        Usually called from an ``on_after_configure`` receiver.
        """
        key, entry = self._sig_to_periodic_task_entry(schedule, sig, args, kwargs, name, **opts)
        if self.configured:
            self._add_periodic_task(key, entry, name=name)
        else:
            self._pending_periodic_tasks.append((key, entry, name))
        return key

    def _sig_to_periodic_task_entry(self, schedule: Any, sig: Any, args: tuple = (),
                                    kwargs: Any = None, name: str | None = None,
                                    **opts: Any) -> tuple:
        from celery.canvas import Signature
        kwargs = dict(kwargs) if kwargs else {}
        sig = (sig.clone(args, kwargs) if isinstance(sig, Signature)
               else self.signature(sig.name, args, kwargs))
        return name or repr(sig), {
            'schedule': schedule, 'task': sig.name, 'args': sig.args,
            'kwargs': sig.kwargs, 'options': dict(sig.options, **opts)}

    def _add_periodic_task(self, key: str, entry: dict, name: str | None = None) -> None:
        if name is None and key in self._conf.beat_schedule:
            logger.warning(
                'Periodic task key=%r shadowed a previous unnamed periodic task. '
                'Pass a name kwarg to add_periodic_task to silence this warning.', key)
        self._conf.beat_schedule[key] = entry

    # -- calling -------------------------------------------------------------

    def send_task(self, name: str, args: Any = None, kwargs: Any = None,
                  countdown: float | None = None, eta: datetime | None = None,
                  task_id: str | None = None, producer: Any = None, connection: Any = None,
                  router: Any = None, result_cls: Any = None, expires: Any = None,
                  publisher: Any = None, link: Any = None, link_error: Any = None,
                  add_to_parent: bool = True, group_id: str | None = None,
                  group_index: int | None = None, retries: int = 0, chord: Any = None,
                  reply_to: str | None = None, time_limit: float | None = None,
                  soft_time_limit: float | None = None, root_id: str | None = None,
                  parent_id: str | None = None, route_name: str | None = None,
                  shadow: str | None = None, chain: Any = None, task_type: Any = None,
                  replaced_task_nesting: int = 0, *, queue: Any = _UNSET,
                  routing_key: Any = _UNSET, exchange: Any = _UNSET, priority: Any = _UNSET,
                  serializer: Any = _UNSET, delivery_mode: Any = _UNSET,
                  compression: Any = _UNSET, immediate: Any = _UNSET,
                  mandatory: Any = _UNSET, **options: Any) -> Any:
        """Send a task message by name; the task needn't be registered here.

        Takes the same options as :meth:`Task.apply_async`; returns an
        :class:`~celery.result.AsyncResult` (or ``result_cls``).
        """
        # The publish options every Task.apply_async passes are named above
        # only because Python binds a named keyword much faster than one
        # that falls into **options (a tenth of a task call); they go back
        # into ``options``, first, as if they had not been named.
        values = (queue, routing_key, exchange, priority, serializer, delivery_mode,
                  compression, immediate, mandatory)
        if values != _ALL_UNSET:
            named = {key: value for key, value in zip(_PUBLISH_OPTIONS, values)
                     if value is not _UNSET}
            named.update(options)
            options = named
        parent = have_parent = None
        amqp = self.amqp
        task_id = task_id or uuid()
        producer = producer or publisher
        router = router or amqp.router
        conf = self.conf
        if conf.get('task_always_eager'):
            warnings.warn(AlwaysEagerIgnored(
                'task_always_eager has no effect on send_task'), stacklevel=2)

        ignore_result = options.pop('ignore_result', None)
        options = router.route(options, route_name or name, args, kwargs, task_type)
        if expires is not None:
            expires_s = self._expires_in_seconds(expires)
            if expires_s < 0:
                logger.warning(ERR_EXPIRES_PAST, task_id, -expires_s)
                expires_s = 0
            options['expiration'] = expires_s

        if not root_id or not parent_id:
            parent = get_current_worker_task()
            have_parent = True
            if parent:
                if not root_id:
                    root_id = parent.request.root_id or parent.request.id
                if not parent_id:
                    parent_id = parent.request.id
                if conf.get('task_inherit_parent_priority'):
                    options.setdefault(
                        'priority', (parent.request.delivery_info or {}).get('priority'))

        message = amqp.create_task_message(
            task_id, name, args, kwargs, countdown, eta, group_id, group_index,
            expires, retries, chord,
            maybe_list(link), maybe_list(link_error),
            reply_to or self.thread_oid, time_limit, soft_time_limit,
            conf.get('task_send_sent_event'),
            root_id, parent_id, shadow, chain,
            ignore_result=ignore_result,
            replaced_task_nesting=replaced_task_nesting, **options)

        for stamp in options.pop('stamped_headers', None) or ():
            options.pop(stamp, None)

        if connection:
            producer = amqp.Producer(connection, auto_declare=False)

        if producer is None and type(self).producer_or_acquire is Celery.producer_or_acquire:
            # The pool's producer itself is the context (what producer_or_acquire gives).
            with amqp.producer_pool.acquire(block=True) as P:
                self._publish_task(amqp, P, name, message, task_id, ignore_result, options)
        elif producer is None:  # a subclass acquires its own way
            with self.producer_or_acquire() as P:
                self._publish_task(amqp, P, name, message, task_id, ignore_result, options)
        else:
            self._publish_task(amqp, producer, name, message, task_id, ignore_result, options)
        result = (result_cls or self.AsyncResult)(task_id)
        # Set after construction: a custom result class may not take it.
        result.ignored = ignore_result
        if add_to_parent:
            if not have_parent:
                parent = get_current_worker_task()
            if parent:
                parent.add_trail(result)
        return result

    def _publish_task(self, amqp: Any, producer: Any, name: str, message: Any, task_id: str,
                      ignore_result: Any, options: dict) -> None:
        """Subscribe to the result (unless ignored), then publish; transport
        errors become kombu's :exc:`~kombu.exceptions.OperationalError`."""
        try:
            if not ignore_result:
                self.backend.on_task_call(producer, task_id)
            amqp.send_task_message(producer, name, message, **options)
        except Exception:
            with producer.connection._reraise_as_library_errors():
                raise

    def _expires_in_seconds(self, expires: Any) -> float:
        if isinstance(expires, datetime):
            from celery.utils.time import maybe_make_aware
            return (maybe_make_aware(expires) - self.now()).total_seconds()
        if isinstance(expires, str):
            from celery.utils.time import maybe_make_aware
            return (maybe_make_aware(datetime.fromisoformat(expires)) - self.now()).total_seconds()
        if isinstance(expires, timedelta):
            return expires.total_seconds()
        return float(expires)

    # -- connections ---------------------------------------------------------

    def connection_for_read(self, url: str | None = None, **kwargs: Any) -> Any:
        """Return a (lazy) connection for consuming: ``broker_read_url`` by default."""
        return self._connection(url or self.conf.broker_read_url, **kwargs)

    def connection_for_write(self, url: str | None = None, **kwargs: Any) -> Any:
        """Return a (lazy) connection for publishing: ``broker_write_url`` by default."""
        return self._connection(url or self.conf.broker_write_url, **kwargs)

    def connection(self, hostname: str | None = None, userid: str | None = None,
                   password: str | None = None, virtual_host: str | None = None,
                   port: int | None = None, ssl: Any = None, connect_timeout: float | None = None,
                   transport: Any = None, transport_options: dict | None = None,
                   heartbeat: float | None = None, login_method: str | None = None,
                   failover_strategy: Any = None, **kwargs: Any) -> Any:
        """Return a lazy broker connection (prefer the ``_for_read``/``_for_write`` forms)."""
        return self._connection(
            hostname or self.conf.broker_write_url, userid=userid, password=password,
            virtual_host=virtual_host, port=port, ssl=ssl, connect_timeout=connect_timeout,
            transport=transport, transport_options=transport_options, heartbeat=heartbeat,
            login_method=login_method, failover_strategy=failover_strategy, **kwargs)

    broker_connection = connection

    def _connection(self, url: Any, userid: str | None = None, password: str | None = None,
                    virtual_host: str | None = None, port: int | None = None, ssl: Any = None,
                    connect_timeout: float | None = None, transport: Any = None,
                    transport_options: dict | None = None, heartbeat: float | None = None,
                    login_method: str | None = None, failover_strategy: Any = None,
                    **kwargs: Any) -> Any:
        from celery.transports import connection_class
        conf = self.conf
        transport = transport or conf.broker_transport
        options = dict(conf.broker_transport_options or {}, **(transport_options or {}))
        return connection_class(url, transport, options)(
            url,
            userid or conf.get('broker_user'),
            password or conf.get('broker_password'),
            virtual_host or conf.get('broker_vhost'),
            port or conf.get('broker_port'),
            transport=transport,
            ssl=self.either('broker_use_ssl', ssl),
            heartbeat=heartbeat,
            login_method=login_method or conf.broker_login_method,
            failover_strategy=failover_strategy or conf.broker_failover_strategy,
            transport_options=options,
            connect_timeout=self.either('broker_connection_timeout', connect_timeout),
        )

    def connection_or_acquire(self, connection: Any = None, pool: bool = True,
                              *_: Any, **__: Any) -> FallbackContext:
        """Context: the given connection, or one acquired from the pool."""
        return FallbackContext(connection, self._acquire_connection, pool=pool)

    default_connection = connection_or_acquire

    def _acquire_connection(self, pool: bool = True) -> Any:
        if pool:
            return self.pool.acquire(block=True)
        return self.connection_for_write()

    def producer_or_acquire(self, producer: Any = None) -> FallbackContext:
        """Context: the given producer, or one acquired from the producer pool."""
        return FallbackContext(producer, self.producer_pool.acquire, block=True)

    default_producer = producer_or_acquire

    @property
    def producer_pool(self) -> Any:
        return self.amqp.producer_pool

    # -- misc ----------------------------------------------------------------

    def now(self) -> datetime:
        """Return the current time, aware, in the app's time zone."""
        return datetime.now(self.timezone)

    def uses_utc_timezone(self) -> bool:
        """Return True if the app's time zone is UTC."""
        from celery.utils.time import timezone
        return self.timezone == timezone.utc

    def select_queues(self, queues: Iterable[str] | None = None) -> None:
        """Consume only from ``queues`` (names) of ``task_queues``."""
        return self.amqp.queues.select(queues)

    def signature(self, *args: Any, **kwargs: Any) -> Any:
        """Return a :class:`~celery.canvas.Signature` bound to this app."""
        kwargs['app'] = self
        from celery.canvas import signature
        return signature(*args, **kwargs)

    def subclass_with_self(self, Class: Any, name: str | None = None, attribute: str = 'app',
                           reverse: str | None = None, keep_reduce: bool = False,
                           **kw: Any) -> type:
        """Return a subclass of ``Class`` whose ``attribute`` is this app.

        Used for ``app.Worker``, ``app.AsyncResult`` etc.; instances pickle as
        instances of ``Class`` unless ``keep_reduce``.
        """
        Class = symbol_by_name(Class)
        reverse = reverse if reverse else Class.__name__

        def __reduce__(self: Any) -> Any:
            return _unpickle_appattr, (reverse, self.__reduce_args__())

        attrs = dict({attribute: self, '__module__': Class.__module__,
                      '__doc__': Class.__doc__}, **kw)
        if not keep_reduce:
            attrs['__reduce__'] = __reduce__
        return type(name or Class.__name__, (Class,), attrs)

    def _rgetattr(self, path: str) -> Any:
        obj = self
        for part in path.split('.'):
            obj = getattr(obj, part)
        return obj

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.main or "__main__"} at {id(self):#x}>'

    def __reduce__(self) -> Any:
        if self._using_v1_reduce:
            return _unpickle_app, (self.__class__, self.Pickler) + self.__reduce_args__()
        return _unpickle_app_v2, (self.__class__, self.__reduce_keys__())

    def __reduce_keys__(self) -> dict:
        """Constructor keywords that rebuild this app in another process."""
        return {
            'main': self.main,
            'changes': (self._conf.changes if self.configured and hasattr(self._conf, 'changes')
                        else self._preconf),
            'loader': self.loader_cls,
            'backend': self.backend_cls,
            'amqp': self.amqp_cls,
            'events': self.events_cls,
            'log': self.log_cls,
            'control': self.control_cls,
            'fixups': self.fixups,
            'config_source': self._config_source,
            'task_cls': self.task_cls,
            'namespace': self.namespace,
        }

    def __reduce_args__(self) -> tuple:  # pragma: no cover - old protocol
        return (self.main, self._conf.changes if self.configured else {},
                self.loader_cls, self.backend_cls, self.amqp_cls, self.events_cls,
                self.log_cls, self.control_cls, False, self._config_source)

    # -- subsystems (created on first use) -----------------------------------

    @cached_property
    def Worker(self) -> type:
        """The ``celery worker`` program class, bound to this app."""
        from celery.apps.worker import Worker
        return self.subclass_with_self(Worker)

    @cached_property
    def WorkController(self, **kwargs: Any) -> type:
        """The embeddable worker class, bound to this app."""
        from celery.worker import WorkController
        return self.subclass_with_self(WorkController)

    @cached_property
    def Beat(self, **kwargs: Any) -> type:
        """The ``celery beat`` program class, bound to this app."""
        from celery.apps.beat import Beat
        return self.subclass_with_self(Beat)

    @cached_property
    def Task(self) -> type:
        """The base task class of this app."""
        return self.create_task_cls()

    def create_task_cls(self) -> type:
        if self.task_cls is None:
            from celery.app.task import Task
            base = Task
        else:
            base = symbol_by_name(self.task_cls)
        return self.subclass_with_self(base, name='Task', attribute='_app',
                                       keep_reduce=True, abstract=True)

    @cached_property
    def annotations(self) -> Any:
        from celery.app.annotations import prepare
        return prepare(self.conf.task_annotations)

    @cached_property
    def AsyncResult(self) -> type:
        """The result class of this app (``app.AsyncResult(task_id)``)."""
        from celery.result import AsyncResult
        return self.subclass_with_self(AsyncResult)

    @cached_property
    def ResultSet(self) -> type:
        from celery.result import ResultSet
        return self.subclass_with_self(ResultSet)

    @cached_property
    def GroupResult(self) -> type:
        """The group result class of this app."""
        from celery.result import GroupResult
        return self.subclass_with_self(GroupResult)

    @cached_property
    def oid(self) -> str:
        """Universally unique id of this app instance."""
        return oid_from(self, threads=False)

    @property
    def thread_oid(self) -> str:
        """Per-thread id of this app (the reply-to address of its messages)."""
        try:
            return self._local.oid
        except AttributeError:
            self._local.oid = new_oid = oid_from(self, threads=True)
            return new_oid

    @cached_property
    def amqp(self) -> Any:
        """Messaging: queues, routing, task messages (:class:`~celery.app.amqp.AMQP`)."""
        if self.amqp_cls is None:
            from celery.app.amqp import AMQP
            return AMQP(self)
        return instantiate(self.amqp_cls, app=self)

    @property
    def _backend_cache(self) -> Any:
        return getattr(self._local, 'backend', None)

    @property
    def backend(self) -> Any:
        """The result backend (one per thread unless it is thread safe)."""
        if self.conf.get('result_backend_thread_safe'):
            try:
                return self.__dict__['_shared_backend']
            except KeyError:
                backend = self.__dict__['_shared_backend'] = self._get_backend()
                return backend
        try:
            return self._local.backend
        except AttributeError:
            self._local.backend = new_backend = self._get_backend()
            return new_backend

    def _get_backend(self) -> Any:
        from celery.app.backends import by_url
        backend, url = by_url(self.backend_cls or self.conf.result_backend, self.loader)
        return backend(app=self, url=url)

    @cached_property
    def loader(self) -> Any:
        """The loader: where configuration and task modules come from."""
        from celery.loaders import get_loader_cls
        return get_loader_cls(self.loader_cls)(app=self)

    @cached_property
    def control(self) -> Any:
        """Remote control of workers (:class:`~celery.app.control.Control`)."""
        if self.control_cls is None:
            from celery.app.control import Control
            return Control(app=self)
        return instantiate(self.control_cls, app=self)

    @cached_property
    def events(self) -> Any:
        """Sending and receiving events (:class:`~celery.app.events.Events`)."""
        if self.events_cls is None:
            from celery.app.events import Events
            return Events(app=self)
        return instantiate(self.events_cls, app=self)

    @cached_property
    def log(self) -> Any:
        """Logging set-up (:class:`~celery.app.log.Logging`)."""
        if self.log_cls is None:
            from celery.app.log import Logging
            return Logging(app=self)
        return instantiate(self.log_cls, app=self)

    @cached_property
    def timezone(self) -> Any:
        """The app's time zone: the ``timezone`` setting, else UTC (or local time
        when ``enable_utc`` is off)."""
        from celery.utils.time import timezone
        conf = self.conf
        if not conf.timezone:
            return timezone.utc if conf.enable_utc else timezone.local
        return timezone.get_timezone(conf.timezone)


def _unpickle_appattr(reverse_name: str, args: tuple) -> Any:
    """Rebuild an ``app.Xxx`` instance from the current app."""
    return get_current_app()._rgetattr(reverse_name)(*args)


def _defines(obj: Any, attr: str) -> bool:
    """Return True if ``attr`` is defined by a subclass of ``Celery``, not by it."""
    for cls in type(obj).__mro__:
        if cls is Celery:
            return False
        if attr in cls.__dict__:
            return True
    return False


class _Discoverer:
    """Runs autodiscovery when the worker imports the default modules."""

    def __init__(self, app: Celery, packages: Any, related_name: str) -> None:
        self.app, self.packages, self.related_name = app, packages, related_name

    def __call__(self, sender: Any = None, **kwargs: Any) -> Any:
        return self.app._autodiscover_tasks(self.packages, self.related_name)


def find_deprecated_settings(source: Any) -> Any:
    """Warn about settings Celery 5 deprecated (kept as a hook; returns ``source``)."""
    return source

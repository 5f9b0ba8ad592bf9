"""The loader base class: configuration sources, task-module imports, worker hooks."""
from __future__ import annotations

import importlib
import os
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from kombu.utils.objects import cached_property

from celery import signals
from celery.utils.collections import DictAttribute, force_mapping
from celery.utils.functional import maybe_list
from celery.utils.imports import (NotAPackage, find_module, import_from_cwd,
                                  symbol_by_name)

__all__ = ('BaseLoader', 'autodiscover_tasks', 'find_related_module')

_RACE_PROTECTION = False

CONFIG_INVALID_NAME = """\
Error: Module '{module}' doesn't exist, or it's not a valid \
Python module name.
"""

CONFIG_WITH_SUFFIX = CONFIG_INVALID_NAME + """\
Did you mean '{suggest}'?
"""

unconfigured = object()


class BaseLoader:
    """Where an app's configuration and task modules come from.

    Subclasses override :meth:`read_configuration`; the worker calls the
    ``on_*`` hooks at its start, at each task and at shutdown.
    """

    builtin_modules = frozenset()
    configured = False
    override_backends: dict = {}
    worker_initialized = False
    _conf = unconfigured

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self.app = app
        self.task_modules: set = set()

    def now(self, utc: bool = True) -> datetime:
        return datetime.now(timezone.utc) if utc else datetime.now()

    # -- hooks overridable by subclasses ------------------------------------

    def on_task_init(self, task_id: str, task: Any) -> None:
        """Called before a task is executed."""

    def on_process_cleanup(self) -> None:
        """Called after a task is executed."""

    def on_worker_init(self) -> None:
        """Called when the worker starts."""

    def on_worker_shutdown(self) -> None:
        """Called when the worker shuts down."""

    def on_worker_process_init(self) -> None:
        """Called in each pool process as it starts."""

    # -- imports -------------------------------------------------------------

    def import_task_module(self, module: str) -> Any:
        self.task_modules.add(module)
        return self.import_from_cwd(module)

    def import_module(self, module: str, package: str | None = None) -> Any:
        return importlib.import_module(module, package=package)

    def import_from_cwd(self, module: str, imp: Callable | None = None,
                        package: str | None = None) -> Any:
        return import_from_cwd(module, self.import_module if imp is None else imp,
                               package=package)

    def import_default_modules(self) -> list:
        """Import ``imports``, ``include`` and the builtin modules; return the modules."""
        responses = signals.import_modules.send(sender=self.app)
        # A receiver's error stops the imports, as an import error would.
        for _, response in responses or ():
            if isinstance(response, Exception):
                raise response
        return [self.import_task_module(m) for m in self.default_modules]

    def init_worker(self) -> None:
        if not self.worker_initialized:
            self.worker_initialized = True
            self.import_default_modules()
            self.on_worker_init()

    def shutdown_worker(self) -> None:
        self.on_worker_shutdown()

    def init_worker_process(self) -> None:
        self.on_worker_process_init()

    # -- configuration -------------------------------------------------------

    def config_from_object(self, obj: Any, silent: bool = False) -> bool:
        """Read configuration from a module (or its dotted name), a class or a mapping."""
        if isinstance(obj, str):
            try:
                obj = self._smart_import(obj, imp=self.import_from_cwd)
            except (ImportError, AttributeError):
                if silent:
                    return False
                raise
        self._conf = force_mapping(obj)
        if self._conf.get('override_backends') is not None:
            self.override_backends = self._conf['override_backends']
        return True

    def _smart_import(self, path: str, imp: Callable | None = None) -> Any:
        imp = self.import_module if imp is None else imp
        if ':' in path:
            # 'pkg.mod:attr' is an attribute, never a module.
            return symbol_by_name(path, imp=imp)
        try:
            return imp(path)
        except ImportError:
            # 'pkg.mod.attr' might be an attribute of pkg.mod.
            return symbol_by_name(path, imp=imp)

    def _import_config_module(self, name: str) -> Any:
        try:
            self.find_module(name)
        except NotAPackage as exc:
            if name.endswith('.py'):
                raise NotAPackage(CONFIG_WITH_SUFFIX.format(
                    module=name, suggest=name[:-3])) from exc
            raise NotAPackage(CONFIG_INVALID_NAME.format(module=name)) from exc
        return self.import_from_cwd(name)

    def find_module(self, module: str) -> Any:
        return find_module(module)

    def cmdline_config_parser(self, args: Iterable[str], namespace: str = 'celery',
                              re_type: re.Pattern = re.compile(r'\((\w+)\)'),
                              extra_types: dict | None = None,
                              override_types: dict | None = None) -> dict:
        """Parse ``key=value`` pairs from the command line into settings.

        ``(int)``/``(float)``/``(json)`` etc. prefixes on the value choose its type;
        values in Python literal syntax are evaluated safely.
        """
        import ast
        import json
        from celery.app.defaults import Option, find
        types = {'json': json.loads}
        types.update(extra_types or {})
        override_types = override_types or {'tuple': 'json', 'list': 'json', 'dict': 'json'}

        def getarg(arg: str) -> tuple:
            if '=' not in arg:
                raise ValueError(f'Configuration argument must be key=value, not {arg!r}')
            key, value = arg.split('=', 1)
            key = key.lower().replace('.', '_')
            # A leading '_' means the key belongs to the given namespace:
            # '_broker_url' -> 'celery_broker_url' style lookup via find().
            if key.startswith('_') and namespace:
                key = f'{namespace}{key}'
            match = re_type.match(value)
            if match:
                typ = match.group(1)
                value = value[match.end():]
                return key, types[typ](value) if typ in types else Option(
                    type=typ).to_python(value)
            try:
                found = find(key)
            except KeyError:
                found = None
            if found is not None:
                name = '_'.join(part for part in found[:2] if part)
                opt_type = override_types.get(found.type.type, found.type.type)
                if opt_type in types:
                    return name, types[opt_type](value)
                return name, found.type.to_python(value)
            try:
                return key, ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return key, value

        return dict(getarg(arg) for arg in args)

    def read_configuration(self, env: str = 'CELERY_CONFIG_MODULE') -> dict:
        """Return the configuration named by the environment variable ``env``, if set."""
        try:
            custom_config = os.environ[env]
        except KeyError:
            pass
        else:
            if custom_config:
                usercfg = self._import_config_module(custom_config)
                return DictAttribute(usercfg)
        return {}

    def autodiscover_tasks(self, packages: Iterable[str], related_name: str = 'tasks') -> list:
        self.task_modules.update(
            mod.__name__ for mod in autodiscover_tasks(packages or (), related_name) if mod)
        return list(self.task_modules)

    @cached_property
    def default_modules(self) -> tuple:
        return (
            tuple(self.builtin_modules) +
            tuple(maybe_list(self.app.conf.imports)) +
            tuple(maybe_list(self.app.conf.include))
        )

    @property
    def conf(self) -> Any:
        """Configuration as read from the source (loaded on first access)."""
        if self._conf is unconfigured:
            self._conf = self.read_configuration()
        return self._conf


def autodiscover_tasks(packages: Iterable[str], related_name: str = 'tasks') -> list:
    """Import ``<package>.<related_name>`` for each package that has one."""
    global _RACE_PROTECTION
    if _RACE_PROTECTION:
        return ()
    _RACE_PROTECTION = True
    try:
        return [find_related_module(pkg, related_name) for pkg in packages]
    finally:
        _RACE_PROTECTION = False


def find_related_module(package: str, related_name: str) -> Any:
    """Import ``package.related_name``; None if the package has no such module.

    An error raised while importing a module that exists is not hidden.
    """
    if not package:
        raise ValueError('Package name must not be empty.')
    try:
        module = importlib.import_module(package)
        if not related_name and module:
            return module
    except ModuleNotFoundError:
        package, _, _ = package.rpartition('.')
        if not package:
            raise
    module_name = f'{package}.{related_name}'
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = getattr(exc, 'name', None)
        if missing and (missing == module_name or module_name.startswith(missing + '.')):
            return None
        raise

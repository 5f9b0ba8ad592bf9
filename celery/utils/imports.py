"""Resolving user-supplied names (``'pkg.mod:attr'``) and importing modules.

Only user configuration (settings, CLI options, aliases) is resolved from
strings; the library refers to its own classes directly.
"""
from __future__ import annotations

import importlib
import os
import sys
from contextlib import contextmanager
from importlib import import_module, reload
from typing import Any, Iterator

from kombu.utils.imports import symbol_by_name

__all__ = (
    'NotAPackage', 'qualname', 'instantiate', 'symbol_by_name', 'cwd_in_path',
    'find_module', 'import_from_cwd', 'reload_from_cwd', 'module_file',
    'gen_task_name', 'load_extension_class_names', 'load_extension_classes',
)


class NotAPackage(Exception):
    """Raised when importing a package that turns out to be a module."""


def qualname(obj: Any) -> str:
    """Return ``module.QualName`` of a class, function, or of an object's class."""
    if not hasattr(obj, '__name__') and hasattr(obj, '__class__'):
        obj = obj.__class__
    name = getattr(obj, '__qualname__', None) or obj.__name__
    return f'{obj.__module__}.{name}'


def instantiate(name: Any, *args: Any, **kwargs: Any) -> Any:
    """Resolve ``name`` (a class or a dotted name) and call it with the arguments."""
    return symbol_by_name(name)(*args, **kwargs)


@contextmanager
def cwd_in_path() -> Iterator[str | None]:
    """Put the current directory first on ``sys.path`` for the duration."""
    cwd = os.getcwd()
    if cwd in sys.path:
        yield None
        return
    sys.path.insert(0, cwd)
    try:
        yield cwd
    finally:
        try:
            sys.path.remove(cwd)
        except ValueError:  # pragma: no cover
            pass


def find_module(module: str, path: Any = None, imp: Any = None) -> Any:
    """Return the spec of ``module``, raising :exc:`NotAPackage` for a.b where a is a module."""
    imp = import_module if imp is None else imp
    with cwd_in_path():
        try:
            return importlib.util.find_spec(module)
        except ModuleNotFoundError:
            if '.' in module:
                parent = module.rsplit('.', 1)[0]
                parent_mod = imp(parent)
                if not hasattr(parent_mod, '__path__'):
                    raise NotAPackage(parent) from None
            raise


def import_from_cwd(module: str, imp: Any = None, package: str | None = None) -> Any:
    """Import ``module`` with the current directory on the path (as the CLI expects)."""
    imp = import_module if imp is None else imp
    with cwd_in_path():
        return imp(module, package=package)


def reload_from_cwd(module: Any, reloader: Any = None) -> Any:
    reloader = reload if reloader is None else reloader
    with cwd_in_path():
        return reloader(module)


def module_file(module: Any) -> str:
    """Return the source file of a module (``.py`` rather than ``.pyc``)."""
    name = module.__file__
    return name[:-1] if name.endswith('.pyc') else name


def gen_task_name(app: Any, name: str, module_name: str) -> str:
    """Name a task ``module.name``, using the app's main name for ``__main__``."""
    module_name = module_name or '__main__'
    try:
        module = sys.modules[module_name]
    except KeyError:
        module = None
    if module is not None:
        module_name = module.__name__
        if module_name == '__main__' and app.main:
            return '.'.join([app.main, name])
    return '.'.join(part for part in (module_name, name) if part)


def load_extension_class_names(namespace: str) -> Iterator[tuple]:
    """Yield ``(name, 'module:attr')`` for each entry point in ``namespace``."""
    from importlib.metadata import entry_points
    try:
        eps = entry_points(group=namespace)
    except TypeError:  # pragma: no cover - Python < 3.10
        eps = entry_points().get(namespace, [])
    for ep in eps:
        yield ep.name, ep.value


def load_extension_classes(namespace: str) -> Iterator[tuple]:
    for name, class_name in load_extension_class_names(namespace):
        try:
            cls = symbol_by_name(class_name)
        except (ImportError, SyntaxError) as exc:
            import warnings
            warnings.warn(f'Cannot load {namespace} extension {class_name!r}: {exc!r}')
        else:
            yield name, cls

"""Loaders: how an app finds its configuration and the modules to import."""
from __future__ import annotations

from typing import Any

from celery.utils.imports import symbol_by_name

__all__ = ('get_loader_cls',)

LOADER_ALIASES = {
    'app': 'celery.loaders.app:AppLoader',
    'default': 'celery.loaders.default:Loader',
}


def get_loader_cls(loader: Any) -> type:
    """Return the loader class for an alias, a dotted name, or a class."""
    return symbol_by_name(loader, LOADER_ALIASES, imp=_import_from_cwd)


def _import_from_cwd(module: str, *args: Any, **kwargs: Any) -> Any:
    from celery.utils.imports import import_from_cwd
    return import_from_cwd(module, *args, **kwargs)

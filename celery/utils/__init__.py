"""Utility functions, grouped in submodules.

This package re-exports a few helpers under their historic names
(``celery.utils.uuid``, ``celery.utils.nodename`` ...).  They are loaded on
first access, so importing a submodule stays cheap.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = (
    'worker_direct', 'gen_task_name', 'nodename', 'nodesplit',
    'cached_property', 'uuid', 'LOG_LEVELS', 'get_cls_by_name',
    'get_full_cls_name', 'memoize', 'chunks', 'noop', 'import_from_cwd',
    'instantiate', 'gen_unique_id',
)

# ``celery.utils.uuid`` names both a submodule and the function it holds.
# Import the (tiny) submodule now and bind the function afterwards: Python
# sets the package attribute to the module when the submodule first loads,
# which would otherwise hide the function.
from celery.utils import uuid as _uuid_module  # noqa: E402

uuid = gen_unique_id = _uuid_module.uuid

#: Public name -> (module, attribute in that module).
_LAZY = {
    'worker_direct': ('celery.utils.nodenames', 'worker_direct'),
    'nodename': ('celery.utils.nodenames', 'nodename'),
    'nodesplit': ('celery.utils.nodenames', 'nodesplit'),
    'cached_property': ('kombu.utils.objects', 'cached_property'),
    'chunks': ('celery.utils.functional', 'chunks'),
    'memoize': ('celery.utils.functional', 'memoize'),
    'noop': ('celery.utils.functional', 'noop'),
    'gen_task_name': ('celery.utils.imports', 'gen_task_name'),
    'import_from_cwd': ('celery.utils.imports', 'import_from_cwd'),
    'instantiate': ('celery.utils.imports', 'instantiate'),
    'get_full_cls_name': ('celery.utils.imports', 'qualname'),
    'get_cls_by_name': ('celery.utils.imports', 'symbol_by_name'),
    'LOG_LEVELS': ('celery.utils.log', 'LOG_LEVELS'),
}

if TYPE_CHECKING:  # pragma: no cover
    from kombu.utils.objects import cached_property

    from celery.utils.functional import chunks, memoize, noop
    from celery.utils.imports import gen_task_name, import_from_cwd, instantiate
    from celery.utils.imports import qualname as get_full_cls_name
    from celery.utils.imports import symbol_by_name as get_cls_by_name
    from celery.utils.log import LOG_LEVELS
    from celery.utils.nodenames import nodename, nodesplit, worker_direct


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(
            f'module {__name__!r} has no attribute {name!r}') from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Sphinx extension documenting tasks: the ``autotask`` directive and ``py:task`` role.

Add the extension to your ``conf.py``::

    extensions = ['sphinx.ext.autodoc', 'celery.contrib.sphinx']

then document a task with ``.. autotask:: proj.tasks.add`` (or let
``automodule`` with ``:members:`` pick tasks up, with Sphinx's class-based
autodoc). Tasks are rendered like functions, with the signature of the
decorated function (``self`` dropped for bound tasks) and the prefix set by
the ``celery_task_prefix`` option (default ``'(task)'``).
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.domains.python import PyFunction
from sphinx.ext.autodoc import FunctionDocumenter

from celery.app.task import BaseTask

if TYPE_CHECKING:  # pragma: no cover
    from sphinx.application import Sphinx

__all__ = ('TaskDocumenter', 'TaskDirective', 'autodoc_skip_member_handler', 'setup')


def _unproxy(obj: Any) -> Any:
    """The task behind a lazy task proxy (``@app.task`` before finalization)."""
    getter = getattr(type(obj), '_get_current_object', None)
    return getter(obj) if getter is not None else obj


def _is_task(obj: Any) -> bool:
    """True for task instances made from a function (``@app.task``)."""
    try:
        return isinstance(obj, BaseTask) and getattr(obj, '__wrapped__', None) is not None
    except Exception:  # noqa: BLE001 - a lazy task whose app cannot finalize
        return False


class TaskDocumenter(FunctionDocumenter):
    """Autodoc documenter for tasks (``autotask``)."""

    objtype = 'task'
    member_order = 11

    @classmethod
    def can_document_member(cls, member: Any, membername: str, isattr: bool,
                            parent: Any) -> bool:
        return _is_task(member)

    def import_object(self, raiseerror: bool = False) -> bool:
        imported = super().import_object(raiseerror)
        if imported:
            self.object = _unproxy(self.object)
        return imported

    def format_args(self, **kwargs: Any) -> str:
        wrapped = getattr(self.object, '__wrapped__', None)
        if wrapped is None:
            return ''
        try:
            sig = inspect.signature(wrapped)
        except (TypeError, ValueError):
            return ''
        params = list(sig.parameters.values())
        # A bound task's function seen unbound still has its ``self``.
        if params and params[0].name in ('self', 'cls') and not inspect.ismethod(wrapped):
            sig = sig.replace(parameters=params[1:])
        return str(sig).replace('\\', '\\\\')

    def document_members(self, all_members: bool = False) -> None:
        """Tasks have no members worth documenting."""

    def check_module(self) -> bool:
        # A task's class lives in the module of its function: accept it
        # when that is the module being documented.
        modname = getattr(type(_unproxy(self.object)), '__module__', None)
        if modname and modname == self.modname:
            return True
        return super().check_module()


class TaskDirective(PyFunction):
    """The ``py:task`` directive: a function with a task prefix."""

    def get_signature_prefix(self, sig: str) -> list[nodes.Node]:
        prefix = self.env.config.celery_task_prefix
        return [nodes.Text(f'{prefix} ')] if prefix else []


def autodoc_skip_member_handler(app: Sphinx, what: str, name: str, obj: Any,
                                skip: bool, options: Any) -> bool | None:
    """Keep tasks that autodoc would skip (they are not plain functions)."""
    if _is_task(obj):
        return False if skip else None
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the task documenter, directive and options with Sphinx."""
    app.setup_extension('sphinx.ext.autodoc')
    app.add_autodocumenter(TaskDocumenter)
    app.add_directive_to_domain('py', 'task', TaskDirective)
    app.add_config_value('celery_task_prefix', '(task)', 'env')
    app.connect('autodoc-skip-member', autodoc_skip_member_handler)
    return {'parallel_read_safe': True}

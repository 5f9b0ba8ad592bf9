"""Sphinx hooks that keep the -W build honest without silencing warnings.

* Members that belong to other packages (kombu classes kept as class
  attributes, names re-exported from kombu or billiard) are not documented:
  that would copy their docstrings, and their markup errors, into our pages
  and describe one object on several pages. Likewise an undocumented member
  does not borrow the docstring of a foreign class (kombu's
  ``cached_property``) or of a builtin type (``dict``, for an attribute a
  base class sets to a dict).
* Names in signature annotations are resolved exactly. Sphinx 9 marks each
  of them ``refspecific=False`` and its Python domain only tests whether the
  flag is present, so ``-> type`` was looked up fuzzily and matched every
  attribute named ``type``, with an "ambiguous reference" warning.
* Every page is read on every build: a warning is only reported when its
  page is read, so after a failed build an incremental one would pass without
  the fix.
* Help text of the command line is written for the terminal; underscores
  that reST would read as link markup (``CELERY_ prefixed``) are escaped.
"""
from __future__ import annotations

import inspect
import re
from typing import Any, Mapping

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

__all__ = ('skip_foreign_members', 'drop_borrowed_docstring', 'ExactAnnotationRefs',
           'reread_everything', 'escape_help_markup', 'setup')


def skip_foreign_members(app: Sphinx, what: str, name: str, obj: Any, skip: bool,
                         options: Any) -> bool | None:
    """``autodoc-skip-member``: skip classes and functions not defined in celery."""
    if skip:
        return True
    if inspect.isclass(obj) or inspect.isroutine(obj):
        module = getattr(obj, '__module__', None) or ''
        if module != 'celery' and not module.startswith('celery.'):
            return True
    return None


#: Types whose docstring an undocumented attribute may pick up from a value.
_VALUE_TYPES = (dict, list, tuple, set, frozenset, str, bytes, int, float, bool, object)


def drop_borrowed_docstring(app: Sphinx, what: str, name: str, obj: Any,
                            options: Any, lines: list[str]) -> None:
    """``autodoc-process-docstring``: no docstring borrowed from a foreign class.

    An undocumented member can show the docstring of its object's class (a
    kombu descriptor) or, through docstring inheritance, of the value a base
    class gives the same name (``dict``'s docstring for a dict attribute).
    """
    if not lines:
        return
    kind = type(obj)
    module = getattr(kind, '__module__', '') or ''
    candidates = list(_VALUE_TYPES)
    if module != 'celery' and not module.startswith('celery.'):
        candidates.append(kind)
    for candidate in candidates:
        borrowed = candidate.__doc__
        if isinstance(borrowed, str) and \
                lines[:3] == inspect.cleandoc(borrowed).splitlines()[:3]:
            lines.clear()
            return


class ExactAnnotationRefs(SphinxPostTransform):
    """Drop the false ``refspecific`` flag of Python references before resolving."""

    default_priority = 5     # the references are resolved at priority 10

    def run(self, **kwargs: Any) -> None:
        for node in self.document.findall(addnodes.pending_xref):
            if node.get('refdomain') == 'py' and node.get('refspecific') is False:
                del node['refspecific']


def reread_everything(app: Sphinx, env: Any, added: set, changed: set,
                      removed: set) -> list[str]:
    """``env-get-outdated``: every page is outdated."""
    return sorted(env.found_docs)


_TRAILING_UNDERSCORE = re.compile(r'(?<=[A-Za-z0-9])_(?![A-Za-z0-9_`])')


def escape_help_markup(app: Sphinx, ctx: Any, lines: list[str]) -> None:
    """sphinx-click events: escape a word's trailing underscore (not a link)."""
    lines[:] = [_TRAILING_UNDERSCORE.sub(r'\\_', line) for line in lines]


def setup(app: Sphinx) -> Mapping[str, Any]:
    """Connect the hooks (the sphinx-click ones only if sphinx-click is loaded)."""
    app.connect('autodoc-skip-member', skip_foreign_members)
    app.connect('autodoc-process-docstring', drop_borrowed_docstring)
    app.connect('env-get-outdated', reread_everything)
    app.add_post_transform(ExactAnnotationRefs)
    # Usage and environment variables are literal text: left alone.
    for part in ('description', 'options', 'arguments', 'epilog'):
        event = f'sphinx-click-process-{part}'
        if event in app.events.events:
            app.connect(event, escape_help_markup)
    return {'version': '1.0', 'parallel_read_safe': True, 'parallel_write_safe': True}

"""Stamping: labelling every signature of a canvas with custom headers.

A stamp is an execution option listed in the ``stamped_headers`` option; it
travels in the task message headers and is stored in the result when
``result_extended`` is on.  :class:`StampingVisitor` is the extension point:
a subclass returns the stamps for each kind of canvas node it visits.
"""
from __future__ import annotations

import abc
from typing import Any

from celery.utils.functional import maybe_list

__all__ = ('StampingVisitor', 'stamp_headers', 'stamp_links')


class StampingVisitor(abc.ABC):
    """Base class of stamping visitors: each hook returns stamps to add.

    Every hook receives the headers gathered so far as keyword arguments.
    A returned dict may list its stamp names in ``stamped_headers``; without
    that key all its keys are stamps.
    """

    __module__ = 'celery.canvas'

    def on_group_start(self, group: Any, **headers: Any) -> dict:
        """Stamps for the members of ``group`` (called before visiting them)."""
        return {}

    def on_group_end(self, group: Any, **headers: Any) -> None:
        """Called after the members of ``group`` were stamped."""

    def on_chain_start(self, chain: Any, **headers: Any) -> dict:
        """Stamps for the tasks of ``chain`` (called before visiting them)."""
        return {}

    def on_chain_end(self, chain: Any, **headers: Any) -> None:
        """Called after the tasks of ``chain`` were stamped."""

    @abc.abstractmethod
    def on_signature(self, sig: Any, **headers: Any) -> dict:
        """Stamps for one signature."""

    def on_chord_header_start(self, sig: Any, **header: Any) -> dict:
        """Stamps for a chord's header; by default those of :meth:`on_group_start`."""
        return self.on_group_start(sig._header_group(), **header)

    def on_chord_header_end(self, sig: Any, **header: Any) -> None:
        """Called after a chord's header was stamped."""
        self.on_group_end(sig._header_group(), **header)

    def on_chord_body(self, sig: Any, **header: Any) -> dict:
        """Stamps for a chord's body."""
        return {}

    def on_callback(self, callback: Any, **header: Any) -> dict:
        """Extra stamps for a linked callback."""
        return {}

    def on_errback(self, errback: Any, **header: Any) -> dict:
        """Extra stamps for a linked errback."""
        return {}


def _names(d: dict) -> list:
    names = d.get('stamped_headers')
    if names is None:
        return [k for k in d if k != 'stamped_headers']
    return list(maybe_list(names))


def _combine(old: Any, new: Any, append: bool) -> Any:
    if not append:
        return new
    return list(maybe_list(old) or ()) + list(maybe_list(new) or ())


def _merge_into(target: dict, extra: dict, append: bool) -> None:
    for key, value in extra.items():
        if key == 'stamped_headers':
            continue
        target[key] = _combine(target[key], value, append) if key in target else value


def stamp_headers(sig: Any, visitor_headers: dict | None, append_stamps: bool = False,
                  self_headers: bool = True, **headers: Any) -> dict:
    """Return the stamps for ``sig``: ``headers``, then the visitor's, then its own.

    On a conflict the newer stamp wins, or with ``append_stamps`` both are kept
    in a list (oldest first).
    """
    result = {k: v for k, v in headers.items() if k != 'stamped_headers'}
    names = set(_names(headers))
    if visitor_headers:
        _merge_into(result, visitor_headers, append_stamps)
        names.update(_names(visitor_headers))
    if self_headers:
        own_names = list(maybe_list(sig.options.get('stamped_headers')) or ())
        own = {k: sig.options[k] for k in own_names if k in sig.options}
        for key, value in own.items():
            if key in result and append_stamps:
                result[key] = _combine(value, result[key], True)
            elif key not in result:
                result[key] = value
        names.update(own_names)
    result['stamped_headers'] = sorted(names)
    return result


def stamp_links(sig: Any, visitor: Any, append_stamps: bool, headers: dict) -> None:
    """Stamp the callbacks (``link``) and errbacks (``link_error``) of ``sig``."""
    from celery.canvas._base import maybe_signature
    for key, hook in (('link', 'on_callback'), ('link_error', 'on_errback')):
        links = sig.options.get(key)
        if not links:
            continue
        links = sig._with_list_option(key)
        for i, link in enumerate(links):
            link = links[i] = maybe_signature(link, app=sig._app)
            found = getattr(visitor, hook)(link, **headers) if visitor is not None else None
            link_headers = stamp_headers(link, found, append_stamps,
                                         self_headers=False, **headers)
            link.stamp(visitor, append_stamps, **link_headers)

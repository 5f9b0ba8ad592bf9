"""Canvas: signatures and the workflows built from them.

``signature`` / ``Signature`` describe one task call; :class:`chain`,
:class:`group`, :class:`chord`, :class:`chunks`, :class:`xmap` and
:class:`xstarmap` combine them, and all of them are plain dicts on the wire.
Import them from :mod:`celery`; the code lives in private submodules of this
package, but every public class says ``celery.canvas`` as its module.
"""
from __future__ import annotations

from celery.canvas._base import Signature, maybe_signature, maybe_subtask, signature, subtask
from celery.canvas._chain import _chain, chain
from celery.canvas._chord import _chord, chord
from celery.canvas._group import _maybe_group, group, maybe_unroll_group
from celery.canvas._maps import _basemap, chunks, xmap, xstarmap
from celery.canvas._replace import _add_to_chord, _apply_replacement, _replace_task
from celery.canvas._stamping import StampingVisitor

__all__ = (
    'Signature', 'chain', 'xmap', 'xstarmap', 'chunks', 'group', 'chord',
    'signature', 'maybe_signature', 'subtask', 'maybe_subtask',
    'maybe_unroll_group', 'StampingVisitor',
)

# Private names other packages (and Celery-era code) import from here.
_PRIVATE = (_chain, _chord, _basemap, _maybe_group, _replace_task,
            _apply_replacement, _add_to_chord)

"""Task annotations: settings that change task attributes by task name.

``task_annotations`` may be a dict (``{'tasks.add': {'rate_limit': '10/s'}}``
or ``{'*': {...}}``), an object with ``annotate(task)``, or a list of these.
"""
from __future__ import annotations

from typing import Any, Iterator

from celery.utils.functional import firstmethod, mlazy
from celery.utils.imports import instantiate

__all__ = ('MapAnnotation', 'prepare', 'resolve_all')

_first_match = firstmethod('annotate')
_first_match_any = firstmethod('annotate_any')


class MapAnnotation(dict):
    """Annotations from a dict keyed by task name (``'*'`` matches every task)."""

    def annotate_any(self) -> Any:
        return self.get('*')

    def annotate(self, task: Any) -> Any:
        return self.get(task.name)


def prepare(annotations: Any) -> tuple:
    """Turn the ``task_annotations`` setting into a tuple of annotation objects."""
    def expand_annotation(annotation: Any) -> Any:
        if isinstance(annotation, dict):
            return MapAnnotation(annotation)
        if isinstance(annotation, str):
            return mlazy(instantiate, annotation)
        return annotation

    if annotations is None:
        return ()
    if not isinstance(annotations, (list, tuple)):
        annotations = (annotations,)
    return tuple(expand_annotation(anno) for anno in annotations)


def resolve_all(anno: tuple, task: Any) -> Iterator[dict]:
    """Yield the annotations matching ``task``: ``'*'`` ones first."""
    return (x for x in (_first_match(anno, task), _first_match_any(anno)) if x)

"""A ``repr`` that never fails and never grows past a limit.

Used for ``argsrepr``/``kwargsrepr`` in task messages and for logs: the
arguments may be huge, recursive, or have a broken ``__repr__``.  The text is
produced piece by piece, so a large container is only walked as far as the
output limit needs.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Iterator

__all__ = ('saferepr', 'reprstream')

#: Marker added where text was cut.
ELLIPSIS = '...'

_SCALARS = (int, float, complex, bool, type(None))

#: Exact types whose builtin ``repr`` is what the stream would produce.
_FLAT_ITEMS = frozenset({int, float, bool, str, type(None)})
_FLAT_CONTAINERS = frozenset({tuple, list, dict})
#: Containers up to this many items may take the builtin ``repr`` shortcut.
_FLAT_MAX_ITEMS = 8
_OPEN_CLOSE = {
    list: ('[', ']'),
    tuple: ('(', ')'),
    set: ('{', '}'),
    frozenset: ('frozenset({', '})'),
    deque: ('deque([', '])'),
}


def saferepr(o: Any, maxlen: int | None = None, maxlevels: int = 3,
             seen: set | None = None) -> str:
    """Return a ``repr`` of ``o`` of at most ``maxlen`` characters.

    Containers nested deeper than ``maxlevels`` show as ``[...]``, a
    container inside itself as ``<Recursion on list with id=...>``, and an
    object whose ``__repr__`` raises as ``<Unrepresentable ...>``.  Cut text
    ends with ``'...'`` (which is not counted in ``maxlen``).
    """
    kind = type(o)
    if (kind is tuple or kind is dict) and not o and maxlevels > 0 and not seen \
            and (not maxlen or maxlen <= 0 or maxlen >= 2):
        return '()' if kind is tuple else '{}'  # no arguments: the usual task call
    if (kind in _FLAT_CONTAINERS and len(o) <= _FLAT_MAX_ITEMS and not seen
            and maxlevels > 0):
        text = _flat_repr(o, maxlen)
        if text is not None:
            return text
    stream = reprstream(o, maxlevels=maxlevels, seen=seen, maxlen=maxlen)
    if not maxlen or maxlen <= 0:
        return ''.join(stream)
    parts: list[str] = []
    size = 0
    for chunk in stream:
        parts.append(chunk)
        size += len(chunk)
        if size > maxlen:
            return ''.join(parts)[:maxlen] + ELLIPSIS
    return ''.join(parts)


def _flat_repr(o: tuple | list | dict, maxlen: int | None) -> str | None:
    """The builtin ``repr`` of a small flat container of plain scalars and
    strings, when it fits ``maxlen`` (then it equals the streamed text);
    ``None`` otherwise. Task arguments are mostly like that."""
    flat = _FLAT_ITEMS
    if type(o) is dict:
        for key, value in o.items():
            if type(key) not in flat or type(value) not in flat:
                return None
    else:
        for item in o:
            if type(item) not in flat:
                return None
    try:
        text = repr(o)
    except Exception:  # noqa: BLE001 - e.g. an int too long to print: the slow path says so
        return None
    if maxlen and maxlen > 0 and len(text) > maxlen:
        return None
    return text


def reprstream(o: Any, maxlevels: int = 3, seen: set | None = None,
               maxlen: int | None = None, level: int = 0) -> Iterator[str]:
    """Yield the pieces of the safe ``repr`` of ``o``.

    ``maxlen`` only bounds the length of single strings and object reprs;
    :func:`saferepr` cuts the whole text.
    """
    if seen is None:
        seen = set()
    yield from _stream(o, maxlevels, seen, maxlen, level)


def _text(o: str | bytes, maxlen: int | None) -> str:
    if maxlen and maxlen > 0 and len(o) > maxlen:
        return repr(o[:maxlen]) + ELLIPSIS
    return repr(o)


def _plain(o: Any, maxlen: int | None) -> str:
    try:
        text = repr(o)
    except Exception as exc:  # noqa: BLE001 - the point of this module
        try:
            reason = f'{type(exc).__name__}: {exc}'
        except Exception:  # noqa: BLE001
            reason = type(exc).__name__
        return f'<Unrepresentable {type(o).__name__}: {reason}>'
    if maxlen and maxlen > 0 and len(text) > maxlen:
        return text[:maxlen] + ELLIPSIS
    return text


def _uses_base_repr(o: Any, base: type) -> bool:
    return type(o).__repr__ is base.__repr__


def _stream(o: Any, maxlevels: int, seen: set, maxlen: int | None,
            level: int) -> Iterator[str]:
    if isinstance(o, (str, bytes)) and _uses_base_repr(o, str if isinstance(o, str) else bytes):
        yield _text(o, maxlen)
        return
    if isinstance(o, _SCALARS):
        yield _plain(o, maxlen)
        return
    if isinstance(o, dict) and _uses_base_repr(o, dict):
        yield from _container(o, '{', '}', maxlevels, seen, maxlen, level,
                              mapping=True)
        return
    for base, (start, end) in _OPEN_CLOSE.items():
        if isinstance(o, base) and _uses_base_repr(o, base):
            if not o and base in (set, frozenset):
                yield f'{type(o).__name__}()'
                return
            yield from _container(o, start, end, maxlevels, seen, maxlen,
                                  level, single_comma=base is tuple)
            return
    yield _plain(o, maxlen)


def _container(o: Any, start: str, end: str, maxlevels: int, seen: set,
               maxlen: int | None, level: int, mapping: bool = False,
               single_comma: bool = False) -> Iterator[str]:
    ident = id(o)
    if ident in seen:
        yield f'<Recursion on {type(o).__name__} with id={ident}>'
        return
    if level >= maxlevels:
        yield f'{start}{ELLIPSIS}{end}' if o else f'{start}{end}'
        return
    seen.add(ident)
    try:
        yield start
        first = True
        try:
            items = iter(o.items() if mapping else o)
            for item in items:
                if not first:
                    yield ', '
                first = False
                if mapping:
                    key, value = item
                    yield from _stream(key, maxlevels, seen, maxlen, level + 1)
                    yield ': '
                    yield from _stream(value, maxlevels, seen, maxlen, level + 1)
                else:
                    yield from _stream(item, maxlevels, seen, maxlen, level + 1)
        except RuntimeError:  # changed size during iteration
            yield ', ' + ELLIPSIS if not first else ELLIPSIS
        if single_comma and len(o) == 1:
            yield ','
        yield end
    finally:
        seen.discard(ident)

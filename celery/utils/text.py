"""Small text helpers for banners, logs and command-line output."""
from __future__ import annotations

import io
import re
from functools import partial
from pprint import pformat
from textwrap import fill
from typing import Any, Iterable, Mapping

__all__ = (
    'abbr', 'abbrtask', 'dedent', 'dedent_initial', 'ensure_newlines',
    'ensure_sep', 'fill_paragraphs', 'indent', 'join', 'pluralize', 'pretty',
    'str_to_list', 'simple_format', 'truncate', 'remove_repeating',
    'remove_repeating_from_task', 'WhateverIO',
)

#: ``%x`` placeholders expanded by :func:`simple_format`.
RE_FORMAT = re.compile(r'%(\w)')


def str_to_list(s: str | Any) -> list[str] | Any:
    """Split a comma-separated string; other values are returned as is."""
    if isinstance(s, str):
        return s.split(',')
    return s


def dedent_initial(s: str, n: int = 4) -> str:
    """Remove ``n`` leading spaces, if ``s`` starts with that many."""
    return s[n:] if s[:n] == ' ' * n else s


def dedent(s: str, sep: str = '\n') -> str:
    """Remove four leading spaces from every line."""
    return sep.join(dedent_initial(line) for line in s.splitlines())


def fill_paragraphs(s: str, width: int, sep: str = '\n') -> str:
    """Wrap each ``sep``-separated paragraph of ``s`` to ``width``."""
    return sep.join(fill(part, width) for part in s.split(sep))


def join(parts: Iterable[Any], sep: str = '\n') -> str:
    """Join the non-empty ``parts`` with ``sep``."""
    return sep.join(part for part in parts if part)


def ensure_sep(sep: str, s: str, n: int = 2) -> str:
    """Append ``sep`` to ``s`` until it contains ``n`` of them."""
    return s + sep * (n - s.count(sep))


#: Make sure the text holds (at least) ``n`` newlines.
ensure_newlines = partial(ensure_sep, '\n')


def abbr(S: str | None, max: int, ellipsis: str | bool = '...') -> str:
    """Shorten ``S`` to at most ``max`` characters, ending in ``ellipsis``."""
    if S is None:
        return '???'
    if len(S) > max:
        if ellipsis:
            return S[:max - len(ellipsis)] + ellipsis  # type: ignore[arg-type]
        return S[:max]
    return S


def abbrtask(S: str | None, max: int) -> str:
    """Shorten a dotted task name, keeping its last part whole."""
    if S is None:
        return '???'
    if len(S) > max:
        module, _, name = S.rpartition('.')
        module = abbr(module, max - len(name) - 3, False)
        return f'{module}[.]{name}'
    return S


def indent(t: str, indent: int = 0, sep: str = '\n') -> str:
    """Indent every line of ``t`` by ``indent`` spaces."""
    pad = ' ' * indent
    return sep.join(pad + line for line in t.split(sep))


def truncate(s: str, maxlen: int = 128, suffix: str = '...') -> str:
    """Cut ``s`` at a word boundary before ``maxlen`` and add ``suffix``."""
    if maxlen and len(s) >= maxlen:
        return s[:maxlen].rsplit(' ', 1)[0] + suffix
    return s


def pluralize(n: float, text: str, suffix: str = 's') -> str:
    """Return ``text`` in plural unless ``n`` is 1."""
    if n != 1:
        return text + suffix
    return text


def pretty(value: Any, width: int = 80, nl_width: int = 80, sep: str = '\n',
           **kw: Any) -> str:
    """Format ``value`` for display: dicts and tuples start on a new line."""
    if isinstance(value, dict):
        return f'{sep} {pformat(value, 4, nl_width)[1:]}'
    if isinstance(value, tuple):
        return f'{sep}    {pformat(value, width=nl_width, **kw)}'
    return pformat(value, width=width, **kw)


def simple_format(s: str, keys: Mapping[str, Any],
                  pattern: re.Pattern = RE_FORMAT, expand: str = r'\1') -> str:
    """Expand ``%x`` placeholders of ``s`` from ``keys``.

    Used for node names and file names (``%h`` host name, ``%n`` name,
    ``%d`` domain, ``%i`` process index, ...).  Values may be callables.
    Only ``%`` followed by a word character is a placeholder; an unknown
    one raises :exc:`ValueError`.
    """
    if not s:
        return s

    def resolve(match: re.Match) -> str:
        key = match.expand(expand)
        try:
            value = keys[key]
        except KeyError:
            raise ValueError(
                f'Unknown format %{key} in string {s!r}') from None
        if callable(value):
            value = value()
        return str(value)

    return pattern.sub(resolve, s)


def remove_repeating(substr: str, s: str) -> str:
    """Keep the first occurrence of ``substr`` in ``s``, remove the others."""
    first = s.find(substr)
    if first == -1:
        return s
    cut = first + len(substr)
    return s[:cut] + s[cut:].replace(substr, '')


def remove_repeating_from_task(task_name: str, s: str) -> str:
    """Drop repeats of the task's module path from ``s`` (shorter reprs)."""
    module = str(task_name).rpartition('.')[0] + '.'
    return remove_repeating(module, s)


class WhateverIO(io.StringIO):
    """A :class:`io.StringIO` that also accepts bytes (decoded as UTF-8)."""

    def write(self, data: str | bytes) -> int:  # type: ignore[override]
        if isinstance(data, bytes):
            data = data.decode('utf-8', 'replace')
        return super().write(data)


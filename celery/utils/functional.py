"""Small functional helpers shared across the package."""
from __future__ import annotations

import inspect
from collections import UserList
from functools import partial
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from kombu.utils.functional import (LRUCache, dictfilter, is_list, lazy,
                                    maybe_evaluate, maybe_list, memoize)
from vine import promise

__all__ = (
    'LRUCache', 'is_list', 'maybe_list', 'memoize', 'mlazy', 'noop',
    'first', 'firstmethod', 'chunks', 'padlist', 'mattrgetter', 'uniq',
    'regen', 'dictfilter', 'lazy', 'maybe_evaluate', 'head_from_fun',
    'maybe', 'fun_accepts_kwargs', 'fun_takes_argument', 'promise',
)


class mlazy(lazy):
    """A lazy value that is evaluated only once."""

    evaluated = False
    _value = None

    def evaluate(self) -> Any:
        if not self.evaluated:
            self._value = super().evaluate()
            self.evaluated = True
        return self._value


def noop(*args: Any, **kwargs: Any) -> None:
    """Take any arguments and do nothing."""


def pass1(arg: Any, *args: Any, **kwargs: Any) -> Any:
    """Return the first positional argument."""
    return arg


def first(predicate: Callable | None, it: Iterable) -> Any:
    """Return the first item of ``it`` for which ``predicate`` holds (or is not None)."""
    return next(
        (v for v in it if (predicate(v) if predicate is not None else v is not None)),
        None)


def firstmethod(method: str, on_call: Callable | None = None) -> Callable:
    """Return a function calling ``method`` on each object until one returns non-None."""
    def _matcher(it: Iterable, *args: Any, **kwargs: Any) -> Any:
        for obj in it:
            try:
                meth = getattr(maybe_evaluate(obj), method)
                reply = on_call(meth, *args, **kwargs) if on_call else meth(*args, **kwargs)
            except AttributeError:
                continue
            if reply is not None:
                return reply
        return None
    return _matcher


def chunks(it: Iterable, n: int) -> Iterator[list]:
    """Split ``it`` into lists of at most ``n`` items."""
    it = iter(it)
    for item in it:
        yield [item] + list(islice(it, n - 1))


def padlist(container: list, size: int, default: Any = None) -> list:
    """Pad (or cut) ``container`` to exactly ``size`` items."""
    return list(container)[:size] + [default] * (size - len(container))


def mattrgetter(*attrs: str) -> Callable:
    """Like ``operator.attrgetter`` but missing attributes give None."""
    return lambda obj: {attr: getattr(obj, attr, None) for attr in attrs}


def uniq(it: Iterable) -> Iterator:
    """Yield the unique items of ``it`` in order."""
    seen = set()
    return (seen.add(obj) or obj for obj in it if obj not in seen)


def lookahead(it: Iterable) -> Iterator[tuple]:
    """Yield ``(item, next_item)`` pairs; the last pair has ``None``."""
    it = iter(it)
    try:
        current = next(it)
    except StopIteration:
        return
    for nxt in it:
        yield current, nxt
        current = nxt
    yield current, None


class _regen(UserList, list):
    """A list that is filled from an iterator only as far as it is read."""

    def __init__(self, it: Iterable) -> None:  # pylint: disable=super-init-not-called
        self.__it = iter(it)
        self.__consumed: list = []
        self.__done = False

    def __reduce__(self) -> tuple:
        return list, (self.data,)

    def map(self, func: Callable) -> '_regen':
        return _regen(func(v) for v in self)

    def __length_hint__(self) -> int:
        return self.__it.__length_hint__() if hasattr(self.__it, '__length_hint__') else 0

    def __lookahead_consume(self, limit: int | None = None) -> Iterator:
        if not self.__done and (limit is None or limit > 0):
            it = iter(self.__it)
            try:
                now = next(it)
            except StopIteration:
                self.__done = True
                return
            self.__consumed.append(now)
            while not self.__done:
                try:
                    nxt = next(it)
                    self.__consumed.append(nxt)
                except StopIteration:
                    self.__done = True
                    break
                finally:
                    yield now
                now = nxt
                if limit is not None:
                    limit -= 1
                    if limit <= 0:
                        break

    def __iter__(self) -> Iterator:
        yield from self.__consumed
        yield from self.__lookahead_consume()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice) or index < 0:
            return self.data[index]
        if index >= len(self.__consumed):
            for _ in self.__lookahead_consume(limit=index - len(self.__consumed) + 1):
                pass
        return self.__consumed[index]

    def __bool__(self) -> bool:
        if self.__consumed:
            return True
        try:
            next(iter(self))
        except StopIteration:
            return False
        return True

    @property
    def data(self) -> list:
        if not self.__done:
            self.__consumed.extend(self.__it)
            self.__done = True
        return self.__consumed

    def __repr__(self) -> str:
        return '<{}: [{}{}]>'.format(
            self.__class__.__name__, ', '.join(repr(e) for e in self.__consumed),
            '...' if not self.__done else '')


def regen(it: Iterable) -> Any:
    """Wrap a generator so it can be iterated more than once (lists pass through)."""
    if isinstance(it, (list, tuple)):
        return it
    return _regen(it)


def head_from_fun(fun: Callable, bound: bool = False) -> Callable:
    """Return a callable that accepts exactly the arguments ``fun`` accepts.

    Calling it with other arguments raises :exc:`TypeError`; it is how task
    arguments are checked at call time without running the task.  For a
    bound task the first parameter (``self``) is filled in by a
    :func:`~functools.partial`, as Celery does: errback dispatch tells
    bound tasks apart by that.
    """
    target = fun if inspect.isfunction(fun) or inspect.ismethod(fun) else getattr(
        fun, '__call__', fun)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # builtins without signature info
        return lambda *a, **kw: None
    name = getattr(fun, '__name__', 'task')

    def check(*args: Any, **kwargs: Any) -> None:
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f'{name}() {exc}') from None
    check.__signature__ = sig  # type: ignore[attr-defined]
    return partial(check, None) if bound else check


def arity_greater(fun: Callable, n: int) -> bool:
    params = inspect.signature(fun).parameters.values()
    return any(p.kind == p.VAR_POSITIONAL for p in params) or len(list(params)) > n


def fun_takes_argument(name: str, fun: Callable, position: int | None = None) -> bool:
    """Return True if ``fun`` accepts an argument ``name`` (or **kwargs, or enough args)."""
    try:
        params = inspect.signature(fun).parameters
    except (TypeError, ValueError):
        return False
    kinds = {p.kind for p in params.values()}
    return (inspect.Parameter.VAR_KEYWORD in kinds or name in params
            or (position is not None and
                (inspect.Parameter.VAR_POSITIONAL in kinds or len(params) > position)))


def fun_accepts_kwargs(fun: Callable) -> bool:
    """Return True if ``fun`` accepts arbitrary keyword arguments."""
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind == p.VAR_KEYWORD for p in params)


def maybe(typ: Callable, val: Any) -> Any:
    """Call ``typ(val)`` unless ``val`` is None."""
    return typ(val) if val is not None else val


def seq_concat_item(seq: Any, item: Any) -> Any:
    """Return ``seq + (item,)`` keeping the sequence type of ``seq``."""
    return seq + (item,) if isinstance(seq, tuple) else seq + [item]


def seq_concat_seq(a: Any, b: Any) -> Any:
    """Concatenate two sequences, taking the type of the longer one (tuple or list)."""
    prefer = type(max([a, b], key=len))
    if not isinstance(a, prefer):
        a = prefer(a)
    if not isinstance(b, prefer):
        b = prefer(b)
    return a + b


def is_numeric_value(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


__all__ += ('pass1', 'lookahead', 'arity_greater', 'seq_concat_item',
            'seq_concat_seq', 'partial', 'is_numeric_value')

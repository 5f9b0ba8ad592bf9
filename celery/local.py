"""Lazy object proxies.

:class:`Proxy` stands in for an object that is looked up on every use (the
current app, the current task); :class:`PromiseProxy` stands in for an object
that is created once, the first time it is needed (tasks declared before
their app is finalized).

A proxy forwards attribute access, operators, ``str``/``repr``, calls,
iteration, comparison and ``isinstance`` checks (through ``__class__``) to
the object it resolves to, and pickles as that object.  Proxies are safe to
share between threads as long as the lookup function they wrap is.
"""
from __future__ import annotations

import operator
from collections import deque
from functools import partial
from importlib import import_module
from types import ModuleType
from typing import Any, Callable

__all__ = ('Proxy', 'PromiseProxy', 'try_import', 'maybe_evaluate')


class _DocForwarder:
    """Descriptor for ``__doc__``: the class docstring on the class, the
    explicit ``__doc__`` given to the proxy (or the target's) on instances."""

    def __init__(self, class_doc: str | None) -> None:
        self.class_doc = class_doc

    def __get__(self, obj: Any, owner: type | None = None) -> str | None:
        if obj is None:
            return self.class_doc
        doc = object.__getattribute__(obj, '_Proxy__doc')
        if doc is not None:
            return doc
        try:
            return obj._get_current_object().__doc__
        except RuntimeError:
            return None


def _forward(op: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Proxy, *args: Any) -> Any:
        return op(self._get_current_object(), *args)
    method.__name__ = getattr(op, '__name__', 'method')
    return method


def _reflected(op: Callable[[Any, Any], Any]) -> Callable[[Proxy, Any], Any]:
    def method(self: Proxy, other: Any) -> Any:
        return op(other, self._get_current_object())
    return method


class Proxy:
    """Forward everything to the object returned by ``local(*args, **kwargs)``.

    ``local`` is either a callable, called on every access, or an object with
    ``__release_local__`` (a :class:`celery.utils.threads.Local`), in which
    case the attribute ``name`` of it is the target.
    """

    __slots__ = ('_Proxy__local', '_Proxy__args', '_Proxy__kwargs',
                 '_Proxy__name', '_Proxy__doc', '_Proxy__is_local',
                 '__weakref__')

    def __init__(self, local: Any, args: Any = None, kwargs: Any = None,
                 name: str | None = None, __doc__: str | None = None) -> None:
        setattr_ = object.__setattr__
        setattr_(self, '_Proxy__local', local)
        setattr_(self, '_Proxy__args', tuple(args) if args else ())
        setattr_(self, '_Proxy__kwargs', dict(kwargs) if kwargs else {})
        setattr_(self, '_Proxy__name', name)
        setattr_(self, '_Proxy__doc', __doc__)
        setattr_(self, '_Proxy__is_local', hasattr(local, '__release_local__'))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        doc = cls.__dict__.get('__doc__')
        if not isinstance(doc, _DocForwarder):
            cls.__doc__ = _DocForwarder(doc)

    def _get_current_object(self) -> Any:
        """Return the object this proxy currently stands for."""
        # Slots are always set, so plain attribute access never reaches
        # __getattr__ here (and is faster than object.__getattribute__).
        if not self.__is_local:
            if self.__args or self.__kwargs:
                return self.__local(*self.__args, **self.__kwargs)
            return self.__local()
        try:
            return getattr(self.__local, self.__name)
        except AttributeError:
            raise RuntimeError(f'no object bound to {self.__name}') from None

    # -- identity ---------------------------------------------------------

    @property
    def __name__(self) -> str:  # type: ignore[override]
        name = object.__getattribute__(self, '_Proxy__name')
        if name is not None:
            return name
        return self._get_current_object().__name__

    @property
    def __class__(self) -> type:  # type: ignore[override]
        return self._get_current_object().__class__

    @property
    def __dict__(self) -> dict:  # type: ignore[override]
        try:
            return self._get_current_object().__dict__
        except RuntimeError:  # pragma: no cover - unbound local
            raise AttributeError('__dict__') from None

    def __repr__(self) -> str:
        try:
            obj = self._get_current_object()
        except RuntimeError:
            return f'<{type(self).__name__} unbound>'
        return repr(obj)

    def __str__(self) -> str:
        return str(self._get_current_object())

    def __bool__(self) -> bool:
        try:
            return bool(self._get_current_object())
        except RuntimeError:
            return False

    def __dir__(self) -> list[str]:
        try:
            return dir(self._get_current_object())
        except RuntimeError:
            return []

    # -- attributes -------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name == '__members__':
            return dir(self._get_current_object())
        return getattr(self._get_current_object(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get_current_object(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._get_current_object(), name)

    # -- container / call protocol ----------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._get_current_object()(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._get_current_object())

    def __iter__(self) -> Any:
        return iter(self._get_current_object())

    def __reversed__(self) -> Any:
        return reversed(self._get_current_object())

    def __contains__(self, item: Any) -> bool:
        return item in self._get_current_object()

    def __getitem__(self, key: Any) -> Any:
        return self._get_current_object()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._get_current_object()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._get_current_object()[key]

    def __enter__(self) -> Any:
        return self._get_current_object().__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        return self._get_current_object().__exit__(*exc_info)

    def __hash__(self) -> int:
        return hash(self._get_current_object())

    # -- pickling / copying: proxies serialize as their target -------------

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self._get_current_object().__reduce_ex__(protocol)

    def __reduce__(self) -> Any:
        return self._get_current_object().__reduce__()

    # -- comparison -------------------------------------------------------

    __lt__ = _forward(operator.lt)
    __le__ = _forward(operator.le)
    __eq__ = _forward(operator.eq)
    __ne__ = _forward(operator.ne)
    __gt__ = _forward(operator.gt)
    __ge__ = _forward(operator.ge)

    # -- numbers ----------------------------------------------------------

    __add__ = _forward(operator.add)
    __sub__ = _forward(operator.sub)
    __mul__ = _forward(operator.mul)
    __matmul__ = _forward(operator.matmul)
    __truediv__ = _forward(operator.truediv)
    __floordiv__ = _forward(operator.floordiv)
    __mod__ = _forward(operator.mod)
    __divmod__ = _forward(divmod)
    __pow__ = _forward(pow)
    __lshift__ = _forward(operator.lshift)
    __rshift__ = _forward(operator.rshift)
    __and__ = _forward(operator.and_)
    __xor__ = _forward(operator.xor)
    __or__ = _forward(operator.or_)
    __radd__ = _reflected(operator.add)
    __rsub__ = _reflected(operator.sub)
    __rmul__ = _reflected(operator.mul)
    __rmatmul__ = _reflected(operator.matmul)
    __rtruediv__ = _reflected(operator.truediv)
    __rfloordiv__ = _reflected(operator.floordiv)
    __rmod__ = _reflected(operator.mod)
    __rdivmod__ = _reflected(divmod)
    __rpow__ = _reflected(pow)
    __rlshift__ = _reflected(operator.lshift)
    __rrshift__ = _reflected(operator.rshift)
    __rand__ = _reflected(operator.and_)
    __rxor__ = _reflected(operator.xor)
    __ror__ = _reflected(operator.or_)
    __neg__ = _forward(operator.neg)
    __pos__ = _forward(operator.pos)
    __abs__ = _forward(abs)
    __invert__ = _forward(operator.invert)
    __int__ = _forward(int)
    __float__ = _forward(float)
    __complex__ = _forward(complex)
    __index__ = _forward(operator.index)
    __round__ = _forward(round)


Proxy.__doc__ = _DocForwarder(Proxy.__doc__)  # type: ignore[assignment]


class PromiseProxy(Proxy):
    """A :class:`Proxy` that evaluates its target once, on first use.

    Callbacks registered with :meth:`__then__` run right after evaluation
    (or immediately when the proxy is already evaluated).
    """

    __slots__ = ('_PromiseProxy__thing', '_PromiseProxy__pending')

    def _get_current_object(self) -> Any:
        try:
            return object.__getattribute__(self, '_PromiseProxy__thing')
        except AttributeError:
            return self.__evaluate__()

    def __then__(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fun(*args, **kwargs)`` once the target has been created."""
        if self.__evaluated__():
            return fun(*args, **kwargs)
        try:
            pending = object.__getattribute__(self, '_PromiseProxy__pending')
        except AttributeError:
            pending = deque()
            object.__setattr__(self, '_PromiseProxy__pending', pending)
        pending.append(partial(fun, *args, **kwargs))
        return None

    def __evaluated__(self) -> bool:
        """Return True if the target has been created already."""
        try:
            object.__getattribute__(self, '_PromiseProxy__thing')
        except AttributeError:
            return False
        return True

    def __maybe_evaluate__(self) -> Any:
        """Return the target, creating it if needed."""
        return self._get_current_object()

    def __evaluate__(self) -> Any:
        """Create the target, drop the factory and run pending callbacks."""
        thing = Proxy._get_current_object(self)
        object.__setattr__(self, '_PromiseProxy__thing', thing)
        for attr in ('_Proxy__args', '_Proxy__kwargs'):
            object.__setattr__(self, attr, None)
        try:
            pending = object.__getattribute__(self, '_PromiseProxy__pending')
        except AttributeError:
            return thing
        try:
            while pending:
                pending.popleft()()
        finally:
            object.__delattr__(self, '_PromiseProxy__pending')
        return thing


def maybe_evaluate(obj: Any) -> Any:
    """Evaluate ``obj`` if it is a :class:`PromiseProxy`, else return it."""
    if isinstance(obj, PromiseProxy):
        return obj.__maybe_evaluate__()
    return obj


def try_import(module: str, default: Any = None) -> ModuleType | Any:
    """Import ``module``, or return ``default`` when it is not installed."""
    try:
        return import_module(module)
    except ImportError:
        return default

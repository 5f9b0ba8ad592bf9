"""Object helpers: cached properties, fallback contexts, attribute lookups."""
from __future__ import annotations

from contextlib import contextmanager
from functools import reduce
from typing import Any, Callable, Iterator

from kombu.utils.objects import cached_property

__all__: tuple = ('Bunch', 'FallbackContext', 'getitem_property', 'mro_lookup', 'cached_property')


class Bunch:
    """An object whose attributes are the keyword arguments it was made with."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


def mro_lookup(cls: type, attr: str, stop: set | None = None,
               monkey_patched: list | None = None) -> type | None:
    """Return the first class in ``cls.__mro__`` that defines ``attr`` itself."""
    stop = stop or set()
    monkey_patched = monkey_patched or []
    for node in cls.mro():
        if node in stop:
            try:
                value = node.__dict__[attr]
                module_origin = value.__module__
            except (AttributeError, KeyError):
                pass
            else:
                if module_origin not in monkey_patched:
                    return node
            return None
        if attr in node.__dict__:
            return node
    return None


class FallbackContext:
    """Use the given context manager, or make one with ``fallback`` if it is None."""

    def __init__(self, provided: Any, fallback: Callable, *fb_args: Any, **fb_kwargs: Any) -> None:
        self.provided = provided
        self.fallback = fallback
        self.fb_args = fb_args
        self.fb_kwargs = fb_kwargs
        self._context = None

    def __enter__(self) -> Any:
        if self.provided is not None:
            return self.provided
        context = self._context = self.fallback(*self.fb_args, **self.fb_kwargs).__enter__()
        return context

    def __exit__(self, *exc_info: Any) -> Any:
        if self._context is not None:
            return self._context.__exit__(*exc_info)
        return None


class getitem_property:
    """An attribute that reads (and writes) a key path of a mapping attribute.

    ``getitem_property('a.b')`` reads ``self.a['b']``.
    """

    def __init__(self, keypath: str, doc: str | None = None) -> None:
        path, _, self.key = keypath.rpartition('.')
        self.path = path.split('.') if path else None
        self.__doc__ = doc

    def _path(self, obj: Any) -> Any:
        return reduce(lambda d, k: d[k], [obj] + self.path) if self.path else obj

    def __get__(self, obj: Any, type: Any = None) -> Any:
        if obj is None:
            return type
        return self._path(obj).get(self.key)

    def __set__(self, obj: Any, value: Any) -> None:
        self._path(obj)[self.key] = value


@contextmanager
def _noop_context() -> Iterator[None]:
    yield


class class_property:
    """A property that works on the class as well as on instances.

    Reading it calls ``getter(cls)``; setting it (on the class through an
    instance) calls ``setter(cls, value)``.
    """

    def __init__(self, getter: Callable | None = None, setter: Callable | None = None) -> None:
        if getter is not None and not isinstance(getter, classmethod):
            getter = classmethod(getter)
        if setter is not None and not isinstance(setter, classmethod):
            setter = classmethod(setter)
        self.__get = getter
        self.__set = setter
        info = getter.__get__(object)  # just need the info attrs.
        self.__doc__ = info.__doc__
        self.__name__ = info.__name__
        self.__module__ = info.__module__

    def __get__(self, obj: Any, type: Any = None) -> Any:
        if obj and type is None:
            type = obj.__class__
        return self.__get.__get__(obj, type)()

    def __set__(self, obj: Any, value: Any) -> Any:
        if obj is None:
            return self
        return self.__set.__get__(obj)(value)

    def setter(self, setter: Callable) -> 'class_property':
        return self.__class__(self.__get, setter)


__all__ += ('class_property',)

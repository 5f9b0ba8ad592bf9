"""Make exceptions and other values safe to send between processes.

Task errors travel from pool processes to the worker and through result
backends.  Not every exception pickles (custom ``__init__`` signatures,
unpicklable arguments): :func:`get_pickleable_exception` swaps such an error
for its nearest picklable base class, or for an
:class:`UnpickleableExceptionWrapper` that keeps the class name, module and
text so the original can be rebuilt on the other side.
"""
from __future__ import annotations

import base64
import datetime
import decimal
import pickle
import sys
import uuid
from typing import Any, Callable, Iterable, Iterator, NoReturn

__all__ = (
    'UnpickleableExceptionWrapper', 'subclass_exception',
    'find_pickleable_exception', 'create_exception_cls',
    'get_pickleable_exception', 'get_pickleable_etype',
    'get_pickled_exception', 'strtobool', 'raise_with_context',
    'b64encode', 'b64decode', 'jsonify', 'ensure_serializable', 'itermro',
)

#: Strings :func:`strtobool` understands (compared lower-cased).
STRTOBOOL_DEFAULT_TABLE = {
    'false': False, 'no': False, '0': False, 'off': False,
    'true': True, 'yes': True, '1': True, 'on': True,
}

#: Base classes never offered as the "nearest picklable" stand-in.
_UNWANTED_BASES = (Exception, BaseException, object)


def _safe_repr(obj: Any) -> str:
    from celery.utils.saferepr import saferepr
    return saferepr(obj)


def _pickles(obj: Any, loads: Callable = pickle.loads,
             dumps: Callable = pickle.dumps) -> bool:
    try:
        loads(dumps(obj))
    except Exception:  # noqa: BLE001 - anything can go wrong in pickle
        return False
    return True


def subclass_exception(name: str, parent: type, module: str) -> type:
    """Create an exception class ``module.name`` deriving from ``parent``."""
    return type(name, (parent,), {'__module__': module})


def create_exception_cls(name: str, module: str,
                         parent: type | None = None) -> type:
    """Create an exception class ``module.name`` (parent defaults to Exception)."""
    return subclass_exception(name, parent or Exception, module)


def itermro(cls: type, stop: Iterable[type]) -> Iterator[type]:
    """Yield the classes of ``cls.__mro__`` (after ``cls``) until one of ``stop``."""
    stop = tuple(stop)
    for base in cls.__mro__[1:]:
        if base in stop:
            return
        yield base


def find_pickleable_exception(exc: BaseException, loads: Callable = pickle.loads,
                              dumps: Callable = pickle.dumps) -> BaseException | None:
    """Return ``exc`` re-created as its nearest base class that pickles.

    Returns None when no base class below :class:`Exception` works.
    """
    args = getattr(exc, 'args', ())
    for base in itermro(type(exc), _UNWANTED_BASES):
        try:
            candidate = base(*args)
        except Exception:  # noqa: BLE001 - the base may want other args
            continue
        if _pickles(candidate, loads, dumps):
            return candidate
    return None


def get_pickleable_etype(cls: type, loads: Callable = pickle.loads,
                         dumps: Callable = pickle.dumps) -> type:
    """Return ``cls`` if the class itself pickles, else :class:`Exception`."""
    if _pickles(cls, loads, dumps):
        return cls
    return Exception


class UnpickleableExceptionWrapper(Exception):
    """Stand-in for an exception that cannot be pickled.

    Keeps the module and class name, the arguments (those that don't pickle
    replaced by their repr) and the text, so :meth:`restore` can build an
    equivalent exception in another process.
    """

    #: Module of the original exception class.
    exc_module: str
    #: Name of the original exception class.
    exc_cls_name: str
    #: The original arguments, made picklable.
    exc_args: tuple
    #: ``str``/``repr`` of the original exception.
    text: str

    def __init__(self, exc_module: str, exc_cls_name: str, exc_args: Any,
                 text: str | None = None) -> None:
        safe_args = tuple(arg if _pickles(arg) else _safe_repr(arg)
                          for arg in (exc_args or ()))
        self.exc_module = exc_module
        self.exc_cls_name = exc_cls_name
        self.exc_args = safe_args
        self.text = text if text is not None else ''
        super().__init__(exc_module, exc_cls_name, safe_args, text)

    def restore(self) -> BaseException:
        """Build an exception of the original name, module and arguments."""
        cls = create_exception_cls(self.exc_cls_name, self.exc_module)
        return cls(*self.exc_args)

    def __str__(self) -> str:
        return self.text

    @classmethod
    def from_exception(cls, exc: BaseException) -> UnpickleableExceptionWrapper:
        """Wrap ``exc``."""
        return cls(type(exc).__module__, type(exc).__name__,
                   getattr(exc, 'args', ()), _safe_repr(exc))


def get_pickleable_exception(exc: BaseException) -> BaseException:
    """Return ``exc`` if it pickles, else the best picklable stand-in."""
    if _pickles(exc):
        return exc
    nearest = find_pickleable_exception(exc)
    if nearest is not None:
        return nearest
    return UnpickleableExceptionWrapper.from_exception(exc)


def get_pickled_exception(exc: BaseException) -> BaseException:
    """Undo :func:`get_pickleable_exception`: unwrap a wrapper."""
    if isinstance(exc, UnpickleableExceptionWrapper):
        return exc.restore()
    return exc


def strtobool(term: Any, table: dict[str, bool] | None = None) -> Any:
    """Convert ``'yes'``/``'no'``, ``'1'``/``'0'``, ... to a bool.

    Values that are not strings are returned unchanged; an unknown string
    raises :exc:`TypeError`.
    """
    if isinstance(term, str):
        table = STRTOBOOL_DEFAULT_TABLE if table is None else table
        try:
            return table[term.lower()]
        except KeyError:
            raise TypeError(f'Cannot coerce {term!r} to type bool') from None
    return term


def b64encode(s: str | bytes) -> str:
    """Base64-encode ``s``; return text."""
    if isinstance(s, str):
        s = s.encode('utf-8')
    return base64.b64encode(s).decode('ascii')


def b64decode(s: str | bytes) -> bytes:
    """Decode base64 text or bytes."""
    if isinstance(s, str):
        s = s.encode('ascii')
    return base64.b64decode(s)


def _iso_time(value: datetime.datetime | datetime.time) -> str:
    text = value.isoformat()
    if value.microsecond:  # milliseconds only, like JavaScript dates
        text = text[:text.index('.') + 4] + text[text.index('.') + 7:]
    if text.endswith('+00:00'):
        text = text[:-6] + 'Z'
    return text


_JSON_SCALARS = (int, float, str, type(None), bool)


def jsonify(obj: Any, builtin_types: tuple = _JSON_SCALARS,
            key: Any = None, keyfilter: Callable[[Any], bool] | None = None,
            unknown_type_filter: Callable[[Any], Any] | None = None) -> Any:
    """Turn ``obj`` into something the json module can encode.

    Datetimes become ISO 8601 strings (``Z`` for UTC, milliseconds),
    timedeltas and UUIDs and Decimals strings, tuples lists; objects with
    ``__json__`` use it.  Other types go through ``unknown_type_filter`` or
    raise :exc:`ValueError`.  ``keyfilter`` drops dict items whose key it
    rejects.
    """
    def again(value: Any, key: Any = None) -> Any:
        return jsonify(value, builtin_types, key, keyfilter, unknown_type_filter)

    if isinstance(obj, builtin_types):
        return obj
    if isinstance(obj, (list, tuple)):
        return [again(item) for item in obj]
    if isinstance(obj, dict):
        return {k: again(v, key=k) for k, v in obj.items()
                if keyfilter is None or keyfilter(k)}
    if isinstance(obj, (datetime.datetime, datetime.time)):
        return _iso_time(obj)
    if isinstance(obj, datetime.date):
        return obj.isoformat()
    if isinstance(obj, datetime.timedelta):
        return str(obj)
    if isinstance(obj, (uuid.UUID, decimal.Decimal)):
        return str(obj)
    if hasattr(obj, '__json__'):
        return again(obj.__json__())
    if unknown_type_filter is None:
        raise ValueError(
            f'Unsupported type: {type(obj)!r} {obj!r} (parent: {key})')
    return unknown_type_filter(obj)


def ensure_serializable(items: Iterable[Any],
                        encoder: Callable[[Any], Any]) -> tuple:
    """Return ``items`` as a tuple, each one that ``encoder`` rejects as repr."""
    result = []
    for item in items:
        try:
            encoder(item)
        except Exception:  # noqa: BLE001 - any encoder error
            result.append(_safe_repr(item))
        else:
            result.append(item)
    return tuple(result)


def raise_with_context(exc: BaseException) -> NoReturn:
    """Raise ``exc`` chained to the exception being handled, if any."""
    current = sys.exc_info()[1]
    if current is None:
        raise exc
    if current is exc:
        raise exc
    raise exc from current

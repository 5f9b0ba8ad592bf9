"""The app's configuration object, how it is read, and app-level helpers.

:class:`Settings` is what ``app.conf`` becomes once the configuration is
loaded: a chain of mappings (the user's changes, the configuration source,
the defaults), always keyed by the new lower-case setting names, that also
answers to the old upper-case names and to attribute access.
:func:`detect_settings` builds it from a configuration source, converting old
names and refusing sources that mix old and new names.

The rest are small helpers the app and the command line use:
:func:`bugreport` (``celery report``), :func:`filter_hidden_settings`,
:func:`appstr` and :func:`find_app` (``celery -A``).

A :class:`Settings` is a plain mapping with no locking: configure the app
before starting threads that read it.
"""
from __future__ import annotations

import os
import re
import warnings
from collections import ChainMap
from copy import deepcopy
from types import ModuleType
from typing import Any, Callable, Iterable, Mapping

from celery.exceptions import CPendingDeprecationWarning, ImproperlyConfigured

from .defaults import (_OLD_SETTING_KEYS, _TO_NEW_KEY, _TO_OLD_KEY, DEFAULTS,
                       SETTING_KEYS, find, searchresult)

__all__ = (
    'Settings', 'appstr', 'bugreport', 'filter_hidden_settings', 'find_app',
    'detect_settings',
)

#: Keys whose values ``celery report`` never shows.
HIDDEN_SETTINGS = re.compile(
    'API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE',
    re.IGNORECASE,
)
#: What hidden values are replaced with.
MASK = '*' * 8

#: ``scheme://user:password@``: the password is group 2.
_URL_PASSWORD = re.compile(r'^([\w.+-]+://[^:/?#@]*:)([^@?#]*)(?=@)')

#: Old names of each new setting (several, for a few renamed twice).
_OLD_NAMES: dict[str, list[str]] = {}
for _old, _new in _TO_NEW_KEY.items():
    _OLD_NAMES.setdefault(_new, []).append(_old)
del _old, _new


def _new_key_to_old(key: str, convert: Callable = _TO_OLD_KEY.get) -> str:
    return convert(key, key)


def _old_key_to_new(key: str, convert: Callable = _TO_NEW_KEY.get) -> str:
    return convert(key, key)


def _normalize_prefix(prefix: str | None) -> str | None:
    """``'CELERY'`` and ``'CELERY_'`` both mean keys named ``CELERY_<NAME>``."""
    return f"{prefix.rstrip('_')}_" if prefix else None


def _match_case(text: str, like: str) -> str:
    if like.isupper():
        return text.upper()
    if like.islower():
        return text.lower()
    return text


def _prefixed_setting(key: Any, prefix: str | None) -> str | None:
    """The setting a namespaced key names (``CELERY_BROKER_URL`` -> ``broker_url``)."""
    if prefix and isinstance(key, str) and key.startswith(prefix):
        name = key[len(prefix):].lower()
        if name in SETTING_KEYS:
            return name
    return None


def _setting_name(key: Any, prefix: str | None = None) -> Any:
    """The new name ``key`` stands for, or ``key`` itself for other keys."""
    if key in SETTING_KEYS or not isinstance(key, str):
        return key
    return _TO_NEW_KEY.get(key) or _prefixed_setting(key, prefix) or key


class Settings(ChainMap):
    """The app's configuration: user changes layered over sources and defaults.

    ``maps[0]`` is :attr:`changes`, where every write goes (``conf.x = 1``,
    ``conf['x'] = 1``, :meth:`update`); the last map holds the defaults.
    Reads accept the new names, the old upper-case names
    (``conf.CELERY_ALWAYS_EAGER``), and with a ``prefix`` also namespaced
    names (``CELERY_BROKER_URL``); writes under an old or namespaced name are
    stored under the new name.
    """

    _ATTRS = frozenset({'maps', 'prefix', 'deprecated_settings'})

    def __init__(self, changes: dict | None = None,
                 defaults: Iterable[Mapping] | None = None,
                 prefix: str | None = None,
                 deprecated_settings: Iterable[str] | None = None) -> None:
        if isinstance(defaults, Mapping):
            defaults = [defaults]
        maps = [changes if changes is not None else {}, *(defaults or ())]
        object.__setattr__(self, 'maps', maps)
        object.__setattr__(self, 'prefix', _normalize_prefix(prefix))
        object.__setattr__(self, 'deprecated_settings', set(deprecated_settings or ()))

    # -- names -----------------------------------------------------------------

    def _alias(self, key: Any) -> str | None:
        """Another name the value of ``key`` may be stored under."""
        if not isinstance(key, str):
            return None
        new = _TO_NEW_KEY.get(key)
        if new is not None:
            return new
        prefix = self.prefix
        if prefix:
            if key.startswith(prefix):
                return _prefixed_setting(key, prefix)
            return _match_case(prefix + key, prefix)
        return None

    # -- mapping protocol ------------------------------------------------------

    def __missing__(self, key: Any) -> Any:
        alias = self._alias(key)
        if alias is not None:
            for mapping in self.maps:
                if alias in mapping:
                    return mapping[alias]
        raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        if any(key in mapping for mapping in self.maps):
            return True
        alias = self._alias(key)
        return alias is not None and any(alias in mapping for mapping in self.maps)

    def get(self, key: Any, default: Any = None) -> Any:
        for mapping in self.maps:
            if key in mapping:
                return mapping[key]
        try:
            return self.__missing__(key)
        except KeyError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        self.maps[0][_setting_name(key, self.prefix)] = value

    def __delitem__(self, key: Any) -> None:
        try:
            del self.maps[0][_setting_name(key, self.prefix)]
        except KeyError:
            raise KeyError(key) from None

    def pop(self, key: Any, *default: Any) -> Any:
        return self.maps[0].pop(_setting_name(key, self.prefix), *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Set ``key`` to ``default`` unless it has a value (defaults count)."""
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> Settings:
        self.update(other)
        return self

    def copy(self) -> Settings:
        """A copy with its own :attr:`changes`; the other layers are shared."""
        return type(self)(dict(self.changes), self.maps[1:], prefix=self.prefix,
                          deprecated_settings=self.deprecated_settings)

    __copy__ = copy

    # -- attribute access ------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith('_') or name in self._ATTRS:
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f'{type(self).__name__!r} object has no attribute {name!r}') from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._ATTRS:
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {
            key for key in self if isinstance(key, str) and key.isidentifier()})

    def __repr__(self) -> str:
        return (f'<{type(self).__name__}: {len(self.without_defaults())} set, '
                f'{len(self.maps)} layers>')

    # -- layers ----------------------------------------------------------------

    @property
    def changes(self) -> dict:
        """The user's changes: the top layer, where writes go."""
        return self.maps[0]

    @property
    def defaults(self) -> list[Mapping]:
        """The layers below :attr:`changes`, the built-in defaults last."""
        return self.maps[1:]

    def add_defaults(self, d: Any) -> None:
        """Layer ``d`` (a mapping or an object's attributes) right below the changes."""
        if not isinstance(d, Mapping):
            d = {key: getattr(d, key) for key in dir(d) if not key.startswith('_')}
        if any(_setting_name(key, self.prefix) != key for key in d):
            d = _to_new_names(d, self.prefix)
        self.maps.insert(1, d)

    def without_defaults(self) -> Settings:
        """The settings without the built-in defaults layer."""
        return type(self)({}, self.maps[:-1], prefix=self.prefix)

    def value_set_for(self, key: str) -> bool:
        """Whether ``key`` was set by the user (not only defaulted)."""
        return key in self.without_defaults()

    # -- lookups ---------------------------------------------------------------

    def first(self, *keys: str) -> Any:
        """The value of the first of ``keys`` that is set to something not None."""
        for key in keys:
            value = self.get(key)
            if value is not None:
                return value
        return None

    def find_option(self, name: str, namespace: str = '') -> searchresult:
        """Find a setting's option; see :func:`celery.app.defaults.find`."""
        return find(name, namespace)

    def find_value_for_key(self, name: str, namespace: str = 'celery') -> Any:
        """The value of the setting :meth:`find_option` finds for ``name``."""
        return self.get_by_parts(*self.find_option(name, namespace)[:-1])

    def get_by_parts(self, *parts: str | None) -> Any:
        """``get_by_parts('task', 'always_eager')`` is ``self['task_always_eager']``."""
        return self['_'.join(part for part in parts if part)]

    # -- settings with a fallback ------------------------------------------------

    @property
    def broker_url(self) -> Any:
        return os.environ.get('CELERY_BROKER_URL') or self.first('broker_url', 'broker_host')

    @property
    def broker_read_url(self) -> Any:
        return (os.environ.get('CELERY_BROKER_READ_URL')
                or self.get('broker_read_url') or self.broker_url)

    @property
    def broker_write_url(self) -> Any:
        return (os.environ.get('CELERY_BROKER_WRITE_URL')
                or self.get('broker_write_url') or self.broker_url)

    @property
    def result_backend(self) -> Any:
        return os.environ.get('CELERY_RESULT_BACKEND') or self.get('result_backend')

    @property
    def task_default_exchange(self) -> str | None:
        return self.first('task_default_exchange', 'task_default_queue')

    @property
    def task_default_routing_key(self) -> str | None:
        return self.first('task_default_routing_key', 'task_default_queue')

    @property
    def timezone(self) -> Any:
        # Django's TIME_ZONE applies when Celery's own setting is not given.
        return self.first('timezone', 'TIME_ZONE')

    # -- reporting -------------------------------------------------------------

    def table(self, with_defaults: bool = False, censored: bool = True) -> dict:
        """The settings as a dict (only those set, unless ``with_defaults``)."""
        source = self if with_defaults else self.without_defaults()
        hidden = _DICT_MEMBERS
        table = {key: source[key] for key in source
                 if isinstance(key, str) and not key.startswith('_') and key not in hidden}
        return filter_hidden_settings(table) if censored else table

    def humanize(self, with_defaults: bool = False, censored: bool = True) -> str:
        """The settings as ``key: value`` lines, as ``celery report`` shows them."""
        return '\n'.join(f'{key}: {_pretty(value)}'
                         for key, value in self.table(with_defaults, censored).items())

    def maybe_warn_deprecated_settings(self) -> bool:
        """Warn once per old setting name the configuration used; True if any."""
        for setting in sorted(self.deprecated_settings):
            warnings.warn(CPendingDeprecationWarning(
                f'The {setting!r} setting is deprecated and will be removed in '
                f'version 6.0.0. Use the {_TO_NEW_KEY.get(setting, setting)!r} '
                f'setting instead (`celery upgrade settings` can rename them).'),
                stacklevel=2)
        return bool(self.deprecated_settings)


_DICT_MEMBERS = frozenset(dir(dict))


def _pretty(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        from pprint import pformat
        text = pformat(value, width=70)
        if '\n' in text:
            return '\n    ' + text.replace('\n', '\n    ')
        return text
    return repr(value)


# -- reading a configuration source ---------------------------------------------

E_MIX_OLD_INTO_NEW = """\
Cannot mix new and old setting names.

Most of the configuration uses the new lower-case names, but these settings
use the old upper-case names; rename them as shown:

{renames}

(`celery upgrade settings path/to/config.py` can rename them for you.)"""

E_MIX_NEW_INTO_OLD = """\
Cannot mix old and new setting names.

Most of the configuration uses the old upper-case names, but these settings
use the new lower-case names:

{renames}

Either rename them to the old names shown, or better, since the old names go
away in Celery 6, move the whole configuration to the new names
(`celery upgrade settings path/to/config.py` can do it for you)."""


def _format_renames(renames: Iterable[tuple[str, str]]) -> str:
    return '\n'.join(f'    {old:<40} -> {new}' for old, new in renames)


def _check_not_mixed(have: set, new_keys: set, old_keys: set, old_style: bool) -> None:
    """Raise ImproperlyConfigured if the minority style has keys of its own."""
    if not (new_keys and old_keys):
        return
    if old_style:
        renames = [(key, _TO_OLD_KEY.get(key, key.upper())) for key in sorted(new_keys)
                   if not any(old in have for old in _OLD_NAMES.get(key, ()))]
        template = E_MIX_NEW_INTO_OLD
    else:
        renames = [(key, _TO_NEW_KEY.get(key, key.lower())) for key in sorted(old_keys)
                   if _TO_NEW_KEY.get(key) not in have]
        template = E_MIX_OLD_INTO_NEW
    if renames:
        raise ImproperlyConfigured(template.format(renames=_format_renames(renames)))


def _to_new_names(conf: Any, prefix: str | None, old_style: bool = False) -> dict:
    """Copy ``conf`` with every key naming a setting converted to its new name.

    When two keys name the same setting, a namespaced key wins, then the key
    in the configuration's own style (new names unless ``old_style``).
    Keys that name no setting are kept as they are.
    """
    out: dict = {}
    rank: dict = {}
    for key in list(conf.keys()):
        name, score = key, 1
        if isinstance(key, str):
            namespaced = _prefixed_setting(key, prefix)
            if namespaced is not None:
                name, score = namespaced, 3
            elif key in _TO_NEW_KEY:
                name, score = _TO_NEW_KEY[key], 2 if old_style else 1
            elif key in SETTING_KEYS:
                score = 1 if old_style else 2
        if score >= rank.get(name, 0):
            out[name], rank[name] = conf[key], score
    return out


def detect_settings(conf: Mapping | None, preconf: Mapping | None = None,
                    ignore_keys: Iterable[str] = frozenset(), prefix: str | None = None,
                    all_keys: set | None = None, old_keys: set | None = None) -> Settings:
    """Build the app's :class:`Settings` from a configuration source.

    ``conf`` is the configuration the loader read (new names, old names, or
    with ``prefix``, names like ``CELERY_BROKER_URL``); ``preconf`` holds the
    settings given to the app before (constructor arguments, ``conf.update``),
    which override ``conf``. When ``conf`` is None, ``preconf`` is the source,
    and ``ignore_keys`` (what the app set by itself) is left out when telling
    its style. A source mixing old and new names raises
    :exc:`~celery.exceptions.ImproperlyConfigured`, unless it is namespaced.
    """
    all_keys = SETTING_KEYS if all_keys is None else all_keys
    old_keys = _OLD_SETTING_KEYS if old_keys is None else old_keys
    preconf = {} if preconf is None else preconf
    prefix = _normalize_prefix(prefix)
    if conf is None:
        source, conf = preconf, {}
    else:
        source = conf
    have = {key for key in source.keys() if isinstance(key, str)} - set(ignore_keys)
    new_found, old_found = have & set(all_keys), have & set(old_keys)
    if prefix:
        # Namespaced configurations use the new names; old names still count.
        old_style = False
        old_found = {key for key in old_found if _prefixed_setting(key, prefix) is None}
    else:
        old_style = len(old_found) > len(new_found)
        _check_not_mixed(have, new_found, old_found, old_style)
    changes = _to_new_names(preconf, prefix)
    user = _to_new_names(conf, prefix, old_style) if conf else {}
    return Settings(changes, [user, deepcopy(DEFAULTS)], prefix=prefix,
                    deprecated_settings=old_found)


# -- hiding secrets ------------------------------------------------------------

def _mask_url(value: Any) -> Any:
    """Mask the passwords of a URL, of ``;``-separated URLs or a list of them."""
    if isinstance(value, str):
        if '://' not in value:
            return value
        return ';'.join(_URL_PASSWORD.sub(lambda m: m.group(1) + MASK if m.group(2) else
                                          m.group(0), part)
                        for part in value.split(';'))
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_url(item) for item in value)
    return value


def filter_hidden_settings(conf: Mapping) -> dict:
    """Copy ``conf`` with secrets masked, for showing to people.

    Values of keys that look secret (``*_PASSWORD``, ``*_KEY``, ...) are
    replaced by ``********``, URL passwords are masked, and nested mappings
    are filtered the same way.
    """
    def censor(key: Any, value: Any) -> Any:
        if isinstance(key, str) and HIDDEN_SETTINGS.search(key):
            return MASK
        if isinstance(value, Mapping):
            return filter_hidden_settings(value)
        return _mask_url(value)
    return {key: censor(key, value) for key, value in conf.items()}


# -- app helpers -----------------------------------------------------------------

def appstr(app: Any) -> str:
    """``'proj:0x7f...'``: an app's main module and identity, as the banner shows it."""
    return f'{app.main or "__main__"}:{id(app):#x}'


BUGREPORT_INFO = """
software -> celery:{celery_v} kombu:{kombu_v} py:{py_v}
            billiard:{billiard_v} {driver_v}
platform -> system:{system} arch:{arch}
            kernel version:{kernel_version} imp:{py_i}
loader   -> {loader}
settings -> transport:{transport} results:{results}

{human_settings}
"""


def _python_implementation() -> str:
    import platform
    name = platform.python_implementation()
    if name == 'CPython':
        return name
    return f'{name} {platform.python_version()}'


def bugreport(app: Any) -> str:
    """A text report (versions, platform, settings) to paste into bug reports."""
    import platform

    import billiard
    import kombu

    import celery

    transport = driver_v = ''
    try:
        conn = app.connection_for_write()
        try:
            transport = conn.transport_cls
            driver_v = f'{conn.transport.driver_name}:{conn.transport.driver_version()}'
        finally:
            conn.release()
    except Exception:  # the report must not fail on a broken broker setting
        pass
    loader = type(app.loader)
    results = app.conf.result_backend
    return BUGREPORT_INFO.format(
        system=platform.system(),
        arch=', '.join(part for part in platform.architecture() if part),
        kernel_version=platform.release(),
        py_i=_python_implementation(),
        celery_v=getattr(celery, 'VERSION_BANNER', None)
        or f'{celery.__version__} ({celery.SERIES})',
        kombu_v=kombu.__version__,
        billiard_v=billiard.__version__,
        py_v=platform.python_version(),
        driver_v=driver_v,
        transport=transport,
        results=_mask_url(results if isinstance(results, str) else results or 'disabled'),
        human_settings=app.conf.humanize(),
        loader=f'{loader.__module__}.{loader.__qualname__}',
    )


def _is_app(obj: Any) -> bool:
    from celery.app.base import Celery
    return isinstance(obj, Celery)


def _app_in_module(module: ModuleType, name: str, symbol_by_name: Callable,
                   imp: Callable) -> Any:
    """The app a module holds: ``app``, ``celery``, ``<pkg>.celery``, or any app."""
    for attr in ('app', 'celery'):
        found = getattr(module, attr, None)
        if found is not None and not isinstance(found, ModuleType):
            return found
    if getattr(module, '__path__', None):  # a package: try its celery module
        try:
            return find_app(f'{name}.celery', symbol_by_name=symbol_by_name, imp=imp)
        except ImportError:
            pass
    for value in vars(module).values():
        if _is_app(value):
            return value
    raise AttributeError(
        f"module {name!r} has no attribute 'app' or 'celery' (and no Celery app in it)")


def find_app(app: str, symbol_by_name: Callable | None = None,
             imp: Callable | None = None) -> Any:
    """Resolve ``celery -A`` values: ``'proj'``, ``'proj.celery'``, ``'proj:app'``.

    A module given by name is searched for an attribute ``app`` or ``celery``,
    then (for a package) a ``celery`` submodule, then any Celery app it holds.
    Raises :exc:`ImportError` (``ModuleNotFoundError``) for a missing module
    and :exc:`AttributeError` when the module holds no app.
    """
    if symbol_by_name is None:
        from kombu.utils.imports import symbol_by_name
    if imp is None:
        from celery.utils.imports import import_from_cwd as imp
    try:
        found = symbol_by_name(app, imp=imp)
    except AttributeError:
        if ':' in app:
            raise
        # 'proj.celery' where 'celery' is a module the package doesn't import.
        found = imp(app)
    if isinstance(found, ModuleType) and ':' not in app:
        return _app_in_module(found, app, symbol_by_name, imp)
    return found


def _unpickle_app(cls: type, pickler: type, *args: Any) -> Any:
    """Rebuild an app pickled by the old protocol (``__reduce_args__``)."""
    return pickler()(cls, *args)


def _unpickle_app_v2(cls: type, kwargs: dict) -> Any:
    """Rebuild an app pickled by ``Celery.__reduce__``; it never becomes current."""
    kwargs['set_as_current'] = False
    return cls(**kwargs)


"""The app's configuration before it is loaded.

``app.conf`` may be written to (``app.conf.update(...)``) before the
configuration source has been read; those writes are kept and layered over the
source when it is. The first read loads the configuration.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Callable, Iterator

__all__ = ('PendingConfiguration', 'add_defaults')


class PendingConfiguration(MutableMapping):
    """``app.conf`` until the first read: writes are kept, reads load the settings."""

    def __init__(self, preconf: dict, load: Callable[[], Any]) -> None:
        object.__setattr__(self, '_preconf', preconf)
        object.__setattr__(self, '_load', load)
        object.__setattr__(self, '_settings', None)

    @property
    def _data(self) -> Any:
        settings = self._settings
        if settings is None:
            settings = self._load()
            object.__setattr__(self, '_settings', settings)
        return settings

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __getattr__(self, key: str) -> Any:
        if key.startswith('__'):
            raise AttributeError(key)
        return getattr(self._data, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if self._settings is None:
            self._preconf[key] = value
        else:
            self._settings[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __delitem__(self, key: str) -> None:
        if self._settings is None:
            del self._preconf[key]
        else:
            del self._settings[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        if self._settings is None:
            self._preconf.update(*args, **kwargs)
        else:
            self._settings.update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if self._settings is None and key not in self._preconf:
            return self._data.setdefault(key, default)
        return self._data.setdefault(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        if self._settings is None:
            return f'<PendingConfiguration (not loaded yet): {self._preconf!r}>'
        return repr(self._settings)


def add_defaults(settings: Any, defaults: Any) -> None:
    """Layer ``defaults`` under the user's settings (above the built-in defaults)."""
    if hasattr(settings, 'add_defaults'):
        settings.add_defaults(defaults)
    else:
        settings.maps.insert(1, dict(defaults))

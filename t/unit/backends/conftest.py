"""Test doubles for the backend tests: a key-value store over a dict."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from celery.backends.base import KeyValueStoreBackend


class DictBackend(KeyValueStoreBackend):
    """A key-value backend over a plain dict, counting chords with incr."""

    implements_incr = True
    supports_native_join = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data: dict = {}
        self.expired: dict = {}

    def get(self, key: Any) -> Any:
        return self.data.get(key)

    def mget(self, keys: list) -> list:
        return [self.data.get(key) for key in keys]

    def set(self, key: Any, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: Any) -> None:
        self.data.pop(key, None)

    def incr(self, key: Any) -> int:
        self.data[key] = int(self.data.get(key) or 0) + 1
        return self.data[key]

    def expire(self, key: Any, value: Any) -> None:
        self.expired[key] = value


@pytest.fixture
def kv_app() -> Iterator:
    """An app on the memory broker whose backend is a :class:`DictBackend`."""
    from celery import Celery
    app = Celery('t.unit.backends', set_as_current=False, broker='memory://',
                 backend=DictBackend, fixups=[])
    yield app
    app.close()


@pytest.fixture
def kv(kv_app) -> DictBackend:
    """The :class:`DictBackend` of ``kv_app``."""
    return kv_app.backend

"""The loader apps use by default: configuration comes from the app itself."""
from __future__ import annotations

from celery.loaders.base import BaseLoader

__all__ = ('AppLoader',)


class AppLoader(BaseLoader):
    """Reads no configuration of its own; the app's ``config_from_object`` supplies it."""

"""The default loader: configuration from the ``celeryconfig`` module.

The module name can be changed with the ``CELERY_CONFIG_MODULE`` environment
variable. A missing module is only a warning, as the defaults still work.
"""
from __future__ import annotations

import os
import warnings
from typing import Any

from celery.exceptions import NotConfigured
from celery.loaders.base import BaseLoader
from celery.utils.collections import DictAttribute

__all__ = ('Loader', 'DEFAULT_CONFIG_MODULE')

DEFAULT_CONFIG_MODULE = 'celeryconfig'

#: Warns if configuration file is missing if :envvar:`C_WNOCONF` is set.
C_WNOCONF = os.environ.get('C_WNOCONF', False)


class Loader(BaseLoader):
    """Loads ``celeryconfig`` (or the module named by CELERY_CONFIG_MODULE)."""

    def setup_settings(self, settingsdict: Any) -> Any:
        return DictAttribute(settingsdict)

    def read_configuration(self, fail_silently: bool = True) -> Any:
        """Import the configuration module and return its settings."""
        configname = os.environ.get('CELERY_CONFIG_MODULE', DEFAULT_CONFIG_MODULE)
        try:
            usercfg = self._import_config_module(configname)
        except ImportError:
            if not fail_silently:
                raise
            if C_WNOCONF:
                warnings.warn(NotConfigured(
                    f'No {configname!r} module found! Please make sure it exists and '
                    'is available to Python.'))
            return {}
        self.configured = True
        return self.setup_settings(usercfg)

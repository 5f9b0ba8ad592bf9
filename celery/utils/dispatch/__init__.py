"""Observer pattern: the :class:`~celery.utils.dispatch.signal.Signal` class."""
from __future__ import annotations

from .signal import Signal

__all__ = ('Signal',)

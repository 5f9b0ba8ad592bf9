"""Task and group id generation."""
from __future__ import annotations

from uuid import uuid4

__all__ = ('uuid',)


def uuid(_uuid=uuid4) -> str:
    """Return a new random id as a string (the form task ids take)."""
    return str(_uuid())

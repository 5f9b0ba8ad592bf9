"""Task and group id generation.

Ids are version 4 UUIDs in their text form, as ``str(uuid.uuid4())`` gives.
Every task call makes one, and a system call plus a :class:`uuid.UUID`
object per id cost more than the rest of building the message; so ids are
made 256 at a time from one ``os.urandom`` read and handed out one by one
(``deque.pop`` is atomic: thread safe without a lock). A forked child drops
the ids it inherited (``os.register_at_fork``): the parent hands those out.
"""
from __future__ import annotations

import os
from collections import deque
from typing import Callable
from uuid import UUID, uuid4

__all__ = ('uuid',)

#: Ids made at once.
BATCH = 256

_ready: deque[str] = deque()


def _forget_ids() -> None:
    """In a forked child: the parent will hand out the ids made so far."""
    _ready.clear()


if hasattr(os, 'register_at_fork'):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_forget_ids)


def _text(raw: bytearray) -> str:
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f'{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}'


def _make_ids() -> None:
    data = os.urandom(16 * BATCH)
    _ready.extend([_text(bytearray(data[i:i + 16])) for i in range(0, len(data), 16)])


def uuid(_uuid: Callable[[], UUID] = uuid4) -> str:
    """Return a new random id as a string (the form task ids take)."""
    if _uuid is not uuid4:
        return str(_uuid())
    while True:
        try:
            return _ready.pop()
        except IndexError:
            _make_ids()

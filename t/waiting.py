"""Poll a condition with a deadline: the one way tests wait for something.

Tests never sleep a fixed time for another process or thread to catch up;
they poll a predicate until it holds and fail with a message naming what
they waited for when the deadline passes first.
"""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02,
             what: str = 'condition', detail: Callable[[], Any] | None = None) -> Any:
    """Return the first true value of ``predicate()``.

    Raises :class:`AssertionError` naming ``what`` (and ``detail()``, e.g. a
    worker's log, if given) when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f'\n{detail()}' if detail is not None else ''
            raise AssertionError(f'timed out after {timeout}s waiting for {what}{extra}')
        time.sleep(interval)

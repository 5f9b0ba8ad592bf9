"""Isolation for the contrib tests from process-wide state other tests may leave."""
from __future__ import annotations

from typing import Iterator

import pytest

from celery import _state


@pytest.fixture(autouse=True)
def joins_allowed() -> Iterator[None]:
    """Start each test outside any worker: ``result.get()`` may block.

    (A worker built in-process sets the "joins will block" flag for its pool.)
    """
    previous = _state.task_join_will_block()
    _state._set_task_join_will_block(False)
    yield
    _state._set_task_join_will_block(previous)

"""Pool tests: children initialised with an app change the parent's globals too."""
from __future__ import annotations

from typing import Any, Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_globals(current_app_restored: None) -> Iterator[None]:
    from celery._state import _set_task_join_will_block, task_join_will_block
    blocks = task_join_will_block()
    yield
    _set_task_join_will_block(blocks)

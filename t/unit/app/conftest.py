"""Fixtures shared by the app tests."""
from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def qname(app):
    """A fresh default queue name (the memory transport is process-wide)."""
    name = f'q-{uuid.uuid4().hex[:12]}'
    app.conf.task_default_queue = name
    return name

"""Fixtures for the events tests: an app with a private events exchange."""
from __future__ import annotations

import uuid
from typing import Iterator

import pytest


@pytest.fixture
def ev_app(app):
    """An app whose events and control exchanges are private to the test
    (the memory transport is shared by the whole process)."""
    suffix = uuid.uuid4().hex[:10]
    app.conf.event_exchange = f'ev-{suffix}'
    app.conf.control_exchange = f'ctl-{suffix}'
    app.conf.broker_transport_options = {'polling_interval': 0.01}
    return app


@pytest.fixture
def conn(ev_app) -> Iterator:
    with ev_app.connection_for_write() as connection:
        yield connection

"""Fixtures for the command-line tests: run ``celery ...`` against a test app."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner, Result


@pytest.fixture
def cli_app(app: Any, current_app_restored: None) -> Iterator[Any]:
    """The ``app`` fixture made current (what ``celery`` without ``-A`` uses).

    Its default queue has a unique name: the memory transport's queues are
    shared by every test of the process.  Registers ``cli_add`` (``t.unit.bin.cli_add``).
    """
    app.conf.task_default_queue = f'cli-{uuid.uuid4().hex[:12]}'

    @app.task(name='t.unit.bin.cli_add')
    def cli_add(x: int, y: int) -> int:
        return x + y

    app.set_current()
    yield app


@pytest.fixture
def celery_cli(cli_app: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``celery_cli('call', 'x', ...)`` runs the ``celery`` command in-process."""
    from celery.bin.celery import celery

    # the celery group exports some options as environment variables: let
    # monkeypatch put back what was there before the test
    for name in ('APP', 'CELERY_BROKER_URL', 'CELERY_RESULT_BACKEND',
                 'CELERY_CONFIG_MODULE', 'CELERY_LOADER'):
        monkeypatch.setenv(name, 'placeholder')
        monkeypatch.delenv(name)

    def invoke(*args: str, input: str | None = None) -> Result:  # noqa: A002
        return CliRunner().invoke(celery, list(args), input=input)

    return invoke


@pytest.fixture
def drain_queue(cli_app: Any) -> Callable[[str], list]:
    """``drain_queue(name)`` takes every waiting message off a queue (acked)."""

    def drain(queue: str) -> list:
        messages = []
        with cli_app.connection_for_read() as conn:
            channel = conn.default_channel
            while True:
                message = channel.basic_get(queue, no_ack=True)
                if message is None:
                    return messages
                messages.append(message)

    return drain

"""Helpers for the worker tests: task messages, a channel that records acks."""
from __future__ import annotations

import itertools
import logging
from typing import Any, Callable, Iterator

import pytest
from kombu import serialization
from kombu.message import Message

from celery.worker import state

_tags = itertools.count(1)


class RecordingChannel:
    """A channel that remembers what was acked and rejected."""

    no_ack_consumers = None

    def __init__(self) -> None:
        self.acked: list = []
        self.rejected: list = []

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        self.acked.append((delivery_tag, multiple))

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        self.rejected.append((delivery_tag, requeue))


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


@pytest.fixture
def make_message(app: Any, channel: RecordingChannel) -> Callable[..., Message]:
    """``make_message(name, args, kwargs, protocol=2, **options)``: a received task message."""

    def make(name: str, args: tuple = (), kwargs: dict | None = None, protocol: int = 2,
             task_id: str | None = None, serializer: str = 'json', **options: Any) -> Message:
        from celery.utils.uuid import uuid
        task_id = task_id or uuid()
        build = app.amqp.as_task_v2 if protocol == 2 else app.amqp.as_task_v1
        headers, properties, body, _ = build(task_id, name, args, kwargs or {}, **options)
        content_type, encoding, data = serialization.dumps(body, serializer=serializer)
        message = Message(body=data, channel=channel, delivery_tag=next(_tags),
                       content_type=content_type, content_encoding=encoding,
                       headers=headers,
                       properties=dict(properties, correlation_id=task_id),
                       delivery_info={'exchange': '', 'routing_key': 'celery',
                                      'redelivered': False})
        message.accept = serialization.prepare_accept_content(app.conf.accept_content)
        return message

    return make


@pytest.fixture(autouse=True)
def _log_level(caplog: Any) -> None:
    """Other suites may leave the root logger at ERROR (embedded workers)."""
    caplog.set_level(logging.INFO)


@pytest.fixture(autouse=True)
def clean_state(current_app_restored: None) -> Iterator[None]:
    """Leave no worker state behind: requests, flags, join checks, optimizations."""
    from celery._state import _set_task_join_will_block, task_join_will_block
    from celery.app import trace
    blocks = task_join_will_block()
    state.reset_state()
    yield
    state.reset_state()
    state.should_stop = state.should_terminate = None
    _set_task_join_will_block(blocks)
    trace.reset_worker_optimizations()

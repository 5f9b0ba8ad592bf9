"""The py-amqp installed is the code the worker's fast AMQP paths were checked against."""
from __future__ import annotations

import amqp
import pytest

from celery.worker import _amqp_pins


def test_installed_pyamqp_is_the_pinned_code() -> None:
    # When this fails, py-amqp changed code that celery/worker/loops.py
    # (_AmqpReader), celery/worker/_amqp_decode.py or the ack writer of
    # celery/worker/consumer/acks.py reproduce: compare, make them agree,
    # then update PINNED in celery/worker/_amqp_pins.py.
    differing = _amqp_pins.changed()
    assert not differing, f'py-amqp {amqp.__version__} changed: {differing}'
    assert _amqp_pins.verified()


def test_a_changed_function_turns_the_fast_paths_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_amqp_pins.PINNED, 'amqp.serialization:loads', '0' * 16)
    _amqp_pins.verified.cache_clear()
    try:
        assert list(_amqp_pins.changed()) == ['amqp.serialization:loads']
        assert not _amqp_pins.verified()
    finally:
        _amqp_pins.verified.cache_clear()


def test_the_fast_paths_ask_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from amqp import serialization
    from amqp.channel import Channel
    from amqp.transport import TCPTransport

    from celery.worker import _amqp_decode, loops
    from celery.worker.consumer import acks
    channel = Channel.__new__(Channel)
    transport = TCPTransport.__new__(TCPTransport)
    assert acks._ack_frames_writer(channel) is not None and loops._plain_tcp(transport)
    # Given: a py-amqp that is not the pinned code
    monkeypatch.setattr(_amqp_pins, 'verified', lambda: False)
    monkeypatch.setitem(serialization.PROPERTY_CLASSES, 60, _amqp_decode.ORIGINAL)
    # Then: each fast path leaves py-amqp's own in place
    assert _amqp_decode.install() is False
    assert serialization.PROPERTY_CLASSES[60] is _amqp_decode.ORIGINAL
    assert acks._ack_frames_writer(channel) is None
    assert not loops._plain_tcp(transport)

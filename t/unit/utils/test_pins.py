"""The kombu and py-amqp installed are the code our fast paths were checked against."""
from __future__ import annotations

import amqp
import kombu
import pytest

from celery.utils import _pins


@pytest.mark.parametrize('group', sorted(_pins.PINNED))
def test_installed_libraries_are_the_pinned_code(group: str) -> None:
    # When this fails, kombu or py-amqp changed code that a fast path
    # reproduces (see the module docs of celery.utils._pins for which):
    # compare, make them agree, then update PINNED.
    differing = _pins.changed(group)
    assert not differing, (f'kombu {kombu.__version__} / py-amqp {amqp.__version__} '
                           f'changed: {differing}')
    assert _pins.verified(group)


@pytest.fixture
def pins_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every group's first function pinned to another hash."""
    for group, pins in _pins.PINNED.items():
        monkeypatch.setitem(_pins.PINNED, group, {**pins, next(iter(pins)): '0' * 16})
    _pins.verified.cache_clear()
    yield
    _pins.verified.cache_clear()


def test_a_changed_function_turns_its_group_off(pins_changed: None) -> None:
    for group, pins in _pins.PINNED.items():
        assert list(_pins.changed(group)) == [next(iter(pins))]
        assert not _pins.verified(group)


def test_the_fast_paths_ask_first(pins_changed: None, app, monkeypatch) -> None:
    from amqp import serialization
    from amqp.channel import Channel
    from amqp.transport import TCPTransport

    from celery.app._publish import _plain_pyamqp_publish, can_publish
    from celery.worker import _amqp_decode, loops
    from celery.worker.consumer import acks
    monkeypatch.setitem(serialization.PROPERTY_CLASSES, 60, _amqp_decode.ORIGINAL)
    # Given: a kombu and py-amqp that are not the pinned code
    # Then: each fast path leaves the libraries' own in place
    assert _amqp_decode.install() is False
    assert serialization.PROPERTY_CLASSES[60] is _amqp_decode.ORIGINAL
    assert acks._ack_frames_writer(Channel.__new__(Channel)) is None
    assert not loops._plain_tcp(TCPTransport.__new__(TCPTransport))
    assert not _plain_pyamqp_publish(Channel.__new__(Channel))
    with app.producer_or_acquire() as producer:
        assert not can_publish(producer, {})


def test_the_fast_paths_are_on_with_the_pinned_code(app) -> None:
    from amqp.channel import Channel
    from amqp.transport import TCPTransport

    from celery.app._publish import _plain_pyamqp_publish, can_publish
    from celery.worker import loops
    from celery.worker.consumer import acks
    assert acks._ack_frames_writer(Channel.__new__(Channel)) is not None
    assert loops._plain_tcp(TCPTransport.__new__(TCPTransport))
    assert _plain_pyamqp_publish(Channel.__new__(Channel))
    with app.producer_or_acquire() as producer:
        assert can_publish(producer, {})

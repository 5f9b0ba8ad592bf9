"""Tests for celery.utils.dispatch.Signal."""
from __future__ import annotations

import gc
import logging
import threading
import warnings

import pytest

from celery.exceptions import CDeprecationWarning
from celery.local import PromiseProxy, Proxy
from celery.utils.dispatch import Signal
from celery.utils.dispatch import signal as signal_module


@pytest.fixture
def sig():
    return Signal(name='test_signal', providing_args={'value'})


def receiver_a(sender, **kwargs):
    return ('a', sender, kwargs)


def receiver_b(**kwargs):
    return 'b'


class Listener:
    def __init__(self):
        self.calls = []

    def on_signal(self, sender=None, **kwargs):
        self.calls.append((sender, kwargs))
        return 'method'


class TestConnect:

    def test_plain_connect_and_send(self, sig):
        assert not sig.receivers
        assert sig.send(sender='x', value=1) == []
        sig.connect(receiver_a)
        assert sig.receivers
        assert sig.send(sender='x', value=1) == [
            (receiver_a, ('a', 'x', {'signal': sig, 'value': 1})),
        ]

    def test_decorator_forms(self, sig):
        @sig.connect
        def plain(**kwargs):
            return 'plain'

        @sig.connect(sender='only-me')
        def filtered(**kwargs):
            return 'filtered'

        assert plain(x=1) == 'plain'  # the decorator returns the function
        assert [r for _, r in sig.send(sender='other')] == ['plain']
        assert sorted(r for _, r in sig.send(sender='only-me')) == [
            'filtered', 'plain']

    def test_positional_sender_in_decorator(self, sig):
        sender = object()

        @sig.connect(sender)
        def fun(**kwargs):
            return 1

        assert sig.send(sender=object()) == []
        assert sig.send(sender=sender) == [(fun, 1)]

    def test_sender_filter_by_identity(self, sig):
        s1, s2 = object(), object()
        sig.connect(receiver_b, sender=s1)
        assert sig.has_listeners(s1)
        assert not sig.has_listeners(s2)
        assert sig.send(sender=s2) == []
        assert sig.send(sender=s1) == [(receiver_b, 'b')]

    def test_string_senders_match_by_value(self, sig):
        sig.connect(receiver_b, sender='proj.tasks.add')
        name = ''.join(['proj.tasks.', 'add'])  # equal, not identical
        assert sig.send(sender=name) == [(receiver_b, 'b')]

    def test_connect_twice_is_ignored(self, sig):
        sig.connect(receiver_b)
        sig.connect(receiver_b)
        assert len(sig.receivers) == 1

    def test_same_receiver_different_senders(self, sig):
        sig.connect(receiver_b, sender='a')
        sig.connect(receiver_b, sender='b')
        assert len(sig.receivers) == 2

    def test_dispatch_uid_dedupes(self, sig):
        sig.connect(receiver_a, dispatch_uid='uid')
        sig.connect(receiver_b, dispatch_uid='uid')
        assert sig.send(sender=None) == [
            (receiver_a, ('a', None, {'signal': sig}))]

    def test_receiver_must_accept_kwargs(self, sig):
        def no_kwargs(sender):
            return None

        with pytest.raises(ValueError, match='keyword arguments'):
            sig.connect(no_kwargs)
        assert not sig.receivers

    def test_receiver_must_be_callable(self, sig):
        with pytest.raises(TypeError):
            sig.connect(sender='x')(42)

    def test_bound_methods_of_distinct_instances(self, sig):
        one, two = Listener(), Listener()
        sig.connect(one.on_signal)
        sig.connect(two.on_signal)
        sig.send(sender='s', value=3)
        assert one.calls == [('s', {'signal': sig, 'value': 3})]
        assert two.calls == [('s', {'signal': sig, 'value': 3})]


class TestWeakReferences:

    def test_dead_function_receiver_is_dropped(self, sig):
        def temp(**kwargs):
            return 'temp'

        sig.connect(temp)
        assert sig.send(sender=None) == [(temp, 'temp')]
        del temp
        gc.collect()
        assert sig.send(sender=None) == []
        assert sig.receivers == []
        assert not sig.has_listeners()

    def test_dead_bound_method_is_dropped(self, sig):
        listener = Listener()
        sig.connect(listener.on_signal)
        assert [r for _, r in sig.send(sender=None)] == ['method']
        del listener
        gc.collect()
        assert sig.receivers == []

    def test_weak_false_keeps_receiver(self, sig):
        def temp(**kwargs):
            return 'kept'

        sig.connect(temp, weak=False)
        del temp
        gc.collect()
        assert [r for _, r in sig.send(sender=None)] == ['kept']

    def test_unreferenceable_receiver_is_kept_strongly(self, sig):
        sig.connect(print.__call__)  # method-wrapper: no weak references
        assert sig.has_listeners()

    def test_dead_receiver_while_lock_held(self, sig):
        def temp(**kwargs):
            return None

        sig.connect(temp)
        with sig.lock:
            del temp
            gc.collect()
        assert sig._dead_receivers
        assert sig.send(sender=None) == []
        assert sig.receivers == []


class TestDisconnect:

    def test_disconnect(self, sig):
        sig.connect(receiver_a)
        sig.connect(receiver_b)
        assert sig.disconnect(receiver_a) is True
        assert sig.disconnect(receiver_a) is False
        assert sig.send(sender=None) == [(receiver_b, 'b')]
        assert sig.disconnect(receiver_b)
        assert sig.receivers == []

    def test_disconnect_with_sender(self, sig):
        sig.connect(receiver_b, sender='s')
        assert not sig.disconnect(receiver_b)
        assert sig.disconnect(receiver_b, sender='s')

    def test_disconnect_by_dispatch_uid(self, sig):
        sig.connect(receiver_a, dispatch_uid='uid')
        assert sig.disconnect(dispatch_uid='uid')
        assert not sig.receivers

    def test_disconnect_bound_method(self, sig):
        listener = Listener()
        sig.connect(listener.on_signal)
        assert sig.disconnect(listener.on_signal)

    def test_weak_argument_is_deprecated(self, sig):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            sig.disconnect(receiver_a, weak=True)
        assert caught[0].category is CDeprecationWarning


class TestSend:

    def test_errors_are_logged_and_returned(self, sig, caplog):
        def broken(**kwargs):
            raise KeyError('broken')

        sig.connect(broken)
        sig.connect(receiver_b)
        with caplog.at_level(logging.ERROR, logger=signal_module.__name__):
            responses = sig.send(sender=None)
        assert responses[0][0] is broken
        assert isinstance(responses[0][1], KeyError)
        assert responses[1] == (receiver_b, 'b')
        assert 'Signal handler' in caplog.text
        assert 'broken' in caplog.text

    def test_send_robust_is_send(self):
        assert Signal.send_robust is Signal.send

    def test_base_exceptions_propagate(self, sig):
        def exits(**kwargs):
            raise SystemExit(3)

        sig.connect(exits)
        with pytest.raises(SystemExit):
            sig.send(sender=None)

    def test_use_caching(self):
        sig = Signal(use_caching=True)
        sender = object()
        assert sig.send(sender=sender) == []
        sig.connect(receiver_b, sender=sender)
        assert sig.send(sender=sender) == [(receiver_b, 'b')]
        assert sig.send(sender=sender) == [(receiver_b, 'b')]  # from cache
        sig.disconnect(receiver_b, sender=sender)
        assert sig.send(sender=sender) == []

    def test_proxy_sender_resolves(self, sig):
        target = object()
        sig.connect(receiver_b, sender=Proxy(lambda: target))
        assert sig.send(sender=target) == [(receiver_b, 'b')]
        assert sig.send(sender=Proxy(lambda: target)) == [(receiver_b, 'b')]

    def test_promise_sender_connects_on_evaluation(self, sig):
        target = object()
        promise = PromiseProxy(lambda: target)
        sig.connect(receiver_b, sender=promise)
        assert not promise.__evaluated__()
        assert not sig.receivers
        promise.__maybe_evaluate__()
        assert sig.send(sender=target) == [(receiver_b, 'b')]

    def test_evaluated_promise_sender_connects_now(self, sig):
        target = object()
        promise = PromiseProxy(lambda: target)
        promise.__maybe_evaluate__()
        sig.connect(receiver_b, sender=promise)
        assert sig.send(sender=target) == [(receiver_b, 'b')]

    def test_concurrent_connects(self, sig):
        receivers = [lambda i=i, **kw: i for i in range(200)]

        def connect(chunk):
            for r in chunk:
                sig.connect(r, weak=False)

        threads = [threading.Thread(target=connect, args=(receivers[i::4],))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert sorted(r for _, r in sig.send(sender=None)) == list(range(200))


class TestRetry:

    @pytest.fixture(autouse=True)
    def no_delay(self, monkeypatch):
        monkeypatch.setattr(signal_module._RetryingReceiver, 'interval_start', 0)
        monkeypatch.setattr(signal_module._RetryingReceiver, 'interval_step', 0)

    def test_retries_until_success(self, sig, caplog):
        attempts = []

        @sig.connect(retry=True)
        def flaky(**kwargs):
            attempts.append(1)
            if len(attempts) < 3:
                raise ConnectionError('down')
            return 'up'

        with caplog.at_level(logging.ERROR, logger=signal_module.__name__):
            responses = sig.send(sender=None)
        assert [r for _, r in responses] == ['up']
        assert len(attempts) == 3
        assert 'Could not process signal receiver' in caplog.text

    def test_retry_receiver_held_strongly_and_disconnectable(self, sig):
        def temp(**kwargs):
            return 'ok'

        sig.connect(temp, retry=True)
        ref = temp
        del temp
        gc.collect()
        assert [r for _, r in sig.send(sender=None)] == ['ok']
        assert sig.disconnect(ref)
        assert not sig.receivers


def test_repr(sig):
    assert repr(sig) == "<Signal: test_signal providing_args={'value'}>"
    assert str(sig) == repr(sig)
    assert Signal().providing_args == set()

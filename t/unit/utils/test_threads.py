"""Tests for celery.utils.threads."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from celery.utils.threads import (Local, LocalManager, LocalStack, _LocalStack,
                                  bgThread, default_socket_timeout, get_ident,
                                  release_local)
from t.waiting import wait_for


def run_in_thread(fun):
    result = {}

    def target():
        result['value'] = fun()

    t = threading.Thread(target=target)
    t.start()
    t.join(5)
    assert not t.is_alive()
    return result.get('value')


class Counter(bgThread):

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.count = 0

    def body(self):
        self.count += 1
        time.sleep(0.0005)


class TestbgThread:

    def test_defaults(self):
        t = Counter()
        assert t.daemon
        assert t.name == 'Counter'
        assert Counter(name='custom').name == 'custom'

    def test_body_loops_until_stop(self):
        t = Counter()
        t.start()
        wait_for(lambda: t.count >= 3)
        assert t.is_alive()  # our events must not clash with Thread internals
        t.stop()
        assert not t.is_alive()
        assert t._has_stopped.is_set()
        count = t.count
        assert t.count == count  # no more iterations after stop

    def test_stop_before_start_returns(self):
        t = Counter()
        t.stop()  # must not block
        assert t._is_shutdown.is_set()

    def test_stop_from_body(self):
        class StopsItself(bgThread):
            calls = 0

            def body(self):
                self.calls += 1
                self.stop()

        t = StopsItself()
        t.start()
        t.join(5)
        assert not t.is_alive()
        assert t.calls == 1

    def test_body_must_be_overridden(self):
        with pytest.raises(NotImplementedError):
            bgThread().body()

    def test_crash_reports_and_exits(self, monkeypatch, capsys):
        exits = []

        class Crasher(bgThread):
            def body(self):
                raise KeyError('boom')

        t = Crasher(name='crasher')

        def fake_exit(code):
            exits.append(code)
            t._is_shutdown.set()  # the real os._exit never returns

        monkeypatch.setattr(os, '_exit', fake_exit)
        t.start()
        t.join(5)
        assert exits == [1]
        assert t._has_stopped.is_set()
        err = capsys.readouterr().err
        assert "'crasher' crashed: KeyError('boom')" in err
        assert 'Traceback' in err

    def test_on_crash_formats(self, capsys):
        try:
            raise ValueError('x')
        except ValueError:
            bgThread().on_crash('{0} and {1}', 'a', 'b')
        err = capsys.readouterr().err
        assert 'a and b' in err
        assert 'ValueError' in err


class TestLocal:

    def test_per_thread_values(self):
        local = Local()
        local.x = 1
        assert local.x == 1
        assert run_in_thread(lambda: getattr(local, 'x', 'missing')) == 'missing'

        def set_and_read():
            local.x = 2
            return local.x
        assert run_in_thread(set_and_read) == 2
        assert local.x == 1

    def test_missing_and_delete(self):
        local = Local()
        with pytest.raises(AttributeError):
            local.nope
        local.a = 1
        del local.a
        with pytest.raises(AttributeError):
            local.a
        with pytest.raises(AttributeError):
            del local.a

    def test_release_and_iter(self):
        local = Local()
        local.a = 1
        assert dict(iter(local)) == {get_ident(): {'a': 1}}
        release_local(local)
        with pytest.raises(AttributeError):
            local.a
        release_local(local)  # releasing twice is fine

    def test_call_returns_proxy(self):
        local = Local()
        proxy = local('value')
        local.value = [1, 2]
        assert len(proxy) == 2


class TestLocalStack:

    def test_alias(self):
        assert LocalStack is _LocalStack

    def test_push_pop_top(self):
        stack = LocalStack()
        assert stack.top is None
        assert stack.pop() is None
        assert len(stack) == 0
        assert stack.stack == []
        stack.push(1)
        stack.push(2)
        assert stack.top == 2
        assert len(stack) == 2
        assert stack.stack == [1, 2]
        assert stack.pop() == 2
        assert stack.pop() == 1
        assert stack.pop() is None
        assert stack._stacks == {}  # empty stacks are dropped

    def test_per_thread_stacks(self):
        stack = LocalStack()
        stack.push('main')
        assert run_in_thread(lambda: stack.top) is None

        def push_pop():
            stack.push('other')
            return stack.top, stack.pop(), stack.top
        assert run_in_thread(push_pop) == ('other', 'other', None)
        assert stack.top == 'main'

    def test_call_proxies_top(self):
        stack = LocalStack()
        proxy = stack()
        with pytest.raises(RuntimeError, match='object unbound'):
            proxy.upper()
        stack.push('abc')
        assert proxy.upper() == 'ABC'

    def test_release(self):
        stack = LocalStack()
        stack.push(1)
        release_local(stack)
        assert stack.top is None


class TestLocalManager:

    def test_locals_argument_forms(self):
        assert LocalManager().locals == []
        local = Local()
        assert LocalManager(local).locals == [local]
        stack = LocalStack()
        assert LocalManager([local, stack]).locals == [local, stack]
        assert repr(LocalManager([local, stack])) == '<LocalManager storages: 2>'

    def test_ident_func(self):
        context = {'id': 'a'}
        local, stack = Local(), LocalStack()
        manager = LocalManager([local, stack], ident_func=lambda: context['id'])
        assert manager.get_ident() == 'a'
        local.x = 1
        stack.push('s')
        context['id'] = 'b'
        assert not hasattr(local, 'x')
        assert stack.top is None
        context['id'] = 'a'
        assert local.x == 1
        assert stack.top == 's'

    def test_default_ident(self):
        assert LocalManager().get_ident() == get_ident()

    def test_cleanup(self):
        local, stack = Local(), LocalStack()
        local.x = 1
        stack.push(1)
        LocalManager([local, stack]).cleanup()
        assert not hasattr(local, 'x')
        assert stack.top is None


def test_default_socket_timeout():
    previous = socket.getdefaulttimeout()
    with default_socket_timeout(3.5):
        assert socket.getdefaulttimeout() == 3.5
    assert socket.getdefaulttimeout() == previous
    with pytest.raises(KeyError):
        with default_socket_timeout(1):
            raise KeyError()
    assert socket.getdefaulttimeout() == previous

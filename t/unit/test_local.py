"""Tests for celery.local: Proxy, PromiseProxy, maybe_evaluate, try_import."""
from __future__ import annotations

import copy
import pickle

import pytest

from celery.local import PromiseProxy, Proxy, maybe_evaluate, try_import
from celery.utils.threads import Local


class Target:
    """Target docstring."""

    def __init__(self, value=1):
        self.value = value

    def __call__(self, *args, **kwargs):
        return ('called', args, kwargs)

    def method(self):
        return self.value * 2


class Ctx:
    def __init__(self):
        self.entered = self.exited = False

    def __enter__(self):
        self.entered = True
        return 'ctx'

    def __exit__(self, *exc_info):
        self.exited = True
        return False


class TestProxy:

    def test_forwards_attributes_and_methods(self):
        target = Target(21)
        p = Proxy(lambda: target)
        assert p.value == 21
        assert p.method() == 42
        p.value = 5
        assert target.value == 5
        del p.value
        assert not hasattr(target, 'value')

    def test_looks_up_target_on_every_access(self):
        box = {'obj': Target(1)}
        p = Proxy(lambda: box['obj'])
        assert p.value == 1
        box['obj'] = Target(2)
        assert p.value == 2

    def test_passes_args_and_kwargs_to_factory(self):
        p = Proxy(lambda a, b=0: a + b, args=(1,), kwargs={'b': 2})
        assert p == 3
        assert p + 1 == 4

    def test_isinstance_through_class(self):
        p = Proxy(lambda: Target())
        assert isinstance(p, Target)
        assert isinstance(p, Proxy)
        assert p.__class__ is Target

    def test_name_custom_or_target(self):
        def fun():
            return None

        assert Proxy(lambda: fun).__name__ == 'fun'
        assert Proxy(lambda: fun, name='other').__name__ == 'other'

    def test_doc_explicit_or_forwarded(self):
        assert Proxy(lambda: Target()).__doc__ == 'Target docstring.'
        assert Proxy(lambda: Target(), __doc__='mine').__doc__ == 'mine'
        assert 'Forward everything' in Proxy.__doc__
        assert 'evaluates its target once' in PromiseProxy.__doc__

    def test_str_repr_bool(self):
        assert str(Proxy(lambda: 10)) == '10'
        assert repr(Proxy(lambda: [1])) == '[1]'
        assert not Proxy(lambda: [])
        assert Proxy(lambda: [0])

    def test_call(self):
        p = Proxy(lambda: Target())
        assert p(1, x=2) == ('called', (1,), {'x': 2})

    def test_container_protocol(self):
        data = {'a': 1}
        p = Proxy(lambda: data)
        assert p['a'] == 1
        p['b'] = 2
        assert data['b'] == 2
        del p['a']
        assert 'a' not in p
        assert 'b' in p
        assert len(p) == 1
        assert list(iter(p)) == ['b']
        lst = Proxy(lambda: [1, 2, 3])
        assert list(reversed(lst)) == [3, 2, 1]

    def test_comparison_and_hash(self):
        p = Proxy(lambda: 5)
        assert p == 5
        assert p != 6
        assert p < 6 and p <= 5 and p > 4 and p >= 5
        assert hash(p) == hash(5)

    def test_arithmetic(self):
        p = Proxy(lambda: 7)
        assert p + 1 == 8 and 1 + p == 8
        assert p - 1 == 6 and 10 - p == 3
        assert p * 2 == 14 and 2 * p == 14
        assert p / 2 == 3.5 and 14 / p == 2
        assert p // 2 == 3 and 15 // p == 2
        assert p % 4 == 3 and 15 % p == 1
        assert divmod(p, 2) == (3, 1)
        assert p ** 2 == 49 and 2 ** p == 128
        assert p << 1 == 14 and p >> 1 == 3
        assert p & 3 == 3 and p | 8 == 15 and p ^ 1 == 6
        assert -p == -7 and +p == 7 and abs(Proxy(lambda: -3)) == 3
        assert ~p == -8
        assert int(Proxy(lambda: 2.5)) == 2
        assert float(p) == 7.0
        assert complex(p) == 7 + 0j
        assert [0, 1, 2][Proxy(lambda: 1)] == 1
        assert round(Proxy(lambda: 2.567), 1) == 2.6

    def test_context_manager(self):
        ctx = Ctx()
        with Proxy(lambda: ctx) as value:
            assert value == 'ctx'
            assert ctx.entered
        assert ctx.exited

    def test_dir_and_dict(self):
        target = Target(3)
        p = Proxy(lambda: target)
        assert 'method' in dir(p)
        assert p.__dict__ == {'value': 3}

    def test_pickles_as_target(self):
        p = Proxy(lambda: Target(9))
        restored = pickle.loads(pickle.dumps(p))
        assert type(restored) is Target
        assert restored.value == 9
        assert copy.copy(Proxy(lambda: [1, 2])) == [1, 2]

    def test_local_binding(self):
        local = Local()
        p = Proxy(local, name='thing')
        assert repr(p) == '<Proxy unbound>'
        assert not p
        assert dir(p) == []
        with pytest.raises(RuntimeError, match='no object bound to thing'):
            p.anything
        local.thing = Target(4)
        assert p.value == 4

    def test_errors_of_target_propagate(self):
        p = Proxy(lambda: Target())
        with pytest.raises(AttributeError):
            p.missing


class TestPromiseProxy:

    def test_evaluates_once(self):
        calls = []

        def factory(x):
            calls.append(x)
            return Target(x)

        p = PromiseProxy(factory, (3,))
        assert not p.__evaluated__()
        assert calls == []
        assert p.value == 3
        assert p.method() == 6
        assert p.__evaluated__()
        assert calls == [3]

    def test_then_callbacks_run_after_evaluation(self):
        events = []
        p = PromiseProxy(lambda: events.append('made') or Target(1))
        p.__then__(events.append, 'first')
        p.__then__(lambda *, tag: events.append(tag), tag='second')
        assert events == []
        p.__maybe_evaluate__()
        assert events == ['made', 'first', 'second']
        p.__then__(events.append, 'late')  # already evaluated: runs now
        assert events[-1] == 'late'

    def test_maybe_evaluate(self):
        p = PromiseProxy(lambda: Target(2))
        obj = maybe_evaluate(p)
        assert type(obj) is Target
        assert obj.value == 2
        sentinel = object()
        assert maybe_evaluate(sentinel) is sentinel

    def test_failed_evaluation_can_be_retried(self):
        attempts = []

        def factory():
            attempts.append(1)
            if len(attempts) == 1:
                raise KeyError('nope')
            return 'ok'

        p = PromiseProxy(factory)
        with pytest.raises(KeyError):
            str(p)
        assert not p.__evaluated__()
        assert str(p) == 'ok'

    def test_pickles_as_target(self):
        p = PromiseProxy(lambda: {'a': 1})
        assert pickle.loads(pickle.dumps(p)) == {'a': 1}

    def test_isinstance(self):
        p = PromiseProxy(lambda: Target())
        assert isinstance(p, PromiseProxy)
        assert isinstance(p, Target)
        assert not isinstance(Proxy(lambda: 1), PromiseProxy)


def test_try_import():
    assert try_import('json').__name__ == 'json'
    assert try_import('celery_no_such_module_xyz') is None
    assert try_import('celery_no_such_module_xyz', 'default') == 'default'

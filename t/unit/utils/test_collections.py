"""Tests for celery.utils.collections."""
from __future__ import annotations

import json
import pickle
import time
from collections.abc import Mapping

import pytest

from celery.utils.collections import (AttributeDict, BufferMap, DictAttribute,
                                      LimitedSet, Messagebuffer, OrderedDict,
                                      force_mapping, lpmerge)


class Obj:
    def __init__(self):
        self.x = 1


class TestAttributeDict:

    def test_attribute_access(self):
        d = AttributeDict(a=1)
        assert d.a == 1
        d.b = 2
        assert d['b'] == 2
        with pytest.raises(AttributeError, match="'AttributeDict' object has no attribute 'c'"):
            d.c


class TestDictAttribute:

    def test_mapping_view(self):
        obj = Obj()
        d = DictAttribute(obj)
        assert isinstance(d, Mapping)
        assert d['x'] == 1
        assert d.get('x') == 1
        assert d.get('missing', 'default') == 'default'
        with pytest.raises(KeyError):
            d['missing']
        d['y'] = 2
        assert obj.y == 2
        assert 'y' in d and 'missing' not in d and 3 not in d
        assert d.setdefault('z', 3) == 3
        assert d.setdefault('z', 4) == 3
        assert 'x' in list(d) and ('x', 1) in d.items()
        assert len(d) == len(dir(obj))
        del d['z']
        assert not hasattr(obj, 'z')
        with pytest.raises(KeyError):
            del d['z']

    def test_attributes_forward(self):
        obj = Obj()
        d = DictAttribute(obj)
        assert d.x == 1
        d.w = 5
        assert obj.w == 5
        assert d.obj is obj


def test_force_mapping():
    m = {'a': 1}
    assert force_mapping(m) is m
    view = force_mapping(Obj())
    assert isinstance(view, DictAttribute) and view['x'] == 1


def test_lpmerge():
    left = {'a': 1, 'b': 2}
    assert lpmerge(left, {'b': 3, 'c': None, 'd': 4}) is left
    assert left == {'a': 1, 'b': 3, 'd': 4}


def test_ordered_dict_alias():
    import collections
    assert OrderedDict is collections.OrderedDict


class TestLimitedSet:

    def test_validation(self):
        with pytest.raises(ValueError):
            LimitedSet(maxlen=2, minlen=3)
        with pytest.raises(ValueError):
            LimitedSet(minlen=-1)
        with pytest.raises(ValueError):
            LimitedSet(expires=-1)

    def test_add_contains_discard(self):
        s = LimitedSet()
        s.add('a')
        s.add('b')
        assert 'a' in s and len(s) == 2
        s.discard('a')
        assert 'a' not in s and len(s) == 1
        s.discard('never-there')
        assert LimitedSet.pop_value is LimitedSet.discard

    def test_maxlen_drops_oldest(self):
        s = LimitedSet(maxlen=3)
        for i, item in enumerate('abcde'):
            s.add(item, now=100 + i)
        assert len(s) == 3
        assert list(s) == ['c', 'd', 'e']

    def test_readding_refreshes_timestamp(self):
        s = LimitedSet(maxlen=2)
        s.add('a', now=1)
        s.add('b', now=2)
        s.add('a', now=3)
        s.add('c', now=4)
        assert list(s) == ['a', 'c']

    def test_expires(self):
        s = LimitedSet(expires=10)
        s.add('old', now=100)
        s.add('new', now=105)
        s.purge(now=111)
        assert list(s) == ['new']
        s.purge(now=lambda: 200)
        assert len(s) == 0

    def test_minlen_keeps_expired_items(self):
        s = LimitedSet(expires=1, minlen=2)
        for i, item in enumerate('abc'):
            s.add(item, now=10 + i)
        s.purge(now=1000)
        assert list(s) == ['b', 'c']

    def test_pop_oldest(self):
        s = LimitedSet()
        s.add('x', now=2)
        s.add('y', now=1)
        s.discard('y')
        assert s.pop() == 'x'
        assert s.pop() is None
        assert s.pop('default') == 'default'

    def test_equal_timestamps_mixed_types(self):
        s = LimitedSet(maxlen=2)
        s.add(1, now=5)
        s.add('a', now=5)
        s.add(None, now=5)
        assert len(s) == 2

    def test_as_dict_and_update_from_dict(self):
        s = LimitedSet()
        s.add('a', now=1.5)
        assert s.as_dict() == {'a': 1.5}
        other = LimitedSet()
        other.update(json.loads(json.dumps(s.as_dict())))
        assert other.as_dict() == {'a': 1.5}

    def test_update_from_raw_data_entries(self):
        # Celery workers exchange ``revoked._data``: {id: [timestamp, id]}.
        s = LimitedSet()
        s.update(json.loads(json.dumps({'a': [1.0, 'a'], 'b': [2.0, 'b']})))
        assert list(s) == ['a', 'b']

    def test_update_rejects_bad_timestamps(self):
        with pytest.raises(ValueError, match='Expecting float timestamp'):
            LimitedSet().update({'a': 'yesterday'})

    def test_update_from_limitedset_and_iterable(self):
        a = LimitedSet()
        a.add('x', now=1)
        b = LimitedSet(maxlen=10)
        b.update(a)
        b.update(['y', 'z'])
        b.update(None)
        assert set(b) == {'x', 'y', 'z'}
        assert b.as_dict()['x'] == 1

    def test_update_respects_maxlen(self):
        s = LimitedSet(maxlen=2)
        s.update({'a': 1.0, 'b': 2.0, 'c': 3.0})
        assert list(s) == ['b', 'c']

    def test_pickle_and_reduce(self):
        s = LimitedSet(maxlen=5, expires=3600, minlen=1)
        now = time.time()
        s.add('a', now=now)
        restored = pickle.loads(pickle.dumps(s))
        assert restored == s
        assert (restored.maxlen, restored.expires, restored.minlen) == (5, 3600, 1)

    def test_eq_and_repr(self):
        a, b = LimitedSet(), LimitedSet()
        a.add('x', now=1)
        b.add('x', now=1)
        assert a == b
        b.add('y')
        assert a != b
        assert a.__eq__(object()) is NotImplemented
        assert repr(a) == '<LimitedSet(1): maxlen=0, expires=0, minlen=0>'

    def test_clear(self):
        s = LimitedSet()
        s.add('a')
        s.clear()
        assert len(s) == 0 and s._heap == []

    def test_heap_does_not_grow_without_bound(self):
        s = LimitedSet()
        for _ in range(1000):
            s.add('same')
        for i in range(200):
            s.add(i)
            s.discard(i)
        assert len(s._heap) <= (len(s) * 1.15) + 2

    def test_many_items_fast(self):
        s = LimitedSet(maxlen=50000)
        start = time.perf_counter()
        for i in range(100000):
            s.add(i)
        elapsed = time.perf_counter() - start
        assert len(s) == 50000
        assert 99999 in s and 0 not in s
        assert elapsed < 5


class TestMessagebuffer:

    def test_put_take(self):
        b = Messagebuffer(maxsize=3)
        for i in range(5):
            b.put(i)
        assert len(b) == 3
        assert list(reversed(b)) == [4, 3, 2]
        assert b[0] == 2 and 3 in b
        assert b.take() == 2
        assert repr(b) == '<Messagebuffer: 2/3>'
        assert list(b) == [3, 4]  # iteration consumes
        assert len(b) == 0
        with pytest.raises(b.Empty):
            b.take()
        assert b.take('default') == 'default'

    def test_extend_and_unbounded(self):
        b = Messagebuffer(maxsize=None, iterable=[1])
        b.extend(range(2, 100))
        assert len(b) == 99
        bounded = Messagebuffer(maxsize=2)
        bounded.extend([1, 2, 3])
        assert list(bounded) == [2, 3]

    def test_evict(self):
        b = Messagebuffer(maxsize=None, iterable=range(10))
        b.maxsize = 4
        b.evict()
        assert list(b) == [6, 7, 8, 9]


class TestBufferMap:

    def test_put_take(self):
        m = BufferMap(maxsize=10)
        m.put('a', 1)
        m.put('a', 2)
        m.put('b', 3)
        assert m.total == 3
        assert m.take('a') == 1
        assert m.take('b') == 3
        assert m.total == 1
        with pytest.raises(m.Empty):
            m.take('b')
        with pytest.raises(m.Empty):
            m.take('missing')
        assert m.take('missing', None) is None
        assert repr(m) == '<BufferMap: 1/10>'

    def test_evicts_least_recently_used(self):
        m = BufferMap(maxsize=3)
        m.put('a', 1)
        m.put('b', 2)
        m.put('a', 3)
        m.put('c', 4)  # total 4 > 3: evict from 'b' (least recently used)
        assert m.total == 3
        assert 'b' not in m
        assert m.take('a') == 1

    def test_extend_and_buffer_limit(self):
        m = BufferMap(maxsize=None, bufmaxsize=2)
        m.extend('a', [1, 2, 3])
        assert m.total == 2
        m.put('a', 4)
        assert m.total == 2
        assert m.take('a') == 3

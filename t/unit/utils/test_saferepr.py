"""Tests for celery.utils.saferepr."""
from __future__ import annotations

import ast
from collections import deque, namedtuple

import pytest

from celery.utils.saferepr import reprstream, saferepr

SAMPLES = [
    1, 1.5, None, True, 'text', b'bytes', [], (), {}, [1, 'a'], (1,), (1, 2),
    {'a': 1, 'b': [1, 2]}, {1, 2}, frozenset({3}), set(), frozenset(),
    [[1, [2, 3]]], {'nested': {'k': (1, 'v')}},
]


@pytest.mark.parametrize('value', SAMPLES)
def test_same_as_repr_for_small_values(value):
    assert saferepr(value) == repr(value)


def test_output_evaluates_back():
    value = {'a': [1, 2, (3,)], 'b': 'x', 'c': b'y'}
    assert ast.literal_eval(saferepr(value)) == value


def test_maxlen_caps_output():
    text = saferepr(list(range(10000)), maxlen=20)
    assert text == '[0, 1, 2, 3, 4, 5, 6...'
    assert len(text) == 23


def test_maxlen_not_reached():
    assert saferepr([1, 2], maxlen=100) == '[1, 2]'


def test_large_container_is_not_walked_fully():
    walked = []

    class Tracked:
        def __init__(self, i):
            self.i = i

        def __repr__(self):
            walked.append(self.i)
            return f'T{self.i}'

    saferepr([Tracked(i) for i in range(1000)], maxlen=30)
    assert len(walked) < 20


def test_long_strings_are_cut_before_repr():
    huge = 'x' * 10_000_000
    text = saferepr([huge], maxlen=50)
    assert len(text) <= 53
    assert text.startswith("['xxx")
    assert saferepr(b'y' * 100, maxlen=10).startswith("b'yyyyyyy")


def test_recursion():
    lst = [1]
    lst.append(lst)
    assert saferepr(lst) == f'[1, <Recursion on list with id={id(lst)}>]'
    d = {}
    d['self'] = d
    assert 'Recursion on dict' in saferepr(d)


def test_shared_objects_are_not_recursion():
    shared = [1]
    assert saferepr([shared, shared]) == '[[1], [1]]'


def test_maxlevels():
    deep = [[[[[1]]]]]
    assert saferepr(deep) == '[[[[...]]]]'
    assert saferepr(deep, maxlevels=10) == repr(deep)
    assert saferepr([[]], maxlevels=1) == '[[]]'
    assert saferepr({'a': {'b': {'c': {}}}}, maxlevels=2) == "{'a': {'b': {...}}}"


def test_broken_repr():
    class Broken:
        def __repr__(self):
            raise ValueError('nope')

    assert saferepr([Broken()]) == '[<Unrepresentable Broken: ValueError: nope>]'


def test_huge_int_does_not_raise():
    assert saferepr(10 ** 5000).startswith('<Unrepresentable int')


def test_subclasses_with_own_repr_use_it():
    Point = namedtuple('Point', 'x y')
    assert saferepr(Point(1, 2)) == 'Point(x=1, y=2)'
    assert saferepr(deque([1, 2])) == 'deque([1, 2])'


def test_object_repr_capped():
    class Long:
        def __repr__(self):
            return 'L' * 500

    assert saferepr(Long(), maxlen=10) == 'L' * 10 + '...'


def test_reprstream_yields_pieces():
    assert ''.join(reprstream([1, {'a': 2}])) == "[1, {'a': 2}]"


def test_dict_mutated_during_repr():
    class Mutator:
        def __init__(self, target):
            self.target = target

        def __repr__(self):
            self.target['new'] = 1
            return 'M'

    d = {}
    d['m'] = Mutator(d)
    assert saferepr(d).startswith("{'m': M")


def _streamed(value, maxlen):
    """What saferepr returns when it walks the value piece by piece."""
    text = ''.join(reprstream(value, maxlen=maxlen))
    if maxlen and maxlen > 0 and len(text) > maxlen:
        return text[:maxlen] + '...'
    return text


@pytest.mark.parametrize('value', [
    (), {}, [], (1,), [None, True, 2.5, 'x'], {'a': 1, 'b': None},
    ('quote\'s "and" \\n',), (float('nan'), -0.0), {1: 'one'}, ('x' * 40,),
    (10 ** 5000,), (1, 2, 3, 4, 5, 6, 7, 8, 9), ((1,),),
])
@pytest.mark.parametrize('maxlen', [None, 0, 10, 1024])
def test_small_flat_containers_read_as_when_streamed(value, maxlen):
    assert saferepr(value, maxlen) == _streamed(value, maxlen)


def test_flat_container_subclasses_keep_their_repr():
    class Args(tuple):
        def __repr__(self):
            return 'Args!'
    assert saferepr(Args((1, 2))) == 'Args!'


def test_no_levels_left_shows_the_container_cut():
    assert saferepr((1, 2), maxlevels=0) == _streamed_levels((1, 2), 0)


def _streamed_levels(value, maxlevels):
    return ''.join(reprstream(value, maxlevels=maxlevels))


@pytest.mark.parametrize('empty', [(), {}])
@pytest.mark.parametrize('maxlen', [None, 0, -1, 1, 2, 3, 1024])
@pytest.mark.parametrize('maxlevels', [0, 1, 3])
def test_empty_arguments_shortcut_matches_the_streamed_repr(empty, maxlen, maxlevels):
    # The text of the general path, cut as saferepr cuts it
    text = ''.join(reprstream(empty, maxlevels=maxlevels, maxlen=maxlen))
    if maxlen and maxlen > 0 and len(text) > maxlen:
        text = text[:maxlen] + '...'
    assert saferepr(empty, maxlen, maxlevels) == text

"""Tests for celery.utils.text."""
from __future__ import annotations

import pytest

from celery.utils.text import (WhateverIO, abbr, abbrtask, dedent,
                               dedent_initial, ensure_newlines, ensure_sep,
                               fill_paragraphs, indent, join, pluralize, pretty,
                               remove_repeating, remove_repeating_from_task,
                               simple_format, str_to_list, truncate)


def test_str_to_list():
    assert str_to_list('a,b,c') == ['a', 'b', 'c']
    assert str_to_list(['a']) == ['a']


def test_dedent():
    assert dedent_initial('    x') == 'x'
    assert dedent_initial('  x') == '  x'
    assert dedent('    a\n      b\nc') == 'a\n  b\nc'


def test_fill_paragraphs():
    text = fill_paragraphs('aaa bbb ccc\nddd', 7)
    assert text == 'aaa bbb\nccc\nddd'


def test_join():
    assert join(['a', '', None, 'b']) == 'a\nb'
    assert join(['a', 'b'], sep=', ') == 'a, b'


def test_ensure_sep():
    assert ensure_newlines('x') == 'x\n\n'
    assert ensure_newlines('x\n') == 'x\n\n'
    assert ensure_newlines('x\n\n\n') == 'x\n\n\n'
    assert ensure_sep('-', 'a', 3) == 'a---'


def test_abbr():
    assert abbr(None, 3) == '???'
    assert abbr('short', 10) == 'short'
    assert abbr('abcdefghij', 6) == 'abc...'
    assert abbr('abcdefghij', 6, ellipsis=False) == 'abcdef'


def test_abbrtask():
    assert abbrtask(None, 3) == '???'
    assert abbrtask('proj.tasks.add', 100) == 'proj.tasks.add'
    assert abbrtask('proj.tasks.add', 10) == 'proj[.]add'
    assert abbrtask('proj.tasks.add', 12) == 'proj.t[.]add'


def test_indent():
    assert indent('a\nb', 2) == '  a\n  b'


def test_truncate():
    assert truncate('hello world foo', 12) == 'hello world...'
    assert truncate('short', 12) == 'short'
    assert truncate('x' * 20, 0) == 'x' * 20


def test_pluralize():
    assert pluralize(1, 'task') == 'task'
    assert pluralize(2, 'task') == 'tasks'
    assert pluralize(0, 'box', 'es') == 'boxes'


def test_pretty():
    assert pretty([1, 2]) == '[1, 2]'
    assert pretty({'a': 1}) == "\n 'a': 1}"
    assert pretty((1, 2)) == '\n    (1, 2)'


def test_simple_format():
    keys = {'h': 'host.example.com', 'n': 'host', 'd': 'example.com',
            'i': lambda: '3'}
    assert simple_format('w%i@%h', keys) == 'w3@host.example.com'
    assert simple_format('%n.%d', keys) == 'host.example.com'
    assert simple_format('50% off', keys) == '50% off'  # not a placeholder
    assert simple_format('', keys) == ''
    assert simple_format(None, keys) is None
    with pytest.raises(ValueError, match='Unknown format %z'):
        simple_format('%z', keys)


def test_remove_repeating():
    assert remove_repeating('foo.', 'foo.bar(foo.baz, foo.qux)') == 'foo.bar(baz, qux)'
    assert remove_repeating('zzz', 'abc') == 'abc'
    assert remove_repeating_from_task(
        'proj.tasks.add', 'proj.tasks.add(proj.tasks.mul)') == 'proj.tasks.add(mul)'


def test_whatever_io():
    io = WhateverIO()
    io.write('a')
    io.write(b'b\xc3\xa9')
    assert io.getvalue() == 'abé'

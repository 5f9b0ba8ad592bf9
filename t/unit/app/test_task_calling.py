"""Tests for the argument check shortcut of Task.apply_async."""
from __future__ import annotations

import inspect
from functools import partial

import pytest

from celery.app.task import _positional_range, _takes_positional


def _tasks(app):
    @app.task
    def none():
        pass

    @app.task
    def one_default(x, y=1):
        pass

    @app.task(bind=True)
    def bound(self, x):
        pass

    @app.task
    def star(x, *args):
        pass

    @app.task
    def kw_required(x, *, k):
        pass

    @app.task
    def kw_optional(x, *, k=1, **kw):
        pass

    @app.task
    def pos_only(x, /, y):
        pass
    return {t.__name__: t for t in (none, one_default, bound, star, kw_required,
                                    kw_optional, pos_only)}


@pytest.mark.parametrize('name, expected', [
    ('none', (0, 0)), ('one_default', (1, 2)), ('bound', (1, 1)), ('star', (1, None)),
    ('kw_required', None), ('kw_optional', (1, 1)), ('pos_only', (2, 2)),
])
def test_positional_range_from_the_signature(app, name, expected):
    task = _tasks(app)[name]
    assert _positional_range(task.__header__) == expected


@pytest.mark.parametrize('name', ['none', 'one_default', 'bound', 'star', 'kw_required',
                                  'kw_optional', 'pos_only'])
@pytest.mark.parametrize('n', range(5))
def test_shortcut_agrees_with_the_full_check(app, name, n):
    # Given a task and n positional arguments
    task = _tasks(app)[name]
    args = tuple(range(n))
    try:
        task.__header__(*args)
        accepted = True
    except TypeError:
        accepted = False
    # Then the shortcut never accepts what the full check refuses
    if _takes_positional(task.__header__, n):
        assert accepted


@pytest.mark.parametrize('name, args', [
    ('none', (1,)), ('one_default', ()), ('one_default', (1, 2, 3)), ('bound', ()),
    ('kw_required', (1,)), ('pos_only', (1,)),
])
def test_wrong_calls_still_raise(app, name, args):
    task = _tasks(app)[name]
    with pytest.raises(TypeError):
        task.apply_async(args)


def test_keyword_arguments_take_the_full_check(app):
    task = _tasks(app)['one_default']
    with pytest.raises(TypeError):
        task.apply_async((1,), {'z': 2})


def test_a_check_without_signature_is_always_asked():
    def check(*args, **kwargs):
        pass
    assert _positional_range(check) is None
    assert _takes_positional(check, 0) is False


def test_a_partial_filling_more_than_the_signature_is_always_asked():
    def check(*args, **kwargs):
        pass
    check.__signature__ = inspect.signature(lambda: None)
    assert _positional_range(partial(check, None)) is None

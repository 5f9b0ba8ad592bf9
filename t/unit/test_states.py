"""Tests for celery.states."""
from __future__ import annotations

import pytest

from celery import states
from celery.states import (ALL_STATES, EXCEPTION_STATES, FAILURE, IGNORED,
                           PENDING, PROPAGATE_STATES, READY_STATES, RECEIVED,
                           REJECTED, RETRY, REVOKED, STARTED, SUCCESS,
                           UNREADY_STATES, precedence, state)


def test_state_names():
    for name in ('PENDING', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE',
                 'REVOKED', 'REJECTED', 'RETRY', 'IGNORED'):
        assert getattr(states, name) == name


def test_groups():
    assert READY_STATES == {SUCCESS, FAILURE, REVOKED}
    assert UNREADY_STATES == {PENDING, RECEIVED, STARTED, REJECTED, RETRY}
    assert EXCEPTION_STATES == {RETRY, FAILURE, REVOKED}
    assert PROPAGATE_STATES == {FAILURE, REVOKED}
    assert ALL_STATES == {PENDING, RECEIVED, STARTED, SUCCESS, FAILURE,
                          RETRY, REVOKED}
    assert not READY_STATES & UNREADY_STATES
    assert IGNORED not in ALL_STATES


def test_precedence_order():
    order = [SUCCESS, FAILURE, 'CUSTOM', REVOKED, STARTED, RECEIVED,
             REJECTED, RETRY, PENDING]
    assert [precedence(s) for s in order] == sorted(precedence(s) for s in order)
    assert precedence('CUSTOM') == precedence('OTHER') == states.NONE_PRECEDENCE
    assert precedence(None) == states.NONE_PRECEDENCE
    assert precedence(['unhashable']) == states.NONE_PRECEDENCE


@pytest.mark.parametrize('higher,lower', [
    (SUCCESS, PENDING), (FAILURE, STARTED), ('PROGRESS', STARTED),
    (SUCCESS, 'PROGRESS'), (STARTED, RECEIVED), (RECEIVED, PENDING),
    (REVOKED, STARTED), (RETRY, PENDING),
])
def test_state_comparisons(higher, lower):
    assert state(higher) > state(lower)
    assert state(higher) >= state(lower)
    assert state(lower) < state(higher)
    assert state(lower) <= state(higher)
    assert not state(higher) < state(lower)


def test_state_is_a_string():
    s = state(SUCCESS)
    assert s == 'SUCCESS'
    assert isinstance(s, str)
    assert {s: 1}['SUCCESS'] == 1
    assert state('A') >= state('B') and state('A') <= state('B')

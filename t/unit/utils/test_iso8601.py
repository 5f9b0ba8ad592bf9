"""Tests for celery.utils.iso8601."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from celery.utils.iso8601 import parse_iso8601


@pytest.mark.parametrize('text,expected', [
    ('2024-01-02T03:04:05', datetime(2024, 1, 2, 3, 4, 5)),
    ('2024-01-02 03:04:05.5', datetime(2024, 1, 2, 3, 4, 5, 500000)),
    ('2024-01-02T03:04:05.123456789',
     datetime(2024, 1, 2, 3, 4, 5, 123456)),
    ('2024-01-02T03:04', datetime(2024, 1, 2, 3, 4)),
    ('2024-01-02', datetime(2024, 1, 2)),
    ('2024-01-02T03:04:05Z',
     datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ('2024-01-02T03:04:05+02:00',
     datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
    ('2024-01-02T03:04:05-0530', datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
    ('2024-01-02T03:04:05+02',
     datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
])
def test_parse(text, expected):
    result = parse_iso8601(text)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


def test_round_trip_of_isoformat():
    dt = datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=timezone.utc)
    assert parse_iso8601(dt.isoformat()) == dt


@pytest.mark.parametrize('text', [
    'tomorrow', '2024-13-01T00:00:00', '2024-01-02T25:00:00', '20240102',
    '2024-01-02T03:04:05+2', '', None,
])
def test_invalid(text):
    with pytest.raises(ValueError):
        parse_iso8601(text)

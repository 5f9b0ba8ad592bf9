"""Parse ISO-8601 date-time strings (kept for code that imports it).

New code can use :meth:`datetime.datetime.fromisoformat`, which reads what
Celery writes.  :func:`parse_iso8601` also takes a few looser forms: a
space or ``T`` between date and time, an hour-only offset (``+02``), a
``Z``, and fractions of a second of any length.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ('parse_iso8601',)

_ISO8601 = re.compile(
    r'^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})'
    r'(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})'
    r'(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?'
    r'\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?$',
    re.IGNORECASE)


def _tzinfo(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text.upper() == 'Z':
        return timezone.utc
    sign = -1 if text[0] == '-' else 1
    digits = text[1:].replace(':', '')
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_iso8601(datestring: str) -> datetime:
    """Return the datetime written in *datestring*; ValueError if invalid.

    Without an offset the result is naive.
    """
    match = _ISO8601.match(datestring.strip()) if isinstance(
        datestring, str) else None
    if match is None:
        raise ValueError(f'Unable to parse date string {datestring!r}')
    parts = match.groupdict()
    fraction = parts['fraction'] or '0'
    microsecond = int((fraction + '000000')[:6])
    return datetime(
        int(parts['year']), int(parts['month']), int(parts['day']),
        int(parts['hour'] or 0), int(parts['minute'] or 0),
        int(parts['second'] or 0), microsecond, tzinfo=_tzinfo(parts['tz']))

"""Date, time and time-zone helpers shared by the whole package.

Everything here accepts both kinds of ``tzinfo`` found in the wild:
:mod:`zoneinfo` zones (what :func:`timezone.get_timezone` returns, as in
Celery 5.3+) and :mod:`pytz` zones (which need ``localize`` instead of
``replace(tzinfo=...)``).  Arithmetic that must be exact across daylight
saving changes is done in UTC.

The functions are pure and thread safe; :data:`timezone` caches the local
zone object only.
"""
from __future__ import annotations

import os
import random
import time as _time
from calendar import monthrange
from datetime import date, datetime, timedelta, tzinfo
from datetime import timezone as datetime_timezone
from functools import cached_property
from typing import Any, Callable

__all__ = (
    'LocalTimezone', 'timezone', 'maybe_timedelta', 'delta_resolution',
    'remaining', 'rate', 'weekday', 'humanize_seconds', 'maybe_iso8601',
    'is_naive', 'make_aware', 'localize', 'to_utc', 'maybe_make_aware',
    'ffwd', 'utcoffset', 'adjust_timestamp', 'get_exponential_backoff_interval',
    'isoformat', 'MONTHS', 'MONTHNAMES', 'DAYNAMES', 'WEEKDAYS',
)

#: Short day names; the index is the crontab day of week (Sunday is 0).
DAYNAMES = ('sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat')
#: Day name -> crontab day-of-week number.
WEEKDAYS = {name: number for number, name in enumerate(DAYNAMES)}

MONTHNAMES = ('jan', 'feb', 'mar', 'apr', 'may', 'jun',
              'jul', 'aug', 'sep', 'oct', 'nov', 'dec')
#: Month name -> month number (1-12).
MONTHS = {name: number for number, name in enumerate(MONTHNAMES, 1)}

_RATE_UNITS = {'s': 1.0, 'm': 60.0, 'h': 3600.0}

_TIME_UNITS = (
    ('day', 86400.0),
    ('hour', 3600.0),
    ('minute', 60.0),
    ('second', 1.0),
)

_ZERO = timedelta(0)
_UTC = datetime_timezone.utc

# Set C_REMDEBUG=1 to print what remaining() computes (debugging schedules).
_REMDEBUG = bool(os.environ.get('C_REMDEBUG'))


class LocalTimezone(tzinfo):
    """The system's local time zone, as the C library sees it.

    Offsets come from :mod:`time` (``timezone``/``altzone``); whether daylight
    saving applies to a moment is asked of :func:`time.localtime`.
    """

    def __init__(self) -> None:
        self._std = timedelta(seconds=-_time.timezone)
        self._dst = (timedelta(seconds=-_time.altzone)
                     if _time.daylight else self._std)
        self._dst_diff = self._dst - self._std
        super().__init__()

    def __repr__(self) -> str:
        hours = int(self._dst.total_seconds() // 3600)
        return f'<LocalTimezone: UTC{hours:+03d}>'

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self._dst if dt is not None and self._isdst(dt) else self._std

    def dst(self, dt: datetime | None) -> timedelta:
        return self._dst_diff if dt is not None and self._isdst(dt) else _ZERO

    def tzname(self, dt: datetime | None) -> str:
        return _time.tzname[bool(dt is not None and self._isdst(dt))]

    def fromutc(self, dt: datetime) -> datetime:
        # Take the real local time of that instant from the C library.
        stamp = dt.replace(tzinfo=_UTC).timestamp()
        local = _time.localtime(stamp)
        return dt.replace(year=local.tm_year, month=local.tm_mon,
                          day=local.tm_mday, hour=local.tm_hour,
                          minute=local.tm_min, second=local.tm_sec)

    def _isdst(self, dt: datetime) -> bool:
        fields = (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second,
                  dt.weekday(), 0, -1)
        try:
            return _time.localtime(_time.mktime(fields)).tm_isdst > 0
        except (OverflowError, ValueError):
            return False


def _is_pytz(tz: Any) -> bool:
    return hasattr(tz, 'localize') and hasattr(tz, 'normalize')


class _Zone:
    """Time-zone lookups and conversions (the :data:`timezone` object)."""

    utc: tzinfo = _UTC

    def tz_or_local(self, tzinfo: tzinfo | str | None = None) -> tzinfo:
        """Return *tzinfo* as a zone, or the local zone when it is None."""
        if tzinfo is None:
            return self.local
        return self.get_timezone(tzinfo)

    def to_local(self, dt: datetime, local: tzinfo | str | None = None,
                 orig: tzinfo | None = None) -> datetime:
        """Convert *dt* to *local* (default: the system zone).

        A naive *dt* is first taken to be in *orig* (default: UTC).
        """
        if is_naive(dt):
            dt = make_aware(dt, orig or self.utc)
        return localize(dt, self.tz_or_local(local))

    def to_system(self, dt: datetime) -> datetime:
        """Convert an aware *dt* to the system's local time."""
        return dt.astimezone(self.local)

    def to_local_fallback(self, dt: datetime) -> datetime:
        """Convert *dt* to local time; a naive *dt* is taken as local time."""
        if is_naive(dt):
            return make_aware(dt, self.local)
        return localize(dt, self.local)

    def get_timezone(self, zone: tzinfo | str) -> tzinfo:
        """Return the zone named *zone* (a tzinfo passes through)."""
        if isinstance(zone, str):
            if zone.upper() == 'UTC':
                return self.utc
            from zoneinfo import ZoneInfo
            return ZoneInfo(zone)
        return zone

    @cached_property
    def local(self) -> tzinfo:
        return LocalTimezone()


#: The shared helper for time-zone lookups and conversions.
timezone = _Zone()


def maybe_timedelta(delta: int | float | timedelta) -> timedelta:
    """Return *delta* as a timedelta (numbers are seconds)."""
    if isinstance(delta, (int, float)):
        return timedelta(seconds=delta)
    return delta


def _seconds(delta: timedelta | float) -> float:
    if isinstance(delta, timedelta):
        return delta.total_seconds()
    return float(delta)


def delta_resolution(dt: datetime, delta: timedelta) -> datetime:
    """Truncate *dt* to the coarsest unit (day, hour, minute) of *delta*.

    A delta of a day or more drops the time of day; an hour or more drops
    minutes and seconds; a minute or more drops seconds.  Shorter deltas
    leave *dt* as it is.
    """
    secs = _seconds(delta)
    if secs >= 86400:
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if secs >= 3600:
        return dt.replace(minute=0, second=0, microsecond=0)
    if secs >= 60:
        return dt.replace(second=0, microsecond=0)
    return dt


def _absolute(dt: datetime) -> datetime:
    return dt.astimezone(_UTC)


def remaining(start: datetime, ends_in: timedelta,
              now: datetime | None = None,
              relative: bool = False) -> timedelta:
    """Return how long until ``start + ends_in`` (negative when past).

    Aware datetimes are added and compared in UTC, so a daylight-saving
    change between *start* and *now* neither shortens nor lengthens the
    wait.  With *relative*, the end time is rounded down to the resolution
    of *ends_in* in *start*'s own zone (every hour -> on the hour).
    """
    now = datetime.now(_UTC) if now is None else now
    if is_naive(start) != is_naive(now):
        if is_naive(start):
            start = make_aware(start, now.tzinfo)
        else:
            now = make_aware(now, start.tzinfo)
    if is_naive(start):
        end = start + ends_in
        if relative:
            end = delta_resolution(end, ends_in).replace(microsecond=0)
        ret = end - now
    else:
        end = _absolute(start) + ends_in
        if relative:
            zone = start.tzinfo
            wall = localize(end, zone).replace(tzinfo=None)
            wall = delta_resolution(wall, ends_in).replace(microsecond=0)
            end = _absolute(make_aware(wall, zone))
        ret = end - _absolute(now)
    if _REMDEBUG:  # pragma: no cover
        print(f'rem: now={now!r} start={start!r} ends_in={ends_in!r} '
              f'end={end!r} remaining={ret!r}')
    return ret


def rate(r: str | int | float | None) -> float:
    """Convert a rate string like ``'100/m'`` into operations per second."""
    if not r:
        return 0
    if not isinstance(r, str):
        return r
    ops, sep, unit = r.partition('/')
    if not sep:
        return float(ops)
    try:
        divider = _RATE_UNITS[unit.strip().lower()[:1] or 's']
    except KeyError:
        raise ValueError(
            f'Invalid rate {r!r}: unit must be s, m or h') from None
    return float(ops) / divider


def weekday(name: str) -> int:
    """Return the crontab day number of a day name (``'sun'`` -> 0)."""
    abbr = name.lower()[:3]
    try:
        return WEEKDAYS[abbr]
    except KeyError:
        raise KeyError(name) from None


def _pluralize(n: float, word: str) -> str:
    return word if n == 1 else word + 's'


def humanize_seconds(secs: float, prefix: str = '', sep: str = '',
                     now: str = 'now', microseconds: bool = False) -> str:
    """Describe a number of seconds in words: ``'4.00 minutes'``.

    *prefix* and *sep* go before the number (``prefix='in '``); zero and
    negative values give *now*, unless *microseconds* asks for fractions
    of a second to be shown.
    """
    secs = float(secs)
    for unit, divider in _TIME_UNITS:
        if secs >= divider:
            n = secs / divider
            return f'{prefix}{sep}{n:.2f} {_pluralize(n, unit)}'
    if microseconds and secs > 0.0:
        return f'{prefix}{sep}{secs:.2f} seconds'
    return now


def maybe_iso8601(dt: datetime | str | None) -> datetime | None:
    """Parse an ISO-8601 string; datetimes and None pass through."""
    if dt is None or isinstance(dt, datetime):
        return dt
    return datetime.fromisoformat(dt)


def isoformat(dt: datetime, sep: str = 'T') -> str:
    """Format *dt* as ISO-8601, as the task message protocol expects."""
    return dt.isoformat(sep)


def is_naive(dt: datetime) -> bool:
    """Return True when *dt* has no usable time-zone information."""
    return dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None


def make_aware(dt: datetime, tz: tzinfo | None) -> datetime:
    """Attach *tz* to a naive *dt* that shows wall-clock time in *tz*.

    An ambiguous time (the repeated hour when clocks go back) takes its
    first occurrence; a time skipped when clocks go forward is shifted
    forward by the gap, so that it is never dropped.
    """
    if tz is None:
        return dt
    if _is_pytz(tz):
        return _pytz_localize(dt.replace(tzinfo=None), tz)
    aware = dt.replace(tzinfo=tz, fold=0)
    if _skipped(aware):
        # fold=0 reads a skipped wall time with the offset before the gap;
        # normalising through UTC moves it past the gap.
        aware = aware.astimezone(_UTC).astimezone(tz)
    return aware


def _skipped(aware: datetime) -> bool:
    # A wall time inside a gap does not survive a round trip through UTC.
    back = aware.astimezone(_UTC).astimezone(aware.tzinfo)
    return back.replace(tzinfo=None) != aware.replace(tzinfo=None)


def _pytz_localize(naive: datetime, tz: Any) -> datetime:
    import pytz
    try:
        return tz.localize(naive, is_dst=None)
    except pytz.AmbiguousTimeError:
        return tz.localize(naive, is_dst=True)
    except pytz.NonExistentTimeError:
        return tz.normalize(tz.localize(naive, is_dst=False))


def localize(dt: datetime, tz: tzinfo) -> datetime:
    """Return *dt* in zone *tz*: attach it if naive, else convert."""
    if is_naive(dt):
        return make_aware(dt, tz)
    return dt.astimezone(tz)


def to_utc(dt: datetime) -> datetime:
    """Return *dt* in UTC; a naive *dt* is taken to be UTC already."""
    if is_naive(dt):
        return dt.replace(tzinfo=_UTC)
    return dt.astimezone(_UTC)


def maybe_make_aware(dt: datetime, tz: tzinfo | str | None = None,
                     naive_as_utc: bool = True) -> datetime:
    """Make a naive *dt* aware; aware datetimes are returned unchanged.

    A naive *dt* is taken as UTC (or as wall time in *tz* when
    *naive_as_utc* is false) and then converted to *tz* (default UTC).
    """
    if not is_naive(dt):
        return dt
    zone = _UTC if tz is None else timezone.tz_or_local(tz)
    if naive_as_utc:
        return to_utc(dt).astimezone(zone)
    return make_aware(dt, zone)


class ffwd:
    """A fast-forward step to add to a date: set fields, then move ahead.

    ``dt + ffwd(hour=4, minute=0, weekday=0)`` replaces the given fields,
    moves forward to the requested *weekday* (Monday is 0, as in
    :meth:`datetime.weekday`) and adds *weeks*.  A day past the end of the
    month is clamped to the month's last day.
    """

    def __init__(self, year: int | None = None, month: int | None = None,
                 weeks: int = 0, weekday: int | None = None,
                 day: int | None = None, hour: int | None = None,
                 minute: int | None = None, second: int | None = None,
                 microsecond: int | None = None, **kwargs: Any) -> None:
        self.year = year
        self.month = month
        self.weeks = weeks
        self.weekday = weekday
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microsecond = microsecond
        self.days = weeks * 7
        self._has_time = self.hour is not None or self.minute is not None

    def __repr__(self) -> str:
        return f'<ffwd: {self._fields(weeks=self.weeks, weekday=self.weekday)}>'

    def __radd__(self, other: Any) -> Any:
        if not isinstance(other, date):
            return NotImplemented
        year = self.year or other.year
        month = self.month or other.month
        day = min(monthrange(year, month)[1], self.day or other.day)
        ret = other.replace(**dict(self._fields(), year=year, month=month,
                                   day=day))
        if self.weekday is not None:
            ret += timedelta(days=(7 - ret.weekday() + self.weekday) % 7)
        return ret + timedelta(days=self.days)

    def _fields(self, **extra: Any) -> dict[str, Any]:
        fields = {
            'year': self.year, 'month': self.month, 'day': self.day,
            'hour': self.hour, 'minute': self.minute,
            'second': self.second, 'microsecond': self.microsecond,
        }
        fields.update(extra)
        return {k: v for k, v in fields.items() if v is not None}


def utcoffset(time: Any = _time,
              localtime: Callable[[], Any] = _time.localtime) -> float:
    """Return the local zone's offset from UTC in hours, west positive.

    This is the ``utcoffset`` field of worker events.
    """
    if localtime().tm_isdst:
        return time.altzone / 3600
    return time.timezone / 3600


def adjust_timestamp(ts: float, offset: float,
                     here: Callable[[], float] = utcoffset) -> float:
    """Shift a timestamp taken at UTC *offset* hours into local terms."""
    return ts - (offset - here()) * 3600


def get_exponential_backoff_interval(factor: float, retries: int,
                                     maximum: float,
                                     full_jitter: bool = False) -> int | float:
    """Return the delay before retry number *retries*.

    The delay is ``factor * 2 ** retries`` capped at *maximum*; with
    *full_jitter* a random whole number between 0 and that is chosen, so
    that many retrying tasks spread out.
    """
    countdown = min(maximum, factor * (2 ** retries))
    if full_jitter:
        countdown = random.randrange(int(countdown) + 1)
    return max(0, countdown)

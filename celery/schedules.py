"""Schedule types for periodic tasks: intervals, crontab and solar events.

A schedule answers one question for :mod:`celery.beat`: given the last time
an entry ran, is it due now, and how many seconds until it should be asked
again (:meth:`BaseSchedule.is_due` returns a :class:`schedstate`).

Schedules read the current time from ``nowfun`` or from their app
(``app.now()``), and the time zone from ``app.timezone``.  Intervals are
measured in elapsed (UTC) time; crontab fields are matched against the wall
clock of the app's time zone, so a daylight-saving change neither skips nor
repeats a run (see :class:`crontab`).  Schedule objects are immutable once
built and safe to share between threads.
"""
from __future__ import annotations

import numbers
import re
from bisect import bisect_left
from collections import namedtuple
from datetime import datetime, timedelta, tzinfo
from datetime import timezone as datetime_timezone
from functools import cached_property
from typing import Any, Callable, Iterable

from celery.utils.time import (MONTHS, ffwd, humanize_seconds, localize,
                               make_aware, maybe_make_aware, maybe_timedelta,
                               remaining, timezone, weekday)

__all__ = (
    'ParseException', 'schedstate', 'BaseSchedule', 'schedule', 'crontab',
    'crontab_parser', 'maybe_schedule', 'solar',
)

_UTC = datetime_timezone.utc
_MINUTE = timedelta(minutes=1)

#: What :meth:`BaseSchedule.is_due` returns: is the entry due, and how many
#: seconds until the schedule should be checked again.
schedstate = namedtuple('schedstate', ('is_due', 'next'))


class ParseException(ValueError):
    """A crontab expression could not be parsed."""


class BaseSchedule:
    """Common base of every schedule type.

    Subclasses implement :meth:`remaining_estimate` and :meth:`is_due`.
    ``tz`` and ``utc_enabled`` can be overridden per instance (plain
    attribute assignment), as some third-party schedules do.
    """

    def __init__(self, nowfun: Callable[[], datetime] | None = None,
                 app: Any = None) -> None:
        self.nowfun = nowfun
        self._app = app

    def now(self) -> datetime:
        """Return the current time, from ``nowfun`` or the app."""
        return (self.nowfun or self.app.now)()

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Return the time left until the next run after *last_run_at*."""
        raise NotImplementedError(
            f'{type(self).__name__} must implement remaining_estimate()')

    def is_due(self, last_run_at: datetime) -> schedstate:
        """Return ``(is_due, seconds_until_next_check)``."""
        raise NotImplementedError(
            f'{type(self).__name__} must implement is_due()')

    def maybe_make_aware(self, dt: datetime,
                         naive_as_utc: bool = True) -> datetime:
        """Make a naive *dt* aware in the schedule's time zone."""
        return maybe_make_aware(dt, self.tz, naive_as_utc=naive_as_utc)

    def _aware(self, dt: datetime) -> datetime:
        # Naive times are UTC, or local time when the app has UTC disabled.
        if dt.tzinfo is not None and dt.utcoffset() is not None:
            return dt
        if self.utc_enabled:
            return dt.replace(tzinfo=_UTC)
        return make_aware(dt, timezone.local)

    @property
    def app(self) -> Any:
        if self._app is not None:
            return self._app
        from celery._state import get_current_app
        return get_current_app()

    @app.setter
    def app(self, app: Any) -> None:
        self._app = app

    @cached_property
    def tz(self) -> tzinfo:
        return self.app.timezone

    @cached_property
    def utc_enabled(self) -> bool:
        return self.app.conf.enable_utc

    def to_local(self, dt: datetime) -> datetime:
        """Return *dt* as local time when the app has UTC disabled."""
        if not self.utc_enabled:
            return timezone.to_local_fallback(dt)
        return dt

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, BaseSchedule):
            return other.nowfun == self.nowfun
        return NotImplemented

    __hash__ = object.__hash__


class schedule(BaseSchedule):
    """Run every *run_every* (a timedelta or a number of seconds).

    With *relative*, runs are aligned to the clock: the next run time is
    rounded down to the interval's unit (every hour -> on the hour).
    """

    relative = False

    def __init__(self, run_every: timedelta | float | None = None,
                 relative: bool = False,
                 nowfun: Callable[[], datetime] | None = None,
                 app: Any = None) -> None:
        self.run_every = maybe_timedelta(run_every)
        self.relative = relative
        super().__init__(nowfun=nowfun, app=app)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        last = self._aware(last_run_at)
        if self.relative:   # align to the clock of the app's time zone
            last = localize(last, self.tz)
        return remaining(last, self.run_every, self._aware(self.now()),
                         self.relative)

    def is_due(self, last_run_at: datetime) -> schedstate:
        """Due when *run_every* has passed since *last_run_at*.

        When due, ``next`` is the full interval; otherwise the seconds left.
        """
        left = self.remaining_estimate(last_run_at).total_seconds()
        if left <= 0:
            return schedstate(is_due=True, next=self.seconds)
        return schedstate(is_due=False, next=left)

    @property
    def seconds(self) -> float:
        return max(self.run_every.total_seconds(), 0)

    @property
    def human_seconds(self) -> str:
        return humanize_seconds(self.seconds)

    def __repr__(self) -> str:
        return f'<freq: {self.human_seconds}>'

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, schedule):
            return self.run_every == other.run_every
        return self.run_every == other

    def __hash__(self) -> int:
        return hash(self.run_every)

    def __reduce__(self) -> tuple:
        return self.__class__, (self.run_every, self.relative, self.nowfun)


class crontab_parser:
    """Expand one crontab field into the set of numbers it stands for.

    ``crontab_parser(60).parse('*/15')`` gives ``{0, 15, 30, 45}``.  The
    field's values run from *min_* to ``min_ + max_ - 1`` (minutes 0-59,
    hours 0-23, days of week 0-6, days of month 1-31, months 1-12).
    Accepted: ``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n``, ``a/n`` and
    comma-separated lists of these; day and month names (``mon-fri``,
    ``jan``) where numbers go.  A range whose end is below its start wraps
    around (``fri-mon``).
    """

    ParseException = ParseException

    _part = re.compile(
        r'^(?:(?P<star>\*)|(?P<start>\w+)(?:-(?P<end>\w+))?)'
        r'(?:/(?P<step>\w+))?$')

    def __init__(self, max_: int = 60, min_: int = 0) -> None:
        self.max_ = max_
        self.min_ = min_

    def parse(self, spec: str) -> set[int]:
        """Return the set of numbers matched by *spec*."""
        acc: set[int] = set()
        for part in str(spec).split(','):
            part = part.strip()
            if not part:
                raise ParseException(f'empty part in crontab field {spec!r}')
            acc.update(self._parse_part(part, spec))
        return acc

    def _parse_part(self, part: str, spec: str) -> list[int]:
        match = self._part.match(part)
        if match is None:
            raise ParseException(
                f'invalid crontab field {spec!r}: cannot parse {part!r}')
        last = self.min_ + self.max_ - 1
        if match['star']:
            values = list(range(self.min_, last + 1))
        else:
            start = self._number(match['start'])
            if match['end'] is not None:
                values = self._range(start, self._number(match['end']))
            elif match['step'] is not None:
                values = list(range(start, last + 1))
            else:
                values = [start]
        if match['step'] is not None:
            step = self._step(match['step'], part)
            values = values[::step]
        return values

    def _range(self, start: int, end: int) -> list[int]:
        if end < start:  # wraps around the end of the field
            return (list(range(start, self.min_ + self.max_))
                    + list(range(self.min_, end + 1)))
        return list(range(start, end + 1))

    def _step(self, text: str, part: str) -> int:
        try:
            step = int(text)
        except ValueError:
            raise ParseException(
                f'invalid step {text!r} in crontab field {part!r}') from None
        if step < 1:
            raise ParseException(
                f'step must be a positive number in {part!r}')
        return step

    def _number(self, text: str) -> int:
        if text.startswith('-'):
            raise ParseException('negative numbers are not supported')
        try:
            value = int(text)
        except ValueError:
            value = self._name(text)
        last = self.min_ + self.max_ - 1
        if value > last:
            raise ValueError(f'Invalid end range: {value} > {last}.')
        if value < self.min_:
            raise ValueError(f'Invalid beginning range: {value} < {self.min_}.')
        return value

    def _name(self, text: str) -> int:
        # Month names in the month field, day names in the day-of-week one.
        try:
            if (self.min_, self.max_) == (1, 12):
                return MONTHS[text.lower()[:3]]
            if (self.min_, self.max_) == (0, 7):
                return weekday(text)
        except KeyError:
            pass
        raise ParseException(
            f'invalid crontab value {text!r}: not a number'
            f'{" or a name" if self.max_ in (7, 12) else ""}')


def _cronfield(value: Any) -> Any:
    return '*' if value is None else value


class crontab(BaseSchedule):
    """Run when the wall clock matches a cron-like pattern.

    Fields are ``minute`` (0-59), ``hour`` (0-23), ``day_of_week`` (0-6,
    Sunday is 0, or names), ``day_of_month`` (1-31) and ``month_of_year``
    (1-12, or names).  Each is an int, a string in crontab syntax (see
    :class:`crontab_parser`), or an iterable of ints.  Unlike cron, a day
    must match both ``day_of_week`` and ``day_of_month``.

    Times are matched in ``app.timezone``.  When the clocks go forward, a
    run whose time does not exist that day happens at the equivalent time
    just after the change (02:30 -> 03:30).  When they go back, a pattern
    with a fixed hour runs once, at the first occurrence of the repeated
    time; a pattern for every hour keeps running through the repeated hour,
    as elapsed time goes on.

    A run missed while beat was down happens once, as soon as beat is
    back; with the ``beat_cron_starting_deadline`` setting, a missed run
    older than that many seconds is skipped instead.
    """

    def __init__(self, minute: Any = '*', hour: Any = '*',
                 day_of_week: Any = '*', day_of_month: Any = '*',
                 month_of_year: Any = '*', **kwargs: Any) -> None:
        self._orig_minute = _cronfield(minute)
        self._orig_hour = _cronfield(hour)
        self._orig_day_of_week = _cronfield(day_of_week)
        self._orig_day_of_month = _cronfield(day_of_month)
        self._orig_month_of_year = _cronfield(month_of_year)
        self._orig_kwargs = kwargs
        self.hour = self._field('hour', hour, 24)
        self.minute = self._field('minute', minute, 60)
        self.day_of_week = self._field('day_of_week', day_of_week, 7)
        self.day_of_month = self._field('day_of_month', day_of_month, 31, 1)
        self.month_of_year = self._field('month_of_year', month_of_year,
                                         12, 1)
        self._check_days_exist()
        super().__init__(**kwargs)

    @classmethod
    def from_string(cls, crontab: str) -> crontab:
        """Build from a five-field cron line: ``'*/5 * * * *'``.

        The order is cron's: minute, hour, day of month, month, day of week.
        """
        fields = crontab.split()
        if len(fields) != 5:
            raise ValueError(
                f'Invalid crontab {crontab!r}: expected 5 fields (minute, '
                f'hour, day of month, month, day of week), got {len(fields)}')
        minute, hour, dom, month, dow = fields
        return cls(minute=minute, hour=hour, day_of_month=dom,
                   month_of_year=month, day_of_week=dow)

    @classmethod
    def _field(cls, name: str, spec: Any, max_: int, min_: int = 0
               ) -> set[int]:
        # Name the field in errors: "crontab hour: Invalid end range ..."
        try:
            return cls._expand_cronspec(spec, max_, min_)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f'crontab {name}={spec!r}: {exc}') from None

    @staticmethod
    def _expand_cronspec(cronspec: Any, max_: int, min_: int = 0) -> set[int]:
        """Expand one field (int, crontab string or iterable) to a set."""
        if isinstance(cronspec, bool):
            raise TypeError(f'Invalid crontab field {cronspec!r}')
        if isinstance(cronspec, numbers.Integral):
            result = {int(cronspec)}
        elif isinstance(cronspec, str):
            result = crontab_parser(max_, min_).parse(cronspec)
        elif isinstance(cronspec, Iterable):
            result = set(cronspec)
        else:
            raise TypeError(
                f'crontab fields take an int, a str or an iterable of ints, '
                f'not {cronspec!r}')
        for number in result:
            if not isinstance(number, numbers.Integral) or \
                    not min_ <= number < min_ + max_:
                raise ValueError(
                    f'Invalid crontab pattern. Valid range is '
                    f'{min_}-{max_ - 1 + min_}. {number!r} was found.')
        return result

    def _check_days_exist(self) -> None:
        longest = {m: 29 if m == 2 else 30 if m in (4, 6, 9, 11) else 31
                   for m in self.month_of_year}
        if not any(day <= longest[m] for m in self.month_of_year
                   for day in self.day_of_month):
            raise ValueError(
                f'Invalid crontab: day_of_month {self._orig_day_of_month!r} '
                f'never occurs in month_of_year {self._orig_month_of_year!r}')

    # -- matching ---------------------------------------------------------

    @cached_property
    def _sorted(self) -> tuple[list[int], list[int]]:
        return sorted(self.minute), sorted(self.hour)

    def _day_matches(self, day: datetime) -> bool:
        return (day.month in self.month_of_year
                and day.day in self.day_of_month
                and day.isoweekday() % 7 in self.day_of_week)

    def _next_day(self, wall: datetime) -> datetime:
        """Midnight of the first matching day on or after *wall*'s date."""
        day = wall.replace(hour=0, minute=0, second=0, microsecond=0)
        limit = day.year + 30   # every valid pattern recurs within 28 years
        while day.year <= limit:
            if day.month not in self.month_of_year:
                year, month = divmod(day.month, 12)
                day = day.replace(year=day.year + year, month=month + 1, day=1)
            elif self._day_matches(day):
                return day
            else:
                day += timedelta(days=1)
        raise ValueError(f'{self!r} never runs')  # pragma: no cover

    def _next_wall(self, wall: datetime) -> datetime:
        """The first matching wall time strictly after naive *wall*."""
        minutes, hours = self._sorted
        t = wall.replace(second=0, microsecond=0) + _MINUTE
        while True:
            day = self._next_day(t)
            if day > t:
                t = day
            i = bisect_left(hours, t.hour)
            if i == len(hours):
                t = day + timedelta(days=1)
                continue
            if hours[i] != t.hour:
                t = t.replace(hour=hours[i], minute=0)
            j = bisect_left(minutes, t.minute)
            if j < len(minutes):
                return t.replace(minute=minutes[j])
            t = t.replace(minute=0) + timedelta(hours=1)

    @cached_property
    def _every_hour(self) -> bool:
        return len(self.hour) == 24

    def _next_run(self, last_run_at: datetime) -> datetime:
        """The first run strictly after *last_run_at*, aware, in UTC."""
        tz = self.tz
        last = self._aware(last_run_at).astimezone(_UTC)
        if self._every_hour:
            return self._next_run_elapsed(last, tz)
        wall = localize(last, tz).replace(tzinfo=None)
        while True:
            wall = self._next_wall(wall)
            at = make_aware(wall, tz).astimezone(_UTC)
            if at > last:   # not the earlier copy of a repeated hour
                return at

    def _next_run_elapsed(self, last: datetime, tz: tzinfo) -> datetime:
        # Every hour matches: step through real minutes, so a repeated hour
        # (clocks going back) is run through and a skipped one is skipped.
        minutes = self._sorted[0]
        t = last.replace(second=0, microsecond=0) + _MINUTE
        while True:
            local = localize(t, tz)
            wall = local.replace(tzinfo=None)
            if not self._day_matches(wall):
                t = make_aware(self._next_day(wall), tz).astimezone(_UTC)
                continue
            j = bisect_left(minutes, wall.minute)
            if j == len(minutes):
                t += timedelta(minutes=60 - wall.minute)
                continue
            return t + timedelta(minutes=minutes[j] - wall.minute)

    # -- schedule API -----------------------------------------------------

    def remaining_delta(self, last_run_at: datetime, tz: tzinfo | None = None,
                        ffwd: type = ffwd
                        ) -> tuple[datetime, timedelta, datetime]:
        """Return ``(last_run_at, delta, now)``, the next run being at
        ``last_run_at + delta`` (in elapsed time)."""
        last = self._aware(last_run_at)
        now = self._aware(self.now())
        delta = self._next_run(last) - last.astimezone(_UTC)
        return last, delta, now

    def remaining_estimate(self, last_run_at: datetime,
                           ffwd: type = ffwd) -> timedelta:
        return remaining(*self.remaining_delta(last_run_at, ffwd=ffwd))

    def is_due(self, last_run_at: datetime) -> schedstate:
        """Due when a matching minute has come since *last_run_at*.

        ``next`` is the number of seconds to the next matching minute.
        """
        now = self._aware(self.now()).astimezone(_UTC)
        next_run = self._next_run(last_run_at)
        due = next_run <= now
        if due:
            deadline = self._starting_deadline()
            if deadline is not None:
                # Skip when the latest run we missed is older than deadline.
                window_start = now - timedelta(seconds=deadline)
                if window_start > next_run:
                    due = self._next_run(window_start) <= now
        if due or next_run <= now:
            next_run = self._next_run(now)
        return schedstate(due, max((next_run - now).total_seconds(), 0))

    def _starting_deadline(self) -> float | None:
        try:
            return self.app.conf.beat_cron_starting_deadline
        except (AttributeError, KeyError):
            return None

    def __repr__(self) -> str:
        return (f'<crontab: {self._orig_minute} {self._orig_hour} '
                f'{self._orig_day_of_month} {self._orig_month_of_year} '
                f'{self._orig_day_of_week} (m/h/dM/MY/d)>')

    def __reduce__(self) -> tuple:
        return (self.__class__,
                (self._orig_minute, self._orig_hour, self._orig_day_of_week,
                 self._orig_day_of_month, self._orig_month_of_year),
                self._orig_kwargs)

    def __setstate__(self, state: dict) -> None:
        # Pickles carry the keyword arguments (nowfun, app) as state.
        BaseSchedule.__init__(self, **(state or {}))

    def _key(self) -> tuple:
        return (frozenset(self.minute), frozenset(self.hour),
                frozenset(self.day_of_week), frozenset(self.day_of_month),
                frozenset(self.month_of_year))

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, crontab):
            return self._key() == other._key() and super().__eq__(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())


def maybe_schedule(s: Any, relative: bool = False,
                   app: Any = None) -> BaseSchedule | None:
    """Turn seconds or a timedelta into a :class:`schedule`.

    Schedule objects pass through (bound to *app* when one is given).
    """
    if s is None:
        return None
    if isinstance(s, numbers.Number):
        s = timedelta(seconds=s)
    if isinstance(s, timedelta):
        return schedule(s, relative, app=app)
    if app is not None:
        s.app = app
    return s


# Solar schedules live in their own module; they are part of this API.
from celery._solar import solar  # noqa: E402

"""Tests for celery.schedules: interval, crontab and solar schedules."""
from __future__ import annotations

import pickle
import sys
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import pytz

from celery.schedules import (BaseSchedule, ParseException, crontab,
                              crontab_parser, maybe_schedule, schedstate,
                              schedule, solar)
from celery.utils.time import timezone

UTC = dt_timezone.utc


class StubApp:
    """The little of an app that schedules use: a clock, a zone, settings."""

    def __init__(self, tz='UTC', now=None, enable_utc=True, deadline=None):
        self.timezone = timezone.get_timezone(tz)
        self.clock = now or datetime(2024, 1, 1, tzinfo=UTC)
        self.conf = SimpleNamespace(enable_utc=enable_utc,
                                    beat_cron_starting_deadline=deadline)

    def now(self):
        return self.clock.astimezone(self.timezone)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def following_runs(sched, start, n):
    """The next *n* run times after *start*, as local ISO strings."""
    runs, t = [], start
    for _ in range(n):
        sched.app.clock = t
        delta = sched.remaining_estimate(t)
        t = t + delta
        runs.append(t.astimezone(sched.tz).isoformat())
    return runs


def simulate(sched, start, end):
    """Drive *sched* as beat does from *start* to *end*; return run times."""
    app = sched.app
    runs, last, now = [], start, start
    while now < end:
        app.clock = now
        due, next_check = sched.is_due(last)
        if due:
            runs.append(now)
            last = now
        now += timedelta(seconds=max(next_check, 1))
    return runs


class Test_schedule:

    def test_not_due_yet(self):
        app = StubApp(now=utc(2024, 1, 1, 12, 0, 10))
        s = schedule(timedelta(seconds=10), app=app)
        assert s.is_due(utc(2024, 1, 1, 12, 0, 5)) == schedstate(False, 5.0)

    def test_due_returns_full_interval(self):
        app = StubApp(now=utc(2024, 1, 1, 12, 0, 11))
        s = schedule(10, app=app)
        assert s.is_due(utc(2024, 1, 1, 12, 0, 0)) == schedstate(True, 10.0)

    def test_missed_runs_give_one_run(self):
        # Given beat was down for a day with a 10 second schedule
        app = StubApp(now=utc(2024, 1, 2, 12))
        s = schedule(10, app=app)
        last = utc(2024, 1, 1, 12)
        # Then the entry is due once, and then not again for 10 seconds
        assert s.is_due(last).is_due
        assert s.is_due(app.now()) == schedstate(False, 10.0)

    def test_relative_aligns_to_the_clock(self):
        app = StubApp(now=utc(2024, 1, 1, 12, 20))
        s = schedule(timedelta(hours=1), relative=True, app=app)
        assert s.remaining_estimate(utc(2024, 1, 1, 12, 20)) == \
            timedelta(minutes=40)

    def test_relative_in_app_time_zone(self):
        # Daily, by the clock: local midnight in Sydney (UTC+11 in January)
        app = StubApp('Australia/Sydney', now=utc(2024, 1, 1, 3))
        s = schedule(timedelta(days=1), relative=True, app=app)
        rem = s.remaining_estimate(utc(2024, 1, 1, 3))
        assert utc(2024, 1, 1, 3) + rem == utc(2024, 1, 1, 13)

    def test_naive_last_run_is_utc(self):
        app = StubApp('America/New_York', now=utc(2024, 1, 1, 12, 0, 10))
        s = schedule(30, app=app)
        assert s.is_due(datetime(2024, 1, 1, 12)).next == 20.0

    def test_naive_last_run_is_local_without_utc(self, monkeypatch):
        app = StubApp(now=utc(2024, 1, 1, 12, 0, 10), enable_utc=False)
        local = timezone.local
        naive_local = utc(2024, 1, 1, 12).astimezone(local).replace(
            tzinfo=None)
        s = schedule(30, app=app)
        assert s.is_due(naive_local).next == 20.0

    def test_elapsed_time_across_dst(self):
        app = StubApp('America/New_York', now=utc(2024, 11, 3, 6, 0, 5))
        s = schedule(10, app=app)
        # 01:59:55 EDT, then the clocks go back: 10 seconds is 10 seconds
        last = utc(2024, 11, 3, 5, 59, 55).astimezone(app.timezone)
        assert s.is_due(last) == schedstate(True, 10.0)

    def test_nowfun(self):
        s = schedule(60, nowfun=lambda: utc(2024, 1, 1, 0, 0, 30),
                     app=StubApp())
        assert s.now() == utc(2024, 1, 1, 0, 0, 30)
        assert s.is_due(utc(2024, 1, 1)).next == 30.0

    def test_repr_and_seconds(self):
        s = schedule(timedelta(minutes=2))
        assert s.seconds == 120
        assert s.human_seconds == '2.00 minutes'
        assert repr(s) == '<freq: 2.00 minutes>'

    def test_equality_and_hash(self):
        assert schedule(10) == schedule(timedelta(seconds=10))
        assert schedule(10) == timedelta(seconds=10)
        assert schedule(10) != schedule(11)
        assert hash(schedule(10)) == hash(schedule(timedelta(seconds=10)))
        assert len({schedule(10), schedule(10.0), schedule(5)}) == 2

    def test_pickle(self):
        s = schedule(timedelta(seconds=42), relative=True)
        copy = pickle.loads(pickle.dumps(s))
        assert copy == s
        assert copy.relative is True

    def test_uses_app_now_and_tz(self, app):
        app.conf.timezone = 'Europe/London'
        s = schedule(10, app=app)
        assert s.tz == ZoneInfo('Europe/London')
        assert s.now().tzinfo == ZoneInfo('Europe/London')


class Test_BaseSchedule:

    def test_abstract(self):
        s = BaseSchedule(app=StubApp())
        with pytest.raises(NotImplementedError):
            s.is_due(utc(2024, 1, 1))
        with pytest.raises(NotImplementedError):
            s.remaining_estimate(utc(2024, 1, 1))

    def test_default_app_is_current(self, app, current_app_restored):
        app.set_current()
        assert BaseSchedule().app is app

    def test_tz_can_be_overridden(self):
        s = crontab(app=StubApp())
        s.tz = ZoneInfo('Asia/Tokyo')
        assert s.tz == ZoneInfo('Asia/Tokyo')

    def test_to_local(self):
        aware = utc(2024, 1, 1)
        assert BaseSchedule(app=StubApp()).to_local(aware) is aware
        local = BaseSchedule(app=StubApp(enable_utc=False)).to_local(aware)
        assert local == aware


class Test_crontab_parser:

    @pytest.mark.parametrize('spec,max_,min_,expected', [
        ('*', 24, 0, set(range(24))),
        ('*/15', 60, 0, {0, 15, 30, 45}),
        ('5', 60, 0, {5}),
        ('1-4', 60, 0, {1, 2, 3, 4}),
        ('0-10/3', 60, 0, {0, 3, 6, 9}),
        ('40/7', 60, 0, {40, 47, 54}),
        ('1,5,7-9', 60, 0, {1, 5, 7, 8, 9}),
        ('*/2,*/3', 24, 0, {0, 2, 3, 4, 6, 8, 9, 10, 12, 14, 15, 16, 18,
                            20, 21, 22}),
        ('mon-fri', 7, 0, {1, 2, 3, 4, 5}),
        ('fri-mon', 7, 0, {5, 6, 0, 1}),
        ('sunday,Saturday', 7, 0, {0, 6}),
        ('22-2', 24, 0, {22, 23, 0, 1, 2}),
        ('*/10', 31, 1, {1, 11, 21, 31}),
        ('2-30/2', 31, 1, set(range(2, 31, 2))),
        ('jan-mar', 12, 1, {1, 2, 3}),
        ('*/3', 12, 1, {1, 4, 7, 10}),
        ('nov-feb', 12, 1, {11, 12, 1, 2}),
    ])
    def test_parse(self, spec, max_, min_, expected):
        assert crontab_parser(max_, min_).parse(spec) == expected

    @pytest.mark.parametrize('spec,match', [
        ('abc', 'abc'), ('*/0', 'positive'), ('*/x', 'step'),
        ('1,,2', 'empty'), ('-1', 'cannot parse|negative'),
        ('1-2-3', 'cannot parse'),
        ('**', 'cannot parse'), ('funday', 'funday'),
    ])
    def test_bad_syntax(self, spec, match):
        with pytest.raises(ParseException, match=match):
            crontab_parser(60).parse(spec)

    @pytest.mark.parametrize('spec,max_,min_', [
        ('60', 60, 0), ('24', 24, 0), ('0', 31, 1), ('32', 31, 1),
        ('7', 7, 0), ('13', 12, 1), ('50-70', 60, 0),
    ])
    def test_out_of_range(self, spec, max_, min_):
        with pytest.raises(ValueError, match='range'):
            crontab_parser(max_, min_).parse(spec)

    def test_names_only_where_they_belong(self):
        with pytest.raises(ParseException, match="'mon'"):
            crontab_parser(31, 1).parse('mon')
        with pytest.raises(ParseException, match="'funday'"):
            crontab_parser(7).parse('funday')
        with pytest.raises(ParseException, match="'jan'"):
            crontab_parser(7).parse('jan')

    def test_parse_exception_is_a_value_error(self):
        assert issubclass(ParseException, ValueError)
        assert crontab_parser.ParseException is ParseException


class Test_crontab_fields:

    def test_defaults_every_minute(self):
        c = crontab()
        assert c.minute == set(range(60))
        assert c.hour == set(range(24))
        assert c.day_of_week == set(range(7))
        assert c.day_of_month == set(range(1, 32))
        assert c.month_of_year == set(range(1, 13))

    def test_ints_and_iterables(self):
        c = crontab(minute=[0, 30], hour=7, day_of_week={1, 3})
        assert c.minute == {0, 30}
        assert c.hour == {7}
        assert c.day_of_week == {1, 3}

    @pytest.mark.parametrize('kwargs', [
        {'minute': 60}, {'hour': 24}, {'day_of_week': 7},
        {'day_of_month': 0}, {'month_of_year': 13}, {'minute': [1, 70]},
        {'hour': '25'},
    ])
    def test_out_of_range(self, kwargs):
        with pytest.raises(ValueError):
            crontab(**kwargs)

    def test_error_names_the_field(self):
        with pytest.raises(ValueError, match="crontab hour='25'"):
            crontab(hour='25')
        with pytest.raises(ParseException, match='crontab day_of_week'):
            crontab(day_of_week='sun-funday')

    def test_bad_type(self):
        with pytest.raises(TypeError):
            crontab(minute=1.5)
        with pytest.raises(TypeError):
            crontab(hour=True)

    def test_day_that_never_comes(self):
        with pytest.raises(ValueError, match='never occurs'):
            crontab(0, 0, day_of_month=31, month_of_year='feb,apr')

    def test_leap_day_is_allowed(self):
        assert crontab(0, 0, day_of_month=29, month_of_year=2)

    def test_from_string(self):
        c = crontab.from_string('*/5 1-3 * jan-mar mon-fri')
        assert c.minute == set(range(0, 60, 5))
        assert c.hour == {1, 2, 3}
        assert c.day_of_month == set(range(1, 32))
        assert c.month_of_year == {1, 2, 3}
        assert c.day_of_week == {1, 2, 3, 4, 5}

    def test_from_string_needs_five_fields(self):
        with pytest.raises(ValueError, match='5 fields'):
            crontab.from_string('* * * *')

    def test_repr(self):
        c = crontab(minute='*/5', hour=3, day_of_week='mon',
                    day_of_month='1-7', month_of_year='jan')
        assert repr(c) == '<crontab: */5 3 1-7 jan mon (m/h/dM/MY/d)>'

    def test_equality_and_hash(self):
        a = crontab(minute='*/15', hour='9-17')
        b = crontab(minute='0,15,30,45', hour=range(9, 18))
        assert a == b
        assert hash(a) == hash(b)
        assert a != crontab(minute='*/10', hour='9-17')
        assert a != schedule(60)
        assert len({a, b}) == 1

    def test_pickle(self):
        c = crontab(minute='*/5', hour='1-3', day_of_week='mon',
                    day_of_month='2-30/2', month_of_year='*/3')
        copy = pickle.loads(pickle.dumps(c))
        assert copy == c
        assert repr(copy) == repr(c)
        assert copy._orig_day_of_month == '2-30/2'

    def test_pickle_keeps_kwargs(self):
        app = StubApp()
        c = crontab(minute=5, nowfun=_fixed_now)
        copy = pickle.loads(pickle.dumps(c))
        copy.app = app
        assert copy.nowfun is _fixed_now
        assert copy.now() == _fixed_now()

    def test_uses_app_time_zone(self, app):
        app.conf.timezone = 'America/New_York'
        assert crontab(app=app).tz == ZoneInfo('America/New_York')


def _fixed_now():
    return utc(2024, 2, 3, 4, 5)


# (zone, crontab kwargs, start (UTC), the next runs in local time)
CRONTAB_TABLE = [
    # Month ends and leap years
    ('UTC', dict(minute=0, hour=0, day_of_month=31), utc(2024, 1, 31),
     ['2024-03-31T00:00:00+00:00', '2024-05-31T00:00:00+00:00',
      '2024-07-31T00:00:00+00:00', '2024-08-31T00:00:00+00:00']),
    ('UTC', dict(minute=0, hour=0, day_of_month=29, month_of_year=2),
     utc(2024, 3, 1),
     ['2028-02-29T00:00:00+00:00', '2032-02-29T00:00:00+00:00']),
    ('UTC', dict(minute=0, hour=0, day_of_month='28-31', month_of_year=2),
     utc(2023, 2, 27, 12),
     ['2023-02-28T00:00:00+00:00', '2024-02-28T00:00:00+00:00',
      '2024-02-29T00:00:00+00:00', '2025-02-28T00:00:00+00:00']),
    ('UTC', dict(minute='*/15'), utc(2024, 12, 31, 23, 50),
     ['2025-01-01T00:00:00+00:00', '2025-01-01T00:15:00+00:00',
      '2025-01-01T00:30:00+00:00']),
    ('UTC', dict(minute=30, hour=9, day_of_week='mon-fri'),
     utc(2024, 5, 17, 10),  # a Friday, after 09:30
     ['2024-05-20T09:30:00+00:00', '2024-05-21T09:30:00+00:00']),
    # The first Sunday of each month
    ('UTC', dict(minute=0, hour=12, day_of_week='sun', day_of_month='1-7'),
     utc(2024, 1, 1),
     ['2024-01-07T12:00:00+00:00', '2024-02-04T12:00:00+00:00',
      '2024-03-03T12:00:00+00:00']),
    ('UTC', dict(minute=0, hour=0, day_of_month=1, month_of_year='*/3'),
     utc(2024, 1, 1),
     ['2024-04-01T00:00:00+00:00', '2024-07-01T00:00:00+00:00',
      '2024-10-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00']),
    ('UTC', dict(minute=0, hour='*/5'), utc(2024, 1, 1, 20),
     ['2024-01-02T00:00:00+00:00', '2024-01-02T05:00:00+00:00']),
    # London: 01:00-02:00 GMT skipped on 31 March, repeated on 27 October
    ('Europe/London', dict(minute=30, hour=1), utc(2024, 3, 30),
     ['2024-03-30T01:30:00+00:00', '2024-03-31T02:30:00+01:00',
      '2024-04-01T01:30:00+01:00']),
    ('Europe/London', dict(minute=30), utc(2024, 10, 26, 23),
     ['2024-10-27T00:30:00+01:00', '2024-10-27T01:30:00+01:00',
      '2024-10-27T01:30:00+00:00', '2024-10-27T02:30:00+00:00']),
    ('Europe/London', dict(minute=30, hour=1), utc(2024, 10, 26, 12),
     ['2024-10-27T01:30:00+01:00', '2024-10-28T01:30:00+00:00']),
    # New York: 02:00 EST -> 03:00 EDT on 10 March; back on 3 November
    ('America/New_York', dict(minute=0), utc(2024, 3, 10, 5, 30),
     ['2024-03-10T01:00:00-05:00', '2024-03-10T03:00:00-04:00',
      '2024-03-10T04:00:00-04:00']),
    ('America/New_York', dict(minute=0, hour=2), utc(2024, 3, 9, 12),
     ['2024-03-10T03:00:00-04:00', '2024-03-11T02:00:00-04:00']),
    ('America/New_York', dict(minute='*/20', hour=1), utc(2024, 11, 3, 4),
     ['2024-11-03T01:00:00-04:00', '2024-11-03T01:20:00-04:00',
      '2024-11-03T01:40:00-04:00', '2024-11-04T01:00:00-05:00']),
    # Sydney: 03:00 AEDT -> 02:00 AEST on 7 April; 02:00 -> 03:00 on 6 Oct
    ('Australia/Sydney', dict(minute=0), utc(2024, 4, 6, 14, 30),
     ['2024-04-07T02:00:00+11:00', '2024-04-07T02:00:00+10:00',
      '2024-04-07T03:00:00+10:00']),
    ('Australia/Sydney', dict(minute=30, hour=2), utc(2024, 10, 5),
     ['2024-10-06T03:30:00+11:00', '2024-10-07T02:30:00+11:00']),
    # A half-hour offset
    ('Asia/Kolkata', dict(minute=0, hour=9), utc(2024, 1, 1),
     ['2024-01-01T09:00:00+05:30', '2024-01-02T09:00:00+05:30']),
    ('Asia/Kolkata', dict(minute='0,30'), utc(2024, 1, 1, 0, 10),
     ['2024-01-01T06:00:00+05:30', '2024-01-01T06:30:00+05:30',
      '2024-01-01T07:00:00+05:30']),
]


class Test_crontab_next_runs:

    @pytest.mark.parametrize('zone,kwargs,start,expected', CRONTAB_TABLE)
    def test_table(self, zone, kwargs, start, expected):
        c = crontab(app=StubApp(zone), **kwargs)
        assert following_runs(c, start, len(expected)) == expected

    @pytest.mark.parametrize('zone,kwargs,start,expected', CRONTAB_TABLE)
    def test_table_with_pytz_zone(self, zone, kwargs, start, expected):
        app = StubApp(zone)
        app.timezone = pytz.timezone(zone)
        c = crontab(app=app, **kwargs)
        assert following_runs(c, start, len(expected)) == expected

    def test_remaining_delta(self):
        app = StubApp('UTC', now=utc(2024, 1, 1, 10, 5))
        c = crontab(minute=0, app=app)
        last, delta, now = c.remaining_delta(utc(2024, 1, 1, 10))
        assert last + delta == utc(2024, 1, 1, 11)
        assert now == utc(2024, 1, 1, 10, 5)
        assert c.remaining_estimate(utc(2024, 1, 1, 10)) == \
            timedelta(minutes=55)


class Test_crontab_is_due:

    def test_not_due(self):
        app = StubApp(now=utc(2024, 1, 1, 10, 30))
        c = crontab(minute=0, app=app)
        assert c.is_due(utc(2024, 1, 1, 10)) == schedstate(False, 1800.0)

    def test_due_then_next_run(self):
        app = StubApp(now=utc(2024, 1, 1, 11, 0, 1))
        c = crontab(minute=0, app=app)
        assert c.is_due(utc(2024, 1, 1, 10)) == schedstate(True, 3599.0)

    def test_one_run_after_downtime(self):
        # Given beat was down for three days with an every-minute entry
        app = StubApp(now=utc(2024, 1, 4, 10, 0, 30))
        c = crontab(app=app)
        # Then it is due once, and the next run is on the next minute
        assert c.is_due(utc(2024, 1, 1)) == schedstate(True, 30.0)
        assert c.is_due(app.now()) == schedstate(False, 30.0)

    def test_starting_deadline_skips_stale_run(self):
        app = StubApp(now=utc(2024, 1, 1, 10, 20), deadline=600)
        c = crontab(minute=0, app=app)
        assert c.is_due(utc(2024, 1, 1, 7)) == schedstate(False, 2400.0)

    def test_starting_deadline_allows_recent_run(self):
        app = StubApp(now=utc(2024, 1, 1, 10, 5), deadline=600)
        c = crontab(minute=0, app=app)
        assert c.is_due(utc(2024, 1, 1, 7)) == schedstate(True, 3300.0)

    def test_starting_deadline_fixed_hour(self):
        app = StubApp(now=utc(2024, 1, 2, 4, 30), deadline=3600)
        c = crontab(minute=0, hour=4, app=app)
        assert c.is_due(utc(2023, 12, 30, 4)).is_due
        app.clock = utc(2024, 1, 2, 6)
        assert not c.is_due(utc(2023, 12, 30, 4)).is_due

    def test_without_deadline_stale_run_is_due(self):
        app = StubApp(now=utc(2024, 1, 1, 10, 20))
        c = crontab(minute=0, app=app)
        assert c.is_due(utc(2024, 1, 1, 7)).is_due

    def test_deadline_from_real_app(self, app):
        app.conf.beat_cron_starting_deadline = 60
        c = crontab(minute=0, app=app)
        assert c._starting_deadline() == 60


class Test_crontab_dst_simulation:
    """Beat driven across daylight-saving changes: no skipped or double
    runs of fixed-time entries, and hourly entries follow elapsed time."""

    @pytest.mark.parametrize('zone,hour,days', [
        ('America/New_York', 2, [(2024, 3, 9), (2024, 3, 11)]),
        ('America/New_York', 1, [(2024, 11, 2), (2024, 11, 4)]),
        ('Europe/London', 1, [(2024, 3, 30), (2024, 4, 1)]),
        ('Europe/London', 1, [(2024, 10, 26), (2024, 10, 28)]),
        ('Australia/Sydney', 2, [(2024, 4, 6), (2024, 4, 8)]),
        ('Australia/Sydney', 2, [(2024, 10, 5), (2024, 10, 7)]),
    ])
    def test_daily_runs_once_a_day(self, zone, hour, days):
        tz = ZoneInfo(zone)
        first, last = (datetime(*d, tzinfo=tz) for d in days)
        app = StubApp(zone)
        c = crontab(minute=30, hour=hour, app=app)
        runs = simulate(c, first.astimezone(UTC),
                        (last + timedelta(days=1)).astimezone(UTC))
        local_days = [r.astimezone(tz).date() for r in runs]
        assert local_days == [
            (first + timedelta(days=i)).date() for i in range(3)]

    @pytest.mark.parametrize('zone,day,hours', [
        ('America/New_York', (2024, 3, 10), 23),
        ('America/New_York', (2024, 11, 3), 25),
        ('Europe/London', (2024, 3, 31), 23),
        ('Europe/London', (2024, 10, 27), 25),
        ('Australia/Sydney', (2024, 4, 7), 25),
        ('Australia/Sydney', (2024, 10, 6), 23),
    ])
    def test_hourly_follows_elapsed_time(self, zone, day, hours):
        tz = ZoneInfo(zone)
        start = datetime(*day, tzinfo=tz) - timedelta(minutes=1)
        end = datetime(*day, tzinfo=tz) + timedelta(days=1)
        app = StubApp(zone)
        runs = simulate(crontab(minute=0, app=app), start.astimezone(UTC),
                        end.astimezone(UTC))
        runs = [r for r in runs if r.astimezone(tz).date() ==
                datetime(*day).date()]
        assert len(runs) == hours
        gaps = {b - a for a, b in zip(runs, runs[1:])}
        assert gaps == {timedelta(hours=1)}


class Test_maybe_schedule:

    def test_numbers_and_timedeltas(self):
        app = StubApp()
        s = maybe_schedule(10, app=app)
        assert isinstance(s, schedule) and s.seconds == 10
        assert s.app is app
        s = maybe_schedule(timedelta(minutes=1), relative=True)
        assert s.relative and s.seconds == 60

    def test_passthrough(self):
        app = StubApp()
        c = crontab()
        assert maybe_schedule(c, app=app) is c
        assert c.app is app
        assert maybe_schedule(None) is None


# (event, latitude, longitude, after (UTC), published time (UTC))
SOLAR_TABLE = [
    ('sunrise', 51.5074, -0.1278, utc(2024, 6, 21), utc(2024, 6, 21, 3, 43)),
    ('sunset', 51.5074, -0.1278, utc(2024, 6, 21), utc(2024, 6, 21, 20, 21)),
    ('solar_noon', 51.5074, -0.1278, utc(2024, 6, 21),
     utc(2024, 6, 21, 12, 2)),
    ('sunrise', 51.5074, -0.1278, utc(2024, 12, 21),
     utc(2024, 12, 21, 8, 4)),
    ('sunset', -37.81753, 144.96715, utc(2024, 6, 21),
     utc(2024, 6, 21, 7, 8)),
    ('sunrise', 40.7128, -74.0060, utc(2024, 3, 20, 12),
     utc(2024, 3, 21, 10, 58)),
]


@pytest.fixture
def ephem():
    return pytest.importorskip('ephem')


class Test_solar:

    @pytest.mark.parametrize('event,lat,lon,after,expected', SOLAR_TABLE)
    def test_table(self, ephem, event, lat, lon, after, expected):
        app = StubApp(now=after)
        s = solar(event, lat, lon, app=app)
        rem = s.remaining_estimate(after)
        assert abs((after + rem) - expected) < timedelta(minutes=3)

    def test_events_in_order(self, ephem):
        after = utc(2024, 3, 20, 4)  # before dawn in Madrid
        times = [solar(e, 40.4, -3.7, app=StubApp())._next_event(after)
                 for e in ('dawn_astronomical', 'dawn_nautical', 'dawn_civil',
                           'sunrise', 'solar_noon', 'sunset', 'dusk_civil',
                           'dusk_nautical', 'dusk_astronomical')]
        assert times == sorted(times)
        assert times[-1] - times[0] < timedelta(hours=24)

    def test_midnight_sun_has_no_sunrise(self, ephem):
        # Longyearbyen: the sun does not set from late April to late August
        s = solar('sunrise', 78.22, 15.65, app=StubApp())
        nxt = s._next_event(utc(2024, 6, 21))
        assert utc(2024, 8, 20) < nxt < utc(2024, 8, 28)

    def test_polar_night_has_no_sunrise(self, ephem):
        s = solar('sunrise', 78.22, 15.65, app=StubApp())
        nxt = s._next_event(utc(2024, 12, 1))
        assert utc(2025, 2, 10) < nxt < utc(2025, 2, 22)

    def test_solar_noon_every_day_at_the_pole(self, ephem):
        s = solar('solar_noon', 78.22, 15.65, app=StubApp())
        nxt = s._next_event(utc(2024, 12, 1))
        assert nxt - utc(2024, 12, 1) < timedelta(days=1)

    def test_is_due(self, ephem):
        app = StubApp(now=utc(2024, 6, 21, 20, 30))
        s = solar('sunset', 51.5074, -0.1278, app=app)
        due, nxt = s.is_due(utc(2024, 6, 21, 12))
        assert due
        assert 23 * 3600 < nxt < 25 * 3600
        app.clock = utc(2024, 6, 21, 20)
        due, nxt = s.is_due(utc(2024, 6, 21, 12))
        assert not due and 0 < nxt < 30 * 60

    @pytest.mark.parametrize('args,match', [
        (('moonrise', 0, 0), 'Invalid solar event'),
        (('sunset', 91, 0), 'latitude'),
        (('sunset', 0, -181), 'longitude'),
    ])
    def test_bad_arguments(self, ephem, args, match):
        with pytest.raises(ValueError, match=match):
            solar(*args)

    def test_without_ephem(self, monkeypatch):
        monkeypatch.setitem(sys.modules, 'ephem', None)
        with pytest.raises(ImportError, match='pip install'):
            solar('sunset', 0, 0)

    def test_equality_pickle_repr(self, ephem):
        s = solar('sunset', -37.81753, 144.96715)
        assert s == solar('sunset', -37.81753, 144.96715)
        assert s != solar('sunrise', -37.81753, 144.96715)
        assert hash(s) == hash(solar('sunset', -37.81753, 144.96715))
        assert pickle.loads(pickle.dumps(s)) == s
        assert repr(s) == ('<solar: sunset at latitude -37.81753, '
                           'longitude: 144.96715>')

"""Tests for celery.utils.time."""
from __future__ import annotations

import time as _time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import pytz

from celery.utils.time import (DAYNAMES, MONTHS, WEEKDAYS, LocalTimezone,
                               adjust_timestamp, delta_resolution, ffwd,
                               get_exponential_backoff_interval,
                               humanize_seconds, is_naive, isoformat,
                               localize, make_aware, maybe_iso8601,
                               maybe_make_aware, maybe_timedelta, rate,
                               remaining, timezone, to_utc, utcoffset,
                               weekday)

UTC = dt_timezone.utc
NY = 'America/New_York'

# Both kinds of zone object must behave the same.
ZONES = [ZoneInfo, pytz.timezone]


class Test_names:

    def test_weekday(self):
        assert weekday('sunday') == 0
        assert weekday('Mon') == 1
        assert weekday('saturday') == 6
        assert DAYNAMES[weekday('fri')] == 'fri'
        assert WEEKDAYS['wed'] == 3

    def test_weekday_unknown(self):
        with pytest.raises(KeyError):
            weekday('funday')

    def test_months(self):
        assert MONTHS['jan'] == 1
        assert MONTHS['dec'] == 12
        assert len(MONTHS) == 12


class Test_rate:

    @pytest.mark.parametrize('r,expected', [
        ('100/s', 100.0), ('100/m', 100 / 60.0), ('100/h', 100 / 3600.0),
        ('100', 100.0), ('0.5/s', 0.5), (None, 0), ('', 0), (0, 0), (7, 7),
    ])
    def test_rate(self, r, expected):
        assert rate(r) == pytest.approx(expected)

    def test_bad_unit(self):
        with pytest.raises(ValueError, match='Invalid rate'):
            rate('100/x')


class Test_humanize_seconds:

    @pytest.mark.parametrize('secs,expected', [
        (4 * 86400, '4.00 days'), (86400, '1.00 day'),
        (4 * 3600, '4.00 hours'), (3600, '1.00 hour'),
        (4 * 60, '4.00 minutes'), (60, '1.00 minute'),
        (4, '4.00 seconds'), (1, '1.00 second'),
        (4.3567631221, '4.36 seconds'), (0, 'now'), (-3, 'now'),
    ])
    def test_units(self, secs, expected):
        assert humanize_seconds(secs) == expected

    def test_prefix(self):
        assert humanize_seconds(4, prefix='in ') == 'in 4.00 seconds'

    def test_microseconds(self):
        assert humanize_seconds(0.2, microseconds=True) == '0.20 seconds'
        assert humanize_seconds(0.2) == 'now'
        assert humanize_seconds(0, now='never') == 'never'


class Test_maybe_timedelta:

    def test_numbers_are_seconds(self):
        assert maybe_timedelta(30) == timedelta(seconds=30)
        assert maybe_timedelta(1.5) == timedelta(seconds=1.5)

    def test_timedelta_passes(self):
        d = timedelta(hours=1)
        assert maybe_timedelta(d) is d


class Test_delta_resolution:

    DT = datetime(2024, 5, 17, 13, 45, 27, 1234)

    @pytest.mark.parametrize('delta,expected', [
        (timedelta(days=2), datetime(2024, 5, 17)),
        (timedelta(hours=3), datetime(2024, 5, 17, 13)),
        (timedelta(minutes=5), datetime(2024, 5, 17, 13, 45)),
        (timedelta(seconds=5), DT),
    ])
    def test_resolution(self, delta, expected):
        assert delta_resolution(self.DT, delta) == expected

    def test_keeps_tzinfo(self):
        dt = self.DT.replace(tzinfo=ZoneInfo(NY))
        assert delta_resolution(dt, timedelta(hours=1)).tzinfo is dt.tzinfo


class Test_naive_and_aware:

    def test_is_naive(self):
        assert is_naive(datetime(2024, 1, 1))
        assert not is_naive(datetime(2024, 1, 1, tzinfo=UTC))

    @pytest.mark.parametrize('zone', ZONES)
    def test_make_aware_plain(self, zone):
        dt = make_aware(datetime(2024, 7, 1, 12), zone(NY))
        assert dt.utcoffset() == timedelta(hours=-4)
        assert to_utc(dt) == datetime(2024, 7, 1, 16, tzinfo=UTC)

    @pytest.mark.parametrize('zone', ZONES)
    def test_make_aware_skipped_time_moves_forward(self, zone):
        # Given 02:30 on the spring-forward day, which never happens in NY
        dt = make_aware(datetime(2024, 3, 10, 2, 30), zone(NY))
        # Then it is read as the instant the clock shows 03:30 EDT
        assert to_utc(dt) == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)
        assert (dt.hour, dt.minute) == (3, 30)

    @pytest.mark.parametrize('zone', ZONES)
    def test_make_aware_ambiguous_time_is_first(self, zone):
        dt = make_aware(datetime(2024, 11, 3, 1, 30), zone(NY))
        assert to_utc(dt) == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)

    def test_make_aware_none(self):
        dt = datetime(2024, 1, 1)
        assert make_aware(dt, None) is dt

    @pytest.mark.parametrize('zone', ZONES)
    def test_localize(self, zone):
        tz = zone('Europe/London')
        naive = localize(datetime(2024, 7, 1, 12), tz)
        assert naive.utcoffset() == timedelta(hours=1)
        converted = localize(datetime(2024, 7, 1, 12, tzinfo=UTC), tz)
        assert converted.hour == 13
        assert converted == datetime(2024, 7, 1, 12, tzinfo=UTC)

    def test_to_utc(self):
        assert to_utc(datetime(2024, 1, 1)).tzinfo is UTC
        ny = datetime(2024, 1, 1, 7, tzinfo=ZoneInfo(NY))
        assert to_utc(ny) == datetime(2024, 1, 1, 12, tzinfo=UTC)
        assert to_utc(ny).hour == 12

    def test_maybe_make_aware(self):
        aware = datetime(2024, 1, 1, tzinfo=ZoneInfo(NY))
        assert maybe_make_aware(aware) is aware
        dt = maybe_make_aware(datetime(2024, 1, 1, 12))
        assert dt.tzinfo is UTC and dt.hour == 12
        dt = maybe_make_aware(datetime(2024, 1, 1, 12), NY)
        assert dt.hour == 7 and dt == datetime(2024, 1, 1, 12, tzinfo=UTC)
        dt = maybe_make_aware(datetime(2024, 1, 1, 12), NY,
                              naive_as_utc=False)
        assert dt.hour == 12 and dt.utcoffset() == timedelta(hours=-5)


class Test_timezone:

    def test_get_timezone(self):
        assert timezone.get_timezone('UTC') is timezone.utc
        assert timezone.get_timezone(NY) == ZoneInfo(NY)
        tz = pytz.timezone(NY)
        assert timezone.get_timezone(tz) is tz

    def test_unknown_zone(self):
        with pytest.raises(KeyError):
            timezone.get_timezone('Mars/Olympus_Mons')

    def test_tz_or_local(self):
        assert timezone.tz_or_local() is timezone.local
        assert timezone.tz_or_local(NY) == ZoneInfo(NY)

    def test_to_local(self):
        dt = timezone.to_local(datetime(2024, 1, 1, 12), NY)
        assert dt.hour == 7
        dt = timezone.to_local(datetime(2024, 1, 1, 12), NY,
                               orig=ZoneInfo('Europe/Paris'))
        assert dt.hour == 6

    def test_to_system_and_fallback(self):
        aware = datetime(2024, 1, 1, 12, tzinfo=UTC)
        assert timezone.to_system(aware) == aware
        assert isinstance(timezone.to_system(aware).tzinfo, LocalTimezone)
        assert not is_naive(timezone.to_local_fallback(datetime(2024, 1, 1)))
        assert timezone.to_local_fallback(aware) == aware


class Test_LocalTimezone:

    def test_offsets_match_time_module(self):
        tz = LocalTimezone()
        now = datetime.now()
        expected = -(_time.altzone if _time.localtime().tm_isdst
                     else _time.timezone)
        assert tz.utcoffset(now).total_seconds() == expected
        assert tz.tzname(now) in _time.tzname
        assert 'LocalTimezone' in repr(tz)

    def test_fromutc_roundtrip(self):
        stamp = 1_700_000_000
        aware = datetime.fromtimestamp(stamp, UTC).astimezone(LocalTimezone())
        assert aware.timestamp() == stamp


class Test_remaining:

    def test_naive(self):
        start = datetime(2024, 1, 1, 12)
        now = datetime(2024, 1, 1, 12, 0, 30)
        assert remaining(start, timedelta(minutes=1), now) == \
            timedelta(seconds=30)

    def test_overdue_is_negative(self):
        start = datetime(2024, 1, 1, 12, tzinfo=UTC)
        now = start + timedelta(minutes=2)
        assert remaining(start, timedelta(minutes=1), now) == \
            timedelta(minutes=-1)

    def test_default_now(self):
        start = datetime.now(UTC)
        rem = remaining(start, timedelta(hours=1))
        assert timedelta(minutes=59) < rem <= timedelta(hours=1)

    def test_relative_rounds_to_unit(self):
        start = datetime(2024, 1, 1, 12, 20, 13, tzinfo=UTC)
        rem = remaining(start, timedelta(hours=1), start, relative=True)
        assert rem == timedelta(minutes=39, seconds=47)  # to 13:00

    @pytest.mark.parametrize('zone', ZONES)
    def test_elapsed_time_across_spring_forward(self, zone):
        tz = zone(NY)
        start = make_aware(datetime(2024, 3, 10, 1, 59, 55), tz)
        assert remaining(start, timedelta(seconds=10), start) == \
            timedelta(seconds=10)

    @pytest.mark.parametrize('zone', ZONES)
    def test_elapsed_time_across_fall_back(self, zone):
        tz = zone(NY)
        # Given the second 01:30 (EST) of the fall-back night
        start = datetime(2024, 11, 3, 6, 30, tzinfo=UTC).astimezone(tz)
        # Then ten seconds later is ten seconds, not an hour earlier
        assert remaining(start, timedelta(seconds=10), start) == \
            timedelta(seconds=10)

    def test_mixed_naive_and_aware(self):
        start = datetime(2024, 1, 1, 12)
        now = datetime(2024, 1, 1, 12, tzinfo=UTC)
        assert remaining(start, timedelta(seconds=5), now) == \
            timedelta(seconds=5)


class Test_maybe_iso8601:

    def test_values(self):
        assert maybe_iso8601(None) is None
        dt = datetime(2024, 1, 1)
        assert maybe_iso8601(dt) is dt
        assert maybe_iso8601('2024-01-02T03:04:05.000006+00:00') == \
            datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        assert maybe_iso8601('2024-01-02T03:04:05Z').tzinfo is not None

    def test_bad_string(self):
        with pytest.raises(ValueError):
            maybe_iso8601('yesterday')

    def test_isoformat(self):
        dt = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert isoformat(dt) == '2024-01-02T03:04:05+00:00'
        assert maybe_iso8601(isoformat(dt)) == dt


class Test_ffwd:

    def test_fields(self):
        dt = datetime(2024, 5, 17, 13, 45)
        assert dt + ffwd(hour=4, minute=0) == datetime(2024, 5, 17, 4, 0)

    def test_day_clamped_to_month_end(self):
        assert datetime(2024, 1, 31) + ffwd(month=2) == datetime(2024, 2, 29)
        assert datetime(2023, 1, 31) + ffwd(month=2) == datetime(2023, 2, 28)

    def test_weekday_and_weeks(self):
        friday = datetime(2024, 5, 17)
        assert friday + ffwd(weekday=0) == datetime(2024, 5, 20)  # monday
        assert friday + ffwd(weekday=4) == friday
        assert friday + ffwd(weeks=1) == datetime(2024, 5, 24)

    def test_not_a_date(self):
        with pytest.raises(TypeError):
            3 + ffwd(hour=1)

    def test_repr(self):
        assert 'hour' in repr(ffwd(hour=1))


class Test_utcoffset:

    def test_standard_and_dst(self):
        fake = SimpleNamespace(timezone=5 * 3600, altzone=4 * 3600)
        assert utcoffset(fake, lambda: SimpleNamespace(tm_isdst=0)) == 5
        assert utcoffset(fake, lambda: SimpleNamespace(tm_isdst=1)) == 4

    def test_half_hour_zones_keep_the_fraction(self):
        # UTC+05:30 (India): Celery 5 sends -5.5, and receivers shift by it
        fake = SimpleNamespace(timezone=-(5 * 3600 + 1800), altzone=0)
        assert utcoffset(fake, lambda: SimpleNamespace(tm_isdst=0)) == -5.5

    def test_adjust_timestamp(self):
        assert adjust_timestamp(10_000, 2, here=lambda: 0) == 10_000 - 7200
        assert adjust_timestamp(10_000, 2, here=lambda: 2) == 10_000


class Test_backoff:

    @pytest.mark.parametrize('factor,retries,maximum,expected', [
        (1, 0, 600, 1), (1, 3, 600, 8), (3, 2, 600, 12), (1, 20, 600, 600),
        (0, 4, 600, 0),
    ])
    def test_no_jitter(self, factor, retries, maximum, expected):
        assert get_exponential_backoff_interval(
            factor, retries, maximum) == expected

    def test_full_jitter_is_bounded(self):
        values = {get_exponential_backoff_interval(1, 4, 600, True)
                  for _ in range(200)}
        assert values <= set(range(17))
        assert len(values) > 1

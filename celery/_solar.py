"""Solar schedules: run at sunrise, sunset, dawn, dusk or solar noon.

Public as :class:`celery.schedules.solar`; kept apart to keep that module
small.  Event times come from the optional :pypi:`ephem` package, which is
imported when the first solar schedule is built.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as datetime_timezone
from typing import Any

from celery.schedules import BaseSchedule, schedstate

__all__ = ('solar',)

_UTC = datetime_timezone.utc
_MINUTE = timedelta(minutes=1)

_SOLAR_EVENTS = {
    # event: (ephem observer method, horizon in degrees, use sun's centre)
    'dawn_astronomical': ('next_rising', '-18', True),
    'dawn_nautical': ('next_rising', '-12', True),
    'dawn_civil': ('next_rising', '-6', True),
    'sunrise': ('next_rising', '-0:34', False),
    'solar_noon': ('next_transit', '0', False),
    'sunset': ('next_setting', '-0:34', False),
    'dusk_civil': ('next_setting', '-6', True),
    'dusk_nautical': ('next_setting', '-12', True),
    'dusk_astronomical': ('next_setting', '-18', True),
}


class solar(BaseSchedule):
    """Run at a solar event (sunrise, sunset, dawn, dusk...) at a place.

    *event* is one of ``dawn_astronomical``, ``dawn_nautical``,
    ``dawn_civil``, ``sunrise``, ``solar_noon``, ``sunset``, ``dusk_civil``,
    ``dusk_nautical``, ``dusk_astronomical``; *lat* is north positive and
    *lon* east positive, in degrees.  Events are computed in UTC with the
    optional :pypi:`ephem` package.  Where the sun does not rise or set
    (polar day and night), no run happens until the event occurs again;
    ``solar_noon`` occurs every day.
    """

    _all_events = frozenset(_SOLAR_EVENTS)

    def __init__(self, event: str, lat: float, lon: float,
                 **kwargs: Any) -> None:
        try:
            import ephem
        except ImportError:
            raise ImportError(
                'solar schedules need the ephem package: '
                'pip install "celery[solar]" (or pip install ephem)') from None
        self.ephem = ephem
        self.event = event
        self.lat = lat
        self.lon = lon
        super().__init__(**kwargs)
        if event not in _SOLAR_EVENTS:
            raise ValueError(
                f'Invalid solar event {event!r}; choose one of: '
                f'{", ".join(sorted(_SOLAR_EVENTS))}')
        if not -90 <= lat <= 90:
            raise ValueError(
                f'Invalid latitude {lat!r}: must be between -90 and 90')
        if not -180 <= lon <= 180:
            raise ValueError(
                f'Invalid longitude {lon!r}: must be between -180 and 180')
        self.method, horizon, self.use_center = _SOLAR_EVENTS[event]
        cal = ephem.Observer()
        cal.lat = str(lat)
        cal.lon = str(lon)
        cal.elevation = 0
        cal.horizon = horizon
        cal.pressure = 0
        self.cal = cal

    def _next_event(self, after: datetime) -> datetime:
        """The first occurrence of the event after *after*, aware UTC.

        Days without the event (polar day or night) are passed over; when
        none occurs within a year, a day from *after* is returned so that
        beat asks again then.
        """
        start = self._aware(after).astimezone(_UTC).replace(tzinfo=None)
        sun = self.ephem.Sun()
        cal = self.cal.copy()
        find = getattr(cal, self.method)
        extra = {'use_center': True} if self.use_center else {}
        probe = start
        for _ in range(370):
            cal.date = probe
            try:
                found = find(sun, start=probe, **extra)
            except self.ephem.CircumpolarError:
                # No such event that day: try again after the sun's lowest
                # point, the start of the next solar day.
                probe = cal.next_antitransit(sun, start=probe).datetime() \
                    + _MINUTE
                continue
            return found.datetime().replace(tzinfo=_UTC)
        return start.replace(tzinfo=_UTC) + timedelta(days=1)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        now = self._aware(self.now()).astimezone(_UTC)
        return self._next_event(last_run_at) - now

    def is_due(self, last_run_at: datetime) -> schedstate:
        """Due once the next event after *last_run_at* has passed."""
        left = self.remaining_estimate(last_run_at).total_seconds()
        if left > 0:
            return schedstate(False, left)
        return schedstate(True, max(
            self.remaining_estimate(self.now()).total_seconds(), 0))

    def __repr__(self) -> str:
        return (f'<solar: {self.event} at latitude {self.lat}, '
                f'longitude: {self.lon}>')

    def __reduce__(self) -> tuple:
        return self.__class__, (self.event, self.lat, self.lon)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, solar):
            return (other.event == self.event and other.lat == self.lat
                    and other.lon == self.lon)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.event, self.lat, self.lon))


solar.__module__ = 'celery.schedules'

"""The default scheduler: the schedule kept in a :mod:`shelve` file.

Public as :class:`celery.beat.PersistentScheduler`; kept apart to keep
that module small.  The file holds the entries (pickled as Celery does, so
files written by Celery itself can be read) and the settings they were
written under.  Like every scheduler it is driven by one thread.
"""
from __future__ import annotations

import errno
import os
import shelve
from typing import Any

from celery import __version__
from celery.beat import Scheduler, _Entries
from celery.exceptions import ImproperlyConfigured
from celery.utils.log import get_logger

__all__ = ('PersistentScheduler',)

logger = get_logger('celery.beat')
debug, warning = logger.debug, logger.warning


class PersistentScheduler(Scheduler):
    """A scheduler that keeps the schedule in a :mod:`shelve` file.

    The file (``beat_schedule_filename``, or ``-s``) stores the entries
    with their last run times, and the time zone, ``enable_utc`` and
    version they were written with.  A change of time zone or of
    ``enable_utc`` resets the stored schedule; a file that cannot be read
    is removed and created anew, with a warning.
    """

    persistence = shelve
    known_suffixes = ('', '.db', '.dat', '.bak', '.dir')

    _store: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.schedule_filename = kwargs.get('schedule_filename')
        super().__init__(*args, **kwargs)

    def _remove_db(self) -> None:
        for suffix in self.known_suffixes:
            try:
                os.remove(self.schedule_filename + suffix)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise

    def _open_schedule(self) -> Any:
        return self.persistence.open(self.schedule_filename, writeback=True)

    def _destroy_open_corrupted_schedule(self, exc: BaseException) -> Any:
        warning('Removing corrupted schedule file %r: %r',
                self.schedule_filename, exc)
        if self._store is not None:
            try:
                self._store.close()
            except Exception:  # pragma: no cover - already broken
                pass
        self._remove_db()
        return self._open_schedule()

    def setup_schedule(self) -> None:
        if not self.schedule_filename:
            self.schedule_filename = self.app.conf.beat_schedule_filename
        self.schedule_filename = os.fspath(self.schedule_filename)
        try:
            self._store = self._open_schedule()
            self._check_store()
        except Exception as exc:
            self._store = self._destroy_open_corrupted_schedule(exc)
        self._reset_if_stale()
        self._store['entries'] = _Entries(self._store.get('entries') or {})
        try:
            self.merge_inplace(self.app.conf.beat_schedule)
        except ImproperlyConfigured:
            self._store.close()
            self._store = None
            raise
        self.install_default_entries(self.schedule)
        self._store.update({
            '__version__': __version__,
            'tz': self.app.conf.timezone,
            'utc_enabled': self.app.conf.enable_utc,
        })
        self.sync()
        debug('Current schedule:\n%s', '\n'.join(
            repr(entry) for entry in self.schedule.values()))

    def _check_store(self) -> None:
        # Reading every stored value proves the file can be unpickled.
        for key in list(self._store.keys()):
            self._store[key]
        entries = self._store.get('entries')
        if entries is not None and not isinstance(entries, dict):
            raise TypeError(f'schedule entries are a {type(entries)!r}')

    def _reset_if_stale(self) -> None:
        store = self._store
        if 'entries' not in store:
            return
        if '__version__' not in store:
            warning('DB Reset: Account for new __version__ field')
            store.clear()
            return
        tz = self.app.conf.timezone
        stored_tz = store.get('tz')
        if stored_tz != tz:
            warning('Reset: Timezone changed from %r to %r', stored_tz, tz)
            store.clear()
            return
        utc = self.app.conf.enable_utc
        stored_utc = store.get('utc_enabled')
        if stored_utc != utc:
            choices = {True: 'enabled', False: 'disabled', None: 'unset'}
            warning('Reset: UTC changed from %s to %s',
                    choices.get(stored_utc, stored_utc), choices[bool(utc)])
            store.clear()

    def get_schedule(self) -> Any:
        return self._store['entries']

    def set_schedule(self, schedule: Any) -> None:
        self._store['entries'] = schedule

    schedule = property(get_schedule, set_schedule)

    def sync(self) -> None:
        if self._store is not None:
            # Shelf.sync() empties its cache; keep our entries object so
            # that it is not read back from disk on the next tick.
            entries = self._store.cache.get('entries')
            self._store.sync()
            if entries is not None:
                self._store.cache['entries'] = entries

    def close(self) -> None:
        if self._store is None:
            return
        super().close()
        self._store.close()
        self._store = None

    @property
    def info(self) -> str:
        return f'    . db -> {self.schedule_filename}'


PersistentScheduler.__module__ = 'celery.beat'

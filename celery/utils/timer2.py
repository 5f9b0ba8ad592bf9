"""A timer running in its own thread (for code that has no event loop).

:class:`Timer` wraps kombu's heap-based schedule
(:class:`kombu.asynchronous.timer.Timer`) in a daemon thread that sleeps
until the next entry is due.  Entries run in the timer thread, so they must
be thread safe.  The worker itself uses its event loop's timer instead.
"""
from __future__ import annotations

import os
import sys
import threading
from itertools import count
from time import sleep
from typing import Any, Callable

from kombu.asynchronous.timer import Entry
from kombu.asynchronous.timer import Timer as Schedule
from kombu.asynchronous.timer import logger, to_timestamp

__all__ = ('Entry', 'Schedule', 'Timer', 'to_timestamp')

TIMER_DEBUG = os.environ.get('TIMER_DEBUG')


class Timer(threading.Thread):
    """Thread running the entries of a schedule when they are due."""

    Entry = Entry
    Schedule = Schedule

    running: bool = False
    on_tick: Callable[[float], None] | None = None
    _timer_count = count(1)

    def __init__(self, schedule: Schedule | None = None, on_error: Callable | None = None,
                 on_tick: Callable | None = None, on_start: Callable | None = None,
                 max_interval: float | None = None, **kwargs: Any) -> None:
        self.schedule = schedule or self.Schedule(on_error=on_error, max_interval=max_interval)
        self.on_start = on_start
        self.on_tick = on_tick or self.on_tick
        super().__init__()
        self._is_shutdown = threading.Event()
        self._stopped_event = threading.Event()
        self.mutex = threading.Lock()
        self.not_empty = threading.Condition(self.mutex)
        self.daemon = True
        self.name = f'Timer-{next(self._timer_count)}'

    def _next_entry(self) -> float | None:
        with self.not_empty:
            delay, entry = next(self.scheduler)
            if entry is None:
                if delay is None:
                    self.not_empty.wait(1.0)
                return delay
        return self.schedule.apply_entry(entry)

    __next__ = next = _next_entry

    def run(self) -> None:
        try:
            self.running = True
            self.scheduler = iter(self.schedule)
            while not self._is_shutdown.is_set():
                delay = self._next_entry()
                if delay:
                    if self.on_tick:
                        self.on_tick(delay)
                    if sleep is None:  # pragma: no cover - interpreter shutdown
                        break
                    self._is_shutdown.wait(delay)
            try:
                self._stopped_event.set()
            except TypeError:  # pragma: no cover - interpreter shutdown
                pass
        except Exception as exc:
            logger.error('Thread Timer crashed: %r', exc, exc_info=True)
            sys.stderr.flush()
            os._exit(1)

    def stop(self) -> None:
        """Stop the thread and wait for it to finish."""
        self._is_shutdown.set()
        if self.running:
            self._stopped_event.wait()
            self.join()
            self.running = False

    def ensure_started(self) -> None:
        if not self.running and not self.is_alive():
            if self.on_start:
                self.on_start(self)
            self.start()

    def _do_enter(self, meth: str, *args: Any, **kwargs: Any) -> Entry:
        self.ensure_started()
        with self.mutex:
            entry = getattr(self.schedule, meth)(*args, **kwargs)
            self.not_empty.notify()
            return entry

    def enter(self, entry: Entry, eta: Any, priority: int | None = None) -> Entry:
        return self._do_enter('enter_at', entry, eta, priority=priority)

    def call_at(self, *args: Any, **kwargs: Any) -> Entry:
        return self._do_enter('call_at', *args, **kwargs)

    def enter_after(self, *args: Any, **kwargs: Any) -> Entry:
        return self._do_enter('enter_after', *args, **kwargs)

    def call_after(self, *args: Any, **kwargs: Any) -> Entry:
        return self._do_enter('call_after', *args, **kwargs)

    def call_repeatedly(self, *args: Any, **kwargs: Any) -> Entry:
        return self._do_enter('call_repeatedly', *args, **kwargs)

    def exit_after(self, secs: float, priority: int = 10) -> None:
        self.call_after(secs, sys.exit, priority=priority)

    def cancel(self, tref: Entry) -> None:
        tref.cancel()

    def clear(self) -> None:
        self.schedule.clear()

    def empty(self) -> bool:
        return not len(self)

    def __len__(self) -> int:
        return len(self.schedule)

    def __bool__(self) -> bool:
        """Always true, also when empty."""
        return True

    @property
    def queue(self) -> list:
        return self.schedule.queue

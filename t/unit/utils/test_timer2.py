"""The thread-based timer."""
from __future__ import annotations

import threading

from celery.utils import timer2


def test_entries_run_in_the_timer_thread() -> None:
    timer = timer2.Timer()
    ran = threading.Event()
    threads = []

    def job() -> None:
        threads.append(threading.current_thread())
        ran.set()

    try:
        timer.call_after(0.01, job)
        assert ran.wait(5)
        assert threads[0] is timer
        repeated = threading.Event()
        count = []
        tref = timer.call_repeatedly(0.01, lambda: (count.append(1), len(count) >= 3 and repeated.set()))
        assert repeated.wait(5)
        timer.cancel(tref)
        assert timer  # true even when empty
    finally:
        timer.stop()
    assert not timer.is_alive()


def test_clear_and_empty() -> None:
    timer = timer2.Timer()
    try:
        timer.call_after(100, lambda: None)
        assert len(timer) == 1 and not timer.empty()
        timer.clear()
        assert timer.empty()
    finally:
        timer.stop()

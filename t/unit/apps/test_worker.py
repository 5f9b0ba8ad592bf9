"""The signal handlers of ``celery worker``: warm, cold, and ``REMAP_SIGTERM``."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from celery import platforms
from celery.apps import worker as apps_worker
from celery.exceptions import WorkerTerminate
from celery.platforms import EX_FAILURE, EX_OK
from celery.worker import state


class FakeWorker:
    """What a shutdown handler uses of the worker."""

    hostname = 'unit@host'
    blueprint = None

    def __init__(self) -> None:
        self.wakeups = 0

    def wakeup(self) -> None:
        self.wakeups += 1


@pytest.fixture
def handlers(monkeypatch: Any) -> Iterator[dict]:
    """Signal handlers are recorded here instead of being installed."""
    installed: dict = {}
    monkeypatch.setattr(platforms, 'signals', installed)
    monkeypatch.setattr(apps_worker, 'safe_say', lambda *args, **kwargs: None)
    yield installed
    state.should_stop = state.should_terminate = None


@pytest.mark.parametrize('remap', [None, '', 'SIGINT'])
def test_sigterm_is_a_warm_shutdown(remap: str | None, handlers: dict,
                                    monkeypatch: Any) -> None:
    if remap is None:
        monkeypatch.delenv('REMAP_SIGTERM', raising=False)
    else:
        monkeypatch.setenv('REMAP_SIGTERM', remap)
    worker = FakeWorker()
    apps_worker.install_worker_term_handler(worker)
    handlers['SIGTERM']()
    assert state.should_stop == EX_OK
    assert state.should_terminate is None
    assert worker.wakeups == 1


@pytest.mark.parametrize('remap', ['SIGQUIT', 'sigquit', 'QUIT'])
def test_remap_sigterm_to_sigquit_makes_sigterm_a_cold_shutdown(
        remap: str, handlers: dict, monkeypatch: Any) -> None:
    monkeypatch.setenv('REMAP_SIGTERM', remap)
    worker = FakeWorker()
    apps_worker.install_worker_term_handler(worker)
    handlers['SIGTERM']()
    # the same request as SIGQUIT: the event loop does the (soft, then) cold shutdown
    assert state.should_terminate == EX_FAILURE
    assert state.should_stop is None
    assert worker.wakeups == 1
    assert handlers['SIGTERM'].__name__ == 'worker_Cold'


def test_sigquit_is_a_cold_shutdown(handlers: dict) -> None:
    worker = FakeWorker()
    apps_worker.install_worker_term_hard_handler(worker)
    handlers['SIGQUIT']()
    assert state.should_terminate == EX_FAILURE
    assert worker.wakeups == 1


def test_cold_shutdown_cuts_a_running_warm_shutdown_short(handlers: dict) -> None:
    from celery.bootsteps import CLOSE

    class Blueprint:
        state = CLOSE

    worker = FakeWorker()
    worker.blueprint = Blueprint()
    apps_worker.install_worker_term_handler(worker)
    apps_worker.install_worker_term_hard_handler(worker)
    handlers['SIGTERM']()
    # the warm shutdown waits for the pool in the main thread: the cold one interrupts it
    with pytest.raises(WorkerTerminate):
        handlers['SIGQUIT']()

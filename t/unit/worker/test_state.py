"""Worker state: request bookkeeping, shutdown flags, persistence."""
from __future__ import annotations

from typing import Any

import pytest

from celery.exceptions import WorkerShutdown, WorkerTerminate
from celery.worker import state


class Req:
    def __init__(self, id: str, name: str = 'task') -> None:
        self.id = id
        self.name = name


def test_reserved_accepted_ready() -> None:
    req = Req('a')
    state.task_reserved(req)
    assert state.requests['a'] is req and req in state.reserved_requests
    state.task_accepted(req)
    assert req in state.active_requests
    assert state.total_count['task'] == 1 and state.all_total_count[0] == 1
    state.task_ready(req, successful=True)
    assert 'a' not in state.requests
    assert req not in state.active_requests and req not in state.reserved_requests
    assert 'a' in state.successful_requests


def test_maybe_shutdown() -> None:
    state.maybe_shutdown()
    state.should_stop = 0
    with pytest.raises(WorkerShutdown):
        state.maybe_shutdown()
    state.should_terminate = 1
    with pytest.raises(WorkerTerminate):
        state.maybe_shutdown()


def test_reset_state_forgets_everything() -> None:
    state.task_reserved(Req('x'))
    state.revoked.add('r')
    state.reset_state()
    assert not state.requests and 'r' not in state.revoked


def test_persistent_keeps_revoked_and_clock(tmp_path: Any, app: Any) -> None:
    db = str(tmp_path / 'worker.state')
    state.revoked.add('revoked-id')
    app.clock.adjust(41)
    p = state.Persistent(state, db, app.clock)
    p.save()
    state.reset_state()
    clock_before = app.clock.value
    state.Persistent(state, db, app.clock).close()
    assert 'revoked-id' in state.revoked
    assert app.clock.value > clock_before or app.clock.value >= 42


def test_persistent_reads_the_old_format(tmp_path: Any) -> None:
    import shelve
    db = str(tmp_path / 'old.state')
    with shelve.open(db) as d:
        d['revoked'] = ['old-1', 'old-2']
    state.Persistent(state, db).close()
    assert 'old-1' in state.revoked and 'old-2' in state.revoked

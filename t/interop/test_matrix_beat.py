"""Beat across a mixed fleet: our beat drives real workers, real beat drives ours.

The tasks module gives ``beat_schedule`` one entry, every second, for the
task of the side named by ``MX_BEAT_TARGET``; the task records which worker
ran it, so the test sees each tick arrive on the other package's worker.
"""
from __future__ import annotations

import uuid

import pytest

from _fleet import OTHER, SIDES, Fleet

pytestmark = pytest.mark.interop


@pytest.mark.parametrize('beat', SIDES, ids=['our-beat-real-worker', 'real-beat-our-worker'])
def test_beat_drives_the_other_sides_worker(mx_fleet: Fleet, beat: str) -> None:
    worker = OTHER[beat]
    by = f'{beat}-{uuid.uuid4().hex[:8]}'
    proc = mx_fleet.celery(
        beat, f'{by}-beat', 'beat', '-s', str(mx_fleet.dir / f'{by}-schedule'),
        '-l', 'info', MX_BEAT_TARGET=worker, MX_BEAT_BY=by)
    try:
        ticks = mx_fleet.wait_records(f'beat:{by}', count=3, timeout=20)
    finally:
        proc.stop()
    assert {tick['hostname'] for tick in ticks} == {mx_fleet.nodes[worker]}
    assert len({tick['id'] for tick in ticks}) == len(ticks)
    assert 'Sending due task mx-tick' in proc.text(), proc.tail()

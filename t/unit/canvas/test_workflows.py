"""Canvases sent as messages and run by an in-process worker (memory broker).

The ``app`` fixture's ``cache+memory://`` backend counts chord parts itself;
the ``file_app`` tests use the filesystem backend, which relies on the
``celery.chord_unlock`` task instead.
"""
from __future__ import annotations

import pytest

from celery import Celery, chain, chord, group
from celery.exceptions import ChordError, CPendingDeprecationWarning


def run(worker, result, timeout=1):
    """Run every queued message, then return the result's value."""
    worker.drain()
    return result.get(timeout=timeout)


class test_shapes:

    def test_chain(self, tasks, worker):
        res = chain(tasks.add.s(4, 4), tasks.mul.s(8), tasks.mul.s(10)).delay()
        assert run(worker, res) == 640
        assert res.parent.get(timeout=1) == 64
        assert res.parent.parent.get(timeout=1) == 8

    def test_group(self, tasks, worker):
        res = group(tasks.add.s(i, i) for i in range(10)).delay()
        assert run(worker, res) == list(range(0, 20, 2))

    def test_chord(self, tasks, worker):
        res = chord((tasks.add.s(i, i) for i in range(10)), tasks.tsum.s()).delay()
        assert run(worker, res) == 90
        assert res.parent.get(timeout=1) == list(range(0, 20, 2))

    def test_chain_then_group(self, tasks, worker):
        res = (tasks.add.s(4, 4) | group(tasks.add.si(i, i) for i in range(3)))()
        assert run(worker, res) == [0, 2, 4]
        assert res.parent.get(timeout=1) == 8

    def test_group_gets_the_previous_result(self, tasks, worker):
        res = (tasks.add.s(1, 1) | group(tasks.add.s(1), tasks.mul.s(10))).delay()
        assert run(worker, res) == [3, 20]

    def test_chain_of_groups(self, tasks, worker):
        c = (tasks.add.s(1, 1) | group(tasks.add.s(1), tasks.add.s(2))
             | group(tasks.tsum.s(), tasks.collect.s()))
        res = c.delay()
        assert run(worker, res) == [7, [[3, 4]]]

    def test_chord_in_a_chain(self, tasks, worker):
        c = (tasks.add.s(1, 1) | chord([tasks.add.s(1), tasks.add.s(2)], tasks.tsum.s())
             | tasks.mul.s(10))
        assert run(worker, c.delay()) == 70

    def test_chord_with_chain_body(self, tasks, worker):
        c = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)],
                  tasks.tsum.s() | tasks.mul.s(10) | tasks.add.s(1))
        res = c.delay()
        assert run(worker, res) == 61
        assert res.parent.get(timeout=1) == 60

    def test_chord_with_group_body(self, tasks, worker):
        c = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)],
                  group(tasks.tsum.s(), tasks.collect.s()))
        assert run(worker, c.delay()) == [6, [[2, 4]]]

    def test_group_of_chords(self, tasks, worker):
        g = group(chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s()),
                  chord([tasks.add.s(3, 3)], tasks.tsum.s()),
                  tasks.add.s(10, 10))
        assert run(worker, g.delay()) == [6, 6, 20]

    def test_nested_chords(self, tasks, worker):
        inner = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s())
        outer = chord([inner, tasks.add.s(10, 10), tasks.add.s(5, 5)], tasks.tsum.s())
        assert run(worker, outer.delay()) == 6 + 20 + 10

    def test_chains_in_a_chord_header(self, tasks, worker):
        c = chord([tasks.add.s(1, 1) | tasks.mul.s(10),
                   tasks.add.s(2, 2) | group(tasks.add.s(1), tasks.add.s(2))],
                  tasks.collect.s())
        res = c.delay()
        # the group's results stay together, in header order
        assert run(worker, res) == [[20, [5, 6]]]

    def test_chord_with_empty_header(self, tasks, worker):
        assert run(worker, chord([], tasks.collect.s()).delay()) == [[]]

    def test_frozen_canvas_runs_with_its_ids(self, tasks, worker):
        c = tasks.add.s(1, 1) | chord([tasks.add.s(1), tasks.add.s(2)], tasks.tsum.s())
        frozen = c.freeze()
        res = c.delay()
        assert res.id == frozen.id
        assert run(worker, frozen) == 7

    def test_map_starmap_chunks(self, tasks, worker):
        assert run(worker, tasks.tsum.map([[1, 2], [3]]).delay()) == [3, 3]
        assert run(worker, tasks.add.starmap([(1, 1), (2, 2)]).delay()) == [2, 4]
        res = tasks.add.chunks(zip(range(6), range(6)), 4).delay()
        assert run(worker, res) == [[0, 2, 4, 6], [8, 10]]

    def test_chunks_task_sends_the_group(self, app, tasks, worker):
        res = app.tasks['celery.chunks'].delay(tasks.add.s(), [(1, 1), (2, 2)], 1)
        worker.drain()
        group_res = res.get(timeout=1)
        assert worker.ran.count('celery.starmap') == 2
        assert group_res is not None

    def test_callbacks(self, tasks, worker):
        res = tasks.add.apply_async((2, 2), link=tasks.mul.s(16))
        worker.drain()
        assert res.get(timeout=1) == 4
        (child,) = res.children
        assert child.get(timeout=1) == 64

    def test_unknown_task_in_a_chain_is_a_name(self, app, tasks, worker):
        c = tasks.add.s(1, 1) | app.signature('identity')
        assert run(worker, c.delay()) == 2


class test_errors:

    def test_chain_stops_and_calls_the_errback(self, tasks, worker):
        c = chain(tasks.add.s(1, 1), tasks.fail.s(), tasks.add.s(1))
        c.link_error(tasks.on_error.s())
        res = c.delay()
        worker.drain()
        with pytest.raises(ValueError):
            res.get(timeout=1)
        assert worker.ran == ['add', 'fail']
        assert [type(exc) for _, exc in tasks.errors] == [ValueError]

    def test_errback_by_task_id(self, tasks, worker):
        res = tasks.fail.s().on_error(tasks.on_error_by_id.s()).delay()
        worker.drain()
        assert tasks.errors == [(res.id, None)]

    def test_chord_header_error_fails_the_body(self, tasks, worker):
        body = tasks.tsum.s().on_error(tasks.on_error.s())
        res = chord([tasks.add.s(4, 4), tasks.fail.s(), tasks.add.s(8, 8)], body).delay()
        worker.drain()
        # the header failed first: get() re-raises that (parents come first)
        with pytest.raises(ValueError):
            res.get(timeout=1)
        with pytest.raises(ChordError, match='Dependency .* raised ValueError'):
            res.get(timeout=1, follow_parents=False)
        assert worker.ran.count('add') == 2  # the rest of the header still ran
        assert 'tsum' not in worker.ran
        assert [(tid, type(exc)) for tid, exc in tasks.errors] == [(res.id, ChordError)]

    def test_chord_errback_linked_on_the_chord(self, tasks, worker):
        c = chord([tasks.fail.s(), tasks.add.s(1, 1)], tasks.tsum.s())
        with pytest.warns(CPendingDeprecationWarning):
            c.link_error(tasks.on_error.s())
        res = c.delay()
        worker.drain()
        assert res.failed()
        assert len(tasks.errors) == 1

    def test_chord_body_error(self, tasks, worker):
        res = chord([tasks.add.s(1, 1)], tasks.fail.s().on_error(tasks.on_error.s())).delay()
        worker.drain()
        with pytest.raises(ValueError):
            res.get(timeout=1)
        assert len(tasks.errors) == 1

    def test_group_member_error(self, tasks, worker):
        g = group(tasks.add.s(1, 1), tasks.fail.s())
        g.link_error(tasks.on_error.s())
        res = g.delay()
        worker.drain()
        assert res.results[0].get(timeout=1) == 2
        with pytest.raises(ValueError):
            res.results[1].get(timeout=1)
        assert len(tasks.errors) == 1

    def test_error_in_a_nested_chord_fails_the_outer_one(self, tasks, worker):
        inner = chord([tasks.fail.s(), tasks.add.s(1, 1)], tasks.tsum.s())
        res = chord([inner, tasks.add.s(2, 2)], tasks.tsum.s()).delay()
        worker.drain()
        with pytest.raises(ChordError):
            res.get(timeout=1, follow_parents=False)

    def test_chain_error_inside_a_chord_header(self, tasks, worker):
        c = chord([tasks.add.s(1, 1) | tasks.fail.s(), tasks.add.s(2, 2)], tasks.tsum.s())
        res = c.delay()
        worker.drain()
        with pytest.raises(ChordError):
            res.get(timeout=1, follow_parents=False)


class test_replace_and_add_to_chord:

    def test_replace_in_a_chain(self, tasks, worker):
        c = tasks.replace_with.s(tasks.add.s(1, 1) | tasks.mul.s(10)) | tasks.add.s(5)
        res = c.delay()
        assert run(worker, res) == 25
        # the replaced task's result is that of its replacement
        assert res.parent.get(timeout=1) == 20

    def test_replace_with_a_group(self, tasks, worker):
        c = tasks.replace_with.s(group(tasks.add.s(1, 1), tasks.add.s(2, 2))) | tasks.collect.s()
        assert run(worker, c.delay()) == [[2, 4]]

    def test_replace_keeps_callbacks(self, tasks, worker):
        res = tasks.replace_with.apply_async((tasks.add.s(1, 1),), link=tasks.collect.s())
        worker.drain()
        assert res.get(timeout=1) == 2
        assert tasks.calls == [((2,), {})]

    def test_replace_in_a_chord_header(self, tasks, worker):
        c = chord([tasks.replace_with.s(tasks.add.s(1, 1) | tasks.mul.s(3)),
                   tasks.add.s(1, 1)], tasks.tsum.s())
        assert run(worker, c.delay()) == 8

    def test_replace_eagerly(self, eager):
        res = eager.replace_with.delay(eager.add.s(2, 3) | eager.mul.s(2))
        assert res.get() == 10

    def test_add_to_chord(self, tasks, worker):
        res = chord([tasks.grow_chord.s(1), tasks.grow_chord.s(2)], tasks.collect.s()).delay()
        value = run(worker, res)
        assert sorted(value[0]) == [1, 2, 10, 20]

    def test_add_to_chord_outside_a_chord(self, tasks, worker):
        res = tasks.grow_chord.delay(1)
        worker.drain()
        with pytest.raises(ValueError, match='not member of any chord'):
            res.get(timeout=1)


@pytest.fixture
def file_app(tmp_path):
    app = Celery('t.file', set_as_current=False, broker='memory://',
                 backend=f'file://{tmp_path}', fixups=[])
    app.conf.task_default_queue = f'file-{tmp_path.name}'
    app.conf.result_chord_retry_interval = 0
    yield app
    app.close()


class test_chord_unlock:

    @pytest.fixture
    def ftasks(self, file_app):
        from t.unit.canvas.conftest import Tasks
        tasks = Tasks(file_app)
        file_app.finalize()
        return tasks

    @pytest.fixture
    def fworker(self, file_app, ftasks):
        from t.unit.canvas.conftest import InlineWorker
        return InlineWorker(file_app)

    def test_body_is_called_by_chord_unlock(self, ftasks, fworker):
        res = chord([ftasks.add.s(1, 1), ftasks.add.s(2, 2)], ftasks.tsum.s()).delay()
        assert fworker.ran == []
        fworker.drain()
        assert 'celery.chord_unlock' in fworker.ran
        assert res.get(timeout=1) == 6

    def test_unlock_retries_until_ready(self, file_app, ftasks, fworker):
        res = chord([ftasks.add.s(1, 1)], ftasks.tsum.s()).delay()
        # run chord_unlock first: the header is not done yet
        with file_app.connection_for_read() as conn:
            queue = file_app.amqp.queues[file_app.conf.task_default_queue].bind(
                conn.default_channel)
            messages = [queue.get(no_ack=True) for _ in range(2)]
        by_name = {m.headers['task']: m for m in messages}
        fworker.execute(by_name['celery.chord_unlock'])
        fworker.execute(by_name['add'])
        fworker.drain()
        assert fworker.ran.count('celery.chord_unlock') == 2
        assert res.get(timeout=1) == 2

    def test_header_error(self, ftasks, fworker):
        body = ftasks.tsum.s().on_error(ftasks.on_error.s())
        res = chord([ftasks.fail.s(), ftasks.add.s(1, 1)], body).delay()
        fworker.drain()
        with pytest.raises(ChordError, match='Dependency'):
            res.get(timeout=1, follow_parents=False)
        assert len(ftasks.errors) == 1

    def test_chord_in_a_chain(self, ftasks, fworker):
        c = ftasks.add.s(1, 1) | group(ftasks.add.s(1), ftasks.add.s(2)) | ftasks.tsum.s()
        res = c.delay()
        fworker.drain()
        assert res.get(timeout=1) == 7

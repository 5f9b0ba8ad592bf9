"""Canvases run in place: ``task_always_eager`` and ``.apply()`` (the canvas guide's examples)."""
from __future__ import annotations

import pytest

from celery import chain, chord, chunks, group, signature, xmap, xstarmap
from celery.result import EagerResult, GroupResult


class test_chain:

    def test_simple(self, eager):
        add = eager.add
        res = chain(add.s(2, 2), add.s(4), add.s(8))()
        assert res.get() == 16
        assert (add.s(2, 2) | add.s(4) | add.s(8))().get() == 16

    def test_parents(self, eager):
        res = chain(eager.add.s(4, 4), eager.mul.s(8), eager.mul.s(10))()
        assert res.get() == 640
        assert res.parent.get() == 64
        assert res.parent.parent.get() == 8
        assert res.parent.parent.parent is None

    def test_immutable_steps(self, eager):
        add = eager.add
        res = (add.si(2, 2) | add.si(4, 4) | add.si(8, 8))()
        assert (res.get(), res.parent.get(), res.parent.parent.get()) == (16, 8, 4)

    def test_partial_chains(self, eager):
        add, mul = eager.add, eager.mul
        assert (add.s(4) | mul.s(8))(16).get() == 160
        c2 = add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8))
        assert c2().get() == 352

    def test_generator(self, eager):
        assert chain(eager.add.s(i) for i in range(10))(3).get() == 48

    def test_chain_then_group(self, eager):
        res = (eager.add.s(4, 4) | group(eager.add.si(i, i) for i in range(10)))()
        assert res.get() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
        assert res.parent.get() == 8

    def test_group_receives_the_previous_result(self, eager):
        res = (eager.add.s(1, 1) | group(eager.add.s(1), eager.mul.s(10)))()
        assert res.get() == [3, 20]

    def test_task_group_task(self, eager):
        c = chain(eager.add.s(2, 2), group(eager.add.s(1), eager.add.s(2)), eager.tsum.s())
        assert c().get() == 5 + 6

    def test_apply_runs_in_place_without_eager_setting(self, tasks):
        res = chain(tasks.add.s(1, 1), tasks.mul.s(3)).apply()
        assert isinstance(res, EagerResult) and res.get() == 6

    def test_failing_step(self, eager):
        c = chain(eager.add.s(1, 1), eager.fail.s(), eager.add.s(1))
        with pytest.raises(ValueError, match='expected failure'):
            c.delay()

    def test_empty_groups_are_skipped(self, eager):
        c = chain(eager.add.s(1, 1), group([]), eager.add.s(1))
        assert c().get() == 3

    def test_chain_callbacks_run_once_after_the_last_step(self, eager):
        c = chain(eager.add.s(1, 1), eager.add.s(1))
        c.link(eager.collect.s())
        c.apply()
        assert eager.calls == [((3,), {})]


class test_group:

    def test_simple(self, eager):
        res = group(eager.add.s(i, i) for i in range(10))()
        assert isinstance(res, GroupResult)
        assert res.get(timeout=1) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]

    def test_result_operations(self, eager):
        job = group([eager.add.s(2, 2), eager.add.s(4, 4), eager.add.s(8, 8),
                     eager.add.s(16, 16), eager.add.s(32, 32)])
        result = job.apply_async()
        assert result.ready() and result.successful() and not result.failed()
        assert result.completed_count() == 5
        assert result.get() == [4, 8, 16, 32, 64]

    def test_partial_args_go_to_every_member(self, eager):
        assert group(eager.add.s(1), eager.add.s(2))(10).get() == [11, 12]

    def test_nested_groups_are_flattened(self, eager):
        g = group(eager.add.si(1, 10), group(eager.add.si(1, 100),
                                             group(eager.add.si(1, 1000), eager.add.si(1, 2000))))
        assert g().get() == [11, 101, 1001, 2001]

    def test_empty(self, eager):
        res = group([])()
        assert isinstance(res, GroupResult) and res.results == []

    def test_members_know_their_group(self, eager, app):
        seen = []

        @app.task(bind=True, shared=False, name='where')
        def where(self):
            seen.append((self.request.group, self.request.group_index))
        g = group(where.s(), where.s())
        res = g()
        assert seen == [(res.id, 0), (res.id, 1)]

    def test_failure_is_reported(self, eager):
        res = group(eager.add.s(1, 1), eager.fail.s())()
        assert res.failed()
        with pytest.raises(ValueError):
            res.get()

    def test_group_errbacks_run_per_failing_member(self, eager):
        g = group(eager.fail.s(), eager.fail.s())
        g.link_error(eager.on_error.s())
        g()
        assert len(eager.errors) == 2


class test_chord:

    def test_simple(self, eager):
        res = chord((eager.add.s(i, i) for i in range(10)), eager.tsum.s())()
        assert res.get() == 90

    def test_header_then_callback(self, eager):
        assert chord(eager.add.s(i, i) for i in range(100))(eager.tsum.s()).get() == 9900

    def test_parent_is_the_header(self, eager):
        res = chord([eager.add.s(1, 1), eager.add.s(2, 2)], eager.tsum.s())()
        assert res.parent.get() == [2, 4]

    def test_immutable_body(self, eager):
        res = chord([eager.add.s(1, 1)], eager.identity.si('done')).apply_async()
        assert res.get() == 'done'

    def test_upgraded_from_group_or_task(self, eager):
        c3 = group(eager.add.s(i, i) for i in range(10)) | eager.tsum.s()
        assert c3().get() == 90

    def test_chain_body(self, eager):
        c = chord([eager.add.s(1, 1), eager.add.s(2, 2)], eager.tsum.s() | eager.mul.s(10))
        assert c().get() == 60

    def test_nested_chords(self, eager):
        inner = chord([eager.add.s(1, 1), eager.add.s(2, 2)], eager.tsum.s())
        outer = chord([inner, eager.add.s(10, 10)], eager.tsum.s())
        assert outer().get() == 26

    def test_header_error_propagates(self, eager):
        c = chord([eager.add.s(4, 4), eager.fail.s(), eager.add.s(8, 8)], eager.tsum.s())
        with pytest.raises(ValueError, match='expected failure'):
            c()

    def test_apply_with_task_id(self, tasks):
        res = chord([tasks.add.s(1, 1)], tasks.tsum.s()).apply(task_id='body-id')
        assert res.id == 'body-id' and res.get() == 2

    def test_frozen_chord_runs_without_counting(self, eager):
        c = chord([eager.add.s(1, 1), eager.add.s(2, 2)], eager.tsum.s())
        res = c.freeze()
        assert c().get() == 6
        assert res.id == c.body.id


class test_map_and_chunks:

    def test_map(self, eager):
        assert ~eager.tsum.map([list(range(10)), list(range(100))]) == [45, 4950]
        assert isinstance(eager.tsum.map([[1]]), xmap)

    def test_starmap(self, eager):
        assert ~eager.add.starmap(zip(range(10), range(10))) == list(range(0, 20, 2))
        assert isinstance(eager.add.starmap([(1, 1)]), xstarmap)

    def test_chunks(self, eager):
        res = eager.add.chunks(zip(range(100), range(100)), 10)()
        assert res.get() == [list(range(i, i + 20, 2)) for i in range(0, 200, 20)]
        assert isinstance(eager.add.chunks([(1, 1)], 1), chunks)

    def test_chunks_group_and_skew(self, eager):
        g = eager.add.chunks(zip(range(100), range(100)), 10).group()
        assert len(g) == 10
        g.skew(start=1, stop=10)
        assert [t.options['countdown'] for t in g.tasks] == list(range(1, 11))
        assert g().get()[0] == list(range(0, 20, 2))

    def test_map_in_a_group(self, eager):
        res = group(eager.add.starmap([(1, 1)]), eager.tsum.map([[1, 2]]))()
        assert res.get() == [[2], [3]]

    def test_chunk_size_must_be_positive(self, tasks):
        with pytest.raises(ValueError, match='chunk size'):
            chunks(tasks.add.s(), [(1, 1)], 0)


class test_links:

    def test_link_runs_with_the_result(self, eager):
        res = eager.add.apply_async((2, 2), link=eager.mul.s(16))
        assert res.get() == 4

    def test_signature_link_and_on_error(self, eager):
        s = eager.add.s(2, 2)
        s.link(eager.collect.s())
        s.apply()
        assert eager.calls == [((4,), {})]
        eager.fail.s().on_error(eager.on_error.s()).delay()
        assert len(eager.errors) == 1

    def test_call_signature_from_dict(self, eager, app):
        data = dict(eager.add.s(1, 2))
        assert signature(data, app=app).delay().get() == 3

"""What ``|`` and ``chain(...)`` build: flattening, group unrolling, chord upgrades."""
from __future__ import annotations

import pytest

from celery.canvas import Signature, _chain, chain, chord, group, maybe_unroll_group
from celery.exceptions import CPendingDeprecationWarning


def kinds(sig):
    return [type(t).__name__ for t in sig.tasks]


class test_pipe:

    def test_task_or_task_is_a_chain(self, tasks):
        c = tasks.add.s(2, 2) | tasks.mul.s(8)
        assert isinstance(c, _chain)
        assert [t.task for t in c.tasks] == ['add', 'mul']

    def test_chains_flatten(self, tasks):
        a, b, c, d = (tasks.add.s(i) for i in range(4))
        assert (a | b) | (c | d) == _chain._raw([a, b, c, d])
        assert a | (b | c) == _chain._raw([a, b, c])
        assert ((a | b) | c).tasks == [a, b, c]

    def test_task_or_group_is_a_chain(self, tasks):
        g = group(tasks.add.s(1), tasks.add.s(2))
        c = tasks.add.s(1, 1) | g
        assert kinds(c) == ['Signature', 'group']

    def test_one_member_group_is_unrolled(self, tasks):
        c = tasks.add.s(1, 1) | group(tasks.add.s(5))
        assert kinds(c) == ['Signature', 'Signature']
        assert maybe_unroll_group(group(tasks.add.s(5))) == tasks.add.s(5)

    def test_group_or_task_is_a_chord(self, tasks):
        c = group(tasks.add.s(i, i) for i in range(3)) | tasks.tsum.s()
        assert isinstance(c, chord)
        assert c.body == tasks.tsum.s()
        assert len(c.tasks) == 3

    def test_group_or_group_is_a_chord_with_a_group_body(self, tasks):
        g1 = group(tasks.add.s(1, 1), tasks.add.s(2, 2))
        g2 = group(tasks.collect.s(), tasks.collect.s())
        c = g1 | g2
        assert isinstance(c, chord) and isinstance(c.body, group)

    def test_group_or_empty_group(self, tasks):
        g = group(tasks.add.s(1, 1))
        assert g | group([]) is g

    def test_chain_ending_in_group_or_task_becomes_a_chord(self, tasks):
        c = tasks.add.s(1, 1) | group(tasks.add.s(1), tasks.add.s(2)) | tasks.tsum.s()
        assert kinds(c) == ['Signature', 'chord']
        assert c.tasks[-1].body.task == 'tsum'

    def test_chain_ending_in_chord_extends_the_body(self, tasks):
        c = (group(tasks.add.s(1, 1), tasks.add.s(2, 2)) | tasks.tsum.s()) | tasks.mul.s(2)
        assert isinstance(c, chord)
        assert [t.task for t in c.body.tasks] == ['tsum', 'mul']
        c2 = tasks.add.s(1, 1) | c | tasks.add.s(3)
        assert kinds(c2) == ['Signature', 'chord']
        assert [t.task for t in c2.tasks[-1].body.tasks] == ['tsum', 'mul', 'add']

    def test_two_groups_in_a_row_in_a_chain(self, tasks):
        g1 = group(tasks.add.s(1), tasks.add.s(2))
        g2 = group(tasks.add.s(3), tasks.add.s(4))
        c = tasks.add.s(1, 1) | g1 | g2
        assert kinds(c) == ['Signature', 'group', 'group']
        c = c | tasks.tsum.s()
        assert kinds(c) == ['Signature', 'group', 'chord']
        assert isinstance(g1 | g2, chord)

    def test_operands_are_not_modified(self, tasks):
        base = group(tasks.add.s(1, 1), tasks.add.s(2, 2)) | tasks.tsum.s()
        extended = base | tasks.mul.s(2)
        assert base.body == tasks.tsum.s()
        assert extended is not base

    def test_or_with_something_else(self, tasks):
        with pytest.raises(TypeError):
            tasks.add.s(1) | 42
        with pytest.raises(TypeError):
            group(tasks.add.s(1)) | 42

    def test_chain_links_move_down_when_extended(self, tasks):
        c = tasks.add.s(1, 1) | tasks.add.s(2)
        c.link(tasks.collect.s())
        c.link_error(tasks.on_error.s())
        longer = c | tasks.add.s(3)
        first, second, third = longer.tasks
        assert second.options['link'] == [tasks.collect.s()]
        assert 'link' not in third.options
        assert all(t.options['link_error'] == [tasks.on_error.s()] for t in (first, second))


class test_chain_constructor:

    def test_same_as_pipes(self, tasks):
        a, b, c = tasks.add.s(2, 2), tasks.add.s(4), tasks.add.s(8)
        assert chain(a, b, c) == a | b | c
        assert isinstance(chain(a, b, c), chain)

    def test_generator(self, tasks):
        c = chain(tasks.add.s(i) for i in range(5))
        assert isinstance(c, chain) and len(c.tasks) == 5

    def test_group_then_task_is_a_chord(self, tasks):
        c = chain(group(tasks.add.s(1, 1), tasks.add.s(2, 2)), tasks.tsum.s())
        assert isinstance(c, chord)

    def test_chain_of_groups_is_a_chord(self, tasks):
        c = chain(group(tasks.add.s(1, 1), tasks.add.s(2, 2)),
                  group(tasks.collect.s(), tasks.collect.s()))
        assert isinstance(c, chord) and isinstance(c.body, group)

    def test_task_group_task(self, tasks):
        c = chain(tasks.add.s(2, 2), group(tasks.add.s(1), tasks.add.s(2)), tasks.add.s(1))
        assert isinstance(c, chain)
        assert kinds(c) == ['Signature', 'chord']
        assert repr(c) == 'add(2, 2) | %add([add(1), add(2)], 1)'

    def test_one_member_group_unrolls(self, tasks):
        c = chain(tasks.add.s(2, 2), group(tasks.add.s(1)), tasks.add.s(1))
        assert repr(c) == 'add(2, 2) | add(1) | add(1)'
        assert repr(chain(group(tasks.add.s(1, 1)), tasks.add.s(2))) == 'add(1, 1) | add(2)'

    def test_single_signature_stays_a_chain(self, tasks):
        c = chain(tasks.add.s(1, 1))
        assert isinstance(c, chain) and c.tasks == [tasks.add.s(1, 1)]

    def test_empty(self):
        c = chain()
        assert isinstance(c, chain) and c.tasks == []
        assert c() is None
        assert repr(c).endswith('empty>')

    def test_options_keep_the_chain_as_written(self, tasks):
        g = group(tasks.add.s(1, 1), tasks.add.s(2, 2))
        c = chain(g, tasks.tsum.s(), queue='q')
        assert isinstance(c, chain) and kinds(c) == ['group', 'Signature']
        assert c.options == {'queue': 'q'}

    def test_app_option_still_upgrades(self, app, tasks):
        c = chain(group(tasks.add.s(1, 1), tasks.add.s(2, 2)), tasks.tsum.s(), app=app)
        assert isinstance(c, chord) and c._app is app

    def test_non_signatures_are_rejected(self, tasks):
        with pytest.raises(TypeError, match=r'add\.s\(\.\.\.\)'):
            chain(tasks.add, tasks.mul.s(2))
        with pytest.raises(TypeError, match='chain members must be signatures'):
            chain(tasks.add.s(1), 5)

    def test_dicts_become_signatures(self, tasks):
        c = chain(dict(tasks.add.s(1, 1)), dict(tasks.add.s(2)))
        assert all(isinstance(t, Signature) for t in c.tasks)


class test_group_constructor:

    def test_forms(self, tasks):
        a, b = tasks.add.s(2, 2), tasks.add.s(4, 4)
        assert group(a, b).tasks == group([a, b]).tasks == group(x for x in (a, b)).tasks
        assert repr(group(a, b)) == 'group([add(2, 2), add(4, 4)])'
        assert group(a).tasks == [a] and group(a).tasks[0] is not a
        assert group(group(a, b)).tasks == [a, b]
        assert group(dict(a)).tasks == [a]
        assert len(group(a, b)) == 2
        assert repr(group([])) == 'group(<empty>)'

    def test_non_signatures_are_a_type_error(self, tasks):
        with pytest.raises(TypeError, match=r'group members must be signatures.*add\.s'):
            group(tasks.add, tasks.mul)
        with pytest.raises(TypeError, match='group members must be signatures'):
            group([1, 2])
        with pytest.raises(TypeError, match='group members must be signatures'):
            group(1)

    def test_options_and_skew(self, tasks):
        g = group((tasks.add.s(i, i) for i in range(4)), queue='q')
        assert g.options == {'queue': 'q'}
        g.skew(start=1, stop=2)
        assert [t.options['countdown'] for t in g.tasks] == [1, 2, 2, 2]
        g.skew(start=0, step=10)
        assert [t.options['countdown'] for t in g.tasks] == [0, 10, 20, 30]

    def test_link_goes_to_the_first_member_immutable(self, tasks):
        g = group(tasks.add.s(1, 1), tasks.add.s(2, 2))
        g.link(tasks.collect.s())
        assert g.tasks[0].options['link'][0].immutable
        assert 'link' not in g.tasks[1].options
        with pytest.raises(ValueError):
            group([]).link(tasks.collect.s())

    def test_link_error_goes_to_every_member(self, tasks):
        g = group(tasks.add.s(1, 1), tasks.add.s(2, 2))
        linked = g.link_error(tasks.on_error.s())
        assert len(linked) == 2
        assert all(t.options['link_error'] == [tasks.on_error.s()] for t in g.tasks)

    def test_set_immutable_reaches_members(self, tasks):
        g = group(tasks.add.s(1), tasks.add.s(2))
        g.set_immutable(True)
        assert all(t.immutable for t in g.tasks)


class test_chord_constructor:

    def test_header_and_body(self, tasks):
        c = chord((tasks.add.s(i, i) for i in range(3)), tasks.tsum.s())
        assert [t.args for t in c.tasks] == [(0, 0), (1, 1), (2, 2)]
        assert c.body == tasks.tsum.s()
        assert c.__length_hint__() == 3
        assert repr(c) == '%tsum([add(0, 0), add(1, 1), add(2, 2)])'

    def test_links_go_to_the_body(self, app, tasks):
        c = chord([tasks.add.s(1, 1)], tasks.tsum.s())
        c.link(tasks.collect.s())
        with pytest.warns(CPendingDeprecationWarning, match='task_allow_error_cb'):
            c.link_error(tasks.on_error.s())
        assert c.body.options['link'] == [tasks.collect.s()]
        assert c.body.options['link_error'] == [tasks.on_error.s()]
        assert 'link_error' not in c.tasks[0].options

    def test_errback_on_header_when_allowed(self, app, tasks):
        app.conf.task_allow_error_cb_on_chord_header = True
        c = chord([tasks.add.s(1, 1)], tasks.tsum.s())
        c.link_error(tasks.on_error.s())
        assert c.tasks[0].options['link_error'] == [tasks.on_error.s()]
        assert c.tasks[0].options['link_error'][0] is not c.body.options['link_error'][0]

    def test_without_body(self, tasks):
        c = chord([tasks.add.s(1, 1)])
        assert repr(c).startswith('<chord without body')
        with pytest.raises(ValueError, match='no body'):
            c.apply_async()
        with pytest.raises(ValueError, match='no body'):
            c.link(tasks.collect.s())

    def test_size_counts_nested_parts(self, tasks):
        inner = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], group(tasks.add.s(1),
                                                                   tasks.add.s(2)))
        c = chord([
            tasks.add.s(1, 1),
            group(tasks.add.s(1, 1), tasks.add.s(2, 2)),
            tasks.add.s(1, 1) | group(tasks.add.s(1), tasks.add.s(2), tasks.add.s(3)),
            inner,
        ], tasks.tsum.s())
        assert c.__length_hint__() == 1 + 2 + 3 + 2

    def test_chord_or_group_of_one(self, tasks):
        c = chord([tasks.add.s(1, 1)], tasks.tsum.s()) | group(tasks.add.s(1))
        assert isinstance(c, chord)
        assert [t.task for t in c.body.tasks] == ['tsum', 'add']

    def test_set_immutable_only_the_header(self, tasks):
        c = chord([tasks.add.s(1, 1)], tasks.tsum.s())
        c.set_immutable(True)
        assert c.tasks[0].immutable and not c.body.immutable


def test_chain_of_one_signature_twice_has_two_ids(tasks):
    s = tasks.add.s(1)
    c = chain(s, s)
    c.freeze()
    assert c.tasks[0].id != c.tasks[1].id
    assert 'task_id' not in s.options or s.options['task_id'] == c.tasks[1].id

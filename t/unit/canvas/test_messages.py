"""What sending a canvas puts in the task messages (Celery 5, protocol 2)."""
from __future__ import annotations

import json

import pytest

from celery import Celery, chord, group, signature
from celery.canvas import Signature
from celery.exceptions import CPendingDeprecationWarning


def opts(call):
    return call[3]


def as_wire(value):
    """The value as a worker decodes it from a JSON message."""
    return json.loads(json.dumps(value))


class test_chain_messages:

    def test_only_the_first_task_is_sent(self, tasks, sent):
        res = (tasks.add.s(2, 2) | tasks.add.s(4) | tasks.mul.s(8)).delay()
        assert len(sent) == 1
        name, args, kwargs, options = sent[0]
        assert (name, args, kwargs) == ('add', (2, 2), {})
        rest = options['chain']
        # reversed: the worker pops the next step from the end
        assert [s['task'] for s in rest] == ['mul', 'add']
        assert rest[0]['options']['task_id'] == res.id
        assert rest[1]['options']['task_id'] == res.parent.id
        assert options['task_id'] == res.parent.parent.id
        assert res.parent.parent.parent is None

    def test_partial_args_go_to_the_first_task(self, tasks, sent):
        (tasks.add.s(2) | tasks.add.s(4)).delay(1)
        assert sent[0][1] == (1, 2)
        assert opts(sent[0])['chain'][0]['args'] == (4,)

    def test_task_id_is_the_last_tasks(self, tasks, sent):
        res = (tasks.add.s(1, 1) | tasks.add.s(2)).apply_async(task_id='last-id')
        assert res.id == 'last-id'
        assert opts(sent[0])['chain'][0]['options']['task_id'] == 'last-id'

    def test_freeze_then_send_keeps_the_ids(self, tasks, sent):
        c = tasks.add.s(1, 1) | tasks.add.s(2) | tasks.add.s(3)
        frozen = c.freeze()
        assert c.id == frozen.id
        res = c.delay()
        assert res.id == frozen.id and res.parent.id == frozen.parent.id
        assert opts(sent[0])['task_id'] == frozen.parent.parent.id

    def test_links(self, tasks, sent):
        c = tasks.add.s(1, 1) | tasks.add.s(2)
        c.apply_async(link=tasks.collect.s(), link_error=tasks.on_error.s())
        first = opts(sent[0])
        (last,) = first['chain']
        assert first['link_error'] == [tasks.on_error.s()]
        assert 'link' not in first or not first['link']
        assert last['options']['link'] == [tasks.collect.s()]
        assert last['options']['link_error'] == [tasks.on_error.s()]

    def test_root_and_parent_ids(self, tasks, sent):
        (tasks.add.s(1, 1) | tasks.add.s(2)).apply_async(root_id='R', parent_id='P')
        first = opts(sent[0])
        assert first['root_id'] == 'R' and first['parent_id'] == 'P'
        assert first['chain'][0]['options']['root_id'] == 'R'

    def test_nested_chains_are_spliced(self, tasks, sent):
        inner = tasks.add.s(2) | tasks.add.s(3)
        c = signature({'task': 'celery.chain', 'args': (), 'options': {},
                       'subtask_type': 'chain',
                       'kwargs': {'tasks': [tasks.add.s(1, 1), inner, tasks.add.s(4)]}})
        res = c.delay()
        assert [s['args'] for s in opts(sent[0])['chain']] == [(4,), (3,), (2,)]
        assert res.parent.parent.parent.id == opts(sent[0])['task_id']

    def test_group_in_the_middle_becomes_a_chord(self, tasks, sent):
        c = signature({'task': 'celery.chain', 'args': (), 'options': {},
                       'subtask_type': 'chain', 'kwargs': {'tasks': [
                           tasks.add.s(1, 1), group(tasks.add.s(1), tasks.add.s(2)),
                           tasks.tsum.s()]}})
        res = c.delay()
        (nxt,) = opts(sent[0])['chain']
        assert nxt['subtask_type'] == 'chord'
        assert nxt['kwargs']['body']['options']['task_id'] == res.id
        assert res.parent.id == nxt['options']['task_id']  # the header group

    def test_chain_field_is_plain_data(self, tasks, sent):
        (tasks.add.s(1, 1) | group(tasks.add.s(1), tasks.add.s(2)) | tasks.tsum.s()).delay()
        wire = as_wire(opts(sent[0])['chain'])
        back = signature(wire[-1])
        assert type(back).__name__ == 'chord'

    def test_chord_with_chain_body_is_split(self, tasks, sent):
        c = tasks.add.s(1, 1) | chord([tasks.add.s(1), tasks.add.s(2)],
                                      tasks.tsum.s() | tasks.mul.s(10) | tasks.add.s(1))
        res = c.delay()
        rest = opts(sent[0])['chain']
        assert [s['task'] for s in rest] == ['add', 'mul', 'celery.chord']
        assert rest[-1]['kwargs']['body']['task'] == 'tsum'
        assert rest[0]['options']['task_id'] == res.id

    def test_protocol_1_uses_links(self, app, tasks, sent):
        app.conf.task_protocol = 1
        (tasks.add.s(1, 1) | tasks.add.s(2)).delay()
        first = opts(sent[0])
        assert first.get('chain') is None
        assert first['link'][0]['task'] == 'add'


class test_group_messages:

    def test_members_carry_group_id_and_index(self, tasks, sent):
        res = group(tasks.add.s(i, i) for i in range(3)).apply_async()
        assert [c[1] for c in sent] == [(0, 0), (1, 1), (2, 2)]
        assert [opts(c)['group_id'] for c in sent] == [res.id] * 3
        assert [opts(c)['group_index'] for c in sent] == [0, 1, 2]
        assert [opts(c)['task_id'] for c in sent] == [r.id for r in res.results]
        assert all(opts(c)['add_to_parent'] is False for c in sent)

    def test_group_options_reach_members(self, tasks, sent):
        group(tasks.add.s(1, 1), tasks.add.s(2, 2).set(queue='own')).apply_async(
            queue='shared', countdown=5)
        assert [opts(c)['queue'] for c in sent] == ['shared', 'shared']
        assert [opts(c)['countdown'] for c in sent] == [5, 5]

    def test_frozen_group_sends_the_frozen_ids(self, tasks, sent):
        g = group(tasks.add.s(1, 1), tasks.add.s(2, 2))
        frozen = g.freeze()
        res = g.apply_async()
        assert res.id == frozen.id
        assert [r.id for r in res.results] == [r.id for r in frozen.results]
        assert [opts(c)['group_id'] for c in sent] == [frozen.id] * 2

    def test_task_id_is_the_group_id(self, tasks, sent):
        res = group(tasks.add.s(1, 1)).apply_async(task_id='G')
        assert res.id == 'G' and opts(sent[0])['group_id'] == 'G'

    def test_link_is_refused(self, tasks):
        g = group(tasks.add.s(1, 1))
        with pytest.raises(TypeError, match='use a chord'):
            g.apply_async(link=tasks.collect.s())
        with pytest.raises(TypeError, match='individual tasks'):
            g.apply_async(link_error=tasks.collect.s())

    def test_empty_group_sends_nothing(self, tasks, sent):
        res = group([]).apply_async()
        assert sent == [] and res.results == []

    def test_group_of_chains(self, tasks, sent):
        res = group(tasks.add.s(1, 1) | tasks.add.s(1), tasks.add.s(2, 2)).apply_async()
        first, second = sent
        (rest,) = opts(first)['chain']
        assert rest['options']['group_id'] == res.id
        assert rest['options']['group_index'] == 0
        assert opts(second)['group_index'] == 1
        assert res.results[0].id == rest['options']['task_id']


class test_chord_messages:

    def test_header_tasks_carry_the_body(self, tasks, sent):
        res = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s()).apply_async()
        header_id = res.parent.id
        assert len(sent) == 2
        for index, call in enumerate(sent):
            options = opts(call)
            assert options['group_id'] == header_id
            assert options['group_index'] == index
            body = options['chord']
            assert body['task'] == 'tsum'
            assert body['options']['task_id'] == res.id
            assert body['chord_size'] == 2
        assert [r.id for r in res.parent.results] == [opts(c)['task_id'] for c in sent]

    def test_body_options(self, tasks, sent):
        c = chord([tasks.add.s(1, 1)], tasks.tsum.s())
        c.apply_async(queue='q', parent_id='P', countdown=3)
        options = opts(sent[0])
        assert options['countdown'] == 3 and options['queue'] == 'q'
        assert options['parent_id'] == 'P'
        body = options['chord']
        assert body['options']['queue'] == 'q'
        assert 'parent_id' not in body['options']
        assert 'countdown' not in body['options']

    def test_links_are_on_the_body(self, tasks, sent):
        c = chord([tasks.add.s(1, 1)], tasks.tsum.s())
        c.link(tasks.collect.s())
        with pytest.warns(CPendingDeprecationWarning):
            c.link_error(tasks.on_error.s())
        c.apply_async()
        options = opts(sent[0])
        assert not options.get('link') and not options.get('link_error')
        assert options['chord']['options']['link'] == [tasks.collect.s()]
        assert options['chord']['options']['link_error'] == [tasks.on_error.s()]

    def test_chain_link_reaches_a_final_chord_body(self, tasks, sent):
        c = tasks.add.s(1, 1) | chord([tasks.add.s(1), tasks.add.s(2)], tasks.tsum.s())
        c.apply_async(link=tasks.collect.s())
        (ch,) = opts(sent[0])['chain']
        sig = signature(as_wire(ch))
        assert sig.options['link'] == as_wire([tasks.collect.s()])

    def test_task_id_names_the_body(self, tasks, sent):
        res = chord([tasks.add.s(1, 1)], tasks.tsum.s()).apply_async(task_id='body')
        assert res.id == 'body'
        assert opts(sent[0])['chord']['options']['task_id'] == 'body'

    def test_backend_is_told(self, app, tasks, sent, monkeypatch):
        calls = []
        monkeypatch.setattr(app.backend, 'apply_chord',
                            lambda args, body, **kw: calls.append(('apply', args, body)))
        monkeypatch.setattr(app.backend, 'set_chord_size',
                            lambda gid, size: calls.append(('size', gid, size)))
        res = chord([tasks.add.s(1, 1), group(tasks.add.s(2, 2), tasks.add.s(3, 3))],
                    tasks.tsum.s()).apply_async()
        (_, (gid, results), body), size = calls
        assert gid == res.parent.id and len(results) == 3
        assert body.id == res.id
        assert size == ('size', gid, 3)

    def test_empty_header_calls_the_body(self, tasks, sent):
        res = chord([], tasks.tsum.s()).apply_async()
        ((name, args, _, options),) = sent
        assert (name, args) == ('tsum', ([],))
        assert options['task_id'] == res.id

    def test_nested_chord_in_header(self, tasks, sent):
        inner = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s())
        res = chord([inner, tasks.add.s(3, 3)], tasks.tsum.s()).apply_async()
        outer_gid = res.parent.id
        inner_calls = [c for c in sent if opts(c)['chord']['options'].get('chord')]
        assert len(inner_calls) == 2
        inner_body = opts(inner_calls[0])['chord']
        # the inner body counts toward the outer chord
        assert inner_body['options']['group_id'] == outer_gid
        assert inner_body['options']['chord']['options']['task_id'] == res.id
        assert opts(inner_calls[0])['group_id'] != outer_gid
        plain = [c for c in sent if c not in inner_calls]
        assert opts(plain[0])['group_id'] == outer_gid
        assert opts(plain[0])['chord']['chord_size'] == 2

    def test_chord_in_a_group(self, tasks, sent):
        c = chord([tasks.add.s(1, 1)], tasks.tsum.s())
        res = group(c, tasks.add.s(2, 2)).apply_async()
        chord_call, plain = sent
        body = opts(chord_call)['chord']
        assert body['options']['group_id'] == res.id
        assert body['options']['group_index'] == 0
        assert opts(plain)['group_index'] == 1
        assert res.results[0].id == body['options']['task_id']

    def test_disabled_backend_is_a_clear_error(self):
        app = Celery('nobackend', set_as_current=False, broker='memory://', fixups=[])

        @app.task(shared=False, name='add')
        def add(x, y):
            return x + y
        with pytest.raises(NotImplementedError, match='result backend'):
            chord([add.s(1, 1)], add.s(1)).apply_async()
        with pytest.raises(NotImplementedError, match='result backend'):
            (add.s(1, 1) | group(add.s(1), add.s(2)) | add.s(2)).freeze()
        app.close()


class test_unregistered:

    def test_names_are_just_sent(self, app, tasks, sent):
        c = app.signature('remote.a', (1,)) | app.signature('remote.b')
        res = c.delay()
        name, args, _, options = sent[0]
        assert (name, args) == ('remote.a', (1,))
        assert options['chain'][0]['task'] == 'remote.b'
        assert res.id == options['chain'][0]['options']['task_id']
        group(app.signature('remote.c'), app.signature('remote.d')).delay()
        assert [c[0] for c in sent[1:]] == ['remote.c', 'remote.d']

    def test_frozen_result_of_an_unknown_task(self, app):
        res = Signature('remote.a', app=app).freeze()
        assert isinstance(res, app.AsyncResult)

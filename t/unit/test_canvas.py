"""Signatures: fields, partials, options, immutability, links, freezing, serialization."""
from __future__ import annotations

import json
import pickle

import pytest

import celery
from celery.canvas import (Signature, chain, chord, chunks, group, maybe_signature,
                           signature, subtask, xmap, xstarmap)
from celery.exceptions import NotRegistered
from celery.utils.uuid import uuid


@pytest.fixture
def sent(app):
    # A queue of its own: the memory transport is shared by the whole process.
    app.conf.task_default_queue = f'canvas-{uuid()}'
    calls = []
    send = app.send_task

    def recording_send(name, args=None, kwargs=None, **options):
        calls.append((name, args, kwargs, options))
        return send(name, args, kwargs, **options)
    app.send_task = recording_send
    return calls


@pytest.fixture
def add(app):
    @app.task(shared=False, name='add')
    def add(x, y):
        return x + y
    app.finalize()
    return add


@pytest.fixture
def sub(app):
    @app.task(shared=False, name='sub')
    def sub(x, y):
        return x - y
    app.finalize()
    return sub


class test_construction:

    def test_public_names_come_from_celery(self):
        assert celery.signature is signature
        assert celery.Signature is Signature
        assert celery.subtask is subtask is signature
        for cls in (Signature, chain, chord, group, chunks, xmap, xstarmap):
            assert cls.__module__ == 'celery.canvas'

    def test_by_name(self):
        s = signature('tasks.add', args=(2, 2), countdown=10)
        assert s == {'task': 'tasks.add', 'args': (2, 2), 'kwargs': {},
                     'options': {'countdown': 10}, 'subtask_type': None,
                     'immutable': False, 'chord_size': None}
        assert repr(s) == 'tasks.add(2, 2)'

    def test_from_task_methods(self, add):
        s = add.signature((2, 2), {'debug': True}, countdown=10)
        assert (s.args, s.kwargs, s.options) == ((2, 2), {'debug': True}, {'countdown': 10})
        assert s.type == add
        assert s.name == s.task == 'add'
        assert add.s(2, 2, debug=True) == add.signature((2, 2), {'debug': True})
        assert add.si(2, 2).immutable and not add.s(2, 2).immutable
        assert repr(add.s(2, 2, debug=True)) == 'add(2, 2, debug=True)'

    def test_app_signature_binds_the_app(self, app, add):
        s = app.signature('add', (1, 2))
        assert s._app is app and s.app is app
        assert s.type == add

    def test_signature_of_a_signature_is_a_copy(self, add):
        s = add.s(1, 2).set(countdown=3)
        copy = signature(s)
        assert copy == s and copy is not s
        copy.options['countdown'] = 4
        assert s.options['countdown'] == 3

    def test_bad_task_is_a_type_error(self):
        with pytest.raises(TypeError, match='task name'):
            signature(42)

    def test_dict_missing_keys_is_completed(self):
        s = signature({'task': 'x'})
        assert (s.args, s.kwargs, s.options, s.immutable) == ((), {}, {}, False)

    def test_maybe_signature(self, app):
        assert maybe_signature(None) is None
        d = {'task': 'x', 'args': [1], 'kwargs': {}, 'options': {}}
        s = maybe_signature(d, app=app)
        assert isinstance(s, Signature) and s._app is app
        assert maybe_signature(s) is s
        assert maybe_signature(s, clone=True) is not s
        with pytest.raises(TypeError, match='signature'):
            maybe_signature([1, 2])


class test_calling:

    def test_call_runs_in_place(self, add):
        assert add.s(2, 2)() == 4
        assert add.s(2)(8) == 10

    def test_partial_args_are_prepended(self, app, sub):
        app.conf.task_always_eager = True
        partial = sub.s(10)
        assert partial.delay(30).get() == 20
        assert partial.apply_async((30,)).get() == 20
        assert partial.apply((30,)).get() == 20

    def test_partial_kwargs_are_merged(self, app):
        s = signature('t', (1,), {'a': 1, 'b': 2})
        args, kwargs, options = s._merge((0,), {'b': 3}, {'countdown': 1})
        assert args == (0, 1) and kwargs == {'a': 1, 'b': 3}
        assert options == {'countdown': 1}
        assert s.kwargs == {'a': 1, 'b': 2}

    def test_new_options_take_precedence_except_immutable_ones(self):
        s = signature('t', countdown=10, group_id='G')
        _, _, options = s._merge((), {}, {'countdown': 1, 'group_id': 'other'})
        assert options == {'countdown': 1, 'group_id': 'G'}

    def test_immutable_ignores_partial_arguments(self, app, add):
        app.conf.task_always_eager = True
        s = add.si(2, 2)
        assert s.delay(100).get() == 4
        assert s.clone((100,), {'x': 1}) == s
        assert s.reprcall(100) == 'add(100, 2, 2)'

    def test_clone_is_a_derivative(self, add):
        s = add.s(2)
        c = s.clone(args=(4,), kwargs={'debug': True})
        assert (c.args, c.kwargs) == ((4, 2), {'debug': True})
        assert s.args == (2,) and s.kwargs == {}
        assert c.type == add

    def test_clone_copies_options_deeply(self, add):
        s = add.s(1).set(link=[add.s(2)])
        c = s.clone()
        c.options['link'][0].args = (99,)
        assert s.options['link'][0].args == (2,)

    def test_replace(self, add):
        s = add.s(1, 2).set(countdown=1)
        r = s.replace(args=(3,), options={'queue': 'q'})
        assert (r.args, r.kwargs, r.options) == ((3,), {}, {'queue': 'q'})
        assert s.args == (1, 2)

    def test_invert_is_delay_and_get(self, app, add):
        app.conf.task_always_eager = True
        assert ~add.s(2, 3) == 5

    def test_unregistered_task_name(self, app, sent):
        s = app.signature('not.registered', (1,))
        with pytest.raises(NotRegistered):
            s.apply()
        with pytest.raises(NotRegistered):
            s()
        res = s.apply_async(countdown=5)
        name, args, kwargs, options = sent[-1]
        assert (name, args, kwargs, options['countdown']) == ('not.registered', (1,), {}, 5)
        assert isinstance(res.id, str) and 'task_id' not in options

    def test_apply_async_sends_the_merged_call(self, app, add, sent):
        s = add.s(2).set(countdown=10, queue='q')
        s.apply_async((1,), countdown=1, expires=None)
        name, args, kwargs, options = sent[-1]
        assert name == 'add' and args == (1, 2) and kwargs == {}
        assert options['countdown'] == 1 and options['queue'] == 'q'
        assert options['expires'] is None  # None values are not merged in


class test_options:

    def test_set_chains_and_sets(self, add):
        s = add.s(2, 2)
        assert s.set(countdown=1).set(expires=30) is s
        assert s.options == {'countdown': 1, 'expires': 30}
        s.set(immutable=True)
        assert s.immutable

    def test_link_and_link_error(self, add):
        s = add.s(2, 2)
        cb, eb = add.s(8), add.s(1)
        assert s.link(cb) is cb
        assert s.link(cb) is cb  # not twice
        assert s.link_error(eb) is eb
        assert s.options == {'link': [cb], 'link_error': [eb]}
        assert s.on_error(add.s(5)) is s
        assert s.options['link_error'] == [eb, add.s(5)]

    def test_single_link_option_becomes_a_list(self, add):
        s = add.s(1).set(link=add.s(2))
        s.link(add.s(3))
        assert s.options['link'] == [add.s(2), add.s(3)]

    def test_flatten_links(self, add):
        s = add.s(1)
        s.link(add.s(2)).link(add.s(3))
        s.link(add.s(4))
        assert [x.args for x in s.flatten_links()] == [(1,), (2,), (3,), (4,)]

    def test_freeze_assigns_an_id_once(self, app, add):
        s = add.s(1, 1)
        res = s.freeze()
        assert res.id == s.id == s.options['task_id']
        assert s.freeze().id == res.id
        assert s.options['reply_to'] == app.thread_oid

    def test_freeze_arguments(self, add):
        body = add.s(0)
        s = add.s(1, 1)
        res = s.freeze('ID', group_id='G', chord=body, root_id='R', parent_id='P',
                       group_index=3)
        assert res.id == 'ID'
        assert {k: s.options[k] for k in ('group_id', 'chord', 'root_id', 'parent_id',
                                          'group_index')} == {
            'group_id': 'G', 'chord': body, 'root_id': 'R', 'parent_id': 'P',
            'group_index': 3}
        s.freeze(group_id='other')
        assert s.options['group_id'] == 'G'

    def test_frozen_id_is_used_when_sent(self, add, sent):
        s = add.s(1, 1)
        res = s.freeze()
        assert s.delay().id == res.id
        assert sent[-1][3]['task_id'] == res.id

    def test_freeze_returns_the_task_result_class(self, add):
        res = add.s(1).freeze()
        assert res.task_name == 'add'


class test_serialization:

    def test_json_round_trip(self, app, add):
        s = add.s(1, y=2).set(countdown=3)
        s.link(add.s(4))
        data = json.loads(json.dumps(s))
        back = signature(data, app=app)
        assert isinstance(back, Signature)
        assert back.task == 'add' and list(back.args) == [1] and back.kwargs == {'y': 2}
        assert back.options['countdown'] == 3
        assert maybe_signature(back.options['link'][0]).args == [4]

    def test_workflows_round_trip_as_their_type(self, app, add):
        canvas = chain(chunks(add.s(), [(1, 2)], 1), xmap(add.s(), [1]),
                       xstarmap(add.s(), [(1, 2)]), add.s(1, 1),
                       group(add.s(1), add.s(2)), add.s(3))
        back = signature(json.loads(json.dumps(canvas)), app=app)
        assert isinstance(back, chain.__mro__[1])
        kinds = [type(t).__name__ for t in back.tasks]
        assert kinds == ['chunks', 'xmap', 'xstarmap', 'Signature', 'chord']
        assert type(back.tasks[-1].body).__name__ == 'Signature'
        assert json.loads(json.dumps(back)) == json.loads(json.dumps(canvas))

    def test_pickle_round_trip(self, add):
        s = chain(add.s(1, 1), add.s(2))
        back = pickle.loads(pickle.dumps(s))
        assert back == s and isinstance(back, chain.__mro__[1])

    def test_register_type_and_from_dict(self):
        @Signature.register_type(name='my_custom_type')
        class custom(Signature):
            @classmethod
            def from_dict(cls, d, app=None):
                sig = cls(d, app=app)
                sig.rebuilt = True
                return sig
        try:
            back = Signature.from_dict({'task': 'x', 'subtask_type': 'my_custom_type'})
            assert isinstance(back, custom) and back.rebuilt
        finally:
            del Signature.TYPES['my_custom_type']

    def test_registered_subclass_without_from_dict(self):
        @Signature.register_type()
        class plain_custom(Signature):
            pass
        try:
            back = signature({'task': 'x', 'subtask_type': 'plain_custom'})
            assert type(back) is plain_custom and back.task == 'x'
        finally:
            del Signature.TYPES['plain_custom']

    def test_unknown_subtask_type(self):
        with pytest.raises(ValueError, match='Unknown signature type'):
            Signature.from_dict({'task': 'x', 'subtask_type': 'nope'})

    def test_deepcopy_keeps_the_type(self, add):
        import copy
        g = group(add.s(1), add.s(2))
        dup = copy.deepcopy(g)
        assert isinstance(dup, group) and dup == g
        assert dup.tasks[0] is not g.tasks[0]

    def test_in_place_or_is_chaining(self, add):
        s = add.s(1)
        s |= add.s(2)
        assert isinstance(s, chain.__mro__[1])
        assert [t.args for t in s.tasks] == [(1,), (2,)]

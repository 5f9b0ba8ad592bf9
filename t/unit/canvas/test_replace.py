"""Task.replace and Task.add_to_chord, with a hand-made request."""
from __future__ import annotations

import pytest

from celery.canvas import _chain, chord, group
from celery.canvas._replace import _prepare_replacement
from celery.exceptions import Ignore, ImproperlyConfigured


@pytest.fixture
def running(tasks):
    """Push a request on ``tasks.identity`` as if a worker were running it."""
    task = tasks.identity

    def push(**request):
        request.setdefault('id', 'replaced-id')
        request.setdefault('is_eager', False)
        task.push_request(**request)
        return task
    yield push
    while task.request_stack.top is not None:
        task.pop_request()


class test_prepare_replacement:

    def test_takes_the_id_and_the_place(self, tasks, running):
        body = tasks.tsum.s()
        task = running(group='G', group_index=2, root_id='R', chord=body,
                       replaced_task_nesting=1)
        sig = _prepare_replacement(task, tasks.add.s(1, 1))
        assert sig.id == 'replaced-id'
        assert {k: sig.options[k] for k in ('group_id', 'group_index', 'root_id', 'chord',
                                            'replaced_task_nesting')} == {
            'group_id': 'G', 'group_index': 2, 'root_id': 'R', 'chord': body,
            'replaced_task_nesting': 2}

    def test_inherits_callbacks_and_errbacks(self, tasks, running):
        task = running(callbacks=[dict(tasks.collect.s())],
                       errbacks=[dict(tasks.on_error.s())])
        sig = _prepare_replacement(task, tasks.add.s(1) | tasks.add.s(2))
        assert isinstance(sig, _chain)
        assert sig.tasks[-1].options['link'] == [tasks.collect.s()]
        assert sig.options['link_error'] == [tasks.on_error.s()]
        assert sig.tasks[-1].id == 'replaced-id'

    def test_rest_of_the_chain_follows(self, tasks, running):
        rest = [dict(tasks.mul.s(3)), dict(tasks.add.s(2))]  # reversed, as sent
        task = running(chain=rest)
        sig = _prepare_replacement(task, tasks.add.s(1, 1))
        assert [t.task for t in sig.tasks] == ['add', 'add', 'mul']
        assert sig.tasks[0].id == 'replaced-id'

    def test_group_becomes_a_chord(self, tasks, running):
        sig = _prepare_replacement(running(), group(tasks.add.s(1, 1), tasks.add.s(2, 2)))
        assert isinstance(sig, chord)
        assert sig.body.task == 'celery.accumulate'
        assert sig.body.id == 'replaced-id'

    def test_stamps_are_kept(self, tasks, running):
        task = running(stamped_headers=['mark'], stamps={'mark': 'm'})
        sig = _prepare_replacement(task, tasks.add.s(1, 1))
        assert sig.options['mark'] == 'm'

    def test_refused_replacements(self, tasks, running):
        task = running()
        with pytest.raises(ImproperlyConfigured, match='part of a chord'):
            _prepare_replacement(task, tasks.add.s(1).set(chord=tasks.tsum.s()))
        with pytest.raises(ImproperlyConfigured, match='empty chain'):
            _prepare_replacement(task, _chain._raw([]))
        with pytest.raises(TypeError, match='signature'):
            _prepare_replacement(task, 'add')


class test_replace:

    def test_sends_and_raises_ignore(self, tasks, running, sent):
        task = running()
        with pytest.raises(Ignore):
            task.replace(tasks.add.s(1, 1))
        ((name, args, _, options),) = sent
        assert (name, args, options['task_id']) == ('add', (1, 1), 'replaced-id')

    def test_eager_returns_the_value(self, tasks, running):
        assert running(is_eager=True).replace(tasks.add.s(1, 1) | tasks.mul.s(5)) == 10

    def test_custom_on_replace(self, app, tasks):
        seen = []

        @app.task(bind=True, shared=False, name='custom_replace')
        def custom(self):
            return self.replace(tasks.add.s(2, 2))

        def on_replace(sig):
            seen.append(sig)
            return 'handled'
        custom.on_replace = on_replace
        assert custom.apply().get() == 'handled'
        assert seen[0].task == 'add'


class test_add_to_chord:

    def test_outside_a_chord(self, tasks, running):
        with pytest.raises(ValueError, match='not member of any chord'):
            running().add_to_chord(tasks.add.s(1, 1))

    def test_lazy(self, app, tasks, running, monkeypatch):
        added = []
        monkeypatch.setattr(type(app.backend), 'add_to_chord',
                            lambda self, gid, res: added.append((gid, res.id)))
        body = tasks.tsum.s()
        task = running(group='G', group_index=0, chord=body, root_id='R')
        sig = task.add_to_chord(tasks.add.s(1, 1), lazy=True)
        assert sig.options['group_id'] == 'G' and sig.options['chord'] == body
        assert added == [('G', sig.id)]

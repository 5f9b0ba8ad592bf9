"""The built-in tasks every app gets when it finalizes."""
from __future__ import annotations

import pytest

import celery.app.builtins  # noqa: F401 - registers the built-in tasks
from celery.canvas import signature
from celery.exceptions import ChordError, Retry
from celery.utils.uuid import uuid

BUILTINS = ('celery.backend_cleanup', 'celery.accumulate', 'celery.chord_unlock',
            'celery.map', 'celery.starmap', 'celery.chunks', 'celery.group',
            'celery.chain', 'celery.chord')


@pytest.fixture
def add(app):
    @app.task(shared=False, name='add')
    def add(x, y):
        return x + y
    return add


def test_every_app_has_them(app):
    app.finalize()
    for name in BUILTINS:
        assert name in app.tasks, name


def test_backend_cleanup_calls_the_backend(app, monkeypatch):
    called = []
    monkeypatch.setattr(type(app.backend), 'cleanup', lambda self: called.append(self))
    app.tasks['celery.backend_cleanup'].apply()
    assert called == [app.backend]


def test_accumulate(app):
    acc = app.tasks['celery.accumulate']
    assert acc.apply((1, 2, 3)).get() == (1, 2, 3)
    assert acc.apply((1, 2, 3), {'index': 0}).get() == 1


def test_map_and_starmap(app, add):
    app.finalize()
    starmap = app.tasks['celery.starmap']
    assert starmap.apply((), {'task': dict(add.s()), 'it': [[1, 2], [3, 4]]}).get() == [3, 7]

    @app.task(shared=False, name='double')
    def double(x):
        return x * 2
    assert app.tasks['celery.map'].apply((dict(double.s()), [1, 2])).get() == [2, 4]


def test_chain_is_not_a_task(app):
    res = app.tasks['celery.chain'].apply()
    assert isinstance(res.result, NotImplementedError)


def test_chunks_task(app, add):
    app.conf.task_always_eager = True
    app.finalize()
    res = app.tasks['celery.chunks'].apply((dict(add.s()), [(1, 1), (2, 2), (3, 3)], 2))
    assert res.get().get() == [[2, 4], [6]]


def test_group_task_sends_the_members(app, add, monkeypatch):
    app.finalize()
    sent = []
    monkeypatch.setattr(app, 'send_task',
                        lambda name, args=None, kwargs=None, **o: sent.append((name, args, o)))
    members = [dict(add.s(1)), dict(add.s(2))]
    result = ((('G', None), [(('a', None), None), (('b', None), None)]))
    res = app.tasks['celery.group'].apply((members, result, 'G', (10,)))
    assert [(n, a, o['group_id']) for n, a, o in sent] == [
        ('add', (10, 1), 'G'), ('add', (10, 2), 'G')]
    assert res.get().id == 'G'


def test_chord_task_runs_the_chord(app, add):
    app.conf.task_default_queue = f'builtins-{uuid()}'  # not the process-wide 'celery'
    app.finalize()
    res = app.tasks['celery.chord'].apply(
        ([dict(add.s(1, 1)), dict(add.s(2, 2))], dict(add.s(1))))
    body_result = res.get()
    assert body_result.parent is not None and len(body_result.parent.results) == 2


class test_chord_unlock:

    @pytest.fixture
    def unlock(self, app, add):
        app.finalize()
        return app.tasks['celery.chord_unlock']

    def results(self, app, *states):
        ids = []
        for i, (state, value) in enumerate(states):
            tid = f'unlock-{id(self)}-{i}'
            if state is not None:
                app.backend.store_result(tid, value, state)
            ids.append(tid)
        return [((tid, None), None) for tid in ids]

    def test_settings(self, app, unlock):
        assert unlock.max_retries is None
        assert unlock.default_retry_delay == app.conf.result_chord_retry_interval

    def test_calls_the_body_with_ordered_results(self, app, add, unlock, monkeypatch):
        called = []
        monkeypatch.setattr(type(signature('x')), 'delay',
                            lambda self, *a, **k: called.append((self.task, a)))
        result = self.results(app, ('SUCCESS', 2), ('SUCCESS', 4))
        unlock.apply(('gid', dict(add.s(1))), {'result': result}, throw=True)
        assert called == [('add', ([2, 4],))]

    def test_retries_until_ready(self, app, add, unlock, monkeypatch):
        retries = []

        def retry(**kwargs):
            retries.append(kwargs)
            return Retry('again')
        monkeypatch.setattr(unlock, 'retry', retry)
        result = self.results(app, ('SUCCESS', 2), (None, None))
        with pytest.raises(Retry):
            unlock.run('gid', dict(add.s(1)), interval=7, max_retries=3, result=result)
        assert retries == [{'countdown': 7, 'max_retries': 3}]

    def test_failed_header_fails_the_body(self, app, add, unlock, monkeypatch):
        errors = []
        monkeypatch.setattr(type(app.backend), 'chord_error_from_stack',
                            lambda self, callback, exc=None: errors.append((callback.id, exc)))
        result = self.results(app, ('SUCCESS', 2), ('FAILURE', ValueError('boom')))
        body = add.s(1).set(task_id='body-id')
        unlock.apply(('gid', dict(body)), {'result': result}, throw=True)
        ((body_id, exc),) = errors
        assert body_id == 'body-id'
        assert isinstance(exc, ChordError) and 'raised ValueError' in str(exc)

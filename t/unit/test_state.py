"""Current app and current task."""
from __future__ import annotations

from celery import _state, current_app, current_task


def test_current_task_inside_and_outside(app):
    seen = []

    @app.task
    def f():
        seen.append(current_task.name)
    f()
    assert seen == [f.name]
    assert _state.get_current_task() is None


def test_worker_task_ignores_eager_calls(app):
    seen = []

    @app.task
    def f():
        seen.append(_state.get_current_worker_task())
    f.apply()
    assert seen == [None]


def test_default_app_is_created_on_demand(current_app_restored):
    _state._tls.current_app = None
    _state.default_app = None
    assert current_app.main == 'default'
    assert _state.default_app is not None


def test_connect_on_app_finalize(app):
    seen = []
    _state.connect_on_app_finalize(lambda a: seen.append(a))
    app.finalize()
    assert app in seen

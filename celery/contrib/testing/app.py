"""Apps for tests: :func:`TestApp`, :func:`setup_default_app` and the app trap.

A test app uses the in-memory broker and result store and never touches the
root logger. :func:`setup_default_app` makes an app the current and default
one for the duration of a ``with`` block and restores the process-wide app
state afterwards; with ``use_trap=True`` any use of the default or current
app inside the block raises, which catches code that ignores the app it was
given. Not thread safe: the app state it swaps is global.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from copy import deepcopy
from typing import Any, Iterator

from celery import Celery, _state

__all__ = ('DEFAULT_TEST_CONFIG', 'Trap', 'UnitLogging', 'TestApp', 'set_trap',
           'setup_default_app')

#: Settings of test apps: in-memory broker and results, quick failure.
DEFAULT_TEST_CONFIG = {
    'worker_hijack_root_logger': False,
    'worker_log_color': False,
    'accept_content': {'json'},
    'enable_utc': True,
    'timezone': 'UTC',
    'broker_url': 'memory://',
    'result_backend': 'cache+memory://',
    'broker_heartbeat': 0,
}

#: Attributes introspection (pytest, mock, inspect, asyncio) may look up on
#: the trap without it firing.
_INTROSPECTION_ATTRS = frozenset({'_is_coroutine', '_is_coroutine_marker', '__func__'})


class Trap:
    """Stands in for the default and current app; any use of it fails.

    Raises :exc:`RuntimeError` ("Test depends on current_app") on attribute
    access, except for the special names tools probe for.
    """

    def __getattr__(self, name: str) -> Any:
        if (name in _INTROSPECTION_ATTRS or name.startswith('_pytest')
                or (name.startswith('__') and name.endswith('__'))):
            raise AttributeError(name)
        raise RuntimeError('Test depends on current_app')


_unit_logging_cls: type | None = None


def _get_unit_logging() -> type:
    """Create :class:`UnitLogging` on first use (the logging module is heavy)."""
    global _unit_logging_cls
    if _unit_logging_cls is None:
        from celery.app.log import Logging

        class UnitLogging(Logging):
            """App logging that reports itself as already set up (never configures)."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.already_setup = True

        UnitLogging.__module__ = __name__
        _unit_logging_cls = UnitLogging
    return _unit_logging_cls


def __getattr__(name: str) -> Any:
    if name == 'UnitLogging':
        return _get_unit_logging()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def _unit_logging(*args: Any, **kwargs: Any) -> Any:
    """The default ``log`` of test apps: a :class:`UnitLogging` instance."""
    return _get_unit_logging()(*args, **kwargs)


def TestApp(name: str | None = None, config: dict | None = None,
            enable_logging: bool = False, set_as_current: bool = False,
            log: Any = _unit_logging, backend: Any = None, broker: Any = None,
            **kwargs: Any) -> Celery:
    """Return an app configured for tests.

    Arguments:
        name: The app's main name (default ``'celery.tests'``).
        config: Settings, applied over :data:`DEFAULT_TEST_CONFIG`.
        enable_logging: Let the app configure logging like a real one.
        set_as_current: Make the app current.
        log: The logging class used when ``enable_logging`` is off.
        backend, broker: As for :class:`~celery.Celery` (override the
            in-memory defaults).
        **kwargs: More arguments of :class:`~celery.Celery`.
    """
    from . import tasks  # noqa: F401  registers the celery.ping task
    config = dict(deepcopy(DEFAULT_TEST_CONFIG), **config or {})
    if broker is not None:
        config.pop('broker_url', None)
    if backend is not None:
        config.pop('result_backend', None)
    log = None if enable_logging else log
    test_app = Celery(name or 'celery.tests', set_as_current=set_as_current,
                      log=log, broker=broker, backend=backend, **kwargs)
    test_app.add_defaults(config)
    return test_app


@contextmanager
def set_trap(app: Celery) -> Iterator[None]:
    """Within the block, using the default or current app raises :exc:`RuntimeError`.

    ``app`` itself stays usable; the previous default and current apps are
    restored afterwards.
    """
    trap = Trap()
    prev_tls = _state._tls
    prev_default_app = _state.default_app
    _state.set_default_app(trap)

    class NonTLS:
        current_app = trap
    _state._tls = NonTLS()
    try:
        yield
    finally:
        _state._tls = prev_tls
        _state.set_default_app(prev_default_app)


@contextmanager
def setup_default_app(app: Celery, use_trap: bool = False) -> Iterator[None]:
    """Run the block with saved app state, restored afterwards; ``app`` is closed.

    Saved and restored: the current and default app, the callbacks run at
    app finalization (``shared_task`` registrations) and the set of apps.
    """
    # Built-in tasks register at import: make sure that happened before the
    # snapshot, or apps created after the block would miss them.
    import celery.app.builtins  # noqa: F401
    prev_current_app = _state._tls.current_app
    prev_default_app = _state.default_app
    prev_finalizers = set(_state._on_app_finalizers)
    prev_apps = weakref.WeakSet(_state._apps)
    try:
        if use_trap:
            with set_trap(app):
                yield
        else:
            yield
    finally:
        _state.set_default_app(prev_default_app)
        _state._tls.current_app = prev_current_app
        if app is not prev_current_app:
            app.close()
        _state._on_app_finalizers = prev_finalizers
        _state._apps = prev_apps

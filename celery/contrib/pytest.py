"""The pytest plugin: fixtures for test apps and embedded workers.

Registered as the ``celery`` pytest11 entry point, so installing the package
enables it; ``-p no:celery`` disables it. (``pytest_plugins =
('celery.contrib.pytest',)`` in a ``conftest.py`` enables it explicitly.)

Override the session fixtures ``celery_config``, ``celery_parameters``,
``celery_worker_parameters``, ``celery_includes``, ``celery_worker_pool``,
``celery_enable_logging``, ``use_celery_app_trap`` and ``celery_class_tasks``
in your ``conftest.py``; mark a test (or class) with
``@pytest.mark.celery(**settings)`` to change the configuration of its app.
Set the ``NO_WORKER`` environment variable to skip starting embedded workers.

Importing this module is cheap: the app and worker machinery load only when
a fixture is used.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from celery import Celery
    from celery.worker import WorkController

__all__ = ()

#: Set (to anything) to make the worker fixtures start no worker.
NO_WORKER = os.environ.get('NO_WORKER')


def pytest_configure(config: Any) -> None:
    """Register the ``celery`` marker."""
    config.addinivalue_line(
        'markers', 'celery(**overrides): override celery configuration for a test case')


def _marked_config(request: Any, celery_config: Mapping) -> dict:
    mark = request.node.get_closest_marker('celery')
    return dict(celery_config, **mark.kwargs if mark else {})


@contextmanager
def _create_app(request: Any, enable_logging: bool = False, use_trap: bool = False,
                parameters: Mapping | None = None, **config: Any) -> Iterator[Celery]:
    """Create a test app and make it the default one for the duration."""
    from celery.contrib.testing.app import TestApp, setup_default_app
    test_app = TestApp(set_as_current=False, enable_logging=enable_logging,
                       config=config, **parameters or {})
    with setup_default_app(test_app, use_trap=use_trap):
        # A module, class or test with ``app_contained = False`` wants the
        # app to be current as well (session fixtures have no module).
        owners = (getattr(request, 'module', None), getattr(request, 'cls', None),
                  getattr(request, 'function', None))
        if any(not getattr(owner, 'app_contained', True) for owner in owners):
            test_app.set_current()
        yield test_app


@pytest.fixture(scope='session')
def use_celery_app_trap() -> bool:
    """Return True to make any use of the default or current app fail."""
    return False


@pytest.fixture(scope='session')
def celery_session_app(request: Any, celery_config: Mapping, celery_parameters: Mapping,
                       celery_enable_logging: bool,
                       use_celery_app_trap: bool) -> Iterator[Celery]:
    """An app for the whole session (current and default unless trapped)."""
    with _create_app(request, enable_logging=celery_enable_logging,
                     use_trap=use_celery_app_trap, parameters=celery_parameters,
                     **_marked_config(request, celery_config)) as app:
        if not use_celery_app_trap:
            app.set_default()
            app.set_current()
        yield app


@pytest.fixture(scope='session')
def celery_session_worker(request: Any, celery_session_app: Celery,
                          celery_includes: Sequence[str], celery_class_tasks: Sequence[Any],
                          celery_worker_pool: Any,
                          celery_worker_parameters: Mapping) -> Iterator[WorkController]:
    """A worker in a thread for the whole session, on ``celery_session_app``."""
    if NO_WORKER:
        yield None
        return
    from celery.contrib.testing import worker
    for module in celery_includes:
        celery_session_app.loader.import_task_module(module)
    for class_task in celery_class_tasks:
        celery_session_app.register_task(class_task)
    with worker.start_worker(celery_session_app, pool=celery_worker_pool,
                             **celery_worker_parameters) as w:
        yield w


@pytest.fixture(scope='session')
def celery_enable_logging() -> bool:
    """Return True to let the test apps configure logging."""
    return False


@pytest.fixture(scope='session')
def celery_includes() -> Sequence[str]:
    """Modules (task modules, signal handlers...) embedded workers import first."""
    return ()


@pytest.fixture(scope='session')
def celery_worker_pool() -> Any:
    """The pool of embedded workers: ``'solo'`` by default (e.g. ``'prefork'``)."""
    return 'solo'


@pytest.fixture(scope='session')
def celery_config() -> Mapping[str, Any]:
    """Settings of the test apps (``celery_app``, ``celery_session_app``)."""
    return {}


@pytest.fixture(scope='session')
def celery_parameters() -> Mapping[str, Any]:
    """Keyword arguments of the test apps' constructor (:class:`~celery.Celery`)."""
    return {}


@pytest.fixture(scope='session')
def celery_worker_parameters() -> Mapping[str, Any]:
    """Keyword arguments of embedded workers (``WorkController``, ``start_worker``)."""
    return {}


@pytest.fixture
def celery_app(request: Any, celery_config: Mapping, celery_parameters: Mapping,
               celery_enable_logging: bool, use_celery_app_trap: bool) -> Iterator[Celery]:
    """A fresh app for each test (settings: ``celery_config`` and the ``celery`` mark)."""
    with _create_app(request, enable_logging=celery_enable_logging,
                     use_trap=use_celery_app_trap, parameters=celery_parameters,
                     **_marked_config(request, celery_config)) as app:
        yield app


@pytest.fixture(scope='session')
def celery_class_tasks() -> Sequence[Any]:
    """Class-based tasks the session worker registers."""
    return []


@pytest.fixture
def celery_worker(request: Any, celery_app: Celery, celery_includes: Sequence[str],
                  celery_worker_pool: Any,
                  celery_worker_parameters: Mapping) -> Iterator[WorkController]:
    """A worker in a thread for one test, on ``celery_app``; stopped after it."""
    if NO_WORKER:
        yield None
        return
    from celery.contrib.testing import worker
    for module in celery_includes:
        celery_app.loader.import_task_module(module)
    with worker.start_worker(celery_app, pool=celery_worker_pool,
                             **celery_worker_parameters) as w:
        yield w


@pytest.fixture
def depends_on_current_app(celery_app: Celery) -> None:
    """Make ``celery_app`` current (allowed with the app trap)."""
    celery_app.set_current()

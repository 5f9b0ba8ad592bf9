"""Fixtures shared by every test suite.

Broker fixtures (``redis_url``, ``amqp_url``, ``postgres_url``) skip a test
when the service is unreachable, except under ``CELERY_TEST_REQUIRE_BROKERS=1``
(CI), where an unreachable service is a failure.
"""
from __future__ import annotations

import os
import socket
from typing import Iterator

import pytest

REQUIRE_BROKERS = os.environ.get('CELERY_TEST_REQUIRE_BROKERS') == '1'

REDIS_HOST = os.environ.get('CELERY_TEST_REDIS_HOST', '127.0.0.1')
REDIS_PORT = int(os.environ.get('CELERY_TEST_REDIS_PORT', '6379'))
AMQP_HOST = os.environ.get('CELERY_TEST_AMQP_HOST', '127.0.0.1')
AMQP_PORT = int(os.environ.get('CELERY_TEST_AMQP_PORT', '5672'))
PG_HOST = os.environ.get('CELERY_TEST_PG_HOST', '127.0.0.1')
PG_PORT = int(os.environ.get('CELERY_TEST_PG_PORT', '5432'))


def _reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail under CELERY_TEST_REQUIRE_BROKERS=1) if the service is down."""
    if _reachable(host, port):
        return
    message = f'{name} is not reachable at {host}:{port}'
    if REQUIRE_BROKERS:
        pytest.fail(message + ' (CELERY_TEST_REQUIRE_BROKERS=1)', pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope='session')
def redis_url() -> str:
    """Base URL of the test Redis server (database 0)."""
    require_service('Redis', REDIS_HOST, REDIS_PORT)
    return f'redis://{REDIS_HOST}:{REDIS_PORT}/0'


@pytest.fixture(scope='session')
def amqp_url() -> str:
    """URL of the test RabbitMQ server."""
    require_service('RabbitMQ', AMQP_HOST, AMQP_PORT)
    return f'amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}//'


@pytest.fixture(scope='session')
def postgres_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL database."""
    require_service('PostgreSQL', PG_HOST, PG_PORT)
    return f'postgresql://postgres@{PG_HOST}:{PG_PORT}/test'


@pytest.fixture
def app() -> Iterator:
    """A fresh app on the in-memory broker and result store, not made current."""
    from celery import Celery
    test_app = Celery('t.unit', set_as_current=False, broker='memory://',
                      backend='cache+memory://', fixups=[])
    test_app.conf.task_default_queue = 'celery'
    yield test_app
    test_app.close()


@pytest.fixture
def current_app_restored() -> Iterator:
    """Restore the current and default app after a test that changes them."""
    from celery import _state
    current, default = _state._tls.current_app, _state.default_app
    yield
    _state._tls.current_app, _state.default_app = current, default

"""Fixtures of the reliability suite: ledgers, workers, private Redis and RabbitMQ servers, queues.

Every worker started through :func:`start_worker` is killed (its whole
process group) at teardown; every private server is stopped; every
RabbitMQ queue handed out is deleted.  The figures of each scenario are
listed again at the end of the run.
"""
from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from t.reliability._helpers import (FIGURES, Ledger, RabbitNode, RedisServer,  # noqa: E402
                                    WorkerProcess, rabbitmq_scripts)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: Any, items: list) -> None:
    """Everything here needs real brokers and starts real workers."""
    for item in items:
        if Path(str(item.fspath)).resolve().parent == HERE:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section('reliability figures')
        for figures in FIGURES:
            terminalreporter.write_line(figures.line())


def _missing(message: str) -> None:
    """Skip the test, or fail it under CELERY_TEST_REQUIRE_BROKERS=1 (CI)."""
    if os.environ.get('CELERY_TEST_REQUIRE_BROKERS') == '1':
        pytest.fail(message + ' (CELERY_TEST_REQUIRE_BROKERS=1)', pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope='session')
def redis_binary() -> str:
    """Path of ``redis-server``, for private instances (skip, or fail on CI, without)."""
    binary = shutil.which('redis-server')
    if binary is None:
        _missing('redis-server is not installed (private Redis instances need it)')
    return binary


@pytest.fixture
def rabbit_node(tmp_path: Path) -> Iterator[RabbitNode]:
    """A private RabbitMQ node, started; stopped (killed if need be) at teardown."""
    if rabbitmq_scripts() is None:
        _missing('RabbitMQ is not installed (a private RabbitMQ node needs rabbitmq-server)')
    node = RabbitNode(tmp_path / 'rabbitmq')
    try:
        yield node.start()
    finally:
        node.stop()


@pytest.fixture(scope='session')
def shared_private_redis(redis_binary: str, tmp_path_factory: Any) -> Iterator[RedisServer]:
    """One private Redis for the session (not persistent); tests take their own DB."""
    server = RedisServer(tmp_path_factory.mktemp('redis-shared'), persistent=False).start()
    yield server
    server.stop()


_next_db = iter(range(1, 16))


@pytest.fixture
def private_redis_db(shared_private_redis: RedisServer) -> Iterator[str]:
    """A fresh database of the session's private Redis, as a broker URL."""
    db = next(_next_db, None)
    if db is None:  # more tests than databases: flush and reuse
        db = 1
    client = shared_private_redis.client(db)
    client.flushdb()
    yield shared_private_redis.url(db)
    client.flushdb()
    client.close()


@pytest.fixture
def redis_servers(redis_binary: str, tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Make private Redis servers (persistent by default) that are stopped at teardown."""
    made: list[RedisServer] = []

    def make(persistent: bool = True) -> RedisServer:
        server = RedisServer(tmp_path / f'redis-{len(made)}', persistent=persistent).start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / 'ledger')


@pytest.fixture
def queue_name(request: Any) -> str:
    return f'rel.{request.node.name[:40]}.{uuid.uuid4().hex[:10]}'


@pytest.fixture
def start_worker(tmp_path: Path, ledger: Ledger) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers (``start_worker(queue, conf, *args)``); all are killed at teardown."""
    started: list[WorkerProcess] = []
    workdir = tmp_path / 'work'
    workdir.mkdir()

    def start(queue: str, conf: dict, *args: str, wait: bool = True,
              env: dict | None = None) -> WorkerProcess:
        worker = WorkerProcess(workdir, ledger, queue, conf, *args)
        started.append(worker)
        return worker.start(wait=wait, env=env)

    yield start
    for worker in started:
        worker.kill_all()


@pytest.fixture
def amqp_queues(amqp_url: str) -> Iterator[list[str]]:
    """Names appended here are deleted from RabbitMQ at teardown."""
    names: list[str] = []
    yield names
    if not names:
        return
    from kombu import Connection
    with Connection(amqp_url, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in names:
            try:
                channel.queue_delete(name)
            except Exception:  # already gone, or the channel broke: use a new one
                channel = conn.channel()
        for name in names:
            try:
                channel.exchange_delete(name)
            except Exception:
                channel = conn.channel()


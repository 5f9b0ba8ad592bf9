"""Fixtures for the interop tests: real Celery from PyPI in its own venv.

``real_celery`` builds (once, cached under ``.cache/``) a virtualenv with
the pinned Celery release and gives a runner for Python snippets in it.
A failed build fails the tests that need it with pip's output; it is never
skipped silently.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import celery_venv  # noqa: E402


class RealCelery:
    """Runs snippets with the interop venv's python (real Celery importable)."""

    version = celery_venv.CELERY_VERSION

    def __init__(self, python: Path) -> None:
        self.python = python

    def run(self, code: str, spec: Any = None, timeout: float = 90.0) -> Any:
        """Run ``code``; ``spec`` reaches it as JSON in ``$INTEROP_SPEC``.

        Returns the JSON value of the snippet's last output line.
        """
        env = {'INTEROP_SPEC': json.dumps(spec)} if spec is not None else None
        return celery_venv.run_json(code, env=env, timeout=timeout)


@pytest.fixture(scope='session')
def real_celery() -> RealCelery:
    try:
        python = celery_venv.ensure_venv()
    except celery_venv.InteropVenvError as exc:
        pytest.fail(f'cannot build the interop venv with real Celery: {exc}', pytrace=False)
    return RealCelery(python)


# -- the mixed fleet of the interop matrix (test_matrix_*.py) -------------------------

#: Redis databases of the matrix: the Redis broker, and results plus task records.
MATRIX_BROKER_DB = 10
MATRIX_RESULTS_DB = 11


@pytest.fixture(scope='session', params=['redis', 'amqp'])
def mx_fleet(request, tmp_path_factory):
    """A running real Celery worker and one of ours on one broker (Redis backend).

    Session-scoped and parametrised by broker, so every matrix module shares
    the two fleets; both workers are always stopped at teardown.
    """
    from _fleet import Fleet

    redis_base = request.getfixturevalue('redis_url').rsplit('/', 1)[0]
    results = f'{redis_base}/{MATRIX_RESULTS_DB}'
    if request.param == 'redis':
        broker = f'{redis_base}/{MATRIX_BROKER_DB}'
    else:
        broker = request.getfixturevalue('amqp_url')
    request.getfixturevalue('real_celery')
    fleet = Fleet(request.param, broker, results, results,
                  tmp_path_factory.mktemp(f'mx-{request.param}'))
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.close()

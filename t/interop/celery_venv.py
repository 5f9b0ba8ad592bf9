"""Build and drive a private virtualenv holding the real Celery from PyPI.

The interop tests compare this project with the genuine article, so they need
real Celery installed somewhere *other* than the project venv. This module
creates ``.cache/interop-venv-<version>`` at the repository root (once; later
runs reuse it), guarded by a lock file so parallel test runs do not collide,
and runs Python snippets in it as subprocesses.

Snippets run with ``python -I`` (isolated mode: no PYTHONPATH, no user site,
no current directory on ``sys.path``) from a scratch directory, so the
project's own ``celery`` package can never shadow the real one.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

__all__ = (
    'CELERY_VERSION', 'FLOWER_VERSION', 'REQUIREMENTS', 'InteropVenvError', 'requirements', 'venv_dir',
    'venv_python', 'ensure_venv', 'run_snippet', 'run_json',
)

#: The Celery release the project is checked against (newest 5.x).
CELERY_VERSION = '5.7.0'

#: The Flower release whose HTTP API the interop matrix reads our events with.
FLOWER_VERSION = '2.2.0'


def requirements(version: str = CELERY_VERSION) -> tuple[str, ...]:
    """What pip installs into the interop venv for Celery ``version``."""
    return (f'celery[redis]=={version}', f'flower=={FLOWER_VERSION}')


REQUIREMENTS = requirements()

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Minutes a build may take before we give up on it.
BUILD_TIMEOUT = 15 * 60


class InteropVenvError(RuntimeError):
    """The interop virtualenv could not be built or a snippet failed in it."""


def venv_dir(version: str = CELERY_VERSION) -> Path:
    """Return where the venv for ``version`` lives (it may not exist yet)."""
    return REPO_ROOT / '.cache' / f'interop-venv-{version}'


def venv_python(version: str = CELERY_VERSION) -> Path:
    """Return the interpreter of the interop venv for ``version``."""
    return venv_dir(version) / 'bin' / 'python'


def _ready_marker(path: Path) -> Path:
    return path / '.interop-ready'


def _spec(version: str) -> str:
    return '\n'.join(requirements(version))


def _is_ready(path: Path, version: str) -> bool:
    """True when ``path`` holds a finished build whose Celery imports and is ``version``."""
    marker = _ready_marker(path)
    try:
        if marker.read_text() != _spec(version):
            return False
    except OSError:
        return False
    python = path / 'bin' / 'python'
    try:
        proc = subprocess.run(
            [str(python), '-I', '-c', 'import celery; print(celery.__version__)'],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60,
            env=_clean_env(), cwd=str(path))
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == version


def _base_python() -> str:
    """The interpreter to create the venv from: never the project venv itself."""
    base = getattr(sys, '_base_executable', None) or sys.executable
    return base


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=timeout, env=_clean_env(), cwd=str(REPO_ROOT / '.cache'),
        )
    except subprocess.TimeoutExpired as exc:
        raise InteropVenvError(
            f'{what} timed out after {timeout:.0f}s: {" ".join(cmd)}') from exc
    if proc.returncode != 0:
        tail = '\n'.join(proc.stdout.splitlines()[-25:])
        raise InteropVenvError(
            f'{what} failed (exit {proc.returncode}): {" ".join(cmd)}\n{tail}')


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        if k not in {'PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP'}
        and not k.startswith('CELERY_')
    }
    env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    if extra:
        env.update(extra)
    return env


def ensure_venv(version: str = CELERY_VERSION) -> Path:
    """Build the interop venv unless a complete one exists; return its python.

    Holds an exclusive lock on ``.cache/interop-venv-<version>.lock`` while
    checking and building, so concurrent test sessions wait for one builder.
    A half-built or broken directory (no ready marker, or a Celery that does
    not import as ``version``) is removed and built again.
    """
    path = venv_dir(version)
    path.parent.mkdir(parents=True, exist_ok=True)
    if _is_ready(path, version):
        return venv_python(version)
    lock_path = path.parent / f'{path.name}.lock'
    with open(lock_path, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _is_ready(path, version):
                return venv_python(version)
            if path.exists():
                shutil.rmtree(path)
            started = time.monotonic()
            _run([_base_python(), '-m', 'venv', str(path)],
                 'creating the interop venv', timeout=300)
            remaining = max(60.0, BUILD_TIMEOUT - (time.monotonic() - started))
            reqs = requirements(version)
            _run([str(venv_python(version)), '-m', 'pip', 'install', '-q', *reqs],
                 f'pip install {" ".join(reqs)} into {path}', timeout=remaining)
            _ready_marker(path).write_text(_spec(version))
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return venv_python(version)


def run_snippet(code: str, *, timeout: float = 60.0,
                env: dict[str, str] | None = None,
                version: str = CELERY_VERSION) -> str:
    """Run ``code`` (dedented) with the interop venv's python; return stdout.

    Raises :class:`InteropVenvError` with the snippet's stderr when it exits
    non-zero or runs longer than ``timeout`` seconds.
    """
    python = ensure_venv(version)
    scratch = REPO_ROOT / '.cache' / 'interop-scratch'
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            [str(python), '-I', '-c', textwrap.dedent(code)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=timeout, env=_clean_env(env), cwd=str(scratch),
        )
    except subprocess.TimeoutExpired as exc:
        raise InteropVenvError(
            f'interop snippet timed out after {timeout}s') from exc
    if proc.returncode != 0:
        raise InteropVenvError(
            f'interop snippet failed (exit {proc.returncode}):\n{proc.stderr}')
    return proc.stdout


def run_json(code: str, **kwargs: Any) -> Any:
    """Run ``code`` like :func:`run_snippet`; parse its last stdout line as JSON."""
    out = run_snippet(code, **kwargs)
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        raise InteropVenvError('interop snippet printed nothing')
    try:
        return json.loads(lines[-1])
    except ValueError as exc:
        raise InteropVenvError(
            f'interop snippet did not end with a JSON line:\n{out}') from exc

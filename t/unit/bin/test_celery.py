"""The ``celery`` group: global options, app loading errors, lazy sub-commands."""
from __future__ import annotations

import sys
from typing import Any

import pytest

import celery
from celery.bin import celery as celery_bin

#: Used by the tests loading an app by name.
app = None


def test_version(celery_cli: Any) -> None:
    result = celery_cli('--version')
    assert result.exit_code == 0
    assert result.output.strip() == f'{celery.__version__} ({celery.SERIES})'


def test_no_command_prints_the_help(celery_cli: Any) -> None:
    result = celery_cli()
    assert result.exit_code == 0
    assert '--app' in result.output and '--broker' in result.output
    assert 'worker' in result.output and 'report' in result.output


def test_missing_app_module_is_one_clear_error(celery_cli: Any) -> None:
    result = celery_cli('-A', 'no_such_module_abc', 'report')
    assert result.exit_code == 2
    assert 'Unable to load celery application' in result.output
    assert 'no_such_module_abc' in result.output
    assert 'Traceback' not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_module_without_an_app(celery_cli: Any) -> None:
    result = celery_cli('-A', 'celery.utils.text', 'report')
    assert result.exit_code == 2
    assert 'Unable to load celery application' in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_app_by_name(celery_cli: Any, cli_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], 'app', cli_app)
    result = celery_cli('-A', f'{__name__}:app', 'report')
    assert result.exit_code == 0, result.output


def test_report(celery_cli: Any) -> None:
    result = celery_cli('report')
    assert result.exit_code == 0
    assert 'software -> celery' in result.output or 'celery' in result.output


def test_global_options_become_environment(celery_cli: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    result = celery_cli('-b', 'memory://b1', '--result-backend', 'cache+memory://',
                        '--config', 'some.module', '--loader', 'default', 'report')
    assert result.exit_code in (0, 1), result.output
    assert os.environ['CELERY_BROKER_URL'] == 'memory://b1'
    assert os.environ['CELERY_CONFIG_MODULE'] == 'some.module'


def test_commands_of_missing_modules_are_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    import click
    commands = dict(celery_bin.COMMANDS, ghost='celery.bin.no_such_command')
    monkeypatch.setattr(celery_bin, 'COMMANDS', commands)
    ctx = click.Context(celery_bin.celery)
    names = celery_bin.celery.list_commands(ctx)
    assert 'worker' in names and 'ghost' not in names
    assert celery_bin.celery.get_command(ctx, 'ghost') is None
    assert celery_bin.celery.get_command(ctx, 'worker').name == 'worker'


def test_main_runs_the_group(monkeypatch: pytest.MonkeyPatch) -> None:
    called = {}
    monkeypatch.setattr(type(celery_bin.celery), 'main',
                        lambda self, *args, **kwargs: called.update(kwargs) or 0)
    assert celery_bin.main() == 0
    assert called['auto_envvar_prefix'] == 'CELERY'

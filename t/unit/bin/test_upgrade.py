"""Tests for ``celery upgrade settings`` (celery.bin.upgrade)."""
from __future__ import annotations

import pytest

from celery.bin.upgrade import rename_settings

OLD = '''\
BROKER_URL = 'redis://localhost'
BROKER_TRANSPORT_OPTIONS = {'visibility_timeout': 10}
CELERY_ALWAYS_EAGER = True
CELERYD_CONCURRENCY = 4
CELERY_RESULT_BACKEND = 'redis://'
MY_BROKER_URL = 'not a setting'
'''


@pytest.fixture
def config(tmp_path):
    path = tmp_path / 'celeryconfig.py'
    path.write_text(OLD)
    return path


class Test_upgrade_settings:

    def test_renames_to_new_names_and_keeps_a_backup(self, celery_cli, config):
        # When
        result = celery_cli('upgrade', 'settings', str(config))
        # Then
        assert result.exit_code == 0, result.output
        assert f'processing {config}...' in result.output
        assert f'writing backup to {config}.orig...' in result.output
        assert 'Changes to your setting have been made!' in result.output
        assert config.read_text() == '''\
broker_url = 'redis://localhost'
broker_transport_options = {'visibility_timeout': 10}
task_always_eager = True
worker_concurrency = 4
result_backend = 'redis://'
MY_BROKER_URL = 'not a setting'
'''
        assert (config.parent / 'celeryconfig.py.orig').read_text() == OLD

    @pytest.mark.parametrize('flag', ['--django', '--compat'])
    def test_namespaced_upper_case(self, celery_cli, config, flag):
        result = celery_cli('upgrade', 'settings', str(config), flag)
        assert result.exit_code == 0, result.output
        text = config.read_text()
        assert "CELERY_BROKER_URL = 'redis://localhost'" in text
        assert 'CELERY_BROKER_TRANSPORT_OPTIONS = ' in text
        assert 'CELERY_TASK_ALWAYS_EAGER = True' in text
        assert 'CELERY_WORKER_CONCURRENCY = 4' in text
        assert "CELERY_RESULT_BACKEND = 'redis://'" in text
        assert 'CELERY_CELERY' not in text

    def test_no_backup(self, celery_cli, config):
        result = celery_cli('upgrade', 'settings', str(config), '--no-backup')
        assert result.exit_code == 0, result.output
        assert 'writing backup' not in result.output
        assert not (config.parent / 'celeryconfig.py.orig').exists()
        assert 'task_always_eager' in config.read_text()

    def test_nothing_to_change(self, celery_cli, tmp_path):
        path = tmp_path / 'new.py'
        path.write_text("broker_url = 'memory://'\n")
        result = celery_cli('upgrade', 'settings', str(path))
        assert result.exit_code == 0, result.output
        assert 'Does not seem to require any changes :-)' in result.output
        assert not (tmp_path / 'new.py.orig').exists()
        assert path.read_text() == "broker_url = 'memory://'\n"

    def test_missing_file(self, celery_cli, tmp_path):
        result = celery_cli('upgrade', 'settings', str(tmp_path / 'nope.py'))
        assert result.exit_code == 2
        assert 'does not exist' in result.output


class Test_rename_settings:

    def test_counts_changes_and_matches_whole_names(self):
        text, changes = rename_settings('CELERY_ALWAYS_EAGER = X_CELERY_ALWAYS_EAGER\n')
        assert text == 'task_always_eager = X_CELERY_ALWAYS_EAGER\n'
        assert changes == 1

    def test_longest_name_wins(self):
        text, _ = rename_settings('BROKER_TRANSPORT_OPTIONS, BROKER_TRANSPORT')
        assert text == 'broker_transport_options, broker_transport'

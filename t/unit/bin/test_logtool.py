"""Tests for ``celery logtool`` (celery.bin.logtool)."""
from __future__ import annotations

import io

import pytest

from celery.bin.logtool import Audit, parse_entries

ID1 = '11111111-aaaa-4000-8000-000000000001'
ID2 = '22222222-bbbb-4000-8000-000000000002'
ID3 = '33333333-cccc-4000-8000-000000000003'
ID4 = '44444444-dddd-4000-8000-000000000004'

LOG = f'''\
celery@host v5.7.0 (opalescent) banner lines come first
[2030-01-01 10:00:00,001: INFO/MainProcess] Connected to memory://localhost//
[2030-01-01 10:00:01,000: INFO/MainProcess] Task proj.add[{ID1}] received
[2030-01-01 10:00:01,100: INFO/MainProcess] Task proj.add[{ID2}] received
[2030-01-01 10:00:01,200: INFO/MainProcess] Task proj.div[{ID3}] received
[2030-01-01 10:00:01,300: INFO/MainProcess] Received task: proj.mul[{ID4}]
[2030-01-01 10:00:01,500: INFO/ForkPoolWorker-1] Task proj.add[{ID1}] succeeded in 0.001s: 4
[2030-01-01 10:00:01,600: ERROR/ForkPoolWorker-2] Task proj.div[{ID3}] raised unexpected: \
ZeroDivisionError('division by zero')
Traceback (most recent call last):
  File "/app/proj.py", line 9, in div
    return x / y
ZeroDivisionError: division by zero
[2030-01-01 10:00:01,700: INFO/ForkPoolWorker-1] Task proj.add[{ID2}] retry: Retry in 1s
[2030-01-01 10:00:02,700: INFO/MainProcess] Task proj.add[{ID2}] received
[2030-01-01 10:00:02,800: INFO/ForkPoolWorker-1] Task proj.add[{ID2}] succeeded in 0.002s: 6
[2030-01-01 10:00:03,000: WARNING/MainProcess] Traceback (most recent call last):
  File "x.py", line 1, in <module>
KeyError: 'k'
'''


@pytest.fixture
def logfile(tmp_path):
    path = tmp_path / 'worker.log'
    path.write_text(LOG)
    return str(path)


class Test_parse_entries:

    def test_entries_with_continuation_lines(self):
        entries = list(parse_entries(io.StringIO(LOG)))
        assert len(entries) == 11
        assert entries[0].level == 'INFO' and entries[0].process == 'MainProcess'
        failure = entries[6]
        assert failure.level == 'ERROR'
        assert failure.process == 'ForkPoolWorker-2'
        assert failure.has_traceback
        assert failure.message.endswith('ZeroDivisionError: division by zero')
        assert failure.lineno == 8
        assert failure.text().startswith('[2030-01-01 10:00:01,600: ERROR/ForkPoolWorker-2] Task')


class Test_logtool:

    def test_stats(self, celery_cli, logfile):
        result = celery_cli('logtool', 'stats', logfile)
        assert result.exit_code == 0, result.output
        out = result.output
        assert 'Task total: 4' in out
        assert 'Task errors: 1' in out
        assert 'Task success: 2' in out
        assert 'Task retries: 1' in out
        assert 'Task completed: 3' in out
        lines = out.splitlines()
        assert lines[lines.index('Tasks') + 2].split() == ['proj.add', '2']

    def test_traces(self, celery_cli, logfile):
        result = celery_cli('logtool', 'traces', logfile)
        assert result.exit_code == 0, result.output
        assert result.output.count('Traceback (most recent call last)') == 2
        assert "KeyError: 'k'" in result.output

    def test_errors(self, celery_cli, logfile):
        result = celery_cli('logtool', 'errors', logfile)
        assert result.exit_code == 0, result.output
        assert f'Task proj.div[{ID3}] raised unexpected' in result.output
        assert 'return x / y' in result.output
        assert 'KeyError' not in result.output

    def test_incomplete(self, celery_cli, logfile):
        result = celery_cli('logtool', 'incomplete', logfile)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f'Did not complete: proj.mul[{ID4}]'

    def test_debug(self, celery_cli, logfile):
        result = celery_cli('logtool', 'debug', logfile)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert len(lines) == 11
        assert lines[0].endswith(':2 INFO MainProcess: Connected to memory://localhost//')

    def test_several_files(self, celery_cli, logfile, tmp_path):
        second = tmp_path / 'other.log'
        second.write_text(
            f'[2030-01-01 11:00:00,000: INFO/MainProcess] Task proj.mul[{ID4}] received\n'
            f'[2030-01-01 11:00:00,100: INFO/ForkPoolWorker-1] '
            f'Task proj.mul[{ID4}] succeeded in 0.1s: 8\n')
        result = celery_cli('logtool', 'incomplete', logfile, str(second))
        assert result.exit_code == 0, result.output
        assert result.output == ''

    def test_missing_file(self, celery_cli, tmp_path):
        result = celery_cli('logtool', 'stats', str(tmp_path / 'nope.log'))
        assert result.exit_code == 2
        assert 'does not exist' in result.output

    def test_files_are_required(self, celery_cli):
        assert celery_cli('logtool', 'stats').exit_code == 2


class Test_Audit:

    def test_callbacks(self):
        errors, traces = [], []
        audit = Audit(on_task_error=errors.append, on_trace=traces.append)
        audit.feed(parse_entries(io.StringIO(LOG)))
        assert [e.level for e in errors] == ['ERROR']
        assert len(traces) == 2
        assert audit.incomplete_tasks() == [('proj.mul', ID4)]

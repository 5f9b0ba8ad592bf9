"""Tests for ``celery call`` (celery.bin.call)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from kombu.exceptions import OperationalError


class Test_call:

    def test_sends_the_task_and_prints_its_id(self, cli_app, celery_cli, drain_queue):
        # When
        result = celery_cli('call', 't.unit.bin.cli_add', '-a', '[2, 3]', '-k', '{"y": 4}')
        # Then
        assert result.exit_code == 0, result.output
        task_id = result.output.strip()
        [message] = drain_queue(cli_app.conf.task_default_queue)
        assert message.headers['task'] == 't.unit.bin.cli_add'
        assert message.headers['id'] == task_id
        args, kwargs, _ = message.payload
        assert args == [2, 3]
        assert kwargs == {'y': 4}

    def test_unregistered_names_are_sent_too(self, cli_app, celery_cli, drain_queue):
        result = celery_cli('call', 'somewhere.else.task')
        assert result.exit_code == 0, result.output
        [message] = drain_queue(cli_app.conf.task_default_queue)
        assert message.headers['task'] == 'somewhere.else.task'
        assert list(message.payload[:2]) == [[], {}]

    def test_routing_options(self, cli_app, celery_cli, drain_queue):
        queue = cli_app.conf.task_default_queue + '-other'
        result = celery_cli('call', 't.unit.bin.cli_add', '--queue', queue)
        assert result.exit_code == 0, result.output
        assert drain_queue(cli_app.conf.task_default_queue) == []
        [message] = drain_queue(queue)
        assert message.headers['id'] == result.output.strip()

    def test_countdown_and_expires(self, cli_app, celery_cli, drain_queue):
        before = datetime.now(timezone.utc)
        result = celery_cli('call', 't.unit.bin.cli_add', '--countdown', '60',
                            '--expires', '120')
        assert result.exit_code == 0, result.output
        [message] = drain_queue(cli_app.conf.task_default_queue)
        eta = datetime.fromisoformat(message.headers['eta'])
        expires = datetime.fromisoformat(message.headers['expires'])
        assert 59 <= (eta - before).total_seconds() <= 70
        assert 119 <= (expires - before).total_seconds() <= 130

    def test_eta_and_expires_as_iso8601(self, cli_app, celery_cli, drain_queue):
        result = celery_cli('call', 't.unit.bin.cli_add',
                            '--eta', '2030-01-02T03:04:05+00:00',
                            '--expires', '2030-02-01T00:00:00+00:00')
        assert result.exit_code == 0, result.output
        [message] = drain_queue(cli_app.conf.task_default_queue)
        assert datetime.fromisoformat(message.headers['eta']) == \
            datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        assert datetime.fromisoformat(message.headers['expires']) == \
            datetime(2030, 2, 1, tzinfo=timezone.utc)

    def test_serializer(self, cli_app, celery_cli, drain_queue):
        result = celery_cli('call', 't.unit.bin.cli_add', '-a', '[1, 1]',
                            '--serializer', 'pickle')
        assert result.exit_code == 0, result.output
        [message] = drain_queue(cli_app.conf.task_default_queue)
        assert message.content_type == 'application/x-python-serialize'

    @pytest.mark.parametrize('option,value,complaint', [
        ('-a', '[1, 2', 'is not valid JSON'),
        ('--args', '{"x": 1}', 'is not a JSON array'),
        ('-k', 'nope', 'is not valid JSON'),
        ('--kwargs', '[1]', 'is not a JSON object'),
        ('--eta', 'tomorrow', 'is not an ISO 8601 date and time'),
        ('--expires', 'soon', 'or a number of seconds'),
    ])
    def test_bad_values_are_usage_errors(self, cli_app, celery_cli, drain_queue,
                                         option, value, complaint):
        result = celery_cli('call', 't.unit.bin.cli_add', option, value)
        assert result.exit_code == 64
        assert complaint in result.output
        assert 'Traceback' not in result.output
        assert drain_queue(cli_app.conf.task_default_queue) == []

    def test_unknown_serializer(self, celery_cli):
        result = celery_cli('call', 't.unit.bin.cli_add', '--serializer', 'no-such-format')
        assert result.exit_code == 64
        assert "cannot send 't.unit.bin.cli_add'" in result.output
        assert 'Traceback' not in result.output

    def test_unreachable_broker(self, cli_app, celery_cli, monkeypatch):
        def refuse(*args, **kwargs):
            raise OperationalError('[Errno 111] Connection refused')

        monkeypatch.setattr(cli_app, 'send_task', refuse)
        result = celery_cli('call', 't.unit.bin.cli_add')
        assert result.exit_code == 69
        assert 'broker unreachable' in result.output
        assert 'Traceback' not in result.output

    def test_missing_app(self, celery_cli):
        result = celery_cli('-A', 't_unit_bin_no_such_module', 'call', 't.unit.bin.cli_add')
        assert result.exit_code != 0
        assert 'Unable to load celery application' in result.output
        assert 't_unit_bin_no_such_module' in result.output
        assert 'Traceback' not in result.output

    def test_name_is_required(self, celery_cli):
        result = celery_cli('call')
        assert result.exit_code == 2
        assert "Missing argument 'NAME'" in result.output

"""Tests for ``celery list bindings`` (celery.bin.list)."""
from __future__ import annotations

from kombu import Exchange, Queue
from kombu.transport.virtual.base import Management


class Test_list_bindings:

    def test_prints_the_bindings_as_a_table(self, cli_app, celery_cli):
        # Given a queue bound to a topic exchange
        default = cli_app.conf.task_default_queue
        cli_app.conf.task_queues = [
            Queue(default),
            Queue(default + '-img', Exchange(default + '-media', type='topic'),
                  routing_key='media.#'),
        ]
        # When
        result = celery_cli('list', 'bindings')
        # Then
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0].split() == ['Queue', 'Exchange', 'Routing', 'Key']
        rows = [line.split() for line in lines[2:]]
        assert [default, default, default] in rows
        assert [default + '-img', default + '-media', 'media.#'] in rows
        # columns line up
        assert lines[0].index('Exchange') == 29

    def test_transport_that_cannot_list(self, celery_cli, monkeypatch):
        def cannot(self):
            raise NotImplementedError('no bindings here')

        monkeypatch.setattr(Management, 'get_bindings', cannot)
        result = celery_cli('list', 'bindings')
        assert result.exit_code == 69
        assert 'transport cannot list bindings' in result.output
        assert 'Traceback' not in result.output

    def test_management_client_errors(self, celery_cli, monkeypatch):
        def broken(self):
            raise RuntimeError('HTTP 401')

        monkeypatch.setattr(Management, 'get_bindings', broken)
        result = celery_cli('list', 'bindings')
        assert result.exit_code == 69
        assert 'cannot list bindings' in result.output
        assert 'HTTP 401' in result.output

    def test_the_command_is_named_list(self):
        import builtins

        import celery.bin.list as module
        assert module.list.name == 'list'
        assert module.list is not builtins.list
        assert 'bindings' in module.list.commands

"""Tests for ``celery purge`` (celery.bin.purge)."""
from __future__ import annotations

from kombu import Queue


def _send(app, count, queue=None):
    for i in range(count):
        app.send_task('t.unit.bin.cli_add', args=(i, i), queue=queue)


class Test_purge:

    def test_force_purges_every_task_queue(self, cli_app, celery_cli, drain_queue):
        # Given three waiting tasks
        _send(cli_app, 3)
        # When
        result = celery_cli('purge', '-f')
        # Then
        assert result.exit_code == 0, result.output
        assert 'Purged 3 messages from 1 known task queue.' in result.output
        assert drain_queue(cli_app.conf.task_default_queue) == []

    def test_several_queues(self, cli_app, celery_cli, drain_queue):
        default = cli_app.conf.task_default_queue
        cli_app.conf.task_queues = [Queue(default), Queue(default + '-b')]
        _send(cli_app, 2)
        _send(cli_app, 1, queue=default + '-b')
        result = celery_cli('purge', '--force')
        assert result.exit_code == 0, result.output
        assert 'Purged 3 messages from 2 known task queues.' in result.output

    def test_asks_first_and_keeps_messages_on_no(self, cli_app, celery_cli, drain_queue):
        _send(cli_app, 2)
        result = celery_cli('purge', input='n\n')
        assert result.exit_code == 1
        assert 'WARNING' in result.output
        assert cli_app.conf.task_default_queue in result.output
        assert 'There is no undo for this operation!' in result.output
        assert 'Aborted' in result.output
        assert len(drain_queue(cli_app.conf.task_default_queue)) == 2

    def test_asks_first_and_purges_on_yes(self, cli_app, celery_cli, drain_queue):
        _send(cli_app, 2)
        result = celery_cli('purge', input='y\n')
        assert result.exit_code == 0, result.output
        assert 'Purged 2 messages from 1 known task queue.' in result.output
        assert drain_queue(cli_app.conf.task_default_queue) == []

    def test_named_queues_only(self, cli_app, celery_cli, drain_queue):
        other = cli_app.conf.task_default_queue + '-other'
        _send(cli_app, 2)
        _send(cli_app, 1, queue=other)
        result = celery_cli('purge', '-f', '-Q', other)
        assert result.exit_code == 0, result.output
        assert 'Purged 1 message from 1 known task queue.' in result.output
        assert len(drain_queue(cli_app.conf.task_default_queue)) == 2

    def test_exclude_queues(self, cli_app, celery_cli, drain_queue):
        default = cli_app.conf.task_default_queue
        other = default + '-other'
        _send(cli_app, 2)
        _send(cli_app, 1, queue=other)
        result = celery_cli('purge', '-f', '-X', other)
        assert result.exit_code == 0, result.output
        assert 'Purged 2 messages from 1 known task queue.' in result.output
        assert len(drain_queue(other)) == 1

    def test_nothing_to_purge(self, celery_cli):
        result = celery_cli('purge', '-f')
        assert result.exit_code == 0, result.output
        assert 'No messages purged from 1 queue.' in result.output

    def test_everything_excluded(self, cli_app, celery_cli):
        result = celery_cli('purge', '-f', '-X', cli_app.conf.task_default_queue)
        assert result.exit_code == 0, result.output
        assert 'No queues to purge.' in result.output

    def test_unknown_queue(self, cli_app, celery_cli, drain_queue):
        _send(cli_app, 1)
        result = celery_cli('purge', '-f', '-Q',
                            f'{cli_app.conf.task_default_queue},no-such-queue-xyz')
        assert result.exit_code == 64
        assert 'unknown queue: no-such-queue-xyz' in result.output
        assert 'Traceback' not in result.output
        # nothing purged
        assert len(drain_queue(cli_app.conf.task_default_queue)) == 1

    def test_unknown_excluded_queue(self, celery_cli):
        result = celery_cli('purge', '-f', '-X', 'no-such-queue-abc')
        assert result.exit_code == 64
        assert 'no-such-queue-abc' in result.output

    def test_queue_on_the_broker_but_not_configured(self, cli_app, celery_cli):
        stray = cli_app.conf.task_default_queue + '-stray'
        with cli_app.connection_for_write() as conn:
            conn.default_channel.queue_declare(queue=stray)
            with conn.Producer() as producer:
                producer.publish({'x': 1}, routing_key=stray)
        result = celery_cli('purge', '-f', '-Q', stray)
        assert result.exit_code == 0, result.output
        assert 'Purged 1 message from 1 known task queue.' in result.output

"""Tests for ``celery amqp`` (celery.bin.amqp), on the memory transport."""
from __future__ import annotations

import uuid

import pytest
from kombu.exceptions import OperationalError


@pytest.fixture
def qname():
    return f'amqp-cli-{uuid.uuid4().hex[:12]}'


class Test_amqp_commands:

    def test_queue_declare(self, celery_cli, qname):
        result = celery_cli('amqp', 'queue.declare', qname)
        assert result.exit_code == 0, result.output
        assert '-> connecting to memory://' in result.output
        assert '-> connected.' in result.output
        assert f'queue:{qname} messages:0 consumers:0' in result.output

    def test_quiet_hides_the_connection_chatter(self, celery_cli, qname):
        result = celery_cli('-q', 'amqp', 'queue.declare', qname)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f'queue:{qname} messages:0 consumers:0'

    def test_passive_declare_of_a_missing_queue_fails(self, celery_cli, qname):
        result = celery_cli('-q', 'amqp', 'queue.declare', qname, 'yes')
        assert result.exit_code == 1
        assert 'ERROR' in result.output
        assert 'NOT_FOUND' in result.output
        assert 'Traceback' not in result.output

    def test_publish_get_and_purge(self, celery_cli, drain_queue, qname):
        assert celery_cli('amqp', 'queue.declare', qname).exit_code == 0
        for body in ('one', 'two'):
            result = celery_cli('-q', 'amqp', 'basic.publish', body, '', qname)
            assert result.exit_code == 0, result.output
            assert result.output.strip() == 'ok.'
        result = celery_cli('-q', 'amqp', 'queue.declare', qname)
        assert f'queue:{qname} messages:2' in result.output

        result = celery_cli('-q', 'amqp', 'basic.get', qname, 'yes')
        assert result.exit_code == 0, result.output
        assert "'body': b'one'" in result.output
        assert "'delivery_info'" in result.output and "'properties'" in result.output

        result = celery_cli('-q', 'amqp', 'queue.purge', qname)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == '1 messages deleted.'
        assert drain_queue(qname) == []

    def test_get_from_an_empty_queue(self, celery_cli, qname):
        celery_cli('amqp', 'queue.declare', qname)
        result = celery_cli('-q', 'amqp', 'basic.get', qname)
        assert result.exit_code == 0, result.output
        assert 'No messages in queue.' in result.output

    def test_exchange_bind_and_publish(self, cli_app, celery_cli, drain_queue, qname):
        exchange = qname + '-ex'
        for args in (('exchange.declare', exchange, 'direct'),
                     ('queue.declare', qname),
                     ('queue.bind', qname, exchange, 'rk'),
                     ('basic.publish', 'routed', exchange, 'rk')):
            result = celery_cli('-q', 'amqp', *args)
            assert result.exit_code == 0, (args, result.output)
        [message] = drain_queue(qname)
        assert message.body == b'routed'
        result = celery_cli('-q', 'amqp', 'exchange.delete', exchange)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == 'ok.'

    def test_queue_delete(self, celery_cli, qname):
        # (the memory transport forgets a queue when its bindings go)
        for args in (('exchange.declare', qname, 'direct'), ('queue.declare', qname),
                     ('queue.bind', qname, qname, qname)):
            assert celery_cli('amqp', *args).exit_code == 0
        result = celery_cli('-q', 'amqp', 'queue.delete', qname)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == 'ok.'
        result = celery_cli('-q', 'amqp', 'queue.declare', qname, 'yes')
        assert result.exit_code == 1  # gone

    def test_ack(self, celery_cli):
        result = celery_cli('-q', 'amqp', 'basic.ack', '1')
        assert result.exit_code == 0, result.output
        assert result.output.strip() == 'ok.'

    def test_boolean_arguments_are_checked(self, celery_cli, qname):
        result = celery_cli('amqp', 'queue.declare', qname, 'perhaps')
        assert result.exit_code == 2
        assert 'perhaps' in result.output

    def test_unreachable_broker(self, cli_app, celery_cli, monkeypatch, qname):
        from kombu import Connection

        def refuse(self):
            raise OperationalError('[Errno 111] Connection refused')

        monkeypatch.setattr(Connection, 'connect', refuse)
        result = celery_cli('amqp', 'queue.declare', qname)
        assert result.exit_code == 69
        assert 'cannot connect to memory://' in result.output
        assert 'Traceback' not in result.output


class Test_amqp_repl:

    def test_session_shares_one_connection(self, cli_app, celery_cli, qname):
        # basic.ack works on what basic.get fetched in the same session
        lines = [
            f'queue.declare {qname}',
            f'basic.publish hello "" {qname}',
            f'basic.get {qname}',
            'queue.declare nope-missing-queue yes',  # an error does not end the session
            f'queue.declare {qname}',
            'help',
            'exit',
        ]
        result = celery_cli('-q', 'amqp', 'repl', input='\n'.join(lines) + '\n')
        assert result.exit_code == 0, result.output
        out = result.output
        assert f'queue:{qname} messages:0 consumers:0' in out
        assert "'body': b'hello'" in out
        assert 'NOT_FOUND' in out
        assert 'exchange.declare' in out  # the help text
        assert out.count('queue:') == 2

    def test_eof_ends_the_session(self, celery_cli, qname):
        result = celery_cli('-q', 'amqp', 'repl', input=f'queue.declare {qname}\n')
        assert result.exit_code == 0, result.output
        assert f'queue:{qname}' in result.output

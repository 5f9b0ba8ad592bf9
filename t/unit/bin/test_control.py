"""Tests for celery.bin.control: ``celery inspect``, ``control`` and ``status``
against a fake ``app.control`` (output, arguments, exit codes)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from celery.app.control import flatten_reply
from celery.bin.base import CLIContext
from celery.bin.control import control, inspect, status
from celery.worker.control import Panel, control_command, inspect_command

PONG = [{'w1@h': {'ok': 'pong'}}, {'w2@h': {'ok': 'pong'}}]


class FakeInspect:
    def __init__(self, control, **options):
        self.control, self.options = control, options

    def _request(self, command, **arguments):
        self.control.calls.append(('inspect', command, arguments, self.options))
        for reply in self.control.replies:
            if self.options.get('callback'):
                self.options['callback'](reply)
        return flatten_reply(self.control.replies) or None

    def ping(self):
        return self._request('ping')


class FakeControl:
    """Answers every command with the same replies, like workers would."""

    def __init__(self, replies=()):
        self.replies = list(replies)
        self.calls = []

    def inspect(self, **options):
        return FakeInspect(self, **options)

    def broadcast(self, command, **options):
        self.calls.append(('broadcast', command, options.pop('arguments'), options))
        for reply in self.replies:
            if options.get('callback'):
                options['callback'](reply)
        return list(self.replies)


@pytest.fixture
def fake_control(app):
    fake = FakeControl(PONG)
    app.__dict__['control'] = fake
    return fake


@pytest.fixture
def run(app):
    def invoke(command, *args, quiet=False):
        obj = CLIContext(app=app, no_color=True, workdir=None, quiet=quiet)
        return CliRunner().invoke(command, list(args), obj=obj)
    return invoke


@pytest.fixture
def commands():
    """Register test commands in the worker's Panel; remove them after."""
    added = []

    def add(decorator, name, **kwargs):
        decorator(name=name, **kwargs)(lambda state, **kw: None)
        added.append(name)
    yield add
    for name in added:
        Panel.data.pop(name, None)
        Panel.meta.pop(name, None)


# -- status ------------------------------------------------------------------------


def test_status_lists_nodes(run, fake_control):
    result = run(status)
    assert result.exit_code == 0, result.output
    assert result.output == '->  w1@h: OK\n->  w2@h: OK\n\n2 nodes online.\n'
    (kind, command, _, options), = fake_control.calls
    assert (kind, command, options['timeout'], options['destination']) == (
        'inspect', 'ping', 1.0, None)


def test_status_one_node(run, fake_control):
    fake_control.replies = PONG[:1]
    assert run(status).output.endswith('\n1 node online.\n')


def test_status_options(run, fake_control):
    result = run(status, '-t', '2.5', '-d', 'w1@h,w2@h')
    assert result.exit_code == 0
    options = fake_control.calls[0][3]
    assert (options['timeout'], options['destination']) == (2.5, ['w1@h', 'w2@h'])


def test_status_json(run, fake_control):
    result = run(status, '--json')
    lines = result.output.splitlines()
    assert json.loads(lines[0]) == {'w1@h': {'ok': 'pong'}, 'w2@h': {'ok': 'pong'}}
    assert lines[-1] == '2 nodes online.'


def test_status_quiet(run, fake_control):
    result = run(status, quiet=True)
    assert result.exit_code == 0
    assert 'online' not in result.output


def test_status_without_replies_exits_unavailable(run, fake_control):
    fake_control.replies = []
    result = run(status)
    assert result.exit_code == 69
    assert 'Error: No nodes replied within time constraint' in result.output


# -- inspect -----------------------------------------------------------------------


def test_inspect_ping_output(run, fake_control):
    result = run(inspect, 'ping')
    assert result.exit_code == 0, result.output
    assert result.output == (
        '->  w1@h: OK\n        pong\n'
        '->  w2@h: OK\n        pong\n'
        '\n2 nodes online.\n')


def test_inspect_list_and_dict_replies(run, fake_control):
    fake_control.replies = [{'w1@h': ['tasks.add', 'tasks.mul']}, {'w2@h': []},
                            {'w3@h': {'pid': 1}}]
    result = run(inspect, 'ping')
    assert result.output.splitlines()[:7] == [
        '->  w1@h: OK', '    * tasks.add', '    * tasks.mul',
        '->  w2@h: OK', '    - empty -',
        '->  w3@h: OK', '    {',
    ]


def test_inspect_error_reply(run, fake_control):
    fake_control.replies = [{'w1@h': {'error': "No such command"}}]
    result = run(inspect, 'ping')
    assert result.output.startswith('->  w1@h: ERROR\n        No such command\n')


def test_inspect_json(run, fake_control):
    result = run(inspect, 'ping', '-j')
    assert result.exit_code == 0
    assert json.loads(result.output) == {'w1@h': {'ok': 'pong'}, 'w2@h': {'ok': 'pong'}}


def test_inspect_passes_options(run, fake_control):
    run(inspect, 'ping', '--timeout', '3', '--destination', 'w2@h')
    kind, command, arguments, options = fake_control.calls[0]
    assert (kind, command, arguments) == ('inspect', 'ping', {})
    assert (options['timeout'], options['destination']) == (3.0, ['w2@h'])
    assert callable(options['callback'])


def test_inspect_unknown_command(run, fake_control):
    result = run(inspect, 'frobnicate')
    assert result.exit_code == 2
    assert 'Command frobnicate not recognized. Available inspect commands:' in result.output
    assert 'ping' in result.output
    assert not fake_control.calls


def test_inspect_does_not_accept_control_commands(run, fake_control):
    result = run(inspect, 'shutdown')
    assert result.exit_code == 2
    assert 'not recognized' in result.output


def test_inspect_no_reply(run, fake_control):
    fake_control.replies = []
    result = run(inspect, 'ping')
    assert result.exit_code == 69
    assert 'Error: No nodes replied within time constraint' in result.output


def test_inspect_variadic_arguments(run, fake_control, commands):
    commands(inspect_command, 'test_query', variadic='ids', signature='[id1 [id2]]')
    run(inspect, 'test_query', 'a', 'b')
    assert fake_control.calls[0][1:3] == ('test_query', {'ids': ['a', 'b']})


def test_inspect_list(run, commands):
    commands(inspect_command, 'test_listed', help='Show the listed thing.', signature='[N]')
    result = run(inspect, '--list')
    assert result.exit_code == 0
    assert 'Inspect Commands' in result.output
    assert 'test_listed [N]' in result.output and 'Show the listed thing.' in result.output
    assert 'ping' in result.output
    assert 'shutdown' not in result.output


# -- control -----------------------------------------------------------------------


def test_control_revoke(run, fake_control):
    fake_control.replies = [{'w1@h': {'ok': 'tasks id1, id2 flagged as revoked'}}]
    result = run(control, 'revoke', 'id1', 'id2', '-d', 'w1@h')
    assert result.exit_code == 0, result.output
    assert result.output == '->  w1@h: OK\n        tasks id1, id2 flagged as revoked\n'
    kind, command, arguments, options = fake_control.calls[0]
    assert (kind, command, arguments) == ('broadcast', 'revoke', {'task_id': ['id1', 'id2']})
    assert (options['reply'], options['destination'], options['timeout']) == (
        True, ['w1@h'], 1.0)


def test_control_typed_arguments(run, fake_control, commands):
    commands(control_command, 'test_grow', args=[('n', int), ('name', None)],
             signature='[N=1] [NAME]')
    result = run(control, 'test_grow', '3', 'x')
    assert result.exit_code == 0, result.output
    assert fake_control.calls[0][2] == {'n': 3, 'name': 'x'}


def test_control_argument_of_wrong_type(run, fake_control, commands):
    commands(control_command, 'test_grow', args=[('n', int)], signature='[N=1]')
    result = run(control, 'test_grow', 'many')
    assert result.exit_code == 2
    assert "argument 'n' must be of type int, not 'many'" in result.output
    assert not fake_control.calls


def test_control_too_many_arguments(run, fake_control, commands):
    commands(control_command, 'test_grow', args=[('n', int)], signature='[N=1]')
    result = run(control, 'test_grow', '1', '2')
    assert result.exit_code == 2
    assert "Command 'test_grow' takes arguments: [N=1]" in result.output


def test_control_arguments_then_variadic(run, fake_control, commands):
    commands(control_command, 'test_mixed', args=[('task_name', str)], variadic='rest')
    run(control, 'test_mixed', 'tasks.add', 'a', 'b')
    assert fake_control.calls[0][2] == {'task_name': 'tasks.add', 'rest': ['a', 'b']}


def test_control_json(run, fake_control):
    fake_control.replies = [{'w1@h': {'ok': 'bye'}}]
    result = run(control, 'shutdown', '--json')
    assert json.loads(result.output) == [{'w1@h': {'ok': 'bye'}}]


def test_control_unknown_command(run, fake_control):
    result = run(control, 'ping')  # an inspect command
    assert result.exit_code == 2
    assert 'Available control commands:' in result.output


def test_control_no_reply(run, fake_control):
    fake_control.replies = []
    result = run(control, 'shutdown')
    assert result.exit_code == 69
    assert 'No nodes replied within time constraint' in result.output


def test_control_list(run):
    result = run(control, '--list')
    assert result.exit_code == 0
    assert 'Control Commands' in result.output and 'revoke' in result.output

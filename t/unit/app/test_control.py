"""Tests for celery.app.control: the wire format of commands and how replies
are collected, against kombu pidbox nodes standing in for workers."""
from __future__ import annotations

import socket
import threading
import uuid
from typing import Any, Callable

import pytest
from kombu import Exchange, Queue

from celery.app.control import Control, Inspect, _after_fork_cleanup_control, flatten_reply
from celery.exceptions import DuplicateNodenameWarning, ImproperlyConfigured


def unique(prefix: str) -> str:
    return f'{prefix}-{uuid.uuid4().hex[:10]}'


@pytest.fixture
def ctl_app(app):
    """An app whose mailbox is private to the test (memory is process-wide)."""
    app.conf.control_exchange = unique('ctl')
    app.conf.broker_transport_options = {'polling_interval': 0.01}
    return app


class EchoHandlers(dict):
    """Handlers answering any command with its name and arguments."""

    def __missing__(self, method: str) -> Callable:
        return lambda state, **kwargs: {'method': method, 'arguments': kwargs}


class FakeWorkers:
    """kombu pidbox nodes named like workers, served by a thread."""

    def __init__(self, app: Any, names: list[str], handlers: dict | None = None) -> None:
        self.conn = app.connection_for_write()
        self.calls: list[tuple[str, str, dict]] = []
        mailbox = app.control.mailbox(self.conn)
        for name in names:
            node = mailbox.Node(name, handlers=self._recording(name, handlers),
                                channel=self.conn.default_channel)
            node.listen()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _recording(self, name: str, handlers: dict | None) -> dict:
        calls, base = self.calls, handlers if handlers is not None else EchoHandlers()

        class Recording(dict):
            def __missing__(self, method: str) -> Callable:
                fun = base[method]

                def record(state: Any, **kwargs: Any) -> Any:
                    calls.append((name, method, kwargs))
                    return fun(state, **kwargs)
                return record
        return Recording()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self.conn.drain_events(timeout=0.05)
            except socket.timeout:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


@pytest.fixture
def workers(ctl_app):
    started: list[FakeWorkers] = []

    def start(*names: str, handlers: dict | None = None) -> FakeWorkers:
        fake = FakeWorkers(ctl_app, list(names), handlers)
        started.append(fake)
        return fake
    yield start
    for fake in started:
        fake.close()


@pytest.fixture
def wire(ctl_app):
    """A queue bound to the mailbox exchange: shows what is on the wire."""
    conn = ctl_app.connection_for_write()
    exchange = Exchange(f'{ctl_app.conf.control_exchange}.pidbox', 'fanout',
                        durable=False)
    queue = Queue(unique('spy'), exchange)(conn.default_channel)
    queue.declare()

    def take() -> Any:
        message = queue.get(no_ack=True, accept=['json'])
        assert message is not None, 'nothing was broadcast'
        return message
    yield take
    conn.close()


# -- flatten_reply ------------------------------------------------------------------


def test_flatten_reply_merges_nodes():
    assert flatten_reply([{'a@x': 1}, {'b@x': 2}]) == {'a@x': 1, 'b@x': 2}
    assert flatten_reply([]) == {}


def test_flatten_reply_warns_about_duplicate_names():
    with pytest.warns(DuplicateNodenameWarning, match='a@x'):
        assert flatten_reply([{'a@x': 1}, {'a@x': 2}]) == {'a@x': 2}


# -- the mailbox ----------------------------------------------------------------------


def test_mailbox_matches_celery(ctl_app):
    ctl_app.conf.control_exchange = 'celery'
    mailbox = Control(ctl_app).mailbox
    assert (mailbox.exchange.name, mailbox.exchange.type) == ('celery.pidbox', 'fanout')
    assert (mailbox.reply_exchange.name, mailbox.reply_exchange.type) == (
        'reply.celery.pidbox', 'direct')
    assert mailbox.accept == ctl_app.conf.accept_content
    assert mailbox.serializer == 'json'
    assert mailbox.queue_ttl == mailbox.reply_queue_ttl == 300.0
    assert mailbox.queue_expires == mailbox.reply_queue_expires == 10.0
    assert (mailbox.queue_durable, mailbox.queue_exclusive) == (False, False)
    assert mailbox.producer_pool is ctl_app.amqp.producer_pool


def test_mailbox_follows_settings(ctl_app):
    ctl_app.conf.update(control_exchange='ops', control_queue_ttl=5.0,
                        control_queue_expires=7.0, task_serializer='pickle',
                        accept_content=['json', 'pickle'], control_queue_durable=True)
    mailbox = Control(ctl_app).mailbox
    assert mailbox.exchange.name == 'ops.pidbox'
    assert mailbox.reply_exchange.name == 'reply.ops.pidbox'
    assert mailbox.serializer == 'pickle'
    assert mailbox.accept == ['json', 'pickle']
    assert (mailbox.queue_ttl, mailbox.queue_expires) == (5.0, 7.0)
    assert mailbox.queue_durable is True


def test_durable_and_exclusive_queues_are_refused(ctl_app):
    ctl_app.conf.update(control_queue_durable=True, control_queue_exclusive=True)
    with pytest.raises(ImproperlyConfigured, match='control_queue_durable'):
        Control(ctl_app)


def test_after_fork_drops_the_parents_producer_pool(ctl_app):
    control = ctl_app.control
    assert control.mailbox.producer_pool is not None
    control._after_fork()
    assert 'producer_pool' not in control.mailbox.__dict__


def test_after_fork_errors_are_logged_not_raised(caplog):
    class Broken:
        def _after_fork(self):
            raise RuntimeError('boom')
    caplog.set_level('INFO', logger='celery.app.control')
    _after_fork_cleanup_control(Broken())
    assert 'boom' in caplog.text


# -- the wire format ------------------------------------------------------------------


def test_broadcast_message_body(ctl_app, wire):
    ctl_app.control.broadcast('rate_limit', arguments={'task_name': 't', 'rate_limit': '1/s'},
                              destination=['w1@h'])
    message = wire()
    assert message.payload == {
        'method': 'rate_limit',
        'arguments': {'task_name': 't', 'rate_limit': '1/s'},
        'destination': ['w1@h'], 'pattern': None, 'matcher': None,
    }
    assert message.content_type == 'application/json'
    assert isinstance(message.headers['clock'], int)
    assert message.headers['expires'] > 0


def test_broadcast_with_reply_adds_ticket_and_reply_to(ctl_app, wire):
    assert ctl_app.control.broadcast('ping', reply=True, timeout=0.05) == []
    body = wire().payload
    assert body['method'] == 'ping'
    assert body['reply_to']['exchange'] == f'reply.{ctl_app.conf.control_exchange}.pidbox'
    assert len(body['reply_to']['routing_key']) == 36  # the client's oid (a uuid)
    assert isinstance(body['ticket'], str) and body['ticket']


def test_broadcast_pattern_and_matcher_go_on_the_wire(ctl_app, wire):
    ctl_app.control.broadcast('ping', pattern='w*', matcher='glob')
    body = wire().payload
    assert (body['pattern'], body['matcher']) == ('w*', 'glob')


def test_extra_keyword_arguments_become_command_arguments(ctl_app, wire):
    ctl_app.control.broadcast('shutdown', arguments={'a': 1}, msg='bye')
    assert wire().payload['arguments'] == {'a': 1, 'msg': 'bye'}


def test_destination_must_be_a_list(ctl_app):
    with pytest.raises(ValueError, match='list/tuple'):
        ctl_app.control.broadcast('ping', destination='w1@h')


CONTROL_CALLS = [
    (lambda c: c.revoke('id1'), 'revoke',
     {'task_id': 'id1', 'terminate': False, 'signal': 'SIGTERM'}),
    (lambda c: c.revoke(['id1', 'id2'], terminate=True, signal='SIGKILL'), 'revoke',
     {'task_id': ['id1', 'id2'], 'terminate': True, 'signal': 'SIGKILL'}),
    (lambda c: c.terminate('id1'), 'revoke',
     {'task_id': 'id1', 'terminate': True, 'signal': 'SIGTERM'}),
    (lambda c: c.revoke_by_stamped_headers({'h': 'v'}), 'revoke_by_stamped_headers',
     {'headers': {'h': 'v'}, 'terminate': False, 'signal': 'SIGTERM'}),
    (lambda c: c.rate_limit('tasks.add', '10/m'), 'rate_limit',
     {'task_name': 'tasks.add', 'rate_limit': '10/m'}),
    (lambda c: c.time_limit('tasks.add', soft=10, hard=20), 'time_limit',
     {'task_name': 'tasks.add', 'soft': 10, 'hard': 20}),
    (lambda c: c.pool_grow(), 'pool_grow', {'n': 1}),
    (lambda c: c.pool_grow(n=3), 'pool_grow', {'n': 3}),
    (lambda c: c.pool_shrink(2), 'pool_shrink', {'n': 2}),
    (lambda c: c.autoscale(10, 3), 'autoscale', {'max': 10, 'min': 3}),
    (lambda c: c.add_consumer('q1'), 'add_consumer',
     {'queue': 'q1', 'exchange': None, 'exchange_type': 'direct', 'routing_key': None}),
    (lambda c: c.add_consumer('q1', exchange='ex', exchange_type='topic', routing_key='a.*',
                              options={'queue_durable': False}), 'add_consumer',
     {'queue': 'q1', 'exchange': 'ex', 'exchange_type': 'topic', 'routing_key': 'a.*',
      'queue_durable': False}),
    (lambda c: c.cancel_consumer('q1'), 'cancel_consumer', {'queue': 'q1'}),
    (lambda c: c.shutdown(), 'shutdown', {}),
    (lambda c: c.enable_events(), 'enable_events', {}),
    (lambda c: c.disable_events(), 'disable_events', {}),
    (lambda c: c.heartbeat(), 'heartbeat', {}),
    (lambda c: c.pool_restart(modules=['m'], reload=True), 'pool_restart',
     {'modules': ['m'], 'reload': True, 'reloader': None}),
    (lambda c: c.election('id', 'topic', 'act'), 'election',
     {'id': 'id', 'topic': 'topic', 'action': 'act'}),
]


@pytest.mark.parametrize('call,method,arguments', CONTROL_CALLS)
def test_control_command_wire_format(ctl_app, wire, call, method, arguments):
    call(ctl_app.control)
    body = wire().payload
    assert (body['method'], body['arguments'], body['destination']) == (
        method, arguments, None)
    assert 'reply_to' not in body  # no reply asked for


def test_control_command_destination(ctl_app, wire):
    ctl_app.control.pool_grow(2, destination=['w1@h', 'w2@h'])
    assert wire().payload['destination'] == ['w1@h', 'w2@h']


INSPECT_CALLS = [
    (lambda i: i.ping(), 'ping', {}),
    (lambda i: i.active(), 'active', {'safe': None}),
    (lambda i: i.active(safe=True), 'active', {'safe': True}),
    (lambda i: i.scheduled(), 'scheduled', {}),
    (lambda i: i.reserved(), 'reserved', {}),
    (lambda i: i.stats(), 'stats', {}),
    (lambda i: i.revoked(), 'revoked', {}),
    (lambda i: i.registered(), 'registered', {'taskinfoitems': []}),
    (lambda i: i.registered_tasks('rate_limit'), 'registered', {'taskinfoitems': ['rate_limit']}),
    (lambda i: i.active_queues(), 'active_queues', {}),
    (lambda i: i.conf(), 'conf', {'with_defaults': False}),
    (lambda i: i.conf(with_defaults=True), 'conf', {'with_defaults': True}),
    (lambda i: i.query_task('a', 'b'), 'query_task', {'ids': ['a', 'b']}),
    (lambda i: i.query_task(['a', 'b']), 'query_task', {'ids': ['a', 'b']}),
    (lambda i: i.report(), 'report', {}),
    (lambda i: i.clock(), 'clock', {}),
    (lambda i: i.memsample(), 'memsample', {}),
    (lambda i: i.memdump(), 'memdump', {'samples': 10}),
    (lambda i: i.objgraph('Task', n=5, max_depth=2), 'objgraph',
     {'type': 'Task', 'num': 5, 'max_depth': 2}),
    (lambda i: i.hello('w9@h', revoked={'x': 1}), 'hello',
     {'from_node': 'w9@h', 'revoked': {'x': 1}}),
]


@pytest.mark.parametrize('call,method,arguments', INSPECT_CALLS)
def test_inspect_command_round_trip(ctl_app, workers, call, method, arguments):
    fake = workers('w1@h')
    replies = call(ctl_app.control.inspect(timeout=1.0, limit=1))
    assert replies == {'w1@h': {'method': method, 'arguments': arguments}}
    assert fake.calls == [('w1@h', method, arguments)]


# -- collecting replies ---------------------------------------------------------------


def ping_handlers() -> dict:
    return {'ping': lambda state, **kw: {'ok': 'pong'}}


def test_inspect_ping_reply_shape(ctl_app, workers):
    workers('w1@h', 'w2@h', handlers=ping_handlers())
    assert ctl_app.control.inspect(timeout=0.3).ping() == {
        'w1@h': {'ok': 'pong'}, 'w2@h': {'ok': 'pong'}}


def test_control_ping_returns_a_list_of_replies(ctl_app, workers):
    workers('w1@h', handlers=ping_handlers())
    assert ctl_app.control.ping(timeout=0.3) == [{'w1@h': {'ok': 'pong'}}]


def test_destination_limits_who_answers(ctl_app, workers):
    fake = workers('w1@h', 'w2@h')
    replies = ctl_app.control.inspect(destination=['w2@h'], timeout=1.0).stats()
    assert list(replies) == ['w2@h']
    assert [node for node, _, _ in fake.calls] == ['w2@h']


def test_single_destination_returns_that_nodes_reply(ctl_app, workers):
    workers('w1@h', 'w2@h', handlers=ping_handlers())
    assert ctl_app.control.inspect(destination='w1@h', timeout=1.0).ping() == {'ok': 'pong'}


def test_ping_destination_argument(ctl_app, workers):
    workers('w1@h', 'w2@h', handlers=ping_handlers())
    assert ctl_app.control.inspect(timeout=1.0).ping(destination=['w2@h']) == {
        'w2@h': {'ok': 'pong'}}


def test_pattern_and_matcher_select_nodes(ctl_app, workers):
    fake = workers('alpha@h', 'beta@h', handlers=ping_handlers())
    replies = ctl_app.control.inspect(timeout=0.3, pattern='alpha*', matcher='glob').ping()
    assert replies == {'alpha@h': {'ok': 'pong'}}
    assert [node for node, _, _ in fake.calls] == ['alpha@h']


def test_limit_stops_after_that_many_replies(ctl_app, workers):
    workers('w1@h', 'w2@h', handlers=ping_handlers())
    replies = ctl_app.control.broadcast('ping', reply=True, timeout=1.0, limit=1)
    assert len(replies) == 1


def test_callback_sees_each_reply(ctl_app, workers):
    workers('w1@h', 'w2@h', handlers=ping_handlers())
    seen: list = []
    ctl_app.control.inspect(timeout=0.3, callback=seen.append).ping()
    assert sorted(seen, key=lambda r: list(r)) == [
        {'w1@h': {'ok': 'pong'}}, {'w2@h': {'ok': 'pong'}}]


def test_no_reply_within_timeout(ctl_app):
    assert ctl_app.control.inspect(timeout=0.05).ping() is None
    assert ctl_app.control.ping(timeout=0.05) == []


def test_unknown_command_reply_is_an_error(ctl_app, workers):
    workers('w1@h', handlers={})
    replies = ctl_app.control.broadcast('no_such', reply=True, timeout=1.0, limit=1)
    assert 'error' in replies[0]['w1@h']


def test_control_command_with_reply(ctl_app, workers):
    workers('w1@h', handlers={
        'rate_limit': lambda state, task_name, rate_limit, **kw: {
            'ok': f'new rate limit set successfully for {task_name}'}})
    replies = ctl_app.control.rate_limit('tasks.add', '1/s', reply=True, timeout=1.0, limit=1)
    assert replies == [{'w1@h': {'ok': 'new rate limit set successfully for tasks.add'}}]


def test_inspect_is_bound_to_the_app(ctl_app):
    inspect = ctl_app.control.inspect(timeout=2.0, destination=['a'], limit=3)
    assert isinstance(inspect, Inspect)
    assert inspect.app is ctl_app
    assert (inspect.timeout, inspect.destination, inspect.limit) == (2.0, ['a'], 3)


def test_inspect_connection_is_used(ctl_app, workers):
    workers('w1@h', handlers=ping_handlers())
    with ctl_app.connection_for_write() as conn:
        assert ctl_app.control.inspect(connection=conn, timeout=0.3).ping() == {
            'w1@h': {'ok': 'pong'}}


# -- revoke_by_stamped_headers, purge ------------------------------------------------------


def test_revoke_by_stamped_headers_revokes_the_ids_found(ctl_app, monkeypatch):
    sent: list = []

    def fake_broadcast(command, **kwargs):
        sent.append((command, kwargs['arguments']))
        if command == 'revoke_by_stamped_headers':
            return [{'w1@h': {'ok': {'id1'}}}, {'w2@h': {'ok': {'id2'}}}]
        return [{'w1@h': {'ok': 'revoked'}}]
    monkeypatch.setattr(ctl_app.control, 'broadcast', fake_broadcast)
    result = ctl_app.control.revoke_by_stamped_headers({'h': 'v'}, terminate=True, reply=True)
    assert result == [{'w1@h': {'ok': 'revoked'}}]
    command, arguments = sent[1]
    assert command == 'revoke'
    assert sorted(arguments['task_id']) == ['id1', 'id2']
    assert arguments['terminate'] is True


def test_revoke_by_stamped_headers_returns_plain_replies(ctl_app, monkeypatch):
    replies = [{'w1@h': {'ok': 'headers h:v flagged as revoked'}}]
    monkeypatch.setattr(ctl_app.control, 'broadcast', lambda command, **kw: replies)
    assert ctl_app.control.revoke_by_stamped_headers({'h': 'v'}, reply=True) is replies


def test_purge_deletes_waiting_tasks(ctl_app):
    ctl_app.conf.task_default_queue = unique('purge')
    for _ in range(3):
        ctl_app.send_task('tasks.add', (2, 2))
    assert ctl_app.control.purge() == 3
    assert ctl_app.control.discard_all() == 0

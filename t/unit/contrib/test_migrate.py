"""Moving and migrating task messages, on the in-memory broker."""
from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest
from kombu import Exchange, Queue

from celery.contrib import migrate as m
from celery.contrib.testing.mocks import TaskMessage, TaskMessage1
from celery.utils.uuid import uuid


@pytest.fixture
def names():
    suffix = uuid()[:8]
    return {k: f'{k}-{suffix}' for k in ('src', 'dst', 'other')}


@pytest.fixture
def mapp(app, names):
    """An app whose task queues are the test's unique queues."""
    app.conf.task_queues = [Queue(names['src'], Exchange(names['src']), names['src']),
                            Queue(names['dst'], Exchange(names['dst']), names['dst'])]
    app.conf.task_default_queue = names['src']
    return app


def drain(app, queue_name):
    """Return (and ack) the messages in ``queue_name``."""
    out = []
    with app.connection_for_read() as conn:
        bound = Queue(queue_name, Exchange(queue_name), queue_name)(conn.default_channel)
        bound.declare()
        while True:
            message = bound.get(accept={'application/json', 'application/x-test'})
            if message is None:
                return out
            out.append(message)
            message.ack()


def send(app, name, queue, **kwargs):
    return app.send_task(name, (1, 2), queue=queue, **kwargs).id


class test_migrate_tasks:

    def test_copies_messages_and_renames_queues(self, mapp, names):
        # Given three tasks in the source queue
        ids = [send(mapp, 'tasks.add', names['src']) for _ in range(3)]
        seen = []
        # When they are migrated, acking, to another queue
        with mapp.connection_for_write() as conn:
            state = m.migrate_tasks(conn, conn, app=mapp, queues={names['src']: names['dst']},
                                    ack_messages=True, timeout=0.2,
                                    callback=lambda state, body, msg: seen.append(msg))
        # Then they are all in the destination, intact, and gone from the source
        moved = drain(mapp, names['dst'])
        assert [msg.headers['id'] for msg in moved] == ids
        assert all(msg.headers['task'] == 'tasks.add' for msg in moved)
        assert [msg.decode()[0] for msg in moved] == [[1, 2]] * 3
        assert drain(mapp, names['src']) == []
        assert state.count == 3 and len(seen) == 3
        assert all(msg.acknowledged for msg in seen)
        assert state.total_apx == 3

    def test_without_ack_messages_stay_unacked(self, mapp, names):
        # (The memory transport drops unacked messages on close; real brokers
        # requeue them: see the integration tests: the ack is what counts.)
        ids = [send(mapp, 'tasks.add', names['src']) for _ in range(2)]
        seen = []
        with mapp.connection_for_write() as conn:
            m.migrate_tasks(conn, conn, app=mapp, queues=f"{names['src']}:{names['dst']}",
                            timeout=0.2, callback=lambda state, body, msg: seen.append(msg))
            assert [msg.acknowledged for msg in seen] == [False, False]
        assert [msg.headers['id'] for msg in drain(mapp, names['dst'])] == ids

    def test_task_filter(self, mapp, names):
        send(mapp, 'tasks.add', names['src'])
        wanted = send(mapp, 'tasks.mul', names['src'])
        with mapp.connection_for_write() as conn:
            state = m.migrate_tasks(conn, conn, app=mapp, queues={names['src']: names['dst']},
                                    tasks='tasks.mul', ack_messages=True, timeout=0.2)
        # Only the wanted task moved (the other one was left unacked).
        assert [msg.headers['id'] for msg in drain(mapp, names['dst'])] == [wanted]
        assert state.count == 1

    def test_limit(self, mapp, names):
        ids = [send(mapp, 'tasks.add', names['src']) for _ in range(4)]
        with mapp.connection_for_write() as conn:
            state = m.migrate_tasks(conn, conn, app=mapp, queues={names['src']: names['dst']},
                                    limit=2, ack_messages=True, timeout=0.2)
        assert state.count == 2
        assert [msg.headers['id'] for msg in drain(mapp, names['dst'])] == ids[:2]
        assert [msg.headers['id'] for msg in drain(mapp, names['src'])] == ids[2:]


class test_move:

    def test_move_task_by_id(self, mapp, names):
        keep, wanted = (send(mapp, 'tasks.add', names['src']) for _ in range(2))
        dest = Queue(names['other'], Exchange(names['other']), names['other'])
        state = m.move_task_by_id(wanted, dest, app=mapp, timeout=0.2)
        assert state.filtered == 1
        assert [msg.headers['id'] for msg in drain(mapp, names['other'])] == [wanted]
        # (``keep`` was left unacked: the memory transport drops such messages
        # on close, real brokers requeue them; see the integration tests.)
        assert keep != wanted

    def test_move_by_idmap_stops_when_all_found(self, mapp, names):
        ids = [send(mapp, 'tasks.add', names['src']) for _ in range(3)]
        dest = Queue(names['other'], Exchange(names['other']), names['other'])
        state = m.move_by_idmap({ids[0]: dest, ids[1]: dest}, app=mapp, timeout=0.2)
        assert state.filtered == 2
        assert [msg.headers['id'] for msg in drain(mapp, names['other'])] == ids[:2]

    def test_move_by_taskmap(self, mapp, names):
        send(mapp, 'tasks.add', names['src'])
        mul = send(mapp, 'tasks.mul', names['src'])
        dest = Queue(names['other'], Exchange(names['other']), names['other'])
        m.move_by_taskmap({'tasks.mul': dest}, app=mapp, timeout=0.2)
        assert [msg.headers['id'] for msg in drain(mapp, names['other'])] == [mul]

    def test_predicate_returning_exchange_and_key(self, mapp, names):
        tid = send(mapp, 'tasks.add', names['src'])
        drain(mapp, names['dst'])  # declares the destination
        progress = []
        state = m.move(lambda body, message: (names['dst'], names['dst']), app=mapp,
                       source=[names['src']], timeout=0.2,
                       callback=lambda state, body, message: progress.append(repr(state)))
        assert [msg.headers['id'] for msg in drain(mapp, names['dst'])] == [tid]
        assert progress == ['^1'] and state.filtered == 1

    def test_true_uses_default_destination(self, mapp, names):
        tid = send(mapp, 'tasks.add', names['src'])
        drain(mapp, names['dst'])  # declares the destination
        m.move(lambda body, message: True, exchange=names['dst'], routing_key=names['dst'],
               app=mapp, source=[names['src']], timeout=0.2)
        assert [msg.headers['id'] for msg in drain(mapp, names['dst'])] == [tid]

    def test_move_direct(self, mapp, names):
        tid = send(mapp, 'tasks.add', names['src'])
        worker = f'w-{names["src"]}@host'
        m.move_direct_by_id(tid, worker, app=mapp, timeout=0.2)
        with mapp.connection_for_read() as conn:
            bound = m.worker_direct(worker)(conn.default_channel)
            message = bound.get(accept={'application/json'})
            assert message.headers['id'] == tid
            message.ack()

    def test_raw_body_kept(self, mapp, names):
        # Given a message in a content type we don't decode
        with mapp.producer_or_acquire() as producer:
            producer.publish(b'\x00opaque\xff', exchange=names['src'], routing_key=names['src'],
                             content_type='application/x-test', content_encoding='binary',
                             headers={'task': 'tasks.raw', 'id': 'raw-1'},
                             declare=[mapp.amqp.queues[names['src']]])
        dest = Queue(names['other'], Exchange(names['other']), names['other'])
        # When it is moved
        m.move_task_by_id('raw-1', dest, app=mapp, timeout=0.2,
                          accept={'application/x-test'})
        # Then the body and content type are unchanged
        moved, = drain(mapp, names['other'])
        assert moved.body == b'\x00opaque\xff'
        assert moved.content_type == 'application/x-test'
        assert moved.headers == {'task': 'tasks.raw', 'id': 'raw-1'}


class test_predicates:

    def test_protocol2(self):
        msg = TaskMessage('tasks.add', id='abc')
        assert m.task_id_eq('abc', msg.payload, msg)
        assert not m.task_id_eq('xyz', msg.payload, msg)
        assert m.task_id_in({'abc', 'x'}, msg.payload, msg)
        assert m.task_name_of(msg.payload, msg) == 'tasks.add'

    def test_protocol1(self):
        msg = TaskMessage1('tasks.add', id='abc')
        assert m.task_id_eq('abc', msg.payload, msg)
        assert m.task_name_of(msg.payload, msg) == 'tasks.add'

    def test_correlation_id_fallback(self):
        msg = TaskMessage1('tasks.add', id='abc')
        assert m.task_id_of(None, msg) == 'abc'

    def test_filter_callback(self):
        calls = []
        cb = m.filter_callback(lambda body, message: calls.append(body), ['tasks.add'])
        add, mul = TaskMessage('tasks.add'), TaskMessage('tasks.mul')
        cb(add.payload, add)
        cb(mul.payload, mul)
        assert calls == [add.payload]


class test_helpers:

    @pytest.mark.parametrize('value,expected', [
        (None, {}), ('a', {'a': 'a'}), ('a,b:c', {'a': 'a', 'b': 'c'}),
        (['a:x', 'b'], {'a': 'x', 'b': 'b'}), ({'a': 'b'}, {'a': 'b'}),
    ])
    def test_prepare_queues(self, value, expected):
        assert m.prepare_queues(value) == expected

    def test_expand_dest(self):
        assert m.expand_dest(('ex', 'rk'), 'd', 'k') == ('ex', 'rk')
        assert m.expand_dest(True, 'd', 'k') == ('d', 'k')
        assert m.expand_dest('xyz', 'd', 'k') == ('d', 'k')

    def test_state(self):
        state = m.State()
        assert repr(state) == '0/?' and state.strtotal == '?'
        state.count, state.total_apx = 3, 10
        assert repr(state) == '3/10'
        state.filtered = 2
        assert repr(state) == '^2'

    def test_filter_status(self):
        state = m.State()
        state.filtered, state.total_apx = 1, 5
        msg = TaskMessage('tasks.add', id='abc')
        out = io.StringIO()
        with redirect_stdout(out):
            m.filter_status(state, msg.payload, msg)
        assert out.getvalue() == 'Moving task 1/5: tasks.add[abc]\n'


CLI_APP = '''
from celery import Celery
from kombu import Exchange, Queue
app = Celery('cliapp', set_as_current=False, fixups=[], broker='memory://')
app.conf.task_queues = [Queue({src!r}, Exchange({src!r}), {src!r})]
'''


class test_migrate_command:

    @pytest.fixture
    def cli_app(self, tmp_path, monkeypatch, names):
        module = f'cliapp_{names["src"].replace("-", "_")}'
        (tmp_path / f'{module}.py').write_text(CLI_APP.format(src=names['src']))
        monkeypatch.syspath_prepend(str(tmp_path))
        return f'{module}:app'

    def run(self, *args):
        from click.testing import CliRunner

        from celery.bin.celery import celery
        return CliRunner().invoke(celery, list(args))

    def test_migrates(self, cli_app, mapp, names):
        # Given two tasks in the source queue
        ids = [send(mapp, 'tasks.add', names['src']) for _ in range(2)]
        # When they are migrated with acks, renaming the queue
        result = self.run('-A', cli_app, 'migrate', 'memory://', 'memory://',
                          '-Q', f"{names['src']}:{names['dst']}", '--ack-messages',
                          '--timeout', '0.2')
        # Then each is reported and lands in the destination queue
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0].startswith('Migrating task 1/2: [[1, 2], {}, ')
        assert lines[1].startswith('Migrating task 2/2: ')
        assert [msg.headers['id'] for msg in drain(mapp, names['dst'])] == ids

    def test_limit_and_tasks(self, cli_app, mapp, names):
        send(mapp, 'tasks.add', names['src'])
        wanted = [send(mapp, 'tasks.mul', names['src']) for _ in range(3)]
        result = self.run('-A', cli_app, 'migrate', 'memory://', 'memory://',
                          '-Q', f"{names['src']}:{names['dst']}", '-a', '-t', '0.2',
                          '-n', '2', '-T', 'tasks.mul')
        assert result.exit_code == 0, result.output
        assert len(result.output.splitlines()) == 2
        assert [msg.headers['id'] for msg in drain(mapp, names['dst'])] == wanted[:2]

    @pytest.mark.slow  # kombu retries the connection for ~6 s
    def test_unreachable_broker(self, cli_app):
        result = self.run('-A', cli_app, 'migrate', 'amqp://guest@127.0.0.1:1//',
                          'memory://', '-t', '0.1')
        assert result.exit_code == 1
        assert result.output.startswith('Error: cannot reach the broker:')
        assert len(result.output.strip().splitlines()) == 1

"""Tests for celery.app.amqp: queues, message building, publishing, reading."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from types import MappingProxyType, SimpleNamespace

import pytest
from kombu import Exchange, Producer, Queue
from kombu.common import Broadcast
from kombu.exceptions import EncodeError, SerializerNotInstalled

from celery import signals
from celery.app.amqp import (AMQP, QUEUE_FORMAT, Queues, hybrid_to_proto2,
                             proto1_to_proto2, task_message, utf8dict)
from celery.exceptions import InvalidTaskError, QueueNotFound

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)

V2_HEADER_KEYS = {
    'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index',
    'retries', 'timelimit', 'root_id', 'parent_id', 'argsrepr', 'kwargsrepr',
    'origin', 'ignore_result', 'replaced_task_nesting', 'stamped_headers', 'stamps',
}


def unique(prefix: str = 'q') -> str:
    return f'{prefix}-{uuid.uuid4().hex[:12]}'


def read_one(app, name: str, accept=('json',)):
    """Take one raw message off queue ``name`` (or None)."""
    with app.connection_for_write() as conn:
        queue = Queue(name, Exchange(name), name)(conn.default_channel)
        return queue.get(no_ack=True, accept=list(accept))


def publish(app, name='proj.add', args=(2, 2), kwargs=None, message_kw=None, **options):
    """Build a message and send it the way app.send_task does."""
    amqp = app.amqp
    msg = amqp.create_task_message(
        options.pop('task_id', None) or str(uuid.uuid4()), name, args, kwargs or {},
        **(message_kw or {}))
    options = amqp.router.route(options, name, args, kwargs, None)
    with app.producer_or_acquire() as producer:
        amqp.send_task_message(producer, name, msg, **options)
    return msg


class Recorder:
    """A signal receiver / event dispatcher that remembers its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))

    def publish(self, type, fields, producer, **kwargs):
        self.calls.append(((type, dict(fields), producer), kwargs))


# -- Queues ------------------------------------------------------------------------


class test_Queues:

    def test_default_queue(self, app):
        q = app.amqp.queues['celery']
        assert (q.name, q.exchange.name, q.exchange.type, q.routing_key) == (
            'celery', 'celery', 'direct', 'celery')
        assert app.amqp.default_queue is q
        assert q.queue_arguments is None

    def test_task_queues_list(self, app):
        app.conf.task_queues = [Queue('a', Exchange('ex', 'topic'), 'a.#'), Queue('b')]
        qs = app.amqp.queues
        assert set(qs) == {'a', 'b'}
        assert qs['a'].exchange.type == 'topic'
        # A queue without exchange gets the default exchange and routing key.
        assert qs['b'].exchange.name == 'celery'
        assert qs['b'].routing_key == 'celery'

    def test_default_exchange_settings(self, app):
        app.conf.task_default_exchange = 'tasks'
        app.conf.task_default_exchange_type = 'topic'
        app.conf.task_default_routing_key = 'task.default'
        q = app.amqp.queues['celery']
        assert (q.exchange.name, q.exchange.type, q.routing_key) == (
            'tasks', 'topic', 'task.default')

    def test_dict_style_queues(self, app):
        app.conf.task_queues = {'cpubound': {'exchange': 'cpubound', 'binding_key': 'cpu'}}
        q = app.amqp.queues['cpubound']
        assert q.exchange.name == 'cpubound'
        assert q.routing_key == 'cpu'

    def test_add_compat_routing_key_defaults_to_name(self):
        qs = Queues()
        q = qs.add('plain', exchange='ex')
        assert q.routing_key == 'plain'
        assert qs['plain'] is q

    def test_missing_queue_created(self, app):
        q = app.amqp.queues['fresh']
        assert (q.name, q.exchange.name, q.exchange.type, q.routing_key) == (
            'fresh', 'fresh', 'direct', 'fresh')
        assert 'fresh' in app.amqp.queues

    def test_missing_queue_refused(self, app):
        app.conf.task_create_missing_queues = False
        with pytest.raises(KeyError):
            app.amqp.queues['fresh']

    def test_missing_queue_quorum_and_exchange_type(self, app):
        app.conf.task_create_missing_queue_type = 'quorum'
        app.conf.task_create_missing_queue_exchange_type = 'topic'
        q = app.amqp.queues['fresh']
        assert q.queue_arguments == {'x-queue-type': 'quorum'}
        assert q.exchange.type == 'topic'

    def test_invalid_missing_queue_type(self):
        with pytest.raises(ValueError, match='classic.*quorum'):
            Queues(create_missing_queue_type='stream')

    def test_max_priority(self, app):
        app.conf.task_queue_max_priority = 10
        app.conf.task_queues = [Queue('a'), Queue('b', queue_arguments={'x-max-priority': 3})]
        qs = app.amqp.queues
        assert qs['a'].queue_arguments == {'x-max-priority': 10}
        assert qs['b'].queue_arguments == {'x-max-priority': 3}
        assert qs['fresh'].queue_arguments == {'x-max-priority': 10}

    def test_quorum_default_queue_has_no_max_priority(self, app):
        app.conf.task_default_queue_type = 'quorum'
        app.conf.task_queue_max_priority = 10
        q = app.amqp.queues['celery']
        assert q.queue_arguments == {'x-queue-type': 'quorum'}

    def test_invalid_default_queue_type(self, app):
        app.conf.task_default_queue_type = 'lazy'
        with pytest.raises(ValueError, match='task_default_queue_type'):
            app.amqp.queues

    def test_select_deselect(self):
        qs = Queues([Queue('a'), Queue('b'), Queue('c')])
        assert set(qs.consume_from) == {'a', 'b', 'c'}
        qs.select(['a', 'b'])
        assert set(qs.consume_from) == {'a', 'b'}
        qs.deselect('b')
        assert set(qs.consume_from) == {'a'}
        qs.select_add(Queue('d'))
        assert set(qs.consume_from) == {'a', 'd'}
        assert 'd' in qs

    def test_deselect_without_selection(self):
        qs = Queues([Queue('a'), Queue('b')])
        qs.deselect(['a'])
        assert set(qs.consume_from) == {'b'}
        assert set(qs) == {'a', 'b'}
        qs.select_add('c')
        assert set(qs.consume_from) == {'b', 'c'}

    def test_select_unknown_creates_or_raises(self):
        qs = Queues([Queue('a')], create_missing=False)
        with pytest.raises(KeyError):
            qs.select('zzz')
        qs = Queues([Queue('a')])
        qs.select('zzz')
        assert set(qs.consume_from) == {'zzz'}

    def test_alias(self):
        q = Queue('long.name', alias='short')
        qs = Queues([q])
        assert qs['short'] is q
        qs.deselect('short')
        assert qs.consume_from == {}

    def test_format(self):
        qs = Queues([Queue('b', Exchange('bx', 'topic'), 'b.#'), Queue('a', Exchange('a'), 'a')])
        assert qs.format() == (
            '.> a                exchange=a(direct) key=a\n'
            '.> b                exchange=bx(topic) key=b.#')
        assert qs.format(indent=2, indent_first=False) == (
            '.> a                exchange=a(direct) key=a\n'
            '  .> b                exchange=bx(topic) key=b.#')
        assert Queues().format() == ''
        assert QUEUE_FORMAT.format(Queue('x', Exchange('x'), 'x')).startswith('.> x ')

    def test_queue_module_is_public(self):
        assert Queues.__module__ == 'celery.app.amqp'

    def test_queues_setter(self, app):
        app.amqp.queues = [Queue('only')]
        assert set(app.amqp.queues) == {'only'}

    def test_task_consumer(self, app):
        app.conf.task_queues = [Queue('a'), Queue('b')]
        app.amqp.queues.select('a')
        with app.connection_for_read() as conn:
            consumer = app.amqp.TaskConsumer(conn.default_channel)
            assert [q.name for q in consumer.queues] == ['a']
            assert consumer.accept == {'application/json'}
            consumer = app.amqp.TaskConsumer(conn.default_channel, queues=[Queue('z')],
                                             accept=['pickle'])
            assert [q.name for q in consumer.queues] == ['z']
            assert consumer.accept == {'application/x-python-serialize'}


class test_AMQPObjects:

    def test_classes(self, app):
        assert app.amqp.Producer is Producer
        assert isinstance(app.amqp, AMQP)
        assert app.amqp.argsrepr_maxsize == app.amqp.kwargsrepr_maxsize == 1024

    def test_producer_pool(self, app):
        pool = app.amqp.producer_pool
        assert pool is app.amqp.producer_pool
        assert app.amqp.publisher_pool is pool
        with pool.acquire() as producer:
            assert isinstance(producer, Producer)

    def test_router_and_flush_routes(self, app):
        app.conf.task_routes = {'proj.add': {'queue': 'math'}}
        assert app.amqp.router.route({}, 'proj.add')['queue'].name == 'math'
        app.conf.task_routes = {'proj.add': {'queue': 'other'}}
        app.amqp.flush_routes()
        assert app.amqp.router.route({}, 'proj.add')['queue'].name == 'other'

    def test_router_default_queue(self, app):
        assert app.amqp.router.route({}, 'any.task')['queue'] is app.amqp.default_queue

    def test_router_unknown_queue_without_create_missing(self, app):
        app.conf.task_create_missing_queues = False
        with pytest.raises(QueueNotFound):
            app.amqp.router.route({'queue': 'nope'}, 'x')

    def test_router_setter(self, app):
        custom = object()
        app.amqp.router = custom
        assert app.amqp.router is custom
        app.amqp.flush_routes()
        assert app.amqp.router is not custom

    def test_queues_setter_resets_default_queue(self, app):
        first = app.amqp.default_queue
        app.amqp.queues = [Queue('celery', Exchange('other'), 'celery')]
        assert app.amqp.default_queue is not first
        assert app.amqp.default_queue.exchange.name == 'other'

    def test_utf8dict(self):
        assert utf8dict({b'a': 1, 'b': 2}) == {'a': 1, 'b': 2}


# -- building messages ---------------------------------------------------------------


class test_AsTaskV2:

    def test_headers_properties_body(self, app):
        m = app.amqp.as_task_v2('tid', 'proj.add', (2, 2), {'z': 1}, now=NOW)
        assert isinstance(m, task_message)
        assert set(m.headers) == V2_HEADER_KEYS
        h = m.headers
        assert h['lang'] == 'py'
        assert h['task'] == 'proj.add'
        assert h['id'] == h['root_id'] == 'tid'
        assert h['eta'] is None and h['expires'] is None
        assert h['retries'] == 0
        assert h['timelimit'] == [None, None]
        assert h['argsrepr'] == '(2, 2)'
        assert h['kwargsrepr'] == "{'z': 1}"
        assert h['ignore_result'] is False
        assert h['replaced_task_nesting'] == 0
        assert h['stamped_headers'] is None and h['stamps'] == {}
        assert m.properties == {'correlation_id': 'tid', 'reply_to': ''}
        assert m.body == ((2, 2), {'z': 1}, {
            'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None})
        assert m.sent_event is None

    def test_origin_is_node_name_of_sender(self, app):
        import os
        h = app.amqp.as_task_v2('tid', 'x').headers
        name, _, host = h['origin'].partition('@')
        assert name == f'gen{os.getpid()}' and host
        assert app.amqp.as_task_v2('tid', 'x', origin='w1@h').headers['origin'] == 'w1@h'

    def test_all_fields(self, app):
        m = app.amqp.as_task_v2(
            'tid', 'proj.add', [1], {}, group_id='g', group_index=2, retries=3,
            chord={'task': 'c'}, callbacks=[{'task': 'cb'}], errbacks=[{'task': 'eb'}],
            reply_to='rq', time_limit=10, soft_time_limit=5, root_id='r', parent_id='p',
            shadow='sh', chain=[{'task': 'n'}], ignore_result=True,
            argsrepr='A', kwargsrepr='K', replaced_task_nesting=1,
            stamped_headers=['s1'], s1='v1')
        h = m.headers
        assert (h['group'], h['group_index'], h['retries']) == ('g', 2, 3)
        assert h['timelimit'] == [10, 5]  # (hard, soft)
        assert (h['root_id'], h['parent_id'], h['shadow']) == ('r', 'p', 'sh')
        assert (h['argsrepr'], h['kwargsrepr']) == ('A', 'K')
        assert h['ignore_result'] is True
        assert h['replaced_task_nesting'] == 1
        assert h['stamped_headers'] == ['s1'] and h['stamps'] == {'s1': 'v1'}
        assert m.properties == {'correlation_id': 'tid', 'reply_to': 'rq'}
        assert m.body == ([1], {}, {'callbacks': [{'task': 'cb'}], 'errbacks': [{'task': 'eb'}],
                                    'chain': [{'task': 'n'}], 'chord': {'task': 'c'}})

    def test_countdown_becomes_eta(self, app):
        h = app.amqp.as_task_v2('t', 'x', countdown=30, now=NOW).headers
        assert h['eta'] == '2024-03-01T12:00:30+00:00'

    def test_countdown_uses_app_now(self, app):
        before = datetime.now(timezone.utc)
        eta = datetime.fromisoformat(app.amqp.as_task_v2('t', 'x', countdown=5).headers['eta'])
        assert before + timedelta(seconds=5) <= eta <= datetime.now(timezone.utc) + timedelta(
            seconds=5)
        assert eta.utcoffset() == timedelta(0)

    def test_expires_seconds(self, app):
        h = app.amqp.as_task_v2('t', 'x', expires=60, now=NOW).headers
        assert h['expires'] == '2024-03-01T12:01:00+00:00'
        h = app.amqp.as_task_v2('t', 'x', expires=1.5, now=NOW).headers
        assert h['expires'] == '2024-03-01T12:00:01.500000+00:00'

    def test_expires_timedelta(self, app):
        h = app.amqp.as_task_v2('t', 'x', expires=timedelta(minutes=1), now=NOW).headers
        assert h['expires'] == '2024-03-01T12:01:00+00:00'

    def test_expires_string_passes_through(self, app):
        h = app.amqp.as_task_v2('t', 'x', expires='2030-01-01T00:00:00').headers
        assert h['expires'] == '2030-01-01T00:00:00'

    def test_naive_datetimes_are_utc(self, app):
        h = app.amqp.as_task_v2('t', 'x', eta=datetime(2030, 1, 1, 8),
                                expires=datetime(2030, 1, 2)).headers
        assert h['eta'] == '2030-01-01T08:00:00+00:00'
        assert h['expires'] == '2030-01-02T00:00:00+00:00'

    def test_aware_eta_converted_to_utc(self, app):
        tz = timezone(timedelta(hours=2))
        h = app.amqp.as_task_v2('t', 'x', eta=datetime(2030, 1, 1, 8, tzinfo=tz)).headers
        assert h['eta'] == '2030-01-01T06:00:00+00:00'

    def test_app_timezone_for_naive_eta(self, app):
        app.conf.timezone = 'Europe/Berlin'
        h = app.amqp.as_task_v2('t', 'x', eta=datetime(2030, 1, 1, 8)).headers
        assert h['eta'] == '2030-01-01T07:00:00+00:00'

    def test_local_times_without_enable_utc(self, app):
        app.conf.enable_utc = False
        app.conf.timezone = 'Europe/Berlin'
        h = app.amqp.as_task_v2('t', 'x', eta=datetime(2030, 7, 1, 8)).headers
        assert h['eta'] == '2030-07-01T08:00:00+02:00'

    def test_eta_string_passes_through(self, app):
        h = app.amqp.as_task_v2('t', 'x', eta='2030-01-01T00:00:00+00:00').headers
        assert h['eta'] == '2030-01-01T00:00:00+00:00'

    def test_eta_and_countdown_is_an_error(self, app):
        with pytest.raises(ValueError, match='eta or countdown'):
            app.amqp.as_task_v2('t', 'x', countdown=1, eta=NOW)

    @pytest.mark.parametrize('bad', ['10', [1], object()])
    def test_countdown_type_checked(self, app, bad):
        with pytest.raises(TypeError, match='countdown'):
            app.amqp.as_task_v2('t', 'x', countdown=bad)

    def test_countdown_out_of_range(self, app):
        with pytest.raises(ValueError, match='countdown is out of range'):
            app.amqp.as_task_v2('t', 'x', countdown=-2 ** 40)
        with pytest.raises(ValueError, match='expires is out of range'):
            app.amqp.as_task_v2('t', 'x', expires=-2 ** 40)

    @pytest.mark.parametrize('bad', [object(), 12])
    def test_eta_type_checked(self, app, bad):
        with pytest.raises(TypeError, match='eta'):
            app.amqp.as_task_v2('t', 'x', eta=bad)

    def test_expires_type_checked(self, app):
        with pytest.raises(TypeError, match='expires'):
            app.amqp.as_task_v2('t', 'x', expires=[1])

    def test_args_conversion(self, app):
        assert app.amqp.as_task_v2('t', 'x', [1, 2]).body[0] == [1, 2]
        assert app.amqp.as_task_v2('t', 'x', range(3)).body[0] == (0, 1, 2)
        assert app.amqp.as_task_v2('t', 'x', None).body[0] == ()

    @pytest.mark.parametrize('bad', ['abc', b'ab', 5, {'a': 1}, {1, 2}])
    def test_args_must_be_a_sequence(self, app, bad):
        with pytest.raises(TypeError, match='task args must be a list or tuple'):
            app.amqp.as_task_v2('t', 'x', bad)

    def test_kwargs_mapping(self, app):
        m = app.amqp.as_task_v2('t', 'x', (), MappingProxyType({'a': 1}))
        assert m.body[1] == {'a': 1} and type(m.body[1]) is dict

    @pytest.mark.parametrize('bad', [[('a', 1)], 'a=1', 3])
    def test_kwargs_must_be_a_mapping(self, app, bad):
        with pytest.raises(TypeError, match='keyword arguments must be a mapping'):
            app.amqp.as_task_v2('t', 'x', (), bad)

    def test_argsrepr_is_bounded(self, app):
        h = app.amqp.as_task_v2('t', 'x', ('a' * 5000,), {'k': 'b' * 5000}).headers
        assert len(h['argsrepr']) <= 1024 + 3 and h['argsrepr'].endswith('...')
        assert len(h['kwargsrepr']) <= 1024 + 3 and h['kwargsrepr'].endswith('...')

    def test_sent_event(self, app):
        m = app.amqp.as_task_v2('tid', 'proj.add', (1,), {}, countdown=1, now=NOW,
                                create_sent_event=True, parent_id='p')
        assert m.sent_event == {
            'uuid': 'tid', 'root_id': 'tid', 'parent_id': 'p', 'name': 'proj.add',
            'args': '(1,)', 'kwargs': '{}', 'retries': 0,
            'eta': '2024-03-01T12:00:01+00:00', 'expires': None,
        }

    def test_unknown_options_are_ignored(self, app):
        m = app.amqp.as_task_v2('t', 'x', queue='q', priority=3, routing_key='rk')
        assert set(m.headers) == V2_HEADER_KEYS


class test_AsTaskV1:

    def test_body(self, app):
        m = app.amqp.as_task_v1('tid', 'proj.add', (2, 2), {'k': 1}, group_id='g',
                                countdown=10, now=NOW, time_limit=3, soft_time_limit=2,
                                callbacks=['cb'], errbacks=['eb'], chord='ch', retries=1)
        assert m.headers == {}
        assert m.properties == {'correlation_id': 'tid', 'reply_to': ''}
        assert m.body == {
            'task': 'proj.add', 'id': 'tid', 'args': (2, 2), 'kwargs': {'k': 1},
            'group': 'g', 'group_index': None, 'retries': 1,
            'eta': '2024-03-01T12:00:10+00:00', 'expires': None, 'utc': True,
            'callbacks': ['cb'], 'errbacks': ['eb'], 'timelimit': (3, 2),
            'taskset': 'g', 'chord': 'ch',
        }
        assert m.sent_event is None

    def test_sent_event(self, app):
        m = app.amqp.as_task_v1('tid', 'n', (1,), create_sent_event=True)
        assert m.sent_event['uuid'] == 'tid' and m.sent_event['args'] == '(1,)'

    def test_checks_args(self, app):
        with pytest.raises(TypeError):
            app.amqp.as_task_v1('tid', 'n', 'abc')
        with pytest.raises(TypeError):
            app.amqp.as_task_v1('tid', 'n', (), [1])

    def test_create_task_message_follows_task_protocol(self, app):
        assert app.amqp.create_task_message == app.amqp.as_task_v2
        app2_amqp = AMQP(app)
        app.conf.task_protocol = 1
        assert app2_amqp.create_task_message == app2_amqp.as_task_v1

    def test_unsupported_protocol(self, app):
        app.conf.task_protocol = 3
        with pytest.raises(ValueError, match='task_protocol'):
            app.amqp.create_task_message


# -- publishing ----------------------------------------------------------------------


class test_SendTaskMessage:

    def test_message_on_the_wire(self, app, qname):
        msg = publish(app, 'proj.add', (2, 2), {'y': 1}, task_id='tid')
        m = read_one(app, qname)
        assert m is not None
        assert m.headers == msg.headers
        assert m.headers['task'] == 'proj.add'
        assert m.properties['correlation_id'] == 'tid'
        assert m.properties['reply_to'] == ''
        assert m.properties['delivery_mode'] == 2
        assert m.delivery_info['routing_key'] == qname
        assert m.delivery_info['exchange'] == ''
        assert m.content_type == 'application/json'
        assert m.content_encoding == 'utf-8'
        assert m.decode() == [[2, 2], {'y': 1}, {
            'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}]

    def test_protocol_1_on_the_wire(self, app, qname):
        app.conf.task_protocol = 1
        publish(app, 'proj.add', (2, 2), task_id='tid')
        m = read_one(app, qname)
        body = m.decode()
        assert body['task'] == 'proj.add' and body['id'] == 'tid'
        assert m.headers == {}

    def test_queue_by_name_and_options(self, app, qname):
        other = unique()
        publish(app, queue=other, priority=7, headers={'x-extra': 'yes'},
                delivery_mode='transient')
        assert read_one(app, qname) is None
        m = read_one(app, other)
        assert m.properties['priority'] == 7
        assert m.properties['delivery_mode'] == 1
        assert m.headers['x-extra'] == 'yes'

    def test_topic_queue_uses_its_exchange(self, app):
        name = unique()
        app.conf.task_queues = [Queue(name, Exchange(name + '.ex', 'topic'), 'jobs.#')]
        app.conf.task_default_queue = name
        publish(app, routing_key='jobs.one')
        m = read_one(app, name)
        assert m.delivery_info['exchange'] == name + '.ex'
        assert m.delivery_info['routing_key'] == 'jobs.one'

    def test_bad_delivery_mode(self, app, qname):
        with pytest.raises(ValueError, match='delivery_mode'):
            publish(app, delivery_mode='forever')

    def test_serializer_and_accept(self, app, qname):
        publish(app, args=(1,), serializer='pickle')
        m = read_one(app, qname, accept=('pickle',))
        assert m.content_type == 'application/x-python-serialize'
        assert m.decode()[0] == (1,)

    def test_pickle_refused_unless_accepted(self, app, qname):
        from kombu.exceptions import ContentDisallowed
        publish(app, args=(1,), serializer='pickle')
        publish(app, args=(2,))
        with app.connection_for_read() as conn:
            consumer = app.amqp.TaskConsumer(conn.default_channel)
            pickled = consumer.queues[0].get(accept=consumer.accept)
            with pytest.raises(ContentDisallowed):
                pickled.decode()
            assert consumer.queues[0].get(accept=consumer.accept).decode()[0] == [2]

    def test_task_serializer_setting(self, app, qname):
        app.conf.task_serializer = 'pickle'
        publish(app, args=(1,))
        assert read_one(app, qname, accept=('pickle',)).content_type == (
            'application/x-python-serialize')

    def test_compression(self, app, qname):
        app.conf.task_compression = 'zlib'
        publish(app, args=('x' * 100,))
        m = read_one(app, qname)
        assert m.headers['compression'] == 'application/x-gzip'
        assert m.decode()[0] == ['x' * 100]

    def test_unknown_serializer(self, app, qname):
        with pytest.raises(SerializerNotInstalled, match="serializer 'nope' is not registered"):
            publish(app, serializer='nope')

    def test_unknown_compression(self, app, qname):
        with pytest.raises(ValueError, match="unknown compression 'nope'"):
            publish(app, compression='nope')
        assert read_one(app, qname) is None

    def test_numeric_delivery_mode_setting(self, app, qname):
        app.conf.task_default_delivery_mode = '1'
        publish(app)
        assert read_one(app, qname).properties['delivery_mode'] == 1

    def test_unencodable_body(self, app, qname):
        with pytest.raises(EncodeError, match="Cannot send task 'proj.add'"):
            publish(app, args=(object(),))
        assert read_one(app, qname) is None

    def test_declares_the_queue(self, app, qname):
        publish(app)
        with app.connection_for_write() as conn:
            name, count, _ = conn.default_channel.queue_declare(qname, passive=True)
        assert (name, count) == (qname, 1)

    def test_queue_declared_once_per_connection(self, app, qname):
        # Given a real producer whose publish calls we watch
        calls = []
        with app.producer_or_acquire() as producer:
            real_publish = producer.publish

            def spy(body, **kw):
                calls.append(kw['declare'])
                return real_publish(body, **kw)

            producer.publish = spy
            send = app.amqp.send_task_message
            # When two messages go to the same queue
            send(producer, 'n', app.amqp.create_task_message('t1', 'n'))
            send(producer, 'n', app.amqp.create_task_message('t2', 'n'))
            # Then only the first publish declares it
            assert [q.name for q in calls[0]] == [qname]
            assert calls[1] is None
            # And after the connection forgets its declarations, it declares again
            producer.connection.declared_entities.clear()
            send(producer, 'n', app.amqp.create_task_message('t3', 'n'))
            assert [q.name for q in calls[2]] == [qname]
            producer.publish = real_publish
        assert read_one(app, qname) is not None

    def test_broadcast_queue_not_declared_by_default(self, app):
        name = unique()
        seen = {}
        producer = SimpleNamespace(connection=app.connection_for_write(),
                                   publish=lambda body, **kw: seen.update(kw))
        msg = app.amqp.create_task_message('t', 'n')
        app.amqp.send_task_message(producer, 'n', msg, queue=Broadcast(name))
        assert seen['declare'] is None
        assert seen['exchange'] == name

    def test_retry_policy_merged(self, app, qname):
        seen = {}
        producer = SimpleNamespace(connection=app.connection_for_write(),
                                   publish=lambda body, **kw: seen.update(kw))
        app.conf.task_publish_retry_policy = {'max_retries': 3, 'interval_start': 0}
        msg = app.amqp.create_task_message('t', 'n')
        app.amqp.send_task_message(producer, 'n', msg, retry_policy={'max_retries': 9})
        assert seen['retry'] is True
        assert seen['retry_policy'] == {'max_retries': 9, 'interval_start': 0}
        app.amqp.send_task_message(producer, 'n', app.amqp.create_task_message('t', 'n'),
                                   retry=False)
        assert seen['retry'] is False
        assert seen['retry_policy'] == {'max_retries': 3, 'interval_start': 0}

    def test_extra_options_become_properties(self, app, qname):
        publish(app, expiration=30, argsrepr='A')
        m = read_one(app, qname)
        assert m.properties['expiration'] == '30000'
        assert m.properties['argsrepr'] == 'A'

    def test_signals(self, app, qname):
        before, after = Recorder(), Recorder()
        signals.before_task_publish.connect(before, weak=False)
        signals.after_task_publish.connect(after, weak=False)
        try:
            msg = publish(app, 'proj.add', task_id='tid')
        finally:
            signals.before_task_publish.disconnect(before)
            signals.after_task_publish.disconnect(after)
        (_, kw), = before.calls
        assert kw['sender'] == 'proj.add'
        assert kw['body'] == msg.body
        assert kw['headers']['id'] == 'tid'
        assert kw['routing_key'] == qname and kw['exchange'] == ''
        assert kw['properties']['correlation_id'] == 'tid'
        assert [q.name for q in kw['declare']] == [qname]
        assert kw['retry_policy'] == app.conf.task_publish_retry_policy
        (_, kw), = after.calls
        assert kw['sender'] == 'proj.add' and kw['headers']['id'] == 'tid'
        assert kw['routing_key'] == qname

    def test_task_sent_event(self, app, qname):
        dispatcher = Recorder()
        publish(app, 'proj.add', task_id='tid', event_dispatcher=dispatcher,
                message_kw={'create_sent_event': True})
        ((type_, fields, producer), kwargs), = dispatcher.calls
        assert type_ == 'task-sent'
        assert fields['uuid'] == 'tid' and fields['name'] == 'proj.add'
        assert (fields['queue'], fields['exchange'], fields['routing_key']) == (qname, '', qname)
        assert kwargs['retry'] is True

    def test_task_sent_event_on_the_events_exchange(self, app, qname):
        from celery.events.dispatcher import EventDispatcher
        events = unique('ev')
        with app.connection_for_write() as conn:
            watch = Queue(events, Exchange('celeryev', 'topic'), 'task.#')(conn.default_channel)
            watch.declare()
            dispatcher = EventDispatcher(conn, app=app, enabled=False)
            publish(app, 'proj.add', (1,), task_id='tid', event_dispatcher=dispatcher,
                    message_kw={'create_sent_event': True})
            event = watch.get(no_ack=True)
            watch.delete()
        assert event.delivery_info['routing_key'] == 'task.sent'
        fields = event.decode()
        assert fields['type'] == 'task-sent'
        assert (fields['uuid'], fields['name'], fields['args']) == ('tid', 'proj.add', '(1,)')
        assert (fields['queue'], fields['routing_key']) == (qname, qname)

    def test_no_event_without_sent_event(self, app, qname):
        dispatcher = Recorder()
        publish(app, event_dispatcher=dispatcher)
        assert dispatcher.calls == []

    def test_exchange_without_queue(self, app):
        name = unique()
        seen = {}
        producer = SimpleNamespace(connection=app.connection_for_write(),
                                   publish=lambda body, **kw: seen.update(kw))
        msg = app.amqp.create_task_message('t', 'n')
        app.amqp.send_task_message(producer, 'n', msg, exchange=name, routing_key='rk',
                                   exchange_type='topic')
        assert (seen['exchange'], seen['routing_key'], seen['declare']) == (name, 'rk', None)


# -- reading messages ------------------------------------------------------------------


def fake_message(headers=None):
    return SimpleNamespace(headers=headers)


class test_Readers:

    V1 = {'task': 'proj.add', 'id': 'tid', 'args': [2, 2], 'kwargs': {'k': 1},
          'retries': 1, 'eta': '2030-01-01T00:00:00', 'expires': None, 'taskset': 'g',
          'utc': False, 'callbacks': ['cb'], 'errbacks': ['eb'], 'chord': 'ch',
          'timelimit': [3, 2]}

    def test_proto1(self):
        body = dict(self.V1)
        (args, kwargs, embed), headers, decoded, utc = proto1_to_proto2(fake_message(), body)
        assert (args, kwargs) == ([2, 2], {'k': 1})
        assert embed == {'callbacks': ['cb'], 'errbacks': ['eb'], 'chord': 'ch', 'chain': None}
        assert decoded is True and utc is False
        assert headers['task'] == 'proj.add' and headers['id'] == 'tid'
        assert headers['group'] == 'g'
        assert headers['retries'] == 1
        assert headers['eta'] == '2030-01-01T00:00:00'
        assert headers['timelimit'] == [3, 2]
        assert headers['argsrepr'] == '[2, 2]' and headers['kwargsrepr'] == "{'k': 1}"
        assert body == self.V1  # not mutated

    def test_proto1_defaults(self):
        (args, kwargs, embed), headers, _, utc = proto1_to_proto2(
            fake_message(), {'task': 'n', 'id': 'i'})
        assert (args, kwargs) == ((), {})
        assert headers['retries'] == 0 and headers['timelimit'] == (None, None)
        assert utc is True

    def test_hybrid_headers_win(self):
        _, headers, _, _ = hybrid_to_proto2(
            fake_message({'shadow': 'sh', 'retries': 5}), dict(self.V1))
        assert headers['shadow'] == 'sh' and headers['retries'] == 5
        assert headers['task'] == 'proj.add'

    def test_proto2_passthrough(self):
        h = {'task': 'proj.add', 'id': 'tid'}
        body, headers, decoded, utc = hybrid_to_proto2(
            fake_message(h), [[1], {}, {'callbacks': None, 'errbacks': None,
                                        'chain': None, 'chord': None}])
        assert body[0] == [1] and body[1] == {}
        assert headers == h and headers is not h
        assert decoded is True and utc is True

    def test_proto2_none_embed(self):
        body, _, _, _ = hybrid_to_proto2(fake_message({'task': 'x'}), [[], {}, None])
        assert body[2] == {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}

    @pytest.mark.parametrize('headers,body,match', [
        ({}, [[], {}, {}], 'no task header'),
        ({'task': 'x'}, [[], {}], 'args, kwargs, embed'),
        ({'task': 'x'}, ['a', {}, {}], 'positional'),
        ({'task': 'x'}, [[], [], {}], 'keyword'),
        ({'task': 'x'}, [[], {}, 'e'], 'embed'),
        (None, {'task': 'x', 'kwargs': [1]}, 'keyword'),
        (None, {'task': 'x', 'args': 'abc'}, 'positional'),
        (None, 'garbage', 'mapping'),
    ])
    def test_invalid(self, headers, body, match):
        with pytest.raises(InvalidTaskError, match=match):
            hybrid_to_proto2(fake_message(headers), body)

    def test_round_trip_through_memory(self, app, qname):
        publish(app, 'proj.add', (2, 2), {'y': 1}, task_id='tid',
                message_kw={'countdown': 10, 'shadow': 'sh'})
        m = read_one(app, qname)
        (args, kwargs, embed), headers, _, _ = hybrid_to_proto2(m, m.decode())
        assert (list(args), kwargs) == ([2, 2], {'y': 1})
        assert headers['id'] == 'tid' and headers['shadow'] == 'sh'
        assert headers['eta'].endswith('+00:00')

"""The remote-control commands of the worker (celery.worker.control).

Commands are called as the pidbox node calls them, ``handler(state, **kw)``,
against a small stand-in for the consumer; requests are real
:class:`~celery.worker.request.Request` objects built from task messages.
"""
from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from kombu import Exchange, Message, Queue
from kombu.asynchronous.timer import Timer
from kombu.common import QoS
from kombu.pidbox import Mailbox
from kombu.utils.limits import TokenBucket

from celery.exceptions import WorkerShutdown
from celery.utils.collections import AttributeDict
from celery.utils.time import rate
from celery.worker import control
from celery.worker import state as worker_state
from celery.worker.control import Panel
from celery.worker.request import Request

HOSTNAME = 'w1@example.com'


# -- stand-ins -----------------------------------------------------------------------------


class FakePool:
    """What the commands use of a prefork pool."""

    def __init__(self, processes: int = 1, busy: bool = False) -> None:
        self.num_processes = processes
        self.busy = busy
        self.terminated: list = []

    def grow(self, n: int = 1) -> None:
        self.num_processes += n

    def shrink(self, n: int = 1) -> None:
        if self.busy:
            raise ValueError("Can't shrink pool. All processes busy!")
        self.num_processes -= n

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        self.terminated.append((pid, signal))

    @property
    def info(self) -> dict:
        return {'max-concurrency': self.num_processes,
                'processes': list(range(100, 100 + self.num_processes))}


class FakeDispatcher:
    """An event dispatcher that records what it sends."""

    def __init__(self, groups: Any = None, enabled: bool = True) -> None:
        self.groups = set(groups or ())
        self.enabled = enabled
        self.sent: list = []

    def enable(self) -> None:
        self.enabled = True

    def send(self, type: str, **fields: Any) -> None:
        self.sent.append((type, fields))


class FakeTaskConsumer:
    def __init__(self, queues: list) -> None:
        self.queues = queues


class FakeController:
    def __init__(self, autoscaler: Any = None) -> None:
        self.autoscaler = autoscaler
        self.reloaded: list = []

    def stats(self) -> dict:
        return {'total': {}, 'pid': 1, 'clock': '3', 'uptime': 10,
                'pool': {'max-concurrency': 1, 'processes': [100]},
                'broker': {'hostname': 'localhost'}, 'prefetch_count': 4, 'rusage': {}}

    def reload(self, modules: Any = None, reload: bool = False, reloader: Any = None) -> None:
        self.reloaded.append((modules, reload, reloader))


class FakeAutoscaler:
    def __init__(self) -> None:
        self.bounds = (10, 3)

    def update(self, max: int | None = None, min: int | None = None) -> tuple:
        self.bounds = (self.bounds[0] if max is None else max,
                       self.bounds[1] if min is None else min)
        return self.bounds


class FakeConsumer:
    """The attributes of :class:`celery.worker.consumer.Consumer` the commands use."""

    connection_errors = (ConnectionError,)

    def __init__(self, app: Any) -> None:
        self.app = app
        self.hostname = HOSTNAME
        self.pool = FakePool()
        self.timer = Timer()
        self.controller = FakeController()
        self.event_dispatcher = FakeDispatcher()
        self.gossip = None
        self.task_consumer = None
        self.prefetch_multiplier = 4
        self.initial_prefetch_count = self.max_prefetch_count = 4
        self.qos_calls: list = []
        self.qos = QoS(self.qos_calls.append, 4)
        self.task_buckets = {name: self.bucket_for_task(task) for name, task in app.tasks.items()}
        self.soon: list = []
        self.queue_calls: list = []

    def bucket_for_task(self, task: Any) -> TokenBucket | None:
        limit = rate(task.rate_limit)
        return TokenBucket(limit, capacity=1) if limit else None

    def call_soon(self, fun: Any, *args: Any, **kwargs: Any) -> None:
        self.soon.append((fun, args, kwargs))

    def run_soon(self) -> None:
        while self.soon:
            fun, args, kwargs = self.soon.pop(0)
            fun(*args, **kwargs)

    def add_task_queue(self, queue: str, exchange: Any = None, exchange_type: Any = None,
                       routing_key: Any = None, **options: Any) -> None:
        self.queue_calls.append(('add', queue, exchange, exchange_type, routing_key, options))

    def cancel_task_queue(self, queue: str) -> None:
        self.queue_calls.append(('cancel', queue))


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_worker_state() -> Iterator[None]:
    worker_state.reset_state()
    yield
    worker_state.reset_state()


@pytest.fixture
def tasks(app: Any) -> AttributeDict:
    @app.task(name='proj.add', shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name='proj.limited', shared=False, rate_limit='10/m')
    def limited() -> None:
        return None

    app.finalize()
    return AttributeDict(add=add, limited=limited)


@pytest.fixture
def consumer(app: Any, tasks: AttributeDict) -> FakeConsumer:
    return FakeConsumer(app)


@pytest.fixture
def state(app: Any, consumer: FakeConsumer) -> AttributeDict:
    return AttributeDict(app=app, hostname=HOSTNAME, consumer=consumer, tset=set)


def make_request(app: Any, name: str = 'proj.add', args: tuple = (2, 2),
                 task_id: str | None = None, eta: datetime | None = None,
                 stamps: dict | None = None) -> Request:
    """A real request, as the strategy builds it from a received message."""
    from celery.utils.uuid import uuid
    options = dict(stamps or {})
    msg = app.amqp.as_task_v2(task_id or uuid(), name, args=args, kwargs={}, eta=eta,
                              stamped_headers=list(options) or None, **options)
    message = Message(body=json.dumps(msg.body), headers=msg.headers,
                      properties=msg.properties, content_type='application/json',
                      content_encoding='utf-8',
                      delivery_info={'exchange': '', 'routing_key': 'celery'})
    return Request(message, app=app, hostname=HOSTNAME, on_ack=_no_ack)


def _no_ack(*args: Any) -> None:
    pass


def reserve(request: Request) -> Request:
    worker_state.task_reserved(request)
    return request


def activate(request: Request, pid: int = 4242) -> Request:
    reserve(request)
    request.on_accepted(pid, 123.0)
    return request


# -- the registry ------------------------------------------------------------------------


INSPECT = {'report', 'conf', 'query_task', 'clock', 'stats', 'scheduled', 'reserved', 'active',
           'revoked', 'registered', 'active_queues', 'objgraph', 'memsample', 'memdump', 'ping',
           'hello'}
CONTROL = {'revoke', 'terminate', 'revoke_by_stamped_headers', 'rate_limit', 'time_limit',
           'election', 'enable_events', 'disable_events', 'heartbeat', 'pool_grow',
           'pool_shrink', 'pool_restart', 'autoscale', 'add_consumer', 'cancel_consumer',
           'shutdown'}


def test_every_command_is_registered_with_its_type() -> None:
    for name in INSPECT:
        assert Panel.meta[name].type == 'inspect', name
    for name in CONTROL:
        assert Panel.meta[name].type == 'control', name
    for alias, name in [('dump_conf', 'conf'), ('dump_schedule', 'scheduled'),
                        ('dump_reserved', 'reserved'), ('dump_active', 'active'),
                        ('dump_revoked', 'revoked'), ('dump_tasks', 'registered')]:
        assert Panel.data[alias] is Panel.data[name]
        assert alias not in Panel.meta  # the command line lists main names only


def test_command_metadata_matches_celery() -> None:
    assert Panel.meta['ping'].default_timeout == 0.2
    assert Panel.meta['hello'].visible is False
    assert Panel.meta['query_task'].variadic == 'ids'
    assert Panel.meta['registered'].variadic == 'taskinfoitems'
    assert Panel.meta['terminate'].args == [('signal', str)]
    assert Panel.meta['terminate'].variadic == 'task_id'
    assert [a for a, _ in Panel.meta['time_limit'].args] == ['task_name', 'soft', 'hard']
    assert Panel.meta['pool_grow'].args == [('n', int)]
    assert Panel.meta['ping'].help == 'Ping worker(s).'


def test_register_a_custom_command() -> None:
    @control.control_command(args=[('n', int)], signature='[N=1]')
    def custom_test_command(state: Any, n: int = 1) -> dict:
        """Do a custom thing."""
        return control.ok(n * 2)
    try:
        assert Panel.data['custom_test_command'](None, n=3) == {'ok': 6}
        assert Panel.meta['custom_test_command'].help == 'Do a custom thing.'
    finally:
        Panel.data.pop('custom_test_command')
        Panel.meta.pop('custom_test_command')


# -- through kombu's pidbox node -----------------------------------------------------------


@pytest.fixture
def node(app: Any, state: AttributeDict) -> Any:
    return Mailbox('celery', type='fanout').Node(HOSTNAME, state=state, handlers=Panel.data)


def test_an_unknown_command_replies_an_error(node: Any) -> None:
    reply = node.dispatch('no_such_command', {})
    assert set(reply) == {'error'} and 'no_such_command' in reply['error']


def test_bad_arguments_reply_an_error_and_change_nothing(node: Any, consumer: FakeConsumer) -> None:
    assert 'error' in node.dispatch('pool_grow', {'n': 'lots'})
    assert 'error' in node.dispatch('rate_limit', {'task_name': 'proj.add'})  # missing arg
    assert 'error' in node.dispatch('time_limit', {'task_name': 'proj.add', 'soft': 'soon'})
    assert consumer.pool.num_processes == 1
    assert node.dispatch('ping', {}) == {'ok': 'pong'}


# -- inspect commands ------------------------------------------------------------------------


def test_report_is_the_bugreport(state: AttributeDict, app: Any) -> None:
    assert control.report(state) == {'ok': app.bugreport()}


def test_conf_lists_the_changed_settings_as_json(state: AttributeDict, app: Any) -> None:
    app.conf.task_default_rate_limit = '5/s'
    app.conf.update({'__hidden': 1, 'custom_object': object()})
    conf = control.conf(state)
    json.dumps(conf)
    assert conf['task_default_rate_limit'] == '5/s'
    assert conf['task_default_queue'] == 'celery'
    assert '__hidden' not in conf
    assert conf['custom_object'].startswith('<object object')
    assert 'worker_prefetch_multiplier' not in conf  # a default


def test_conf_with_defaults(state: AttributeDict) -> None:
    assert control.conf(state, with_defaults=True)['worker_prefetch_multiplier'] == 4
    assert 'worker_prefetch_multiplier' in control.conf(state, with_defaults='yes')


def test_clock(state: AttributeDict, app: Any) -> None:
    app.clock.adjust(41)
    assert control.clock(state) == {'clock': app.clock.value}
    assert control.clock(state)['clock'] >= 41


def test_query_task_tells_the_state_of_each_known_id(state: AttributeDict, app: Any) -> None:
    running = activate(make_request(app))
    waiting = reserve(make_request(app))
    done = make_request(app)
    worker_state.requests[done.id] = done
    found = control.query_task(state, ids=[running.id, waiting.id, done.id, 'unknown'])
    assert set(found) == {running.id, waiting.id, done.id}
    assert found[running.id][0] == 'active'
    assert found[waiting.id][0] == 'reserved'
    assert found[done.id][0] == 'ready'
    assert found[running.id][1]['id'] == running.id
    assert control.query_task(state, ids=waiting.id)[waiting.id][0] == 'reserved'


def test_active_lists_running_requests(state: AttributeDict, app: Any) -> None:
    running = activate(make_request(app, args=(1, 2)), pid=777)
    reserve(make_request(app))
    active = control.active(state)
    assert [info['id'] for info in active] == [running.id]
    info = active[0]
    assert info['args'] == [1, 2] and info['kwargs'] == {}
    assert info['worker_pid'] == 777 and info['hostname'] == HOSTNAME
    assert info['delivery_info']['routing_key'] == 'celery'
    assert control.active(state, safe=True)[0]['args'] == '(1, 2)'
    json.dumps(active)


def test_reserved_leaves_out_active_and_scheduled(state: AttributeDict, app: Any,
                                                  consumer: FakeConsumer) -> None:
    activate(make_request(app))
    waiting = reserve(make_request(app))
    later = reserve(make_request(app, eta=datetime.now(timezone.utc) + timedelta(hours=1)))
    consumer.timer.call_after(3600, lambda req: None, (later,), priority=6)
    assert [info['id'] for info in control.reserved(state)] == [waiting.id]


def test_reserved_is_empty_without_requests(state: AttributeDict) -> None:
    assert control.reserved(state) == []


def test_scheduled_reads_the_timer(state: AttributeDict, app: Any,
                                   consumer: FakeConsumer) -> None:
    eta = datetime.now(timezone.utc) + timedelta(minutes=2)
    later = make_request(app, eta=eta)
    consumer.timer.call_after(120, lambda req: None, (later,), priority=6)
    consumer.timer.call_after(10, lambda: None)                    # not a request
    cancelled = consumer.timer.call_after(5, lambda req: None, (make_request(app),))
    cancelled.cancel()
    scheduled = control.scheduled(state)
    assert len(scheduled) == 1
    assert scheduled[0]['eta'] == later.eta.isoformat()
    assert scheduled[0]['priority'] == 6
    assert scheduled[0]['request']['id'] == later.id
    json.dumps(scheduled)


def test_revoked_lists_ids(state: AttributeDict) -> None:
    worker_state.revoked.update(['a', 'b'])
    assert sorted(control.revoked(state)) == ['a', 'b']


def test_registered_lists_user_tasks_with_attributes(state: AttributeDict, app: Any) -> None:
    # Shared tasks defined by other test modules reach every app: look at ours.
    def ours(names: list) -> list:
        return [name for name in names if name.startswith('proj.')]
    registered = control.registered(state)
    assert registered == sorted(registered)
    assert not any(name.startswith('celery.') for name in registered)
    assert ours(registered) == ['proj.add', 'proj.limited [rate_limit=10/m]']
    assert ours(control.registered(state, taskinfoitems=['name'])) == [
        'proj.add [name=proj.add]', 'proj.limited [name=proj.limited]']
    with_builtins = control.registered(state, builtins=True)
    assert any(name.startswith('celery.') for name in with_builtins)


def test_active_queues(state: AttributeDict, consumer: FakeConsumer) -> None:
    assert control.active_queues(state) == []
    consumer.task_consumer = FakeTaskConsumer([Queue('q1', Exchange('ex'), 'rk')])
    queues = control.active_queues(state)
    assert [q['name'] for q in queues] == ['q1']
    assert queues[0]['exchange']['name'] == 'ex'
    json.dumps(queues)


def test_stats_come_from_the_worker(state: AttributeDict) -> None:
    stats = control.stats(state)
    assert isinstance(stats['pool'], dict)
    assert {'total', 'pid', 'clock', 'uptime', 'pool', 'broker', 'prefetch_count',
            'rusage'} <= set(stats)


def test_stats_without_a_worker(state: AttributeDict, consumer: FakeConsumer) -> None:
    consumer.controller = None
    worker_state.total_count['proj.add'] += 2
    stats = control.stats(state)
    assert stats['total'] == {'proj.add': 2}
    assert isinstance(stats['pid'], int)


def test_ping_and_hello(state: AttributeDict) -> None:
    assert control.ping(state) == {'ok': 'pong'}
    assert control.hello(state, from_node=HOSTNAME) is None
    reply = control.hello(state, from_node='other@host', revoked={'x': time.time()})
    assert 'x' in worker_state.revoked
    assert set(reply) == {'revoked', 'clock'}
    json.dumps(reply)


def test_memsample_and_memdump(state: AttributeDict, monkeypatch: pytest.MonkeyPatch) -> None:
    control._mem_samples.clear()
    sample = control.memsample(state)
    assert isinstance(sample, str) and sample[-2:] in ('KB', 'MB', 'GB')
    control.memsample(state)
    dump = control.memdump(state, samples=1)
    assert dump.startswith('- rss (sample):\n') and '- rss (end): ' in dump
    assert dump.count('    > ') == 1
    monkeypatch.setattr(control, '_rss', lambda: None)
    assert 'psutil' in control.memsample(state)['error']


def test_humanbytes() -> None:
    assert control._humanbytes(512) == '512b'
    assert control._humanbytes(2 ** 20) == '1MB'
    assert control._humanbytes(1.5 * 2 ** 30) == '1.5GB'


def test_objgraph_without_the_library(state: AttributeDict,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    monkeypatch.setitem(sys.modules, 'objgraph', None)
    assert 'objgraph' in control.objgraph(state)['error']


# -- revoking --------------------------------------------------------------------------------


def test_revoke_flags_ids_with_celerys_reply(state: AttributeDict, app: Any) -> None:
    reply = control.revoke(state, task_id='abc')
    assert reply == {'ok': "tasks {'abc'} flagged as revoked"}
    assert 'abc' in worker_state.revoked
    assert app.AsyncResult('abc').state == 'REVOKED'  # recorded at once


def test_revoke_many(state: AttributeDict) -> None:
    reply = control.revoke(state, task_id=['a', 'b'])
    assert reply['ok'].startswith('tasks {') and reply['ok'].endswith('} flagged as revoked')
    assert 'a' in worker_state.revoked and 'b' in worker_state.revoked


def test_revoke_stores_each_id_once(state: AttributeDict, app: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    marked: list = []
    monkeypatch.setattr(app.backend, 'mark_as_revoked',
                        lambda task_id, **kw: marked.append(task_id))
    control.revoke(state, task_id='a')
    control.revoke(state, task_id=['a', 'b'])
    assert marked == ['a', 'b']


def test_revoke_survives_a_failing_result_store(state: AttributeDict, app: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError('store down')
    monkeypatch.setattr(app.backend, 'mark_as_revoked', broken)
    assert control.revoke(state, task_id='a')['ok'] == "tasks {'a'} flagged as revoked"
    assert 'a' in worker_state.revoked


def test_revoke_with_terminate_kills_the_process(state: AttributeDict, app: Any,
                                                 consumer: FakeConsumer) -> None:
    running = activate(make_request(app), pid=555)
    reply = control.revoke(state, task_id=[running.id, 'unknown'], terminate=True,
                           signal='SIGKILL')
    assert reply == {'ok': f'terminate: {running.id}'}
    assert consumer.pool.terminated == [(555, signal.SIGKILL)]
    assert running.id in worker_state.revoked


def test_terminate_unknown_tasks(state: AttributeDict) -> None:
    assert control.terminate(state, signal='TERM', task_id=['nope']) == {
        'ok': 'terminate: tasks unknown'}
    assert 'nope' in worker_state.revoked


def test_terminate_with_a_bad_signal_revokes_nothing(state: AttributeDict) -> None:
    with pytest.raises(Exception):
        control.terminate(state, signal='SIGNOPE', task_id=['x'])
    assert 'x' not in worker_state.revoked


def test_revoke_by_stamped_headers(state: AttributeDict) -> None:
    reply = control.revoke_by_stamped_headers(state, headers={'mon': 'v1'})
    assert reply == {'ok': "headers {'mon': 'v1'} flagged as revoked, but not terminated"}
    control.revoke_by_stamped_headers(state, headers=['mon=v2', 'other=x'])
    assert worker_state.revoked_stamps == {'mon': ['v1', 'v2'], 'other': ['x']}


def test_revoke_by_stamped_headers_with_terminate(state: AttributeDict, app: Any,
                                                  consumer: FakeConsumer) -> None:
    stamped = activate(make_request(app, stamps={'mon': 'v1'}), pid=11)
    activate(make_request(app), pid=12)
    reply = control.revoke_by_stamped_headers(state, headers={'mon': ['v1']},
                                              terminate=True, signal='KILL')
    assert reply['ok'].startswith('headers ') and "'v1'" in reply['ok']
    assert consumer.pool.terminated == [(11, signal.SIGKILL)]
    assert stamped.stamps == {'mon': 'v1'}
    none = control.revoke_by_stamped_headers(state, headers={'mon': 'v9'}, terminate=True)
    assert none == {'ok': "headers {'mon': 'v9'} were not terminated"}


# -- limits --------------------------------------------------------------------------------


def test_rate_limit_sets_the_limit_and_a_new_bucket(state: AttributeDict, app: Any,
                                                    consumer: FakeConsumer) -> None:
    other = consumer.task_buckets['proj.limited']
    assert control.rate_limit(state, task_name='proj.add', rate_limit='10/m') == {
        'ok': 'new rate limit set successfully'}
    assert app.tasks['proj.add'].rate_limit == '10/m'
    bucket = consumer.task_buckets['proj.add']
    assert bucket is not None and bucket.fill_rate == pytest.approx(10 / 60)
    assert consumer.task_buckets['proj.limited'] is other  # others keep their waiting requests
    assert control.rate_limit(state, task_name='proj.add', rate_limit=None) == {
        'ok': 'rate limit disabled successfully'}
    assert consumer.task_buckets['proj.add'] is None


def test_rate_limit_errors(state: AttributeDict, app: Any) -> None:
    assert control.rate_limit(state, task_name='nope', rate_limit='1/s') == {
        'error': 'unknown task'}
    bad = control.rate_limit(state, task_name='proj.add', rate_limit='fast')
    assert bad['error'].startswith('Invalid rate limit string: ')
    bad_unit = control.rate_limit(state, task_name='proj.add', rate_limit='1/y')
    assert 'Invalid rate limit string' in bad_unit['error']
    assert app.tasks['proj.add'].rate_limit is None


def test_time_limit(state: AttributeDict, app: Any) -> None:
    assert control.time_limit(state, task_name='proj.add', soft='1.5', hard=3) == {
        'ok': 'time limits set successfully'}
    task = app.tasks['proj.add']
    assert (task.soft_time_limit, task.time_limit) == (1.5, 3.0)
    control.time_limit(state, task_name='proj.add')
    assert (task.soft_time_limit, task.time_limit) == (None, None)
    assert control.time_limit(state, task_name='nope', soft=1) == {'error': 'unknown task'}
    with pytest.raises(TypeError):
        control.time_limit(state, task_name='proj.add', soft='soon')


# -- events ----------------------------------------------------------------------------------


def test_enable_and_disable_task_events(state: AttributeDict, consumer: FakeConsumer) -> None:
    dispatcher = consumer.event_dispatcher = FakeDispatcher(groups=['worker'])
    assert control.enable_events(state) == {'ok': 'task events enabled'}
    assert dispatcher.groups == {'worker', 'task'}
    assert control.enable_events(state) == {'ok': 'task events already enabled'}
    assert control.disable_events(state) == {'ok': 'task events disabled'}
    assert dispatcher.groups == {'worker'}
    assert control.disable_events(state) == {'ok': 'task events already disabled'}


def test_disable_events_when_every_group_is_on(state: AttributeDict,
                                               consumer: FakeConsumer) -> None:
    dispatcher = consumer.event_dispatcher = FakeDispatcher(groups=None)
    assert control.enable_events(state) == {'ok': 'task events already enabled'}
    assert control.disable_events(state) == {'ok': 'task events disabled'}
    assert dispatcher.groups == {'worker'}


def test_enable_events_turns_a_disabled_dispatcher_on(state: AttributeDict,
                                                      consumer: FakeConsumer) -> None:
    dispatcher = consumer.event_dispatcher = FakeDispatcher(groups=None, enabled=False)
    assert control.enable_events(state) == {'ok': 'task events enabled'}
    assert dispatcher.enabled


def test_heartbeat_sends_a_worker_heartbeat(state: AttributeDict,
                                            consumer: FakeConsumer) -> None:
    assert control.heartbeat(state) is None
    [(type_, fields)] = consumer.event_dispatcher.sent
    assert type_ == 'worker-heartbeat'
    assert fields['freq'] == 5 and fields['sw_ident'] == 'py-celery'
    consumer.event_dispatcher = None
    assert control.heartbeat(state) is None


def test_election_goes_to_gossip(state: AttributeDict, consumer: FakeConsumer) -> None:
    held: list = []
    consumer.gossip = AttributeDict(election=lambda *args: held.append(args))
    control.election(state, id='1', topic='leader', action='act')
    assert held == [('1', 'leader', 'act')]
    consumer.gossip = None
    assert control.election(state, id='2', topic='t') is None


# -- pool ------------------------------------------------------------------------------------


def test_pool_grow_and_shrink_follow_with_prefetch(state: AttributeDict,
                                                   consumer: FakeConsumer) -> None:
    assert control.pool_grow(state, n=2) == {'ok': 'pool will grow'}
    assert consumer.pool.num_processes == 3
    assert consumer.initial_prefetch_count == 12
    assert consumer.qos.value == 12
    assert control.pool_shrink(state, n='2') == {'ok': 'pool will shrink'}
    assert consumer.pool.num_processes == 1
    assert consumer.qos.value == 4


def test_pool_shrink_when_all_processes_are_busy(state: AttributeDict,
                                                 consumer: FakeConsumer) -> None:
    consumer.pool.busy = True
    assert 'busy' in control.pool_shrink(state, n=1)['error']


def test_pool_resize_with_autoscaler_is_refused(state: AttributeDict,
                                                consumer: FakeConsumer) -> None:
    consumer.controller.autoscaler = FakeAutoscaler()
    assert 'autoscale' in control.pool_grow(state, n=1)['error']
    assert 'autoscale' in control.pool_shrink(state, n=1)['error']
    assert consumer.pool.num_processes == 1


def test_pool_grow_needs_an_integer(state: AttributeDict, consumer: FakeConsumer) -> None:
    with pytest.raises(TypeError, match="'n' must be an integer"):
        control.pool_grow(state, n='lots')
    assert consumer.pool.num_processes == 1


def test_pool_restart(state: AttributeDict, app: Any, consumer: FakeConsumer) -> None:
    with pytest.raises(ValueError, match='Pool restarts not enabled'):
        control.pool_restart(state)
    app.conf.worker_pool_restarts = True
    assert control.pool_restart(state, modules=['m'], reload=True) == {'ok': 'reload started'}
    assert consumer.controller.reloaded == [(['m'], True, None)]


def test_autoscale(state: AttributeDict, consumer: FakeConsumer) -> None:
    with pytest.raises(ValueError, match='Autoscale not enabled'):
        control.autoscale(state, max=4, min=2)
    consumer.controller.autoscaler = FakeAutoscaler()
    assert control.autoscale(state, max='8', min=2) == {'ok': 'autoscale now max=8 min=2'}


def test_shutdown_is_a_warm_shutdown(state: AttributeDict) -> None:
    with pytest.raises(WorkerShutdown) as excinfo:
        control.shutdown(state)
    assert excinfo.value.code == 0


# -- queues ----------------------------------------------------------------------------------


def test_add_consumer_starts_consuming_in_the_loop(state: AttributeDict,
                                                   consumer: FakeConsumer) -> None:
    reply = control.add_consumer(state, queue='extra', routing_key='rk', queue_durable=False)
    assert reply == {'ok': 'add consumer extra'}
    assert consumer.queue_calls == []  # later, in the event loop
    consumer.run_soon()
    assert consumer.queue_calls == [
        ('add', 'extra', None, 'direct', 'rk', {'queue_durable': False})]


def test_cancel_consumer(state: AttributeDict, consumer: FakeConsumer) -> None:
    assert control.cancel_consumer(state, queue='extra') == {
        'ok': 'no longer consuming from extra'}
    consumer.run_soon()
    assert consumer.queue_calls == [('cancel', 'extra')]


def test_queue_commands_need_a_queue_name(state: AttributeDict) -> None:
    with pytest.raises(TypeError):
        control.add_consumer(state, queue='')
    with pytest.raises(TypeError):
        control.cancel_consumer(state, queue=None)


def test_a_failing_queue_change_is_logged_not_raised(state: AttributeDict,
                                                      consumer: FakeConsumer,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def broken(queue: str) -> None:
        raise KeyError(queue)
    consumer.cancel_task_queue = broken
    control.cancel_consumer(state, queue='unknown')
    consumer.run_soon()
    assert 'failed' in caplog.text

    def lost(queue: str) -> None:
        raise ConnectionError('gone')
    consumer.cancel_task_queue = lost
    control.cancel_consumer(state, queue='q')
    with pytest.raises(ConnectionError):
        consumer.run_soon()

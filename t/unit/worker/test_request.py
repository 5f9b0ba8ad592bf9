"""Requests: what they read from a message, when they ack, how they handle outcomes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from billiard.einfo import ExceptionInfo

from celery import states
from celery.app.trace import fast_trace_task, trace_task_ret
from celery.exceptions import (InvalidTaskError, Reject, Retry, TaskRevokedError,
                               Terminated, TimeLimitExceeded, WorkerLostError)
from celery.worker import state
from celery.worker.request import Request


class FakePool:
    """Records what is applied; the test plays the pool's callbacks."""

    in_child_process = True

    def __init__(self, idle: bool = False) -> None:
        self.applied: list = []
        self.idle = idle
        self.terminated: list = []

    def starts_now(self) -> bool:
        return self.idle

    def apply_async(self, target: Any, args: tuple = (), kwargs: Any = None,
                    **options: Any) -> Any:
        self.applied.append((target, args, kwargs, options))
        return self

    def terminate_job(self, pid: int, signal: Any = None) -> None:
        self.terminated.append((pid, signal))

    def terminate(self, signal: Any) -> None:
        pass


def einfo_of(exc: BaseException, internal: bool = False) -> ExceptionInfo:
    try:
        raise exc
    except BaseException:
        return ExceptionInfo(internal=internal)


@pytest.fixture
def tasks(app: Any) -> Any:
    class T:
        @staticmethod
        @app.task(shared=False, name='t.add')
        def add(x: int, y: int) -> int:
            return x + y

        @staticmethod
        @app.task(shared=False, name='t.late', acks_late=True)
        def late() -> None:
            pass

        @staticmethod
        @app.task(shared=False, name='t.lost', acks_late=True, reject_on_worker_lost=True)
        def lost() -> None:
            pass
    app.finalize()
    return T


def request_for(app: Any, message: Any, **kwargs: Any) -> Request:
    return Request(message, app=app, hostname='w@host', **kwargs)


def test_reads_the_message(app: Any, tasks: Any, make_message: Any) -> None:
    message = make_message('t.add', (1, 2), {'z': 3}, root_id='root', parent_id='parent',
                           shadow='pretty', time_limit=10, soft_time_limit=5)
    req = request_for(app, message)
    assert req.name == 'pretty' and req.type == 't.add'
    assert req.id == message.headers['id'] == req.task_id
    assert (req.root_id, req.parent_id) == ('root', 'parent')
    assert req.time_limits == [10, 5]
    assert req.argsrepr == '(1, 2)' and req.kwargsrepr == "{'z': 3}"
    assert req.args == [1, 2] and req.kwargs == {'z': 3}
    assert req.delivery_info['routing_key'] == 'celery'
    assert req.request_dict['hostname'] == 'w@host'
    assert req.correlation_id == req.id
    assert req.task is tasks.add._get_current_object() or req.task.name == 't.add'
    assert str(req) == f'pretty[{req.id}]'
    assert req.info(safe=True)['args'] == '(1, 2)'


def test_protocol_1_messages_are_decoded_bodies(app: Any, tasks: Any,
                                                make_message: Any) -> None:
    from celery.app.amqp import hybrid_to_proto2
    message = make_message('t.add', (4, 5), protocol=1)
    body, headers, decoded, utc = hybrid_to_proto2(message, message.decode())
    req = Request(message, app=app, body=body, headers=headers, decoded=decoded)
    assert req.type == 't.add'
    assert req.args == [4, 5] or req.args == (4, 5)
    assert req.content_type is None


def test_invalid_eta_is_an_invalid_task(app: Any, tasks: Any, make_message: Any) -> None:
    message = make_message('t.add', (1, 1))
    message.headers['eta'] = 'not a date'
    with pytest.raises(InvalidTaskError):
        request_for(app, message)


def test_execute_using_pool_sends_the_raw_body(app: Any, tasks: Any,
                                               make_message: Any) -> None:
    message = make_message('t.add', (1, 2))
    req = request_for(app, message)
    pool = FakePool()
    req.execute_using_pool(pool)
    target, args, kwargs, options = pool.applied[0]
    assert target is fast_trace_task
    assert args[0] == 't.add' and args[1] == req.id
    assert args[3] == message.body and args[4] == 'application/json'
    assert 'args' not in args[2]  # the parent does not decode the arguments
    assert options['accept_callback'] == req.on_accepted
    assert options['correlation_id'] == req.id


def test_in_process_pools_trace_with_the_app(app: Any, tasks: Any,
                                             make_message: Any) -> None:
    pool = FakePool()
    pool.in_child_process = False
    req = request_for(app, make_message('t.add', (1, 2)))
    req.execute_using_pool(pool)
    target, _, kwargs, _ = pool.applied[0]
    assert target is trace_task_ret and kwargs == {'app': app}


def test_early_ack_when_accepted(app: Any, tasks: Any, make_message: Any,
                                 channel: Any) -> None:
    message = make_message('t.add', (1, 2))
    req = request_for(app, message)
    req.execute_using_pool(FakePool(idle=False))
    assert channel.acked == []  # not yet: no process took it
    req.on_accepted(1234, 1.0)
    assert channel.acked == [(message.delivery_tag, False)]
    assert (req.worker_pid, req.time_start) == (1234, 1.0)
    assert req in state.active_requests
    req.on_success((0, '3', 0.01))
    assert req not in state.active_requests
    assert len(channel.acked) == 1


def test_early_ack_at_once_when_a_process_is_idle(app: Any, tasks: Any,
                                                  make_message: Any, channel: Any) -> None:
    message = make_message('t.add', (1, 2))
    req = request_for(app, message)
    req.execute_using_pool(FakePool(idle=True))
    assert channel.acked == [(message.delivery_tag, False)]
    req.on_accepted(1, 1.0)
    assert len(channel.acked) == 1


def test_late_ack_after_success_or_failure(app: Any, tasks: Any, make_message: Any,
                                           channel: Any) -> None:
    message = make_message('t.late')
    req = request_for(app, message)
    req.execute_using_pool(FakePool(idle=True))
    req.on_accepted(1, 1.0)
    assert channel.acked == []
    req.on_success((0, 'None', 0.01))
    assert channel.acked == [(message.delivery_tag, False)]

    failing = request_for(app, make_message('t.late'))
    failing.on_accepted(1, 1.0)
    failing.on_success((1, einfo_of(KeyError('x')), None))
    assert len(channel.acked) == 2  # acks_on_failure_or_timeout


def test_late_ack_failure_rejects_when_not_acking_failures(app: Any, tasks: Any,
                                                           make_message: Any,
                                                           channel: Any) -> None:
    app.conf.task_acks_on_failure = False
    message = make_message('t.late')
    req = request_for(app, message)
    req.on_accepted(1, 1.0)
    req.on_success((1, einfo_of(KeyError('x')), None))
    assert channel.rejected == [(message.delivery_tag, False)]


def test_worker_lost_requeues_with_reject_on_worker_lost(app: Any, tasks: Any,
                                                         make_message: Any,
                                                         channel: Any) -> None:
    message = make_message('t.lost')
    req = request_for(app, message)
    req.on_accepted(1, 1.0)
    req.on_failure(einfo_of(WorkerLostError('gone')))
    assert channel.rejected == [(message.delivery_tag, True)]
    assert app.backend.get_task_meta(req.id)['status'] == states.PENDING


def test_worker_lost_fails_the_task_otherwise(app: Any, tasks: Any, make_message: Any,
                                              channel: Any, caplog: Any) -> None:
    message = make_message('t.late')
    req = request_for(app, message)
    req.on_accepted(1, 1.0)
    req.on_failure(einfo_of(WorkerLostError('gone')))
    assert channel.acked == [(message.delivery_tag, False)]
    meta = app.backend.get_task_meta(req.id)
    assert meta['status'] == states.FAILURE
    assert 'Task handler raised error' in caplog.text


def test_hard_time_limit(app: Any, tasks: Any, make_message: Any, channel: Any,
                         caplog: Any) -> None:
    req = request_for(app, make_message('t.late'))
    req.on_accepted(1, 1.0)
    req.on_timeout(soft=True, timeout=1.0)
    assert 'Soft time limit (1.0s) exceeded' in caplog.text
    req.on_timeout(soft=False, timeout=2.0)
    assert 'Hard time limit (2.0s) exceeded' in caplog.text
    assert app.backend.get_task_meta(req.id)['status'] == states.FAILURE
    assert channel.acked  # acks_on_failure_or_timeout
    req.on_failure(einfo_of(TimeLimitExceeded(2.0)))


def test_reject_and_retry_outcomes(app: Any, tasks: Any, make_message: Any,
                                   channel: Any) -> None:
    message = make_message('t.late')
    req = request_for(app, message)
    req.on_success((1, einfo_of(Reject('no', requeue=True)), None))
    assert channel.rejected == [(message.delivery_tag, True)]

    retry_message = make_message('t.late')
    retried = request_for(app, retry_message)
    retried.on_success((1, einfo_of(Retry('later', exc=OSError())), None))
    assert channel.acked == [(retry_message.delivery_tag, False)]


def test_undecodable_body_reported_by_the_pool(app: Any, tasks: Any, make_message: Any,
                                               channel: Any, caplog: Any) -> None:
    message = make_message('t.late')
    req = request_for(app, message)
    req.on_success((1, einfo_of(InvalidTaskError('bad body'), internal=True), None))
    assert 'Received invalid task message' in caplog.text
    assert channel.rejected == [(message.delivery_tag, False)]


def test_revoked_requests_are_not_run(app: Any, tasks: Any, make_message: Any,
                                      channel: Any) -> None:
    message = make_message('t.add', (1, 1))
    req = request_for(app, message)
    state.revoked.add(req.id)
    with pytest.raises(TaskRevokedError):
        req.execute_using_pool(FakePool())
    assert channel.acked == [(message.delivery_tag, False)]
    assert app.backend.get_task_meta(req.id)['status'] == states.REVOKED


def test_expired_requests_are_revoked(app: Any, tasks: Any, make_message: Any) -> None:
    past = datetime.now(timezone.utc) - timedelta(seconds=10)
    req = request_for(app, make_message('t.add', (1, 1), expires=past))
    assert req.expires is not None
    assert req.revoked()
    assert req.id in state.revoked
    assert app.backend.get_task_meta(req.id)['status'] == states.REVOKED


def test_terminate_running_or_on_accept(app: Any, tasks: Any, make_message: Any) -> None:
    pool = FakePool()
    req = request_for(app, make_message('t.add', (1, 1)))
    req.execute_using_pool(pool)
    req.terminate(pool)  # not started: terminated when accepted
    assert pool.terminated == []
    req.on_accepted(42, 1.0)
    assert pool.terminated and pool.terminated[0][0] == 42
    req.on_failure(einfo_of(Terminated(15)))
    assert app.backend.get_task_meta(req.id)['status'] == states.REVOKED


def test_events_sent_when_an_eventer_is_given(app: Any, tasks: Any,
                                              make_message: Any) -> None:
    class Eventer:
        enabled = True

        def __init__(self) -> None:
            self.sent: list = []

        def send(self, type: str, **fields: Any) -> None:
            self.sent.append(type)

    eventer = Eventer()
    req = request_for(app, make_message('t.add', (1, 1)), eventer=eventer)
    req.on_accepted(1, 1.0)
    req.on_success((0, '2', 0.1))
    assert eventer.sent == ['task-started', 'task-succeeded']


def test_batched_acks_go_through_the_acker(app: Any, tasks: Any, make_message: Any) -> None:
    class Acker:
        def __init__(self) -> None:
            self.acked: list = []

        def ack(self, message: Any) -> None:
            self.acked.append(message)

    acker = Acker()
    message = make_message('t.add', (1, 1))
    req = request_for(app, message, acker=acker)
    req.on_accepted(1, 1.0)
    assert acker.acked == [message]


# -- malformed messages: rejected with what was wrong, never half-handled ---------------

@pytest.mark.parametrize('field, value', [
    ('shadow', {'a': 1}), ('shadow', [9]), ('retries', {'a': 1}), ('retries', '3'),
    ('group_index', -2 ** 62), ('group_index', 'first'), ('timelimit', 5),
    ('timelimit', {'a': 1, 'b': 2}), ('timelimit', [1, 2, 3]), ('timelimit', ['1', None]),
    ('timelimit', [-1, None]), ('root_id', 5), ('parent_id', ['p']), ('group', {}),
    ('stamps', 5), ('stamped_headers', 7),
])
def test_a_header_of_the_wrong_type_makes_an_invalid_task(
        app: Any, tasks: Any, make_message: Any, field: str, value: Any) -> None:
    # Given a message whose header has a type the worker cannot use
    message = make_message('t.add', (1, 1))
    message.headers[field] = value
    # Then no request is made of it, and the error names the task and the header
    with pytest.raises(InvalidTaskError) as raised:
        request_for(app, message)
    assert message.headers['id'] in str(raised.value)
    assert f'invalid {field} header' in str(raised.value)


@pytest.mark.parametrize('task_id', [None, '', 5, ['x'], {'a': 1}])
def test_a_task_id_that_is_not_a_string_makes_an_invalid_task(
        app: Any, tasks: Any, make_message: Any, task_id: Any) -> None:
    message = make_message('t.add', (1, 1))
    message.headers['id'] = task_id
    with pytest.raises(InvalidTaskError, match='invalid task id'):
        request_for(app, message)


def test_headers_of_the_right_types_are_read(app: Any, tasks: Any, make_message: Any) -> None:
    message = make_message('t.add', (1, 1))
    message.headers.update(shadow='', retries=3, group='g', group_index=0,
                           timelimit=(1.5, None), stamps={}, stamped_headers=[])
    req = request_for(app, message)
    assert req.name == 't.add'  # an empty shadow is no shadow
    assert req.time_limits == (1.5, None)
    assert req.group_index == 0 and req.group == 'g'


def test_invalid_eta_and_expires_name_the_task(app: Any, tasks: Any,
                                               make_message: Any) -> None:
    for field in ('eta', 'expires'):
        message = make_message('t.add', (1, 1))
        message.headers[field] = {}
        with pytest.raises(InvalidTaskError, match=message.headers['id']):
            request_for(app, message)


@pytest.mark.parametrize('body', [b'[[1], {}, "embed"]', b'[[1], {}, 7]', b'[[1], [], {}]',
                                  b'[5, {}, {}]'])
@pytest.mark.parametrize('name', ['t.late', 't.add'])
def test_a_body_that_is_not_a_triple_is_an_invalid_message(
        app: Any, tasks: Any, make_message: Any, channel: Any, caplog: Any,
        body: bytes, name: str) -> None:
    # Given a task whose body is not (args, kwargs, embed), run by the pool's function
    message = make_message(name)
    message.body = body
    req = request_for(app, message)
    req.execute_using_pool(FakePool())
    req.on_accepted(1, 1.0)
    result = trace_task_ret(name, req.id, dict(message.headers), body, 'application/json',
                            'utf-8', app=app)
    # When the pool reports what it returned
    req.on_success(result)
    # Then it is logged as an invalid message, with its id and what is wrong with it
    assert f'Received invalid task message {name}[{req.id}]' in caplog.text
    assert 'the body is not (args: list, kwargs: dict, embed: dict | None)' in caplog.text
    # and dropped: rejected (late ack) or acked when it started, no failure stored
    if name == 't.late':
        assert channel.rejected == [(message.delivery_tag, False)]
    else:
        assert channel.acked == [(message.delivery_tag, False)] and channel.rejected == []
    assert req.id not in state.requests
    assert app.backend.get_task_meta(req.id)['status'] == states.PENDING


def test_a_pool_error_with_a_valid_body_fails_the_task(app: Any, tasks: Any,
                                                       make_message: Any, channel: Any,
                                                       caplog: Any) -> None:
    req = request_for(app, make_message('t.late'))
    req.on_accepted(1, 1.0)
    req.on_failure(einfo_of(TypeError('cannot pickle')))
    assert f'Task handler raised error: t.late[{req.id}]' in caplog.text
    assert app.backend.get_task_meta(req.id)['status'] == states.FAILURE
    assert channel.acked  # acks_on_failure_or_timeout


def test_the_context_of_a_body_with_an_odd_embed(app: Any, tasks: Any,
                                                 make_message: Any) -> None:
    message = make_message('t.add')
    message.body = b'[[1, 2], {}, "embed"]'
    req = request_for(app, message)
    assert req._context.args == [1, 2]
    assert req.chord is None and req.errbacks is None

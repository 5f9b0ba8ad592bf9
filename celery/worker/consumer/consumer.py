"""The consumer: receives task messages from the broker and dispatches them.

:class:`Consumer` is a blueprint of steps (connection, events, mingle,
gossip, tasks, remote control, heartbeat, agent, and last the event loop).
When the broker connection is lost the steps are stopped and started
again, as :setting:`broker_connection_retry` allows.

Each task message goes through :class:`TaskMessageHandler`: the task name
is read from the headers (protocol 2, the body is not decoded here) or the
decoded body (protocol 1), and the task's strategy takes over.  Unknown,
malformed and forbidden messages are logged and rejected; the worker goes
on.  Everything here runs in the event loop thread.
"""
from __future__ import annotations

import errno
import logging
import os
import warnings
from collections import defaultdict
from time import sleep
from typing import Any, Callable

from billiard.common import restart_state
from billiard.exceptions import RestartFreqExceeded
from kombu.asynchronous.semaphore import DummyLock
from kombu.utils.encoding import safe_repr
from kombu.utils.limits import TokenBucket

from celery import bootsteps, signals
from celery.app.trace import build_tracer
from celery.exceptions import (CPendingDeprecationWarning, NotRegistered, WorkerShutdown,
                               WorkerTerminate)
from celery.utils.log import get_logger
from celery.utils.nodenames import gethostname
from celery.utils.objects import Bunch
from celery.utils.time import humanize_seconds, rate
from celery.worker import loops
from celery.worker.consumer.agent import Agent
from celery.worker.consumer.connection import Connection
from celery.worker.consumer.control import Control
from celery.worker.consumer.events import Events
from celery.worker.consumer.gossip import Gossip
from celery.worker.consumer.heart import Heart
from celery.worker.consumer.messages import (CANCEL_TASKS_BY_DEFAULT, CONNECTION_ERROR,
                                              CONNECTION_FAILOVER, CONNECTION_RETRY,
                                              CONNECTION_RETRY_STEP, INVALID_TASK_ERROR,
                                              MESSAGE_DECODE_ERROR, MESSAGE_REPORT,
                                              TERMINATING_TASK_ON_RESTART_AFTER_A_CONNECTION_LOSS,
                                              UNKNOWN_FORMAT, UNKNOWN_TASK_ERROR,
                                              TaskMessageHandler, dump_body)
from celery.worker.consumer.mingle import Mingle
from celery.worker.consumer.tasks import Tasks
from celery.worker.state import (active_requests, maybe_shutdown, requests,
                                 reserved_requests, task_reserved)

__all__ = ('Consumer', 'Evloop', 'dump_body', 'TaskMessageHandler')

CLOSE = bootsteps.CLOSE
TERMINATE = bootsteps.TERMINATE
STOP_CONDITIONS = {CLOSE, TERMINATE}

logger = get_logger(__name__)
debug, info, warn, error, crit = (logger.debug, logger.info, logger.warning,
                                  logger.error, logger.critical)

class Evloop(bootsteps.StartStopStep):
    """The last consumer step: run the event loop until told to stop."""

    label = 'event loop'
    last = True

    def start(self, c: Any) -> None:
        self.patch_all(c)
        c.loop(*c.loop_args())

    def patch_all(self, c: Any) -> None:
        c.qos._mutex = DummyLock()  # only the loop thread changes the prefetch


class Consumer:
    """Consume task messages and dispatch them to the pool.

    Arguments:
        on_task_request: called with each request ready to run.
        init_callback: called once, when the worker is ready.
        hostname: the node name.
        pool: the execution pool.
        app: the app.
        timer: the timer (the event loop's).
        controller: the :class:`~celery.worker.WorkController`.
        hub: the event loop.
        initial_prefetch_count: ``concurrency * prefetch_multiplier``.
    """

    Strategies = dict

    #: Called once, the first time the worker is ready to receive tasks.
    init_callback: Callable | None = None
    #: The execution pool.
    pool: Any = None
    #: The timer (shared with the event loop).
    timer: Any = None
    #: How many times the consumer started (the first start is a restart too).
    restart_count = -1
    #: True until the first connection was made.
    first_connection_attempt = True

    # Filled in by the steps:
    #: The broker connection (Connection step).
    connection: Any = None
    #: The :class:`kombu.Consumer` of the task queues (Tasks step).
    task_consumer: Any = None
    #: The prefetch count controller, :class:`kombu.common.QoS` (Tasks step).
    qos: Any = None
    #: Batches the acks of the task channel (Tasks step; AMQP only).
    acker: Any = None
    #: The event dispatcher (Events step).
    event_dispatcher: Any = None
    #: The heartbeat sender (Heart step).
    heart: Any = None
    #: Cluster membership (Gossip step).
    gossip: Any = None
    #: The agent (Agent step).
    agent: Any = None

    class Blueprint(bootsteps.Blueprint):
        """The consumer's steps."""

        name = 'Consumer'
        default_steps = (Connection, Mingle, Events, Gossip, Tasks, Control,
                         Heart, Agent, Evloop)

        def shutdown(self, parent: Any) -> None:
            self.send_all(parent, 'shutdown')

    def __init__(self, on_task_request: Callable, init_callback: Callable | None = None,
                 hostname: str | None = None, pool: Any = None, app: Any = None,
                 timer: Any = None, controller: Any = None, hub: Any = None,
                 amqheartbeat: float | None = None, worker_options: dict | None = None,
                 disable_rate_limits: bool = False, initial_prefetch_count: int = 2,
                 prefetch_multiplier: int = 1, **kwargs: Any) -> None:
        self.app = app
        self.controller = controller
        self.init_callback = init_callback
        self.hostname = hostname or gethostname()
        self.pid = os.getpid()
        self.pool = pool
        self.timer = timer
        self.strategies = self.Strategies()
        self.conninfo = self.app.connection_for_read()
        self.connection_errors = self.conninfo.connection_errors
        self.channel_errors = self.conninfo.channel_errors
        self._restart_state = restart_state(maxR=5, maxT=1)
        self._does_info = logger.isEnabledFor(logging.INFO)
        self._limit_order = 0
        self.on_task_request = on_task_request
        self.on_task_message: set = set()
        self.amqheartbeat_rate = self.app.conf.broker_heartbeat_checkrate
        self.disable_rate_limits = disable_rate_limits
        self.initial_prefetch_count = initial_prefetch_count
        self.prefetch_multiplier = prefetch_multiplier
        self.max_prefetch_count = initial_prefetch_count
        self._reduced_prefetch_for: set = set()
        self._restore_tref: Any = None
        #: Token bucket of each rate-limited task, by name (None: no limit).
        self.task_buckets: defaultdict = defaultdict(lambda: None)
        self.reset_rate_limits()
        self.hub = hub
        if self.hub is not None:
            self.amqheartbeat = amqheartbeat
            if self.amqheartbeat is None:
                self.amqheartbeat = self.app.conf.broker_heartbeat
        else:
            self.amqheartbeat = 0
        if not hasattr(self, 'loop'):
            self.loop = loops.asynloop if hub is not None else loops.synloop
        #: Wakes the event loop (from other threads and signal handlers too).
        self.wakeup = loops.Wakeup() if hub is not None else None
        self._pending_operations: list = []
        self.steps: list = []
        self.blueprint = self.Blueprint(steps=self.app.steps['consumer'], on_close=self.on_close)
        self.blueprint.apply(self, **dict(worker_options or {}, **kwargs))

    # -- call later ----------------------------------------------------------------

    def call_soon(self, p: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run ``p(*args, **kwargs)`` in the event loop soon."""
        from vine import promise
        p = promise(p, args, kwargs)
        if self.hub is not None:
            return self.hub.call_soon(p)
        self._pending_operations.append(p)
        return p

    def perform_pending_operations(self) -> None:
        if not self.hub:
            while self._pending_operations:
                try:
                    self._pending_operations.pop()()
                except Exception as exc:
                    logger.exception('Pending callback raised: %r', exc)

    # -- rate limits -----------------------------------------------------------------

    def bucket_for_task(self, type: Any) -> TokenBucket | None:
        limit = rate(getattr(type, 'rate_limit', None))
        return TokenBucket(limit, capacity=1) if limit else None

    def reset_rate_limits(self) -> None:
        self.task_buckets.update(
            (n, self.bucket_for_task(t)) for n, t in self.app.tasks.items())

    def _limit_move_to_pool(self, request: Any) -> None:
        task_reserved(request)
        self.on_task_request(request)

    def _schedule_bucket_request(self, bucket: TokenBucket) -> None:
        while True:
            try:
                request, tokens = bucket.pop()
            except IndexError:
                break
            if bucket.can_consume(tokens):
                self._limit_move_to_pool(request)
                continue
            # not yet: back to the head of the line, and wait for tokens
            bucket.contents.appendleft((request, tokens))
            pri = self._limit_order = (self._limit_order + 1) % 10
            hold = bucket.expected_time(tokens)
            self.timer.call_after(hold, self._schedule_bucket_request, (bucket,), priority=pri)
            break

    def _limit_task(self, request: Any, bucket: TokenBucket, tokens: int) -> None:
        bucket.add((request, tokens))
        return self._schedule_bucket_request(bucket)

    def _limit_post_eta(self, request: Any, bucket: TokenBucket, tokens: int) -> None:
        self.qos.decrement_eventually()
        bucket.add((request, tokens))
        return self._schedule_bucket_request(bucket)

    def apply_eta_task(self, task: Any) -> None:
        """Run a task whose ETA has come (called by the timer)."""
        task_reserved(task)
        self.on_task_request(task)
        self.qos.decrement_eventually()

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        blueprint = self.blueprint
        while blueprint.state not in STOP_CONDITIONS:
            maybe_shutdown()
            if self.restart_count:
                try:
                    self._restart_state.step()
                except RestartFreqExceeded as exc:
                    crit('Frequent restarts detected: %r', exc, exc_info=1)
                    sleep(1)
            self.restart_count += 1
            if self.app.conf.broker_channel_error_retry:
                recoverable_errors = self.connection_errors + self.channel_errors
            else:
                recoverable_errors = self.connection_errors
            try:
                blueprint.start(self)
            except recoverable_errors as exc:
                is_connection_loss_on_startup = self.first_connection_attempt
                self.first_connection_attempt = False
                retry_type = self._get_connection_retry_type(is_connection_loss_on_startup)
                if not self.app.conf[retry_type]:
                    crit('Retrying to %s a connection to the message broker after a '
                         'connection loss has been disabled (app.conf.%s=False). '
                         'Shutting down...',
                         'establish' if is_connection_loss_on_startup else 're-establish',
                         retry_type)
                    raise WorkerShutdown(1) from exc
                if isinstance(exc, OSError) and exc.errno == errno.EMFILE:
                    crit('Too many open files. Aborting...')
                    raise WorkerTerminate(1) from exc
                maybe_shutdown()
                if blueprint.state not in STOP_CONDITIONS:
                    if self.connection:
                        self.on_connection_error_after_connected(exc)
                    else:
                        self.on_connection_error_before_connected(exc)
                    self.on_close()
                    blueprint.restart(self)

    def _get_connection_retry_type(self, is_connection_loss_on_startup: bool) -> str:
        return ('broker_connection_retry_on_startup'
                if (is_connection_loss_on_startup and
                    self.app.conf.broker_connection_retry_on_startup is not None)
                else 'broker_connection_retry')

    def on_connection_error_before_connected(self, exc: BaseException) -> None:
        error(CONNECTION_ERROR, self.conninfo.as_uri(), exc, 'Trying to reconnect...')

    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        warn(CONNECTION_RETRY, exc_info=True)
        try:
            self.connection.collect()
        except Exception:  # the connection is gone anyway
            pass
        if self.app.conf.worker_cancel_long_running_tasks_on_connection_loss:
            for request in tuple(active_requests):
                if request.task.acks_late and not request.acknowledged:
                    warn(TERMINATING_TASK_ON_RESTART_AFTER_A_CONNECTION_LOSS, request)
                    request.cancel(self.pool)
        else:
            warnings.warn(CANCEL_TASKS_BY_DEFAULT, CPendingDeprecationWarning)
        if self.app.conf.worker_enable_prefetch_count_reduction:
            running = {req.id for req in tuple(active_requests)}
            self.initial_prefetch_count = max(
                self.prefetch_multiplier,
                self.max_prefetch_count - len(running) * self.prefetch_multiplier)
            if self.initial_prefetch_count != self.max_prefetch_count:
                self._reduced_prefetch_for = running
                info('Temporarily reducing the prefetch count to %s to avoid '
                     'over-fetching since %s tasks are currently being processed.\n'
                     'The prefetch count will be gradually restored to %s as the '
                     'tasks complete processing.',
                     self.initial_prefetch_count, len(running), self.max_prefetch_count)

    def _restore_prefetch_count(self) -> None:
        """Raise the prefetch count again as the tasks running at reconnect end."""
        if not self._reduced_prefetch_for or self.qos is None:
            return
        still = {req.id for req in tuple(active_requests)}
        done = self._reduced_prefetch_for - still
        if not done:
            return
        self._reduced_prefetch_for -= done
        target = min(self.max_prefetch_count,
                     self.qos.value + len(done) * self.prefetch_multiplier)
        if not self._reduced_prefetch_for:
            target = self.max_prefetch_count
        self.initial_prefetch_count = target
        self.qos.set(target)

    def register_with_event_loop(self, hub: Any) -> None:
        self.blueprint.send_all(self, 'register_with_event_loop', args=(hub,),
                                description='Hub.register')
        if self._reduced_prefetch_for:
            if self._restore_tref is not None:
                self._restore_tref.cancel()
            self._restore_tref = hub.call_repeatedly(1.0, self._restore_prefetch_count)

    def shutdown(self) -> None:
        self.blueprint.shutdown(self)
        if self.wakeup is not None:
            self.wakeup.close()
            self.wakeup = None

    def stop(self) -> None:
        self.blueprint.stop(self)

    def terminate(self) -> None:
        """Cold shutdown: cancel the tasks the pool is about to kill, then stop.

        The worker's Consumer step is terminated just before the pool, so
        the running tasks are cancelled while their messages can still be
        given back (see :meth:`cancel_unacked_requests`).
        """
        self.cancel_unacked_requests()
        self.stop()

    def cancel_unacked_requests(self) -> int:
        """Kill the running tasks whose message is not settled; return how many.

        A cancelled request is neither acked nor rejected (nor revoked): its
        late-acked message stays unacknowledged, and closing the channel
        gives it back to the broker (Redis restores its unacked messages,
        AMQP requeues them), so another worker runs it.  Tasks that ack
        early are cancelled too, so the pool does not wait for them as lost.
        A late-acked task whose message is already acked runs on until the
        pool is terminated.
        """
        cancelled = 0
        for request in tuple(active_requests):
            if request.task.acks_late and request.acknowledged:
                continue
            try:
                request.cancel(self.pool)
            except NotImplementedError:  # solo, threads: no task can be killed alone
                debug('Pool %r cannot cancel running tasks at shutdown', self.pool)
                break
            except Exception as exc:  # a child already gone, a backend down...
                error('Could not cancel %s[%s] at shutdown: %r',
                      request.name, request.id, exc, exc_info=True)
            else:
                cancelled += 1
        if cancelled:
            warn('Cold shutdown: cancelled %s running task(s); unacknowledged '
                 'messages go back to the broker.', cancelled)
        return cancelled

    def on_ready(self) -> None:
        callback, self.init_callback = self.init_callback, None
        if callback:
            callback(self)

    def loop_args(self) -> tuple:
        return (self, self.connection, self.task_consumer, self.blueprint,
                self.hub, self.qos, self.amqheartbeat, self.app.clock,
                self.amqheartbeat_rate)

    def on_close(self) -> None:
        """Forget what was reserved on the lost channel (it will be redelivered)."""
        if self.timer:
            self.timer.clear()
        for bucket in self.task_buckets.values():
            if bucket:
                bucket.clear_pending()
        for request in tuple(reserved_requests):
            requests.pop(request.id, None)
        reserved_requests.clear()
        if self.pool and self.pool.flush:
            self.pool.flush()

    # -- connecting --------------------------------------------------------------------

    def connect(self) -> Any:
        """Connect to the broker (retrying as configured) and join the event loop."""
        conn = self.connection_for_read(heartbeat=self.amqheartbeat)
        if self.hub is not None:
            loops.register_connection(conn, self.hub, self.wakeup)
        return conn

    def connection_for_read(self, heartbeat: float | None = None) -> Any:
        return self.ensure_connected(self.app.connection_for_read(heartbeat=heartbeat))

    def connection_for_write(self, heartbeat: float | None = None) -> Any:
        return self.ensure_connected(self.app.connection_for_write(heartbeat=heartbeat))

    def ensure_connected(self, conn: Any) -> Any:
        conf = self.app.conf

        def _error_handler(exc: BaseException, interval: float,
                           next_step: str = CONNECTION_RETRY_STEP) -> None:
            if getattr(conn, 'alt', None) and interval == 0:
                next_step = CONNECTION_FAILOVER
            next_step = next_step.format(
                when=humanize_seconds(interval, 'in', ' '),
                retries=int(interval / 2),
                max_retries=conf.broker_connection_max_retries)
            error(CONNECTION_ERROR, conn.as_uri(), exc, next_step)

        if conf.broker_connection_retry_on_startup is None:
            retry_disabled = not conf.broker_connection_retry
        elif self.first_connection_attempt:
            retry_disabled = not conf.broker_connection_retry_on_startup
        else:
            retry_disabled = not conf.broker_connection_retry
        if retry_disabled:
            conn.connect()
            self.first_connection_attempt = False
            return conn
        conn = conn.ensure_connection(_error_handler, conf.broker_connection_max_retries,
                                      callback=maybe_shutdown)
        self.first_connection_attempt = False
        return conn

    # -- queues ----------------------------------------------------------------------------

    def add_task_queue(self, queue: str, exchange: str | None = None,
                       exchange_type: str | None = None, routing_key: str | None = None,
                       **options: Any) -> None:
        """Start consuming from ``queue`` (kept across reconnects)."""
        cset = self.task_consumer
        queues = self.app.amqp.queues
        if queue in queues:  # 'in', so that missing queues are not auto-created here
            q = queues[queue]
        else:
            exchange = queue if exchange is None else exchange
            exchange_type = 'direct' if exchange_type is None else exchange_type
            q = queues.select_add(queue, exchange=exchange, exchange_type=exchange_type,
                                  routing_key=routing_key, **options)
        if not cset.consuming_from(queue):
            cset.add_queue(q)
            cset.consume()
            info('Started consuming from %s', queue)

    def cancel_task_queue(self, queue: str) -> None:
        """Stop consuming from ``queue``."""
        info('Canceling queue %s', queue)
        self.app.amqp.queues.deselect(queue)
        self.task_consumer.cancel_by_queue(queue)

    # -- messages --------------------------------------------------------------------------

    def update_strategies(self) -> None:
        """(Re)build the strategy and tracer of every registered task."""
        loader = self.app.loader
        for name, task in self.app.tasks.items():
            self.strategies[name] = task.start_strategy(self.app, self)
            task.__trace__ = build_tracer(name, task, loader, self.hostname, app=self.app)

    def create_task_handler(self) -> TaskMessageHandler:
        return TaskMessageHandler(self)

    def _message_report(self, body: Any, message: Any) -> str:
        return MESSAGE_REPORT.format(dump_body(message, body),
                                     safe_repr(message.content_type),
                                     safe_repr(message.content_encoding),
                                     safe_repr(message.delivery_info),
                                     safe_repr(message.headers))

    def on_unknown_message(self, body: Any, message: Any) -> None:
        warn(UNKNOWN_FORMAT, self._message_report(body, message))
        message.reject_log_error(logger, self.connection_errors)
        if signals.task_rejected.receivers:
            signals.task_rejected.send(sender=self, message=message, exc=None)

    def on_unknown_task(self, body: Any, message: Any, exc: BaseException) -> None:
        error(UNKNOWN_TASK_ERROR, exc, dump_body(message, body),
              safe_repr(message.headers), safe_repr(message.delivery_info), exc_info=True)
        headers = message.headers or {}
        try:
            id_, name = headers['id'], headers['task']
        except KeyError:  # protocol 1
            payload = body if body is not None else message.payload
            id_, name = payload.get('id'), payload.get('task')
        root_id = headers.get('root_id')
        request = Bunch(
            name=name, chord=None, root_id=root_id,
            correlation_id=message.properties.get('correlation_id'),
            group=headers.get('group'), stamped_headers=None, stamps=None,
            reply_to=message.properties.get('reply_to'), errbacks=None,
            chain=None, parent_id=headers.get('parent_id'), ignore_result=False,
            delivery_info=message.delivery_info, hostname=self.hostname,
            task=name, id=id_, args=None, kwargs=None, properties=message.properties,
            headers=headers,
        )
        message.reject_log_error(logger, self.connection_errors)
        if id_:
            try:
                self.app.backend.mark_as_failure(id_, NotRegistered(name), request=request)
            except Exception as exc2:
                error('Could not store the failure of unknown task %s: %r', id_, exc2)
        if self.event_dispatcher:
            self.event_dispatcher.send('task-failed', uuid=id_,
                                       exception=f'NotRegistered({name!r})')
        if signals.task_unknown.receivers:
            signals.task_unknown.send(sender=self, message=message, exc=exc, name=name, id=id_)

    def on_invalid_task(self, body: Any, message: Any, exc: BaseException) -> None:
        error(INVALID_TASK_ERROR, exc, dump_body(message, body), exc_info=True)
        if not message.acknowledged:
            message.reject_log_error(logger, self.connection_errors)
        if signals.task_rejected.receivers:
            signals.task_rejected.send(sender=self, message=message, exc=exc)

    def on_decode_error(self, message: Any, exc: BaseException) -> None:
        """A message body could not be decoded: log it and ack it (no redelivery loop)."""
        crit(MESSAGE_DECODE_ERROR, exc, message.content_type, message.content_encoding,
             safe_repr(message.headers), dump_body(message, message.body), exc_info=1)
        message.ack()

    def __repr__(self) -> str:
        state = self.blueprint.human_state() if self.blueprint else 'initializing'
        return f'<Consumer: {self.hostname} ({state})>'

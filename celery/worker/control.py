"""Remote-control commands the worker answers, and their registry (:class:`Panel`).

A command is a function ``fun(state, **arguments)`` registered with
:func:`control_command` (it changes the worker) or :func:`inspect_command`
(it only reports).  ``state`` is the pidbox node's state: ``state.app``,
``state.hostname`` and ``state.consumer`` (the worker's
:class:`~celery.worker.consumer.Consumer`; ``state.consumer.controller`` is
the :class:`~celery.worker.WorkController`).

Commands run in the worker's event loop thread, between messages: they must
be quick, must not block, and their replies must be JSON serialisable.  An
exception raised by a command becomes an ``{'error': ...}`` reply (kombu's
pidbox does that), so bad arguments never stop the worker; expected failures
reply :func:`nok` with a readable message instead.
"""
from __future__ import annotations

import gc
import io
import os
import tempfile
from collections import UserDict, defaultdict, deque, namedtuple
from typing import Any, Callable, Iterable, Iterator

from billiard.common import TERM_SIGNAME
from kombu.utils.encoding import safe_repr
from kombu.utils.functional import maybe_list

from celery.exceptions import WorkerShutdown
from celery.platforms import EX_OK
from celery.platforms import signals as _signals
from celery.utils.log import get_logger
from celery.utils.serialization import jsonify, strtobool
from celery.worker import state as worker_state

__all__ = ('Panel', 'control_command', 'inspect_command', 'ok', 'nok',
           'DEFAULT_TASK_INFO_ITEMS')

logger = get_logger(__name__)

#: Task attributes ``registered`` shows when none are asked for.
DEFAULT_TASK_INFO_ITEMS = ('exchange', 'routing_key', 'rate_limit')

controller_info_t = namedtuple('controller_info_t', [
    'alias', 'type', 'visible', 'default_timeout', 'help', 'signature', 'args', 'variadic',
])


def ok(value: Any) -> dict:
    """A successful reply."""
    return {'ok': value}


def nok(value: Any) -> dict:
    """An error reply."""
    return {'error': value}


class Panel(UserDict):
    """Registry of remote-control commands: name -> handler (``Panel.data``).

    ``Panel.meta`` describes each command (by its main name only) for the
    ``celery inspect`` / ``celery control`` command line.
    """

    data: dict[str, Callable] = {}
    meta: dict[str, controller_info_t] = {}

    @classmethod
    def register(cls, *args: Any, **kwargs: Any) -> Any:
        if args:
            return cls._register(**kwargs)(*args)
        return cls._register(**kwargs)

    @classmethod
    def _register(cls, name: str | None = None, alias: str | None = None,
                  type: str = 'control', visible: bool = True,
                  default_timeout: float = 1.0, help: str | None = None,
                  signature: str | None = None, args: Any = None,
                  variadic: str | None = None) -> Callable:
        def _inner(fun: Callable) -> Callable:
            control_name = name or fun.__name__
            _help = help or (fun.__doc__ or '').strip().split('\n')[0]
            cls.data[control_name] = fun
            cls.meta[control_name] = controller_info_t(
                alias, type, visible, default_timeout, _help, signature, args, variadic)
            if alias:
                cls.data[alias] = fun
            return fun
        return _inner


def control_command(**kwargs: Any) -> Callable:
    """Register a command that changes the worker."""
    return Panel.register(type='control', **kwargs)


def inspect_command(**kwargs: Any) -> Callable:
    """Register a command that reports on the worker."""
    return Panel.register(type='inspect', **kwargs)


def _controller(state: Any) -> Any:
    return getattr(state.consumer, 'controller', None)


def _autoscaler(state: Any) -> Any:
    return getattr(_controller(state), 'autoscaler', None)


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f'argument {name!r} must be an integer, not {value!r}')
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TypeError(f'argument {name!r} must be an integer, not {value!r}') from None


def _as_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f'argument {name!r} must be a number, not {value!r}') from None


# -- The app -----------------------------------------------------------------------------


@inspect_command()
def report(state: Any) -> dict:
    """Information about the Celery installation, for bug reports."""
    return ok(state.app.bugreport())


@inspect_command(alias='dump_conf', signature='[include_defaults=False]',
                 args=[('with_defaults', strtobool)])
def conf(state: Any, with_defaults: Any = False, **kwargs: Any) -> dict:
    """List the configuration (the changed settings, unless ``with_defaults``)."""
    table = state.app.conf.table(with_defaults=bool(strtobool(with_defaults)))
    return jsonify(table, keyfilter=_wanted_config_key, unknown_type_filter=safe_repr)


def _wanted_config_key(key: Any) -> bool:
    return isinstance(key, str) and not key.startswith('__')


# -- Tasks -------------------------------------------------------------------------------


def _requests_by_id(ids: Iterable[str]) -> Iterator[Any]:
    """The requests this worker holds among ``ids`` (unknown ids are skipped)."""
    requests = worker_state.requests
    for task_id in ids:
        request = requests.get(task_id)
        if request is not None:
            yield request


def _state_of(request: Any) -> str:
    if request in worker_state.active_requests:
        return 'active'
    if request in worker_state.reserved_requests:
        return 'reserved'
    return 'ready'


@inspect_command(variadic='ids', signature='[id1 [id2 [... [idN]]]]')
def query_task(state: Any, ids: Any, **kwargs: Any) -> dict:
    """Query for task information by id."""
    return {request.id: (_state_of(request), request.info())
            for request in _requests_by_id(maybe_list(ids) or ())}


@control_command(variadic='task_id', signature='[id1 [id2 [... [idN]]]]')
def revoke(state: Any, task_id: Any, terminate: bool = False, signal: Any = None,
           **kwargs: Any) -> dict:
    """Revoke task by task id (or list of ids).

    With ``terminate`` the process running the task is also killed with
    ``signal`` (``TERM`` by default).
    """
    task_ids = set(maybe_list(task_id) or ())
    signum = _signals.signum(signal or TERM_SIGNAME) if terminate else None
    newly_revoked = [i for i in task_ids if i not in worker_state.revoked]
    worker_state.revoked.update(task_ids)
    _store_revoked(state, newly_revoked)
    if not terminate:
        logger.info('Tasks flagged as revoked: %s', ', '.join(task_ids))
        return ok(f'tasks {task_ids} flagged as revoked')
    terminated = []
    for request in _requests_by_id(task_ids):
        if request.id not in terminated:
            terminated.append(request.id)
            logger.info('Terminating %s (%s)', request.id, signum)
            request.terminate(state.consumer.pool, signal=signum)
    if not terminated:
        return ok('terminate: tasks unknown')
    return ok(f'terminate: {", ".join(terminated)}')


def _store_revoked(state: Any, task_ids: Iterable[str]) -> None:
    """Record ``REVOKED`` in the result store now (a task parked behind an
    ETA, or one no worker will see again, would otherwise stay ``PENDING``)."""
    for task_id in task_ids:
        request = worker_state.requests.get(task_id)
        backend = request.task.backend if request is not None else state.app.backend
        try:
            backend.mark_as_revoked(task_id, reason='revoked', store_result=True)
        except Exception as exc:  # a store that is down must not stop the revoke
            logger.warning('Failed to mark task %s as revoked in backend: %s', task_id, exc)


@control_command(variadic='task_id', args=[('signal', str)],
                 signature='<signal> [id1 [id2 [... [idN]]]]')
def terminate(state: Any, signal: Any, task_id: Any, **kwargs: Any) -> dict:
    """Terminate task by task id (or list of ids)."""
    return revoke(state, task_id, terminate=True, signal=signal)


@control_command(variadic='headers',
                 signature='[key1=value1 [key2=value2 [... [keyN=valueN]]]]')
def revoke_by_stamped_headers(state: Any, headers: Any, terminate: bool = False,
                              signal: Any = None, **kwargs: Any) -> dict:
    """Revoke tasks by their stamped headers (``{header: value or [values]}``)."""
    signum = _signals.signum(signal or TERM_SIGNAME) if terminate else None
    headers = _parse_stamped_headers(headers)
    for header, values in headers.items():
        known = maybe_list(worker_state.revoked_stamps.get(header)) or []
        worker_state.revoked_stamps[header] = list(known) + list(maybe_list(values) or ())
    if not terminate:
        return ok(f'headers {headers} flagged as revoked, but not terminated')
    terminated: defaultdict = defaultdict(set)
    for request in list(worker_state.active_requests):
        stamps = getattr(request, 'stamps', None)
        if not stamps:
            continue
        for header, values in headers.items():
            if header not in stamps:
                continue
            matches = _hashable_set(stamps[header]) & _hashable_set(values)
            if matches:
                terminated[header].update(matches)
                request.terminate(state.consumer.pool, signal=signum)
    if not terminated:
        return ok(f'headers {headers} were not terminated')
    return ok(f'headers {terminated} revoked')


def _parse_stamped_headers(headers: Any) -> dict:
    """``['k=v', ...]`` (from the command line) or a mapping -> a dict."""
    if isinstance(headers, dict):
        return headers
    parsed: dict = {}
    for item in maybe_list(headers) or ():
        key, sep, value = str(item).partition('=')
        if not sep:
            raise ValueError(f'stamped header must be key=value, not {item!r}')
        parsed[key] = value
    return parsed


def _hashable_set(value: Any) -> set:
    return {v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
            for v in (maybe_list(value) or ())}


@control_command(args=[('task_name', str), ('rate_limit', str)],
                 signature='<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>')
def rate_limit(state: Any, task_name: str, rate_limit: Any, **kwargs: Any) -> dict:
    """Tell worker(s) to modify the rate limit for a task by type."""
    from celery.utils.time import rate
    try:
        if not isinstance(rate(rate_limit), (int, float)):
            raise ValueError(f'not a rate: {rate_limit!r}')
    except (TypeError, ValueError) as exc:
        return nok(f'Invalid rate limit string: {exc!r}')
    try:
        task = state.app.tasks[task_name]
    except (KeyError, TypeError):
        logger.error('Rate limit attempt for unknown task %s', task_name)
        return nok('unknown task')
    task.rate_limit = rate_limit
    _reset_bucket(state.consumer, task_name, task)
    if not rate_limit:
        logger.info('Rate limits disabled for tasks of type %s', task_name)
        return ok('rate limit disabled successfully')
    logger.info('New rate limit for tasks of type %s: %s.', task_name, rate_limit)
    return ok('new rate limit set successfully')


def _reset_bucket(consumer: Any, task_name: str, task: Any) -> None:
    """Give the task a token bucket for its new limit.

    Requests waiting in the old bucket keep their timer entry, which holds
    the old bucket and drains it; new requests use the new one.
    """
    buckets = getattr(consumer, 'task_buckets', None)
    bucket_for_task = getattr(consumer, 'bucket_for_task', None)
    if buckets is not None and bucket_for_task is not None:
        buckets[task_name] = bucket_for_task(task)
    elif hasattr(consumer, 'reset_rate_limits'):
        consumer.reset_rate_limits()


@control_command(args=[('task_name', str), ('soft', float), ('hard', float)],
                 signature='<task_name> <soft_secs> [hard_secs]')
def time_limit(state: Any, task_name: str | None = None, hard: Any = None,
               soft: Any = None, **kwargs: Any) -> dict:
    """Tell worker(s) to modify the time limit for task by type."""
    soft, hard = _as_float(soft, 'soft'), _as_float(hard, 'hard')
    try:
        task = state.app.tasks[task_name]
    except (KeyError, TypeError):
        logger.error('Change time limit attempt for unknown task %s', task_name)
        return nok('unknown task')
    task.soft_time_limit = soft
    task.time_limit = hard
    logger.info('New time limits for tasks of type %s: soft=%s hard=%s', task_name, soft, hard)
    return ok('time limits set successfully')


# -- Events ------------------------------------------------------------------------------


@inspect_command()
def clock(state: Any, **kwargs: Any) -> dict:
    """Get current logical clock value."""
    return {'clock': state.app.clock.value}


@control_command()
def election(state: Any, id: str, topic: str, action: Any = None, **kwargs: Any) -> None:
    """Hold election (handled by gossip)."""
    gossip = getattr(state.consumer, 'gossip', None)
    hold = getattr(gossip, 'election', None) if gossip else None
    if hold is not None:
        hold(id, topic, action)


@control_command()
def enable_events(state: Any) -> dict:
    """Tell worker(s) to send task-related events."""
    dispatcher = state.consumer.event_dispatcher
    if dispatcher is None:
        return nok('events are not available on this worker')
    changed = False
    if not dispatcher.enabled:
        dispatcher.enable()
        changed = True
    groups = dispatcher.groups
    if groups and 'task' not in groups:  # an empty set means every group
        groups.add('task')
        changed = True
    if changed:
        logger.info('Events of group {task} enabled by remote.')
        return ok('task events enabled')
    return ok('task events already enabled')


@control_command()
def disable_events(state: Any) -> dict:
    """Tell worker(s) to stop sending task-related events."""
    dispatcher = state.consumer.event_dispatcher
    if dispatcher is None:
        return ok('task events already disabled')
    groups = dispatcher.groups
    if not groups:  # every group: keep the worker events only
        groups.add('worker')
    elif 'task' in groups:
        groups.discard('task')
        if not groups:
            groups.add('worker')
    else:
        return ok('task events already disabled')
    logger.info('Events of group {task} disabled by remote.')
    return ok('task events disabled')


@control_command()
def heartbeat(state: Any) -> None:
    """Tell worker(s) to send event heartbeat immediately."""
    logger.debug('Heartbeat requested by remote.')
    dispatcher = state.consumer.event_dispatcher
    if dispatcher is not None:
        dispatcher.send('worker-heartbeat', freq=5, **worker_state.SOFTWARE_INFO)


# -- The worker --------------------------------------------------------------------------


@inspect_command(visible=False)
def hello(state: Any, from_node: str, revoked: Any = None, **kwargs: Any) -> dict | None:
    """Request mingle sync-data."""
    if from_node == state.hostname:
        return None
    logger.info('sync with %s', from_node)
    if revoked:
        worker_state.revoked.update(revoked)
    worker_state.revoked.purge()  # don't hand out ids that have expired
    return {'revoked': worker_state.revoked._data, 'clock': state.app.clock.forward()}


@inspect_command(default_timeout=0.2)
def ping(state: Any, **kwargs: Any) -> dict:
    """Ping worker(s)."""
    return ok('pong')


@inspect_command()
def stats(state: Any, **kwargs: Any) -> dict:
    """Request worker statistics/information."""
    controller = _controller(state)
    if controller is not None and hasattr(controller, 'stats'):
        info = controller.stats()
    else:  # a consumer without its worker (embedded, tests)
        consumer = state.consumer
        info = {'total': dict(worker_state.total_count), 'pid': os.getpid(),
                'clock': str(state.app.clock)}
        blueprint = getattr(consumer, 'blueprint', None)
        if blueprint is not None:
            info.update(blueprint.info(consumer))
    return info


def _timer_requests(timer: Any) -> Iterator[tuple[Any, Any]]:
    """``(scheduled entry, request)`` for each request waiting on the timer."""
    from celery.worker.request import Request
    if timer is None:
        return
    for waiting in getattr(timer, 'schedule', timer).queue:
        entry = waiting.entry
        if getattr(entry, 'canceled', False):
            continue
        args = getattr(entry, 'args', None)
        if args and isinstance(args[0], Request):
            yield waiting, args[0]


@inspect_command(alias='dump_schedule')
def scheduled(state: Any, **kwargs: Any) -> list:
    """List of currently scheduled ETA/countdown tasks."""
    return [{'eta': request.eta.isoformat() if request.eta else None,
             'priority': waiting.priority,
             'request': request.info()}
            for waiting, request in _timer_requests(state.consumer.timer)]


@inspect_command(alias='dump_reserved')
def reserved(state: Any, **kwargs: Any) -> list:
    """List of currently reserved tasks, not including scheduled/active."""
    waiting = set(worker_state.reserved_requests) - set(worker_state.active_requests)
    if not waiting:
        return []
    parked = {request for _, request in _timer_requests(state.consumer.timer)}
    return [request.info() for request in waiting if request not in parked]


@inspect_command(alias='dump_active', args=[('safe', strtobool)], signature='[safe=False]')
def active(state: Any, safe: bool = False, **kwargs: Any) -> list:
    """List of tasks currently being executed."""
    return [request.info(safe=bool(strtobool(safe))) for request in list(worker_state.active_requests)]


@inspect_command(alias='dump_revoked')
def revoked(state: Any, **kwargs: Any) -> list:
    """List of revoked task-ids."""
    return list(worker_state.revoked)


@inspect_command(alias='dump_tasks', variadic='taskinfoitems',
                 signature='[attr1 [attr2 [... [attrN]]]]')
def registered(state: Any, taskinfoitems: Any = None, builtins: bool = False,
               **kwargs: Any) -> list:
    """List of registered tasks (with some of their attributes)."""
    items = maybe_list(taskinfoitems) or DEFAULT_TASK_INFO_ITEMS
    registry = state.app.tasks
    names = sorted(name for name in registry
                   if builtins or not name.startswith('celery.'))
    return [_describe_task(registry[name], items) for name in names]


def _describe_task(task: Any, items: Iterable[str]) -> str:
    fields = []
    for item in items:
        value = getattr(task, item, None)
        if value is not None:
            fields.append(f'{item}={value}')
    return f'{task.name} [{" ".join(fields)}]' if fields else task.name


@inspect_command()
def active_queues(state: Any) -> list:
    """List the task queues a worker is currently consuming from."""
    task_consumer = state.consumer.task_consumer
    if not task_consumer:
        return []
    return [dict(queue.as_dict(recurse=True)) for queue in task_consumer.queues]


# -- Debugging ---------------------------------------------------------------------------

#: Memory samples taken by ``memsample`` (bytes), for ``memdump``.
_mem_samples: deque = deque(maxlen=1000)


@inspect_command(default_timeout=60.0, args=[('type', str), ('num', int), ('max_depth', int)],
                 signature='[object_type=Request] [num=200 [max_depth=10]]')
def objgraph(state: Any, num: int = 200, max_depth: int = 10, type: str = 'Request',
             **kwargs: Any) -> dict:
    """Create graph of uncollected objects (memory-leak debugging)."""
    try:
        import objgraph as _objgraph
    except ImportError:
        return nok('objgraph is not installed: pip install objgraph (and graphviz)')
    num, max_depth = _as_int(num, 'num'), _as_int(max_depth, 'max_depth')
    logger.info('Dumping graph for type %r', type)
    with tempfile.NamedTemporaryFile(prefix='cobjg', suffix='.png', delete=False) as fh:
        objects = _objgraph.by_type(type)[:num]
        _objgraph.show_backrefs(objects, max_depth=max_depth,
                                highlight=lambda v: v in objects, filename=fh.name)
    return {'filename': fh.name}


def _rss() -> int | None:
    """Resident memory of this process in bytes (None if unknown)."""
    try:
        import psutil
    except ImportError:
        try:
            with open('/proc/self/statm', 'rb') as fh:
                return int(fh.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
        except (OSError, ValueError, IndexError, AttributeError):
            return None
    return psutil.Process(os.getpid()).memory_info().rss


def _humanbytes(n: float) -> str:
    for unit, size in (('TB', 2 ** 40), ('GB', 2 ** 30), ('MB', 2 ** 20), ('KB', 2 ** 10)):
        if n >= size:
            return f'{n / size:.1f}'.rstrip('0').rstrip('.') + unit
    return f'{int(n)}b'


_NO_RSS = 'cannot measure memory: install psutil'


@inspect_command()
def memsample(state: Any, **kwargs: Any) -> Any:
    """Sample current RSS memory usage."""
    rss = _rss()
    if rss is None:
        return nok(_NO_RSS)
    _mem_samples.append(rss)
    return _humanbytes(rss)


@inspect_command(args=[('samples', int)], signature='[n_samples=10]')
def memdump(state: Any, samples: int = 10, **kwargs: Any) -> Any:
    """Dump statistics of previous memsample requests."""
    samples = max(_as_int(samples, 'samples'), 1)
    taken = list(_mem_samples)
    _mem_samples.clear()
    if len(taken) > samples:  # evenly spread over the whole run
        step = len(taken) / samples
        taken = [taken[int(i * step)] for i in range(samples)]
    gc.collect()
    rss = _rss()
    if rss is None:
        return nok(_NO_RSS)
    out = io.StringIO()
    if taken:
        out.write('- rss (sample):\n')
        out.writelines(f'-    > {_humanbytes(value)},\n' for value in taken)
    out.write(f'- rss (end): {_humanbytes(rss)}.\n')
    return out.getvalue()


# -- The pool ----------------------------------------------------------------------------


def _update_prefetch_count(consumer: Any, delta: int) -> None:
    """Follow a pool resize with the prefetch count (``delta`` processes)."""
    qos = getattr(consumer, 'qos', None)
    num_processes = getattr(consumer.pool, 'num_processes', None)
    if qos is None or not consumer.initial_prefetch_count or not num_processes:
        return  # prefetch unlimited, or not consuming yet
    multiplier = consumer.prefetch_multiplier
    consumer.initial_prefetch_count = num_processes * multiplier
    if hasattr(consumer, 'max_prefetch_count'):
        consumer.max_prefetch_count = consumer.initial_prefetch_count
    if delta > 0:
        qos.increment_eventually(delta * multiplier)
    elif delta < 0:
        qos.decrement_eventually(-delta * multiplier)


@control_command(args=[('n', int)], signature='[N=1]')
def pool_grow(state: Any, n: Any = 1, **kwargs: Any) -> dict:
    """Grow pool by n processes/threads."""
    n = _as_int(n, 'n')
    if _autoscaler(state):
        return nok('pool_grow is not supported with autoscale. '
                   'Adjust autoscale range instead.')
    state.consumer.pool.grow(n)
    _update_prefetch_count(state.consumer, n)
    return ok('pool will grow')


@control_command(args=[('n', int)], signature='[N=1]')
def pool_shrink(state: Any, n: Any = 1, **kwargs: Any) -> dict:
    """Shrink pool by n processes/threads."""
    n = _as_int(n, 'n')
    if _autoscaler(state):
        return nok('pool_shrink is not supported with autoscale. '
                   'Adjust autoscale range instead.')
    try:
        state.consumer.pool.shrink(n)
    except ValueError as exc:  # every process is busy
        return nok(str(exc))
    _update_prefetch_count(state.consumer, -n)
    return ok('pool will shrink')


@control_command()
def pool_restart(state: Any, modules: Any = None, reload: bool = False,
                 reloader: Any = None, **kwargs: Any) -> dict:
    """Restart execution pool."""
    controller = _controller(state)
    if not (state.app.conf.worker_pool_restarts or getattr(controller, 'pool_restarts', False)):
        raise ValueError('Pool restarts not enabled')
    controller.reload(maybe_list(modules), reload, reloader=reloader)
    return ok('reload started')


@control_command(args=[('max', int), ('min', int)], signature='[max [min]]')
def autoscale(state: Any, max: Any = None, min: Any = None, **kwargs: Any) -> dict:
    """Modify autoscale settings."""
    autoscaler = _autoscaler(state)
    if not autoscaler:
        raise ValueError('Autoscale not enabled')
    max = None if max is None else _as_int(max, 'max')
    min = None if min is None else _as_int(min, 'min')
    max_, min_ = autoscaler.update(max, min)
    return ok(f'autoscale now max={max_} min={min_}')


@control_command()
def shutdown(state: Any, msg: str = 'Got shutdown from remote', **kwargs: Any) -> None:
    """Shutdown worker(s)."""
    logger.warning(msg)
    raise WorkerShutdown(EX_OK)


# -- Queues ------------------------------------------------------------------------------


def _run_logged(consumer: Any, fun: Callable, *args: Any, **kwargs: Any) -> None:
    """Run ``fun`` in the event loop; log (do not raise) what it raises,
    except a lost connection, which the consumer must see."""
    try:
        fun(*args, **kwargs)
    except tuple(getattr(consumer, 'connection_errors', ()) or ()):
        raise
    except Exception as exc:
        logger.error('%s%r failed: %r', getattr(fun, '__name__', fun), args, exc, exc_info=True)


def _check_queue_name(queue: Any) -> None:
    if not queue or not isinstance(queue, str):
        raise TypeError(f'queue must be a queue name, not {queue!r}')


@control_command(args=[('queue', str), ('exchange', str), ('exchange_type', str),
                       ('routing_key', str)],
                 signature='<queue> [exchange [type [routing_key]]]')
def add_consumer(state: Any, queue: str, exchange: str | None = None,
                 exchange_type: str | None = None, routing_key: str | None = None,
                 **options: Any) -> dict:
    """Tell worker(s) to consume from task queue by name."""
    _check_queue_name(queue)
    consumer = state.consumer
    consumer.call_soon(_run_logged, consumer, consumer.add_task_queue, queue, exchange,
                       exchange_type or 'direct', routing_key, **options)
    return ok(f'add consumer {queue}')


@control_command(args=[('queue', str)], signature='<queue>')
def cancel_consumer(state: Any, queue: str, **_: Any) -> dict:
    """Tell worker(s) to stop consuming from task queue by name."""
    _check_queue_name(queue)
    consumer = state.consumer
    consumer.call_soon(_run_logged, consumer, consumer.cancel_task_queue, queue)
    return ok(f'no longer consuming from {queue}')


"""The signals Celery sends, for users and extensions to connect to.

Each is a :class:`~celery.utils.dispatch.signal.Signal` named after its
attribute.  See the "Signals" chapter of the user guide for who sends each
one, what ``sender`` is and in which process it runs.  Senders check
``signal.receivers`` before building arguments, so an unused signal costs
nothing on the worker's hot path.
"""
from __future__ import annotations

from celery.utils.dispatch import Signal

__all__ = (
    'before_task_publish', 'after_task_publish', 'task_internal_error',
    'task_prerun', 'task_postrun', 'task_success', 'task_received',
    'task_rejected', 'task_unknown', 'task_retry', 'task_failure',
    'task_revoked', 'celeryd_init', 'celeryd_after_setup', 'worker_init',
    'worker_before_create_process', 'worker_process_init',
    'worker_process_shutdown', 'worker_ready', 'worker_shutdown',
    'worker_shutting_down', 'setup_logging', 'after_setup_logger',
    'after_setup_task_logger', 'beat_init', 'beat_embedded_init',
    'heartbeat_sent', 'eventlet_pool_started', 'eventlet_pool_preshutdown',
    'eventlet_pool_postshutdown', 'eventlet_pool_apply', 'import_modules',
    'user_preload_options',
)

# -- tasks: publishing (client process) --------------------------------------

before_task_publish = Signal(name='before_task_publish', providing_args={
    'body', 'exchange', 'routing_key', 'headers', 'properties', 'declare',
    'retry_policy',
})
after_task_publish = Signal(name='after_task_publish', providing_args={
    'body', 'exchange', 'routing_key', 'headers',
})

# -- tasks: execution (worker) -----------------------------------------------

task_received = Signal(name='task_received', providing_args={'request'})
task_prerun = Signal(name='task_prerun', providing_args={
    'task_id', 'task', 'args', 'kwargs',
})
task_postrun = Signal(name='task_postrun', providing_args={
    'task_id', 'task', 'args', 'kwargs', 'retval', 'state',
})
task_success = Signal(name='task_success', providing_args={'result'})
task_retry = Signal(name='task_retry', providing_args={
    'request', 'reason', 'einfo',
})
task_failure = Signal(name='task_failure', providing_args={
    'task_id', 'exception', 'args', 'kwargs', 'traceback', 'einfo',
})
task_internal_error = Signal(name='task_internal_error', providing_args={
    'task_id', 'args', 'kwargs', 'request', 'exception', 'traceback', 'einfo',
})
task_revoked = Signal(name='task_revoked', providing_args={
    'request', 'terminated', 'signum', 'expired',
})
task_rejected = Signal(name='task_rejected', providing_args={
    'message', 'exc',
})
task_unknown = Signal(name='task_unknown', providing_args={
    'message', 'exc', 'name', 'id',
})

# -- app ---------------------------------------------------------------------

import_modules = Signal(name='import_modules')

# -- worker ------------------------------------------------------------------

celeryd_init = Signal(name='celeryd_init', providing_args={
    'instance', 'conf', 'options',
})
celeryd_after_setup = Signal(name='celeryd_after_setup', providing_args={
    'instance', 'conf',
})
worker_init = Signal(name='worker_init')
worker_before_create_process = Signal(name='worker_before_create_process')
worker_process_init = Signal(name='worker_process_init')
worker_process_shutdown = Signal(name='worker_process_shutdown',
                                 providing_args={'pid', 'exitcode'})
worker_ready = Signal(name='worker_ready')
worker_shutdown = Signal(name='worker_shutdown')
worker_shutting_down = Signal(name='worker_shutting_down', providing_args={
    'sig', 'how', 'exitcode',
})
heartbeat_sent = Signal(name='heartbeat_sent')

# -- logging -----------------------------------------------------------------

setup_logging = Signal(name='setup_logging', providing_args={
    'loglevel', 'logfile', 'format', 'colorize',
})
after_setup_logger = Signal(name='after_setup_logger', providing_args={
    'logger', 'loglevel', 'logfile', 'format', 'colorize',
})
after_setup_task_logger = Signal(name='after_setup_task_logger', providing_args={
    'logger', 'loglevel', 'logfile', 'format', 'colorize',
})

# -- beat --------------------------------------------------------------------

beat_init = Signal(name='beat_init')
beat_embedded_init = Signal(name='beat_embedded_init')

# -- eventlet pool -----------------------------------------------------------

eventlet_pool_started = Signal(name='eventlet_pool_started')
eventlet_pool_preshutdown = Signal(name='eventlet_pool_preshutdown')
eventlet_pool_postshutdown = Signal(name='eventlet_pool_postshutdown')
eventlet_pool_apply = Signal(name='eventlet_pool_apply', providing_args={
    'target', 'args', 'kwargs',
})

# -- command line ------------------------------------------------------------

user_preload_options = Signal(name='user_preload_options', providing_args={
    'app', 'options',
})

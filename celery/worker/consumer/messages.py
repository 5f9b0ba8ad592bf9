"""Reading task messages: the per-message handler and the texts of its log lines.

:class:`TaskMessageHandler` is ``task_consumer.on_message``: it finds the
task name (headers for protocol 2, the decoded body for protocol 1) and
hands the message to the task's strategy; anything unknown, malformed or
not allowed goes to the consumer's ``on_unknown_*``/``on_invalid_task``/
``on_decode_error``, which log it and reject it.  Loop thread only.
"""
from __future__ import annotations

from typing import Any

from kombu import serialization
from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.serialization import prepare_accept_content
from kombu.utils.encoding import safe_repr

from celery.exceptions import InvalidTaskError
from celery.utils.log import get_logger
from celery.utils.text import truncate

__all__ = ('TaskMessageHandler', 'dump_body')

logger = get_logger('celery.worker.consumer.consumer')

CONNECTION_RETRY = """\
consumer: Connection to broker lost. \
Trying to re-establish the connection...\
"""

CONNECTION_RETRY_STEP = """\
Trying again {when}... ({retries}/{max_retries})\
"""

CONNECTION_ERROR = """\
consumer: Cannot connect to %s: %s.
%s
"""

CONNECTION_FAILOVER = """\
Will retry using next failover.\
"""

UNKNOWN_FORMAT = """\
Received and deleted unknown message.  Wrong destination?!?

The full contents of the message body was: %s
"""

UNKNOWN_TASK_ERROR = """\
Received unregistered task of type %s.
The message has been ignored and discarded.

Is the module defining the task imported by the worker (--include,
the include setting, or autodiscovery)?

The message body was:
%s

The message headers:
%s

The delivery info:
%s
"""

INVALID_TASK_ERROR = """\
Received invalid task message: %s
The message has been ignored and discarded.

The message does not follow the task message protocol.

The message body was:
%s
"""

MESSAGE_DECODE_ERROR = """\
Can't decode message body: %r [type:%r encoding:%r headers:%s]

body: %s
"""

MESSAGE_REPORT = """\
body: {0}
{{content_type:{1} content_encoding:{2}
  delivery_info:{3} headers={4}}}
"""

TERMINATING_TASK_ON_RESTART_AFTER_A_CONNECTION_LOSS = """\
Task %s cannot be acknowledged after a connection loss since late \
acknowledgement is enabled for it; it is terminated and will be run again \
when it is redelivered.\
"""

CANCEL_TASKS_BY_DEFAULT = """\
In Celery 5.1 we introduced an optional breaking change which
on connection loss cancels all currently executed tasks with late
acknowledgement enabled.
These tasks cannot be acknowledged as the connection is gone, and the tasks
are automatically redelivered back to the queue.
You can enable this behavior using the
worker_cancel_long_running_tasks_on_connection_loss setting.
In Celery 5.1 it is set to False by default.
The setting will be set to True by default in Celery 6.0.
"""


def dump_body(m: Any, body: Any) -> str:
    """Format a message body for logs (repr, truncated to 1 KiB, and size)."""
    body = m.body if body is None else body
    size = len(m.body) if m.body is not None else 0
    return f'{truncate(safe_repr(body), 1024)} ({size}b)'


class TaskMessageHandler:
    """``task_consumer.on_message``: route one task message to its strategy.

    Made once per connection; per message it costs a header lookup and a
    dict lookup before the strategy runs.
    """

    __slots__ = ('consumer', 'strategies', 'callbacks', 'accept', 'acker')

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.strategies = consumer.strategies
        self.callbacks = consumer.on_task_message
        self.accept = prepare_accept_content(consumer.app.conf.accept_content)
        self.acker = consumer.acker

    def __call__(self, message: Any) -> Any:
        c = self.consumer
        if self.acker is not None:
            self.acker.delivered(message)
        payload = None
        try:
            headers = message.headers
            type_ = headers['task']              # protocol 2
            if 'id' not in headers:
                raise KeyError('id')
        except TypeError:
            return c.on_unknown_message(None, message)
        except KeyError:
            try:                                 # protocol 1: the body tells
                payload = message.decode()
            except Exception as exc:
                return c.on_decode_error(message, exc)
            try:
                type_ = payload['task']
            except (TypeError, KeyError):
                return c.on_unknown_message(payload, message)
        else:
            content_type = message.content_type
            if self.accept is not None and content_type not in self.accept:
                return c.on_invalid_task(None, message,
                                         _untrusted(content_type, headers['id']))
        try:
            strategy = self.strategies[type_]
        except (KeyError, TypeError) as exc:
            return c.on_unknown_task(payload, message, exc)
        try:
            strategy(message, payload, None, None, self.callbacks)
        except (InvalidTaskError, ContentDisallowed, TypeError, ValueError, KeyError) as exc:
            return c.on_invalid_task(payload, message, exc)
        except DecodeError as exc:
            return c.on_decode_error(message, exc)
        except c.connection_errors:
            raise
        except Exception as exc:  # a bug must not stop the consumer
            logger.error('Error handling task message %s: %r', headers.get('id'), exc,
                         exc_info=True)
            if not message.acknowledged:
                message.reject_log_error(logger, c.connection_errors)


def _untrusted(content_type: str, task_id: Any) -> ContentDisallowed:
    """The error kombu raises for a content type that is not accepted (and the task id)."""
    name = serialization.registry.type_to_name.get(content_type, content_type)
    return ContentDisallowed(
        f'Refusing to deserialize untrusted content of type {name} ({content_type}) '
        f'of task {safe_repr(task_id)}')

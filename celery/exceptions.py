"""Celery's errors and warnings.

The tree, flat on purpose::

    Exception
      CeleryError
        ImproperlyConfigured, SecurityError
        TaskPredicate            -- raised by a task to steer the worker
          Ignore, Reject, Retry
        TaskError
          QueueNotFound, IncompleteStream, NotRegistered, AlreadyRegistered,
          TimeoutError, MaxRetriesExceededError, TaskRevokedError,
          InvalidTaskError, ChordError
      BackendError
        BackendGetMetaError, BackendStoreError
      kombu.exceptions.OperationalError   (messaging; re-exported)
      billiard's SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError,
      Terminated                           (prefork pool; re-exported)
    UserWarning
      CeleryWarning
        AlwaysEagerIgnored, DuplicateNodenameWarning, FixupWarning,
        NotConfigured, SecurityWarning
    SystemExit
      WorkerShutdown, WorkerTerminate

The classes of kombu, billiard and click are resolved on first access, so
importing this module stays cheap; they are the very same classes those
libraries raise.
"""
from __future__ import annotations

import numbers
import threading
from typing import TYPE_CHECKING, Any, NoReturn

__all__ = (
    'reraise',
    # warnings
    'CeleryWarning', 'AlwaysEagerIgnored', 'DuplicateNodenameWarning',
    'FixupWarning', 'NotConfigured', 'SecurityWarning',
    # core errors
    'CeleryError', 'ImproperlyConfigured', 'SecurityError',
    # messaging
    'OperationalError',
    # task semi-predicates
    'TaskPredicate', 'Ignore', 'Reject', 'Retry',
    # task errors
    'TaskError', 'QueueNotFound', 'IncompleteStream', 'NotRegistered',
    'AlreadyRegistered', 'TimeoutError', 'MaxRetriesExceededError',
    'TaskRevokedError', 'InvalidTaskError', 'ChordError',
    # result backend errors
    'BackendError', 'BackendGetMetaError', 'BackendStoreError',
    # prefork pool errors
    'SoftTimeLimitExceeded', 'TimeLimitExceeded', 'WorkerLostError',
    'Terminated',
    # deprecation warnings
    'CPendingDeprecationWarning', 'CDeprecationWarning',
    # worker shutdown requests
    'WorkerShutdown', 'WorkerTerminate',
    'CeleryCommandException',
)

if TYPE_CHECKING:  # pragma: no cover
    from billiard.exceptions import (SoftTimeLimitExceeded, Terminated,
                                     TimeLimitExceeded, WorkerLostError)
    from kombu.exceptions import OperationalError


def reraise(tp: type[BaseException] | None, value: BaseException,
            tb: Any = None) -> NoReturn:
    """Raise ``value`` again, with traceback ``tb`` if given."""
    if tb is not None and value.__traceback__ is not tb:
        raise value.with_traceback(tb)
    raise value


# -- warnings ---------------------------------------------------------------

class CeleryWarning(UserWarning):
    """Root of every warning Celery emits."""


class AlwaysEagerIgnored(CeleryWarning):
    """``send_task`` does not honour :setting:`task_always_eager`."""


class DuplicateNodenameWarning(CeleryWarning):
    """Two or more workers share one node name."""


class FixupWarning(CeleryWarning):
    """A framework fixup (e.g. Django) could not be applied cleanly."""


class NotConfigured(CeleryWarning):
    """No configuration module was found; defaults are in use."""


class SecurityWarning(CeleryWarning):
    """A setting or situation that is likely insecure."""


class CPendingDeprecationWarning(PendingDeprecationWarning):
    """A feature that will be deprecated."""


class CDeprecationWarning(DeprecationWarning):
    """A deprecated feature."""


# -- errors -----------------------------------------------------------------

class CeleryError(Exception):
    """Root of Celery's own errors."""


class ImproperlyConfigured(CeleryError):
    """The configuration is invalid."""


class SecurityError(CeleryError):
    """Message signing or content checks failed."""


class TaskPredicate(CeleryError):
    """Raised by a task to tell the worker how to treat its message."""


class Retry(TaskPredicate):
    """The task will be run again later.

    ``when`` is a number of seconds or a :class:`~datetime.datetime`; ``exc``
    is the error that caused the retry (or its text).
    """

    #: Text describing why the task is retried, if any.
    message: str | None = None
    #: The exception that caused the retry, if any.
    exc: BaseException | None = None
    #: When the retry happens: seconds (a number) or a datetime.
    when: Any = None

    def __init__(self, message: str | None = None, exc: Any = None,
                 when: Any = None, is_eager: bool = False, sig: Any = None,
                 **kwargs: Any) -> None:
        self.message = message
        if isinstance(exc, str):
            self.exc, self.excs = None, exc
        else:
            self.exc = exc
            self.excs = _safe_repr(exc) if exc is not None else None
        self.when = when
        self.is_eager = is_eager
        self.sig = sig
        super().__init__(message, exc, when)

    def humanize(self) -> str:
        """Describe when the retry happens: ``'in 10s'`` or ``'at <date>'``."""
        if isinstance(self.when, numbers.Number):
            return f'in {self.when}s'
        return f'at {self.when}'

    def __str__(self) -> str:
        if self.message:
            return self.message
        if self.excs:
            return f'Retry {self.humanize()}: {self.excs}'
        return f'Retry {self.humanize()}'

    def __reduce__(self) -> tuple:
        return type(self), (self.message, self.exc, self.when)


RetryTaskError = Retry  # old name


class Ignore(TaskPredicate):
    """Skip recording any state for this task."""


class Reject(TaskPredicate):
    """Reject the message; ``requeue=True`` puts it back on the queue."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        self.reason = reason
        self.requeue = requeue
        super().__init__(reason, requeue)

    def __repr__(self) -> str:
        return f'reject requeue={self.requeue}: {self.reason}'


class TaskError(CeleryError):
    """Root of errors about a particular task."""


class QueueNotFound(KeyError, TaskError):
    """A task was routed to a queue that is not declared."""


class IncompleteStream(TaskError):
    """A stream of data ended before it was complete."""


class NotRegistered(KeyError, TaskError):
    """No task of that name is registered."""

    def __repr__(self) -> str:
        return f"Task of kind {self} never registered, please make sure it's imported."


class AlreadyRegistered(TaskError):
    """A task of that name is registered already."""


class TimeoutError(TaskError):  # noqa: A001 - Celery's public name
    """Waiting for a result took too long."""


class MaxRetriesExceededError(TaskError):
    """The task has been retried as many times as it may be."""

    def __init__(self, *args: Any, task_args: Any = None,
                 task_kwargs: Any = None, task_name: str | None = None,
                 task_id: str | None = None, **kwargs: Any) -> None:
        self.task_args = [] if task_args is None else task_args
        self.task_kwargs = {} if task_kwargs is None else task_kwargs
        self.task_name = task_name
        self.task_id = task_id
        super().__init__(*args, **kwargs)


class TaskRevokedError(TaskError):
    """The task was revoked, so it has no result."""


class InvalidTaskError(TaskError):
    """A task message is malformed."""


class ChordError(TaskError):
    """A task of a chord's header failed."""


class BackendError(Exception):
    """Reading from or writing to the result backend failed."""


class BackendGetMetaError(BackendError):
    """Reading a result from the backend failed."""

    def __init__(self, *args: Any, task_id: str = '', **kwargs: Any) -> None:
        super().__init__(*args)
        self.task_id = task_id

    def __repr__(self) -> str:
        return f'{super().__repr__()} task_id:{self.task_id}'


class BackendStoreError(BackendError):
    """Writing a result to the backend failed."""

    def __init__(self, *args: Any, state: str = '', task_id: str = '',
                 **kwargs: Any) -> None:
        super().__init__(*args)
        self.state = state
        self.task_id = task_id

    def __repr__(self) -> str:
        return f'{super().__repr__()} state:{self.state} task_id:{self.task_id}'


# -- worker shutdown requests (not errors: they end the process) -------------

class WorkerTerminate(SystemExit):
    """Ask the worker to stop now (cold shutdown)."""


SystemTerminate = WorkerTerminate  # old name


class WorkerShutdown(SystemExit):
    """Ask the worker to finish what it holds and stop (warm shutdown)."""


# -- helpers and lazily resolved names ---------------------------------------

def _safe_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception:  # noqa: BLE001 - a repr must never break a retry
        return f'<unrepresentable {type(obj).__name__} object>'


def _make_command_exception() -> type:
    from click import ClickException

    class CeleryCommandException(ClickException):
        """A command-line failure carrying the exit code to use."""

        def __init__(self, message: str, exit_code: int) -> None:
            super().__init__(message=message)
            self.exit_code = exit_code

    CeleryCommandException.__module__ = __name__
    return CeleryCommandException


_BILLIARD = ('SoftTimeLimitExceeded', 'TimeLimitExceeded',
             'WorkerLostError', 'Terminated')


_lazy_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    with _lazy_lock:  # build CeleryCommandException once only
        if name in globals():
            return globals()[name]
        return _resolve(name)


def _resolve(name: str) -> Any:
    if name in _BILLIARD:
        from billiard import exceptions as billiard_exceptions
        value = getattr(billiard_exceptions, name)
    elif name == 'OperationalError':
        from kombu.exceptions import OperationalError as value
    elif name == 'CeleryCommandException':
        value = _make_command_exception()
    else:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

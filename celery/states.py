"""Task states, their groupings and their order.

A state is a plain string (``'PENDING'``, ``'SUCCESS'`` ...).  States are
ordered by *precedence*: when several updates for one task arrive out of
order, the one with the higher precedence wins.  From highest to lowest::

    SUCCESS, FAILURE, <any custom state>, REVOKED, STARTED, RECEIVED,
    REJECTED, RETRY, PENDING

:class:`state` is a ``str`` whose comparison operators follow that order.
"""
from __future__ import annotations

from typing import Any

__all__ = (
    'PENDING', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'REVOKED',
    'REJECTED', 'RETRY', 'IGNORED', 'READY_STATES', 'UNREADY_STATES',
    'EXCEPTION_STATES', 'PROPAGATE_STATES', 'ALL_STATES', 'PRECEDENCE',
    'PRECEDENCE_LOOKUP', 'NONE_PRECEDENCE', 'precedence', 'state',
)

#: Unknown to the backend: waiting, or an id nobody sent.
PENDING = 'PENDING'
#: A worker has received the task.
RECEIVED = 'RECEIVED'
#: A worker has started the task (only recorded with ``track_started``).
STARTED = 'STARTED'
#: The task returned a value.
SUCCESS = 'SUCCESS'
#: The task raised an exception, or the worker running it died.
FAILURE = 'FAILURE'
#: The task was revoked.
REVOKED = 'REVOKED'
#: The task's message was rejected.
REJECTED = 'REJECTED'
#: The task will be retried.
RETRY = 'RETRY'
#: The task raised :exc:`~celery.exceptions.Ignore`.
IGNORED = 'IGNORED'

#: States in the order of their precedence, highest first; ``None`` marks
#: where every state not listed here (custom states) fits.
PRECEDENCE = [
    SUCCESS, FAILURE, None, REVOKED, STARTED, RECEIVED, REJECTED, RETRY,
    PENDING,
]

#: State -> its index in :data:`PRECEDENCE` (a lower index ranks higher).
PRECEDENCE_LOOKUP = {name: index for index, name in enumerate(PRECEDENCE)}
#: The index used for custom states.
NONE_PRECEDENCE = PRECEDENCE_LOOKUP[None]


def precedence(state: Any) -> int:
    """Return the precedence index of ``state`` (lower ranks higher)."""
    try:
        return PRECEDENCE_LOOKUP[state]
    except (KeyError, TypeError):
        return NONE_PRECEDENCE


class state(str):
    """A state name that compares by precedence.

    >>> state(PENDING) < state(SUCCESS)
    True
    >>> state('PROGRESS') > state(STARTED)
    True
    """

    def __gt__(self, other: object) -> bool:
        return precedence(self) < precedence(other)

    def __ge__(self, other: object) -> bool:
        return precedence(self) <= precedence(other)

    def __lt__(self, other: object) -> bool:
        return precedence(self) > precedence(other)

    def __le__(self, other: object) -> bool:
        return precedence(self) >= precedence(other)

    __hash__ = str.__hash__


#: The task has finished and its result will not change.
READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
#: The task has not finished yet.
UNREADY_STATES = frozenset({PENDING, RECEIVED, STARTED, REJECTED, RETRY})
#: The result is an exception.
EXCEPTION_STATES = frozenset({RETRY, FAILURE, REVOKED})
#: ``result.get()`` re-raises the stored exception.
PROPAGATE_STATES = frozenset({FAILURE, REVOKED})
#: The states a task result commonly goes through.
ALL_STATES = frozenset({
    PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, REVOKED,
})

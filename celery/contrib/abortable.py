"""Tasks that can be asked to stop: cooperative abortion through the result backend.

The caller marks a task as aborted with :meth:`AbortableAsyncResult.abort`,
which stores the ``ABORTED`` state in the result backend. The task itself
checks :meth:`AbortableTask.is_aborted` from time to time and returns early
when it is set; nothing is interrupted by force. Needs a result backend
that the caller and the worker share (not the ``rpc://`` backend, whose
states are private to the caller).

Example::

    from celery.contrib.abortable import AbortableTask

    @app.task(bind=True, base=AbortableTask)
    def long_job(self):
        for chunk in chunks():
            if self.is_aborted():
                return 'aborted'
            process(chunk)

    result = long_job.delay()
    result.abort()
"""
from __future__ import annotations

from typing import Any

from celery.app.task import Task
from celery.result import AsyncResult

__all__ = ('ABORTED', 'AbortableAsyncResult', 'AbortableTask')

#: State of a task that was asked to abort.
ABORTED = 'ABORTED'


class AbortableAsyncResult(AsyncResult):
    """A result that can request its task to abort."""

    def is_aborted(self) -> bool:
        """Return True if the task was asked to abort."""
        return self.state == ABORTED

    def abort(self) -> Any:
        """Ask the task to abort by storing the ``ABORTED`` state.

        The task stops only if it checks :meth:`AbortableTask.is_aborted`;
        whatever state it stores afterwards replaces ``ABORTED``.
        """
        return self.backend.store_result(self.id, result=None, state=ABORTED, traceback=None)


class AbortableTask(Task):
    """Base class of tasks that check for abort requests.

    ``self.AsyncResult(task_id)`` returns an :class:`AbortableAsyncResult`.
    """

    abstract = True

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AbortableAsyncResult:
        """Return the abortable result of ``task_id``."""
        return AbortableAsyncResult(task_id, backend=self.backend, task_name=self.name,
                                    app=self._get_app(), **kwargs)

    def is_aborted(self, **kwargs: Any) -> bool:
        """Return True if this task (or ``task_id=``) was asked to abort.

        Reads the state from the result backend, so call it at a sensible
        rate in a loop.
        """
        task_id = kwargs.get('task_id', self.request.id)
        if task_id is None:
            return False
        result = self.AsyncResult(task_id)
        if not isinstance(result, AbortableAsyncResult):
            return False
        return result.is_aborted()

"""The task class of Django projects: send once the transaction commits.

A view that writes rows and then sends a task inside ``transaction.atomic``
races the worker: the task may run before the rows are committed, or for
rows that are rolled back.  The ``*_on_commit`` methods hand the send to
Django's ``transaction.on_commit``, so it happens after a successful commit
and not at all after a rollback (and at once outside a transaction).

The Django fix-up makes this the app's task class unless the app names one
of its own (``Celery(task_cls=...)``).  In a view::

    from django.db import transaction
    from celery.utils import uuid

    with transaction.atomic():
        order = Order.objects.create(total=total)
        task_id = uuid()  # the send is deferred: choose the id to follow it
        send_receipt.apply_async_on_commit((order.pk,), task_id=task_id)
    result = send_receipt.AsyncResult(task_id)
"""
from __future__ import annotations

import functools
from typing import Any

from django.db import transaction

from celery.app.task import Task

__all__ = ('DjangoTask',)


class DjangoTask(Task):
    """A :class:`~celery.app.task.Task` with transaction-aware calling methods."""

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """:meth:`delay` when the current transaction commits.

        Returns nothing: the task is not sent yet, so there is no result to
        return; pass a ``task_id`` to :meth:`apply_async_on_commit` to keep one.
        """
        transaction.on_commit(functools.partial(self.delay, *args, **kwargs))

    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """:meth:`apply_async` when the current transaction commits."""
        transaction.on_commit(functools.partial(self.apply_async, *args, **kwargs))

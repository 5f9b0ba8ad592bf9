"""``app.events``: the event classes bound to an app.

``app.events.Dispatcher``, ``app.events.Receiver`` and ``app.events.State``
are subclasses of :class:`~celery.events.EventDispatcher`,
:class:`~celery.events.EventReceiver` and
:class:`~celery.events.state.State` whose ``app`` is this app, created on
first use.  Replace them by subclassing :class:`Events` and setting
``dispatcher_cls``, ``receiver_cls`` or ``state_cls`` (classes or dotted
names).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from kombu.utils.objects import cached_property

# Imported here, not inside the properties: two threads importing them lazily
# at once can trip the import lock's deadlock detection.
from celery.events.dispatcher import EventDispatcher
from celery.events.receiver import EventReceiver
from celery.events.state import State

__all__ = ('Events',)


class Events:
    """Event dispatch and receipt for one app."""

    #: The classes to bind; ``None`` means the standard one.
    receiver_cls: Any = None
    dispatcher_cls: Any = None
    state_cls: Any = None

    def __init__(self, app: Any = None) -> None:
        self.app = app

    @cached_property
    def Receiver(self) -> type:
        """:class:`~celery.events.EventReceiver` bound to the app."""
        cls = self.receiver_cls or EventReceiver
        return self.app.subclass_with_self(cls, reverse='events.Receiver')

    @cached_property
    def Dispatcher(self) -> type:
        """:class:`~celery.events.EventDispatcher` bound to the app."""
        cls = self.dispatcher_cls or EventDispatcher
        return self.app.subclass_with_self(cls, reverse='events.Dispatcher')

    @cached_property
    def State(self) -> type:
        """:class:`~celery.events.state.State` bound to the app."""
        cls = self.state_cls or State
        return self.app.subclass_with_self(cls, reverse='events.State')

    @contextmanager
    def default_dispatcher(self, hostname: str | None = None, enabled: bool = True,
                           buffer_while_offline: bool = False) -> Iterator[Any]:
        """Context: a dispatcher on a producer from the app's pool."""
        with self.app.amqp.producer_pool.acquire(block=True) as producer:
            with self.Dispatcher(producer.connection, hostname, enabled,
                                 producer.channel, buffer_while_offline) as dispatcher:
                yield dispatcher

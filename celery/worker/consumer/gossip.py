"""Consumer step: gossip, keeping track of the other workers of the cluster.

Listens to the ``worker.*`` events of other workers and calls the
callbacks in ``c.gossip.on.node_join``/``node_leave``/``node_lost`` with an
:class:`~celery.events.state.Worker`.  Needs the events machinery of the
app; without it the step is off.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from kombu import Consumer

from celery import bootsteps
from celery.utils.log import get_logger
from celery.utils.objects import Bunch
from celery.worker.consumer.mingle import Mingle

__all__ = ('Gossip',)

logger = get_logger(__name__)


class Gossip(bootsteps.ConsumerStep):
    """Track the other workers through their heartbeat events (``--without-gossip`` to skip)."""

    label = 'Gossip'
    requires = (Mingle,)
    compatible_transports = {'amqp', 'redis', 'gcpubsub'}

    def __init__(self, c: Any, without_gossip: bool = False, interval: float = 5.0,
                 heartbeat_interval: float = 2.0, **kwargs: Any) -> None:
        self.app = c.app
        c.gossip = self
        self.hostname = c.hostname
        self.full_hostname = f'{self.hostname}.{c.pid}'
        self.on = Bunch(node_join=set(), node_leave=set(), node_lost=set())
        self.timer = c.timer
        self.clock = c.app.clock
        self.interval = interval
        self.heartbeat_interval = heartbeat_interval
        self._tref: Any = None
        self.state: Any = None
        self.enabled = not without_gossip and self.compatible_transport(c.app)
        if self.enabled:
            try:
                events = c.app.events
                self.Receiver = events.Receiver
                self.state = events.State(on_node_join=self.on_node_join,
                                          on_node_leave=self.on_node_leave,
                                          max_tasks_in_memory=1)
            except (ImportError, AttributeError, TypeError) as exc:
                logger.debug('gossip: events not available (%r)', exc)
                self.enabled = False
        super().__init__(c, **kwargs)

    def compatible_transport(self, app: Any) -> bool:
        with app.connection_for_read() as conn:
            return conn.transport.driver_type in self.compatible_transports

    # -- cluster membership ------------------------------------------------------

    def _call_handlers(self, handlers: set, *args: Any, **kwargs: Any) -> None:
        for handler in handlers:
            try:
                handler(*args, **kwargs)
            except Exception as exc:
                logger.exception('Ignored error from handler %r: %r', handler, exc)

    def on_node_join(self, worker: Any) -> None:
        logger.debug('%s joined the party', worker.hostname)
        self._call_handlers(self.on.node_join, worker)

    def on_node_leave(self, worker: Any) -> None:
        logger.debug('%s left', worker.hostname)
        self._call_handlers(self.on.node_leave, worker)

    def on_node_lost(self, worker: Any) -> None:
        logger.info('missed heartbeat from %s', worker.hostname)
        self._call_handlers(self.on.node_lost, worker)

    def register_timer(self) -> None:
        if self._tref is not None:
            self._tref.cancel()
        self._tref = self.timer.call_repeatedly(self.interval, self.periodic)

    def periodic(self) -> None:
        workers = self.state.workers
        dirty = set()
        for worker in workers.values():
            if not worker.alive:
                dirty.add(worker)
                self.on_node_lost(worker)
        for worker in dirty:
            workers.pop(worker.hostname, None)

    # -- consuming ---------------------------------------------------------------

    def get_consumers(self, channel: Any) -> list:
        self.register_timer()
        ev = self.Receiver(channel, routing_key='worker.#', queue_ttl=self.heartbeat_interval)
        return [Consumer(channel, queues=[ev.queue],
                         on_message=partial(self.on_message, ev.event_from_message),
                         accept=ev.accept, no_ack=True)]

    def on_message(self, prepare: Any, message: Any) -> None:
        routing_key = message.delivery_info.get('routing_key') or ''
        if routing_key.split('.', 1)[0] == 'task':
            return  # redis without fanout patterns delivers everything
        hostname = (message.headers or {}).get('hostname')
        if hostname is None:
            hostname = message.payload.get('hostname')
        if hostname != self.hostname:
            _, event = prepare(message.payload)
            self.state.event(event)
        else:
            self.clock.forward()

    def stop(self, c: Any) -> None:
        if self._tref is not None:
            self._tref.cancel()
            self._tref = None
        super().stop(c)

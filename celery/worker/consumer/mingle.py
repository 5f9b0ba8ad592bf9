"""Consumer step: mingle, the synchronisation with other workers at start-up.

The worker broadcasts ``hello`` (with its revoked task ids) and merges the
revoked ids and logical clocks its neighbours reply with.  Celery waits a
full second for the replies before it consumes; here the replies are
handled by the event loop as they come, for one second, while the worker
already consumes -- start-up is not held up.  Replies usually arrive within
milliseconds, long before a task could have been revoked on another worker
and run here.
"""
from __future__ import annotations

from typing import Any

from kombu import Consumer
from kombu.common import ignore_errors
from kombu.utils.uuid import uuid

from celery import bootsteps
from celery.utils.log import get_logger
from celery.worker.consumer.events import Events

__all__ = ('Mingle',)

logger = get_logger(__name__)

#: How long replies to ``hello`` are listened for.
MINGLE_TIMEOUT = 1.0


class Mingle(bootsteps.StartStopStep):
    """Sync revoked ids and the clock with other workers (``--without-mingle`` to skip)."""

    label = 'Mingle'
    requires = (Events,)
    compatible_transports = {'amqp', 'redis', 'gcpubsub'}

    def __init__(self, c: Any, without_mingle: bool = False, **kwargs: Any) -> None:
        self.enabled = not without_mingle and self.compatible_transport(c.app)
        self._consumer: Any = None
        self._channel: Any = None
        self._ticket: str | None = None
        self._synced: list = []
        super().__init__(c, without_mingle=without_mingle, **kwargs)

    def compatible_transport(self, app: Any) -> bool:
        with app.connection_for_read() as conn:
            return conn.transport.driver_type in self.compatible_transports

    def start(self, c: Any) -> None:
        self.sync(c)

    def sync(self, c: Any) -> None:
        """Say hello; replies are merged as they arrive, for a second."""
        logger.info('mingle: searching for neighbors')
        from celery.worker.pidbox import get_mailbox
        mailbox = get_mailbox(c.app)(c.connection)
        channel = self._channel = c.connection.channel()
        self._ticket = ticket = uuid()
        self._synced = []
        reply_queue = mailbox.reply_queue
        consumer = self._consumer = Consumer(
            channel, [reply_queue], accept=['json'], no_ack=True,
            callbacks=[lambda body, message: self.on_reply(c, ticket, body, message)])
        consumer.consume()
        mailbox._publish('hello', {'from_node': c.hostname,
                                   'revoked': c.controller.state.revoked._data},
                         reply_ticket=ticket, channel=channel, timeout=MINGLE_TIMEOUT)
        c.timer.call_after(MINGLE_TIMEOUT, self.finish, (c,))

    def on_reply(self, c: Any, ticket: str, body: Any, message: Any) -> None:
        if (message.headers or {}).get('ticket') != ticket or not isinstance(body, dict):
            return
        c.app.clock.adjust((message.headers or {}).get('clock') or 0)
        for nodename, reply in body.items():
            if nodename != c.hostname and reply:
                self._synced.append(nodename)
                self.on_node_reply(c, nodename, reply)

    def finish(self, c: Any) -> None:
        """Stop listening for replies and say how it went."""
        if self._consumer is None:
            return
        self._close(c)
        if self._synced:
            logger.info('mingle: sync with %s nodes', len(self._synced))
            logger.info('mingle: sync complete')
        else:
            logger.info('mingle: all alone')

    def _close(self, c: Any) -> None:
        consumer, self._consumer = self._consumer, None
        channel, self._channel = self._channel, None
        if consumer is not None:
            ignore_errors(c.connection, consumer.cancel)
        if channel is not None:
            ignore_errors(c.connection, channel.close)

    def stop(self, c: Any) -> None:
        self._close(c)

    shutdown = stop

    def on_node_reply(self, c: Any, nodename: str, reply: dict) -> None:
        logger.debug('mingle: processing reply from %s', nodename)
        try:
            self.sync_with_node(c, **reply)
        except MemoryError:
            raise
        except Exception as exc:
            logger.exception('mingle: sync with %s failed: %r', nodename, exc)

    def sync_with_node(self, c: Any, clock: int | None = None, revoked: Any = None,
                       **kwargs: Any) -> None:
        self.on_clock_event(c, clock)
        self.on_revoked_received(c, revoked)

    def on_clock_event(self, c: Any, clock: int | None) -> None:
        c.app.clock.adjust(clock) if clock else c.app.clock.forward()

    def on_revoked_received(self, c: Any, revoked: Any) -> None:
        if revoked:
            c.controller.state.revoked.update(revoked)

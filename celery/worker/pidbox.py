"""The worker's remote-control consumer (its node in the pidbox mailbox).

Control and inspect commands are broadcast to the ``celery`` mailbox
(fanout exchange ``celery.pidbox``); :class:`Pidbox` consumes them on its
own channel and dispatches them to the handlers registered in
:data:`celery.worker.control.Panel`.  Handlers run in the event loop thread.
"""
from __future__ import annotations

from typing import Any

from kombu.common import ignore_errors
from kombu.utils.encoding import safe_str

from celery.utils.collections import AttributeDict
from celery.utils.log import get_logger
from celery.worker import control

__all__ = ('Pidbox', 'get_mailbox')

logger = get_logger(__name__)


def get_mailbox(app: Any) -> Any:
    """Return the app's control mailbox (a kombu ``Mailbox('celery', type='fanout')``)."""
    try:
        return app.control.mailbox
    except (ImportError, AttributeError):
        from kombu.pidbox import Mailbox
        conf = app.conf
        return Mailbox(
            conf.get('control_exchange') or 'celery', type='fanout',
            accept=['json'],
            queue_ttl=conf.get('control_queue_ttl'),
            reply_queue_ttl=conf.get('control_queue_ttl'),
            queue_expires=conf.get('control_queue_expires'),
            reply_queue_expires=conf.get('control_queue_expires'),
        )


class Pidbox:
    """The pidbox node of one consumer."""

    consumer: Any = None

    def __init__(self, c: Any) -> None:
        self.c = c
        self.hostname = c.hostname
        self.node = get_mailbox(c.app).Node(
            safe_str(c.hostname),
            handlers=control.Panel.data,
            state=AttributeDict(app=c.app, hostname=c.hostname, consumer=c, tset=set),
        )
        self._forward_clock = c.app.clock.forward

    def on_message(self, body: Any, message: Any) -> None:
        # clients seldom have a valid clock to adjust with: just move ours on
        self._forward_clock()
        try:
            self.node.handle_message(body, message)
        except KeyError as exc:
            logger.error('No such control command: %s', exc)
        except Exception as exc:
            logger.error('Control command error: %r', exc, exc_info=True)
            self.reset()

    def start(self, c: Any) -> None:
        self.node.channel = c.connection.channel()
        self.consumer = self.node.listen(callback=self.on_message)
        self.consumer.on_decode_error = c.on_decode_error

    def on_stop(self) -> None:
        pass

    def stop(self, c: Any) -> None:
        self.on_stop()
        self.consumer = self._close_channel(c)

    def reset(self) -> None:
        self.stop(self.c)
        self.start(self.c)

    def _close_channel(self, c: Any) -> None:
        if self.node and self.node.channel:
            ignore_errors(c, self.node.channel.close)

    def shutdown(self, c: Any) -> None:
        self.on_stop()
        if self.consumer:
            logger.debug('Canceling broadcast consumer...')
            ignore_errors(c, self.consumer.cancel)
        self.stop(self.c)

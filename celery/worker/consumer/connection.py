"""Consumer step: the broker connection (``c.connection``)."""
from __future__ import annotations

from typing import Any

from kombu.common import ignore_errors

from celery import bootsteps
from celery.utils.log import get_logger

__all__ = ('Connection',)

logger = get_logger(__name__)


class Connection(bootsteps.StartStopStep):
    """Connect to the broker (retrying as configured) when the consumer starts."""

    def __init__(self, c: Any, **kwargs: Any) -> None:
        c.connection = None
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        c.connection = c.connect()
        logger.info('Connected to %s', c.connection.as_uri())

    def shutdown(self, c: Any) -> None:
        connection, c.connection = c.connection, None
        if connection:
            ignore_errors(connection, connection.close)

    def info(self, c: Any) -> dict:
        params: Any = 'N/A'
        if c.connection:
            params = c.connection.info()
            params.pop('password', None)
        return {'broker': params}

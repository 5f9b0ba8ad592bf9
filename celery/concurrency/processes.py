"""Old name of :mod:`celery.concurrency.prefork`."""
from __future__ import annotations

from celery.concurrency.prefork import (WORKER_SIGIGNORE, WORKER_SIGRESET,
                                        TaskPool, process_destructor,
                                        process_initializer)

__all__ = ('TaskPool', 'process_initializer', 'process_destructor',
           'WORKER_SIGRESET', 'WORKER_SIGIGNORE')

"""Worker node names (``name@host``) and their ``%h``/``%n``/``%d`` expansion."""
from __future__ import annotations

import os
import socket
from functools import partial
from typing import Any

from kombu.entity import Exchange, Queue

__all__ = (
    'worker_direct', 'gethostname', 'nodename', 'anon_nodename', 'nodesplit',
    'default_nodename', 'node_format', 'host_format', 'NODENAME_SEP', 'NODENAME_DEFAULT',
)

NODENAME_SEP = '@'
NODENAME_DEFAULT = 'celery'

_hostname: str | None = None


def gethostname() -> str:
    """Return this machine's host name (cached)."""
    global _hostname
    if _hostname is None:
        _hostname = socket.gethostname()
    return _hostname


def worker_direct(hostname: Any) -> Queue:
    """Return the queue that reaches one worker directly (``task_queues`` for ``worker_direct``)."""
    if isinstance(hostname, Queue):
        return hostname
    return Queue(f'{hostname}.dq2', exchange=Exchange('C.dq2', type='direct'),
                 routing_key=hostname)


def nodename(name: str, hostname: str) -> str:
    """Join a name and a host name with ``@``."""
    return NODENAME_SEP.join((name, hostname))


def anon_nodename(hostname: str | None = None, prefix: str = 'gen') -> str:
    """Return the node name of a process that is not a worker (``gen<pid>@host``)."""
    return nodename(f'{prefix}{os.getpid()}', hostname or gethostname())


def nodesplit(name: str) -> tuple:
    """Split ``name@host`` into ``(name, host)``; a bare host gives ``(None, host)``."""
    parts = name.split(NODENAME_SEP, 1)
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


def default_nodename(hostname: str | None) -> str:
    """Return ``celery@host`` unless ``hostname`` already has a name part."""
    name, host = nodesplit(hostname or '')
    return nodename(name or NODENAME_DEFAULT, host or gethostname())


def node_format(s: str, name: str, **extra: Any) -> str:
    """Expand ``%n``/``%h``/``%d`` etc. in ``s`` for the node ``name``."""
    shortname, host = nodesplit(name)
    return host_format(s, host, shortname or NODENAME_DEFAULT, p=name, **extra)


def _fmt_process_index(prefix: str = '', default: str = '0') -> str:
    from celery.utils.log import current_process_index
    index = current_process_index()
    return f'{prefix}{index}' if index else default


_fmt_process_index_with_prefix = partial(_fmt_process_index, '-', '')


def host_format(s: str, host: str | None = None, name: str | None = None, **extra: Any) -> str:
    """Expand ``%h`` (full host), ``%n`` (short host / name), ``%d`` (domain) in ``s``."""
    from celery.utils.text import simple_format
    host = host or gethostname()
    hname, _, domain = host.partition('.')
    name = name or hname
    keys = dict({'h': host, 'n': name, 'd': domain,
                 'i': _fmt_process_index, 'I': _fmt_process_index_with_prefix}, **extra)
    return simple_format(s, keys)

"""The py-amqp code the worker's fast AMQP paths stand in for, pinned by source hash.

Three fast paths reproduce parts of py-amqp to spend less per message: the
frame reader (:mod:`celery.worker.loops`), the header decoder
(:mod:`celery.worker._amqp_decode`) and the ack writer
(:mod:`celery.worker.consumer.acks`).  Each is used only while py-amqp's own
code is the code they were checked against: :func:`verified` compares the
source of every function below with its recorded hash, once per process.
With another py-amqp (or no sources to read) the worker uses py-amqp's own
paths, slower but always right, and ``t/unit/worker/test_amqp_pins.py``
fails until the fast paths are checked against the new code and the hashes
updated.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
from typing import Any

from celery.utils.log import get_logger

__all__ = ('PINNED', 'changed', 'verified')

logger = get_logger(__name__)

#: ``module:qualified name`` -> the first 16 hex digits of the source's sha256.
PINNED = {
    'amqp.serialization:decode_properties_basic': '38b3186146c760fa',
    'amqp.serialization:_read_item': '5dde99e59e5567d7',
    'amqp.serialization:loads': '54e9f85c67e08585',
    'amqp.transport:TCPTransport.read_frame': '8ed436f6d193f87c',
    'amqp.transport:TCPTransport._read': 'e70c3702dc01e3b7',
    'amqp.connection:Connection.blocking_read': 'c31d5e52c494d593',
    'amqp.method_framing:frame_handler': '77ba238ed08f0afe',
    'amqp.method_framing:frame_writer': 'aeb6ed1af3635509',
    'amqp.channel:Channel.basic_ack': '720b2fa02c5acd94',
}


def _resolve(path: str) -> Any:
    module, _, names = path.partition(':')
    obj: Any = __import__(module, fromlist=['_'])
    for name in names.split('.'):
        obj = getattr(obj, name)
    return obj


def source_hash(obj: Any) -> str:
    """The pin of one function: the start of the sha256 of its source."""
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def changed() -> dict[str, str]:
    """The pinned functions whose source differs now: name -> its hash (or the error)."""
    out = {}
    for path, pin in PINNED.items():
        try:
            digest = source_hash(_resolve(path))
        except (AttributeError, ImportError, OSError, TypeError) as exc:
            digest = f'unreadable: {exc!r}'
        if digest != pin:
            out[path] = digest
    return out


@functools.lru_cache(maxsize=None)
def verified() -> bool:
    """Whether py-amqp is the code the fast paths reproduce (checked once)."""
    differing = changed()
    if differing:
        logger.debug('py-amqp differs from the pinned code (%s): using its own '
                     'frame reading, header decoding and acks', ', '.join(sorted(differing)))
    return not differing

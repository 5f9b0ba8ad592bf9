"""Third-party code our fast paths stand in for, pinned by source hash.

To spend less per message, a few paths reproduce parts of kombu and py-amqp:
the worker's AMQP frame reader (:mod:`celery.worker.loops`) and header
decoder (:mod:`celery.worker._amqp_decode`), its ack writer
(:mod:`celery.worker.consumer.acks`), and the client's task publish
(:mod:`celery.app._publish`).  Each group below lists the functions one
path reproduces or relies on; a path is used only while every function of
its group has the source it was checked against.  :func:`verified` compares
them once per process: with another kombu or py-amqp (or no sources to
read) our code uses theirs, slower but always right, and
``t/unit/utils/test_pins.py`` fails until the path is checked against the
new code and the hashes below updated.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import linecache
from typing import Any

from celery.utils.log import get_logger

__all__ = ('PINNED', 'changed', 'verified', 'source_hash')

logger = get_logger(__name__)

#: group -> {``module:qualified name`` -> first 16 hex digits of its source's sha256}.
PINNED: dict[str, dict[str, str]] = {
    'amqp-read': {
        'amqp.serialization:decode_properties_basic': '38b3186146c760fa',
        'amqp.serialization:_read_item': '5dde99e59e5567d7',
        'amqp.serialization:loads': '54e9f85c67e08585',
        'amqp.transport:TCPTransport.read_frame': '8ed436f6d193f87c',
        'amqp.transport:TCPTransport._read': 'e70c3702dc01e3b7',
        'amqp.connection:Connection.blocking_read': 'c31d5e52c494d593',
        'amqp.method_framing:frame_handler': '77ba238ed08f0afe',
    },
    'amqp-ack': {
        'amqp.method_framing:frame_writer': 'aeb6ed1af3635509',
        'amqp.channel:Channel.basic_ack': '720b2fa02c5acd94',
    },
    'publish': {
        'kombu.messaging:Producer.publish': 'ae38a8777e397995',
        'kombu.messaging:Producer._publish': '1af8fe01cf61f660',
        'amqp.serialization:GenericContent._serialize_properties': 'e57873dc7027e3bc',
        'amqp.serialization:dumps': '9b4350d94c53a987',
        'amqp.serialization:_write_table': '73f3cdb7d53ecc53',
        'amqp.serialization:_write_array': '8c13631a576b3611',
        'amqp.serialization:_write_item': '450ad1ce76678261',
    },
    'publish-method': {  # celery.app._publish.basic_publish
        'amqp.channel:Channel._basic_publish': '435fd18a6c885ecc',
        'amqp.abstract_channel:AbstractChannel.send_method': '96f1afb04ea82655',
        'amqp.connection:Connection.drain_events': '43fc204334c760ad',
        'amqp.connection:Connection.blocking_read': 'c31d5e52c494d593',
        'amqp.transport:_AbstractTransport.having_timeout': '740a66fab78a01ab',
        'amqp.transport:_AbstractTransport.read_frame': '8ed436f6d193f87c',
        'amqp.transport:TCPTransport._read': 'e70c3702dc01e3b7',
        'amqp.serialization:dumps': '9b4350d94c53a987',
        'amqp.serialization:_flushbits': '3db972be473070ab',
    },
    'publish-json': {  # celery.app._publish.serialize
        'kombu.serialization:SerializerRegistry.dumps': '45a44efea12ee6f6',
        'kombu.serialization:_reraise_errors': 'a1e390d305245dbb',
        'kombu.utils.json:dumps': '0d798731359feb4e',
        'kombu.utils.json:JSONEncoder': 'c6853eff2e8f1b1d',
        'json:dumps': '2aeed87f2853842e',
        'json.encoder:JSONEncoder.__init__': '82b46493560cf4a8',
    },
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


def changed(group: str) -> dict[str, str]:
    """The functions of ``group`` whose source differs now: name -> its hash (or the error)."""
    out = {}
    cached = set(linecache.cache)
    for path, pin in PINNED[group].items():
        try:
            digest = source_hash(_resolve(path))
        except (AttributeError, ImportError, OSError, TypeError) as exc:
            digest = f'unreadable: {exc!r}'
        if digest != pin:
            out[path] = digest
    for filename in set(linecache.cache) - cached:  # read once: don't keep the sources
        linecache.cache.pop(filename, None)
    return out


@functools.lru_cache(maxsize=None)
def verified(group: str) -> bool:
    """Whether the code ``group``'s fast path reproduces is unchanged (checked once)."""
    differing = changed(group)
    if differing:
        logger.debug('%s: the pinned code differs (%s), using the libraries\' own path',
                     group, ', '.join(sorted(differing)))
    return not differing

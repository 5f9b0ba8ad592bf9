"""Stored forms of records: compressed payloads and serialized exceptions.

Exceptions are stored as ``{"exc_type", "exc_message", "exc_module"}`` with
JSON-like serializers.  Rebuilding one looks the class up only in modules
already imported; an unknown class becomes a generated :exc:`Exception`
subclass of the same name, so reading a record never imports code, and a
name that is not an exception class is refused (:exc:`SecurityError`).
"""
from __future__ import annotations

import sys
from typing import Any

from kombu.compression import compress, decompress

from celery.exceptions import SecurityError
from celery.utils.serialization import create_exception_cls

__all__ = ('COMPRESSED_PAYLOAD_MAGIC', 'compress_payload', 'decompress_payload',
           'exception_from_dict')

#: Marks a compressed stored payload: ``MARK + content type + NUL + body``.
#: A record has no headers to say how it was compressed (as a message does),
#: so it says so itself; no serializer output starts with a NUL byte, so old
#: uncompressed records are never mistaken for compressed ones.
COMPRESSED_PAYLOAD_MAGIC = b'\x00celery-compressed\x00'

#: Generated stand-ins for exception classes this process does not know.
_GENERATED: dict[tuple, type] = {}


def compress_payload(payload: Any, method: str) -> bytes:
    """Compress an encoded record so that it names its own compression."""
    body, content_type = compress(payload, method)
    return b''.join((COMPRESSED_PAYLOAD_MAGIC, content_type.encode('utf-8'), b'\x00', body))


def decompress_payload(payload: Any) -> Any:
    """Undo :func:`compress_payload`; other payloads are returned unchanged."""
    if isinstance(payload, memoryview):
        payload = payload.tobytes()
    if not isinstance(payload, (bytes, bytearray)) or \
            not payload.startswith(COMPRESSED_PAYLOAD_MAGIC):
        return payload
    content_type, _, body = payload[len(COMPRESSED_PAYLOAD_MAGIC):].partition(b'\x00')
    return decompress(body, content_type.decode('utf-8'))


def exception_from_dict(stored: Any) -> BaseException:
    """Rebuild an exception from its ``{exc_type, exc_message, exc_module}`` form."""
    if not isinstance(stored, dict):
        raise TypeError(
            f'A stored exception must be an exception or a dict with exc_type, '
            f'got {type(stored).__name__}: {stored!r}')
    try:
        exc_type = str(stored['exc_type'])
    except KeyError:
        raise ValueError(f'Stored exception has no exc_type: {stored!r}') from None
    exc_module = stored.get('exc_module')
    cls = _find_class(exc_module, exc_type)
    if not isinstance(cls, type) or not issubclass(cls, BaseException):
        where = exc_type if exc_module is None else f'{exc_module}.{exc_type}'
        raise SecurityError(f'Stored exception type {where} is not an exception class '
                            f'(payload {stored.get("exc_message")!r})')
    message = stored.get('exc_message', '')
    try:
        if isinstance(message, (list, tuple)):
            return cls(*message)
        return cls(message)
    except Exception:  # noqa: BLE001 - constructors may want other arguments
        return Exception(f'{cls}({message!r})')


def _find_class(module: Any, name: str) -> Any:
    if module is not None:
        found: Any = sys.modules.get(str(module))
        if found is not None:
            try:
                for part in name.split('.'):
                    found = getattr(found, part)
                return found
            except AttributeError:
                pass
        module = 'celery.exceptions'
    else:
        module = 'celery.backends.base'
    key = (module, name)
    try:
        return _GENERATED[key]
    except KeyError:
        cls = _GENERATED[key] = create_exception_cls(name, module)
        return cls

"""File-system result backend: ``file:///shared/results``.

One file per record, named like the Redis keys (``celery-task-meta-<id>``)
and holding the same encoded record, in a directory every worker and
client can reach (local disk, NFS, SMB).  Files are written to a temporary
name and renamed, so readers never see half a record.  Expired files are
removed by :meth:`FilesystemBackend.cleanup` (``celery.backend_cleanup``).
"""
from __future__ import annotations

import os
import time
from typing import Any, Iterator

from kombu.utils.encoding import ensure_bytes

from celery.backends.base import KeyValueStoreBackend
from celery.exceptions import ImproperlyConfigured
from celery.utils.uuid import uuid

__all__ = ('FilesystemBackend',)

E_NO_PATH_SET = 'The file system result backend needs a path: file:///path/to/results.'
E_PATH_NON_CONFORMING_SCHEME = 'A file system result backend URL must start with file://.'
E_PATH_INVALID = ("The directory {0!r} of the file system result backend is not "
                  "writable or does not exist.")

_DEFAULT_ENCODING = 'utf-8'


class FilesystemBackend(KeyValueStoreBackend):
    """Results stored as files in one directory."""

    supports_result_compression = True

    def __init__(self, url: str | None = None, open: Any = open, unlink: Any = os.unlink,
                 sep: str = os.sep, encoding: str = _DEFAULT_ENCODING,
                 *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url = url
        path = self._find_path(url)
        if os.name == 'nt' and path.startswith('/'):  # pragma: no cover
            path = path[1:]
        self.path = path.encode(encoding)
        self.sep = sep.encode(encoding)
        self.open = open
        self.unlink = unlink
        self._check_directory(b'.fs-backend-' + uuid().encode(encoding))

    def _find_path(self, url: str | None) -> str:
        if not url:
            raise ImproperlyConfigured(E_NO_PATH_SET)
        if url.startswith('file://localhost/'):
            return url[16:]
        if url.startswith('file://'):
            return url[7:]
        raise ImproperlyConfigured(E_PATH_NON_CONFORMING_SCHEME)

    def _check_directory(self, key: bytes) -> None:
        try:
            self.set(key, b'test value')
            assert self.get(key) == b'test value'
            self.delete(key)
        except (OSError, AssertionError):
            raise ImproperlyConfigured(
                E_PATH_INVALID.format(self.path.decode(_DEFAULT_ENCODING))) from None

    def _filename(self, key: Any) -> bytes:
        return self.sep.join((self.path, ensure_bytes(key)))

    def get(self, key: Any) -> bytes | None:
        try:
            with self.open(self._filename(key), 'rb') as infile:
                return infile.read()
        except FileNotFoundError:
            return None

    def mget(self, keys: list) -> Iterator[bytes | None]:
        for key in keys:
            yield self.get(key)

    def set(self, key: Any, value: Any) -> None:
        filename = self._filename(key)
        tmp = filename + b'.' + uuid().encode(_DEFAULT_ENCODING) + b'.tmp'
        with self.open(tmp, 'wb') as outfile:
            outfile.write(ensure_bytes(value))
        os.replace(tmp, filename)

    def delete(self, key: Any) -> None:
        try:
            self.unlink(self._filename(key))
        except FileNotFoundError:
            pass

    def incr(self, key: Any) -> int:
        # Not atomic across processes: the filesystem backend polls chords
        # with celery.chord_unlock instead (implements_incr stays False).
        value = int(self.get(key) or 0) + 1
        self.set(key, str(value))
        return value

    def cleanup(self) -> None:
        """Delete the records older than ``result_expires``."""
        if not self.expires:
            return
        cutoff = time.time() - self.expires
        prefixes = (self.task_keyprefix, self.group_keyprefix, self.chord_keyprefix)
        for name in os.listdir(self.path):
            if name.startswith(prefixes):
                path = os.path.join(self.path, name)
                try:
                    if os.stat(path).st_mtime < cutoff:
                        self.delete(name)
                except FileNotFoundError:
                    pass

    def __reduce__(self, args: tuple = (), kwargs: dict | None = None) -> tuple:
        return super().__reduce__(args, dict(kwargs or {}, url=self.url))

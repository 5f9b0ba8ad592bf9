"""Small helpers shared by the signing modules: digests and error translation."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from cryptography import exceptions as _crypto_exc
from cryptography.hazmat.primitives import hashes

from celery.exceptions import SecurityError

__all__ = ('get_digest_algorithm', 'reraise_errors')

#: What :func:`reraise_errors` translates when no other errors are named.
CRYPTO_ERRORS: tuple[type[BaseException], ...] = (
    _crypto_exc.InvalidSignature,
    _crypto_exc.InvalidKey,
    _crypto_exc.UnsupportedAlgorithm,
    _crypto_exc.AlreadyFinalized,
)


def get_digest_algorithm(digest: str = 'sha256') -> hashes.HashAlgorithm:
    """Return the :mod:`cryptography` hash named ``digest`` (``'sha256'``, ``'SHA512'``...).

    Raises:
        SecurityError: no hash algorithm has that name.
    """
    if not digest or not isinstance(digest, str):
        raise SecurityError(f'Invalid digest algorithm: {digest!r}')
    algorithm = getattr(hashes, digest.upper().replace('-', '_'), None)
    if not (isinstance(algorithm, type) and issubclass(algorithm, hashes.HashAlgorithm)):
        raise SecurityError(f'Unknown digest algorithm: {digest!r}')
    try:
        return algorithm()
    except TypeError:  # variable-length digests (BLAKE2, SHAKE) need a size
        raise SecurityError(
            f'Digest algorithm {digest!r} cannot be used for signing') from None


@contextmanager
def reraise_errors(msg: str = '{0!r}',
                   errors: tuple[type[BaseException], ...] | None = None) -> Iterator[None]:
    """Turn ``errors`` raised in the block into :exc:`~celery.exceptions.SecurityError`.

    ``msg`` is formatted with the original exception, which is kept as the
    cause. Without ``errors``, the exceptions of :mod:`cryptography` are
    translated.
    """
    errors = CRYPTO_ERRORS if errors is None else errors
    try:
        yield
    except SecurityError:
        raise
    except errors as exc:
        raise SecurityError(msg.format(exc)) from exc

"""Private keys that sign outgoing messages (RSA, PEM encoded)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from kombu.utils.encoding import ensure_bytes

from celery.exceptions import SecurityError

from .utils import reraise_errors

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.hashes import HashAlgorithm

    from .certificate import Certificate

__all__ = ('PrivateKey',)


def pss_padding(digest: HashAlgorithm) -> padding.PSS:
    """The padding of every signature: PSS, MGF1 over ``digest``, longest salt."""
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.MAX_LENGTH)


class PrivateKey:
    """An RSA private key loaded from PEM text (optionally password protected)."""

    def __init__(self, key: str | bytes, password: str | bytes | None = None) -> None:
        with reraise_errors('Invalid private key: {0!r}', errors=(ValueError, TypeError)):
            self._key = serialization.load_pem_private_key(
                ensure_bytes(key),
                password=ensure_bytes(password) if password is not None else None)
        if not isinstance(self._key, rsa.RSAPrivateKey):
            raise SecurityError('Invalid private key: only RSA keys are supported.')

    def sign(self, data: str | bytes, digest: HashAlgorithm) -> bytes:
        """Return the signature of ``data``."""
        with reraise_errors('Unable to sign data: {0!r}', errors=(ValueError, TypeError)):
            return self._key.sign(ensure_bytes(data), pss_padding(digest), digest)

    def public_key(self) -> rsa.RSAPublicKey:
        """The public half of the key."""
        return self._key.public_key()

    def matches(self, cert: Certificate) -> bool:
        """Return True if ``cert`` holds the public half of this key."""
        pub = cert.get_pubkey()
        return (isinstance(pub, rsa.RSAPublicKey) and
                pub.public_numbers() == self.public_key().public_numbers())

"""X.509 certificates that verify incoming messages, and stores of them.

A certificate is known by its id, ``'<issuer attributes> <serial number>'``,
which travels in every signed message as the signer.
"""
from __future__ import annotations

import glob
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterator

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from kombu.utils.encoding import bytes_to_str, ensure_bytes

from celery.exceptions import SecurityError
from celery.utils.log import get_logger

from .key import pss_padding
from .utils import CRYPTO_ERRORS, reraise_errors

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.hashes import HashAlgorithm

__all__ = ('Certificate', 'CertStore', 'FSCertStore')

logger = get_logger(__name__)

_VERIFY_ERRORS = CRYPTO_ERRORS + (ValueError, TypeError)


class Certificate:
    """An X.509 certificate with an RSA public key, loaded from PEM text."""

    def __init__(self, cert: str | bytes) -> None:
        with reraise_errors('Invalid certificate: {0!r}', errors=(ValueError, TypeError)):
            self._cert = x509.load_pem_x509_certificate(ensure_bytes(cert))
        if not isinstance(self._cert.public_key(), rsa.RSAPublicKey):
            raise SecurityError('Invalid certificate: only RSA keys are supported.')

    def not_valid_after(self) -> datetime:
        """When the certificate expires (aware, UTC)."""
        return self._cert.not_valid_after_utc

    def has_expired(self) -> bool:
        """Return True if the certificate is past its validity period."""
        return datetime.now(timezone.utc) >= self.not_valid_after()

    def get_pubkey(self) -> rsa.RSAPublicKey:
        """The certificate's public key."""
        return self._cert.public_key()

    def get_serial_number(self) -> int:
        """The serial number given by the issuer."""
        return self._cert.serial_number

    def get_issuer(self) -> str:
        """The issuer's attribute values, space separated."""
        return ' '.join(str(attr.value) for attr in self._cert.issuer)

    def get_id(self) -> str:
        """The id of the certificate: issuer and serial number."""
        return f'{self.get_issuer()} {self.get_serial_number()}'

    def verify(self, data: str | bytes, signature: bytes, digest: HashAlgorithm) -> None:
        """Check that ``signature`` signs ``data``; raise SecurityError if not."""
        with reraise_errors('Bad signature: {0!r}', errors=_VERIFY_ERRORS):
            self.get_pubkey().verify(signature, ensure_bytes(data), pss_padding(digest), digest)

    def __repr__(self) -> str:
        return f'<Certificate {self.get_id()!r}>'


class CertStore:
    """Certificates by id: the signers whose messages are trusted."""

    def __init__(self) -> None:
        self._certs: dict[str, Certificate] = {}

    def itercerts(self) -> Iterator[Certificate]:
        """Iterate over the certificates."""
        yield from self._certs.values()

    def __getitem__(self, id: str | bytes) -> Certificate:
        try:
            return self._certs[bytes_to_str(id)]
        except KeyError:
            raise SecurityError(f'Unknown certificate: {bytes_to_str(id)!r}') from None

    def __contains__(self, id: object) -> bool:
        return isinstance(id, (str, bytes)) and bytes_to_str(id) in self._certs

    def __len__(self) -> int:
        return len(self._certs)

    def add_cert(self, cert: Certificate) -> None:
        """Add ``cert``; a second certificate with the same id is an error."""
        cert_id = bytes_to_str(cert.get_id())
        if cert_id in self._certs:
            raise SecurityError(f'Duplicate certificate: {cert_id!r}')
        self._certs[cert_id] = cert


class FSCertStore(CertStore):
    """The certificates in files matching a glob pattern, or all files of a directory.

    Expired certificates are refused.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        pattern = os.path.join(path, '*') if os.path.isdir(path) else path
        paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not paths:
            logger.warning('Certificate store %r holds no certificates: '
                           'no signed message will be accepted.', path)
        for cert_path in paths:
            try:
                with open(cert_path, 'rb') as fh:
                    data = fh.read()
            except OSError as exc:
                raise SecurityError(f'Cannot read certificate {cert_path!r}: {exc}') from exc
            try:
                cert = Certificate(data)
            except SecurityError as exc:
                raise SecurityError(f'{exc} (in {cert_path!r})') from exc
            if cert.has_expired():
                raise SecurityError(
                    f'Expired certificate: {cert.get_id()!r} '
                    f'(in {cert_path!r}, expired {cert.not_valid_after():%Y-%m-%d %H:%M:%S} UTC)')
            self.add_cert(cert)

"""The ``auth`` serializer: messages signed by a private key, checked against a store.

Wire format (the same as Celery 5's, so both can talk to each other): the
payload is serialized with the inner serializer (``json`` by default) and
the resulting bytes are signed (RSA-PSS, MGF1, maximal salt). The message
body is then the base64 text of::

    b64(signer) SEP b64(signature) SEP content_type SEP content_encoding SEP body

with ``SEP = b'\\x00\\x01'``; the signer is the id of the signing
certificate. The serializer is registered in kombu's registry under the
name ``auth`` with the content type ``application/data``.

Verification happens before the inner payload is decoded, so a forged or
altered message never reaches a decoder. The inner content type is not
covered by the signature (as in Celery), so only the configured serializer,
or one still enabled for unsigned content, may decode it.
"""
from __future__ import annotations

import binascii
from typing import Any

from kombu.serialization import dumps, loads, registry
from kombu.utils.encoding import bytes_to_str, ensure_bytes

from celery.exceptions import SecurityError
from celery.utils.log import get_logger
from celery.utils.serialization import b64decode, b64encode

from .certificate import Certificate, CertStore, FSCertStore
from .key import PrivateKey
from .utils import get_digest_algorithm, reraise_errors

__all__ = ('SecureSerializer', 'register_auth')

logger = get_logger(__name__)

#: Separates the fields of a signed message; it cannot occur in the first
#: four (base64 text and MIME names), and the body is last.
DEFAULT_SEPARATOR = b'\x00\x01'

#: Name, content type and encoding the serializer is registered with.
AUTH_NAME = 'auth'
AUTH_CONTENT_TYPE = 'application/data'
AUTH_CONTENT_ENCODING = 'utf-8'


class SecureSerializer:
    """Signs with ``key`` (as ``cert``'s owner) and verifies against ``cert_store``.

    A client needs ``key`` and ``cert`` to sign; a worker needs
    ``cert_store`` to verify. Every failure raises
    :exc:`~celery.exceptions.SecurityError`.
    """

    def __init__(self, key: PrivateKey | None = None, cert: Certificate | None = None,
                 cert_store: CertStore | None = None, digest: str = 'sha256',
                 serializer: str = 'json') -> None:
        self._key = key
        self._cert = cert
        self._cert_store = cert_store
        self._digest = get_digest_algorithm(digest)
        self._serializer = serializer
        self._content_type = registry.name_to_type.get(serializer, serializer)
        self._signer = cert.get_id() if cert is not None else None

    def serialize(self, data: Any) -> str:
        """Serialize and sign ``data``; return the message body (base64 text)."""
        if self._key is None or self._cert is None:
            raise SecurityError('Cannot sign messages: no private key and certificate '
                                'were given (security_key, security_certificate).')
        with reraise_errors('Unable to serialize: {0!r}', (Exception,)):
            content_type, content_encoding, body = dumps(data, serializer=self._serializer)
            # The serialized bytes are signed, so that checking a message
            # needs no decoding of untrusted data.
            body = ensure_bytes(body)
            signature = self._key.sign(body, self._digest)
            return self._pack(body, content_type, content_encoding,
                              signer=self._signer, signature=signature)

    def deserialize(self, data: str | bytes) -> Any:
        """Check the signature of a message body and return its decoded payload."""
        if self._cert_store is None:
            raise SecurityError('Cannot verify messages: no certificate store was given '
                                '(security_cert_store).')
        try:
            payload = self._unpack(data)
            cert = self._cert_store[payload['signer']]
            cert.verify(payload['body'], payload['signature'], self._digest)
            self._check_inner_type(payload['content_type'])
        except SecurityError as exc:
            logger.error('Rejected signed message: %s', exc)
            raise
        with reraise_errors('Unable to deserialize: {0!r}', (Exception,)):
            return loads(payload['body'], payload['content_type'],
                         payload['content_encoding'], force=True)

    def _check_inner_type(self, content_type: str) -> None:
        # The inner content type is not signed: a message altered in transit
        # could name another decoder for the signed bytes. Only our own
        # serializer and those still enabled for unsigned content are used.
        if content_type != self._content_type and \
                content_type in registry._disabled_content_types:
            raise SecurityError(
                f'Refusing signed content of type {content_type!r}: '
                f'the auth serializer uses {self._serializer!r}.')

    def _pack(self, body: bytes, content_type: str, content_encoding: str,
              signer: str | bytes, signature: bytes, sep: bytes = DEFAULT_SEPARATOR) -> str:
        fields = (b64encode(signer), b64encode(signature), content_type, content_encoding, body)
        return b64encode(sep.join(ensure_bytes(field) for field in fields))

    def _unpack(self, payload: str | bytes, sep: bytes = DEFAULT_SEPARATOR) -> dict:
        try:
            raw = b64decode(ensure_bytes(payload))
            signer, signature, content_type, content_encoding, body = raw.split(sep, 4)
            return {
                'signer': b64decode(signer),
                'signature': b64decode(signature),
                'content_type': bytes_to_str(content_type),
                'content_encoding': bytes_to_str(content_encoding),
                'body': body,
            }
        except (ValueError, TypeError, binascii.Error) as exc:
            raise SecurityError(f'Malformed signed message: {exc}') from None


def register_auth(key: str | bytes | None = None, key_password: str | bytes | None = None,
                  cert: str | bytes | None = None, store: str | None = None,
                  digest: str = 'sha256', serializer: str = 'json') -> SecureSerializer:
    """Register the ``auth`` serializer in kombu's registry.

    Arguments:
        key: PEM text of the private key that signs.
        key_password: Password of an encrypted key.
        cert: PEM text of the certificate of ``key``.
        store: Path (directory or glob) of the trusted certificates.
        digest: Hash of the signatures.
        serializer: The serializer of the signed payload.

    Raises:
        SecurityError: unusable key or certificate, a key that does not belong
            to the certificate, an expired certificate in the store.
    """
    private_key = PrivateKey(key, password=key_password) if key else None
    certificate = Certificate(cert) if cert else None
    if private_key is not None and certificate is not None \
            and not private_key.matches(certificate):
        raise SecurityError(
            f'The private key does not match the certificate {certificate.get_id()!r}: '
            'security_key must be the key the certificate was issued for.')
    cert_store = FSCertStore(store) if store else None
    secure = SecureSerializer(private_key, certificate, cert_store,
                              digest=digest, serializer=serializer)
    registry.register(AUTH_NAME, secure.serialize, secure.deserialize,
                      content_type=AUTH_CONTENT_TYPE,
                      content_encoding=AUTH_CONTENT_ENCODING)
    return secure

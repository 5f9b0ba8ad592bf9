"""Test-only key pairs and certificates, made on the fly with cryptography.

Nothing here is secret: the keys exist for the duration of a test run.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = ('Identity', 'make_identity', 'make_key', 'make_cert')


@dataclass
class Identity:
    """A private key and its certificate, as PEM text and as files."""

    name: str
    key_pem: bytes
    cert_pem: bytes
    key_path: Path
    cert_path: Path


def make_key(kind: str = 'rsa'):
    if kind == 'ec':
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(key, name: str, *, expired: bool = False, serial: int | None = None,
              issuer: str = 'Celery Test CA') -> bytes:
    now = datetime.now(timezone.utc)
    if expired:
        not_before, not_after = now - timedelta(days=30), now - timedelta(days=1)
    else:
        not_before, not_after = now - timedelta(days=1), now + timedelta(days=30)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, issuer),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    cert = (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def key_to_pem(key, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8, encryption)


def make_identity(directory: Path, name: str, *, expired: bool = False,
                  password: bytes | None = None, kind: str = 'rsa') -> Identity:
    """Write ``<name>.key`` and ``<name>.pem`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = make_key(kind)
    key_pem = key_to_pem(key, password)
    cert_pem = make_cert(key, name, expired=expired)
    key_path = directory / f'{name}.key'
    cert_path = directory / f'{name}.pem'
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(cert_pem)
    return Identity(name, key_pem, cert_pem, key_path, cert_path)

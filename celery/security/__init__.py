"""Message signing: :func:`setup_security` and the ``auth`` serializer.

Calling :func:`setup_security` (or ``app.setup_security()``) reads the key,
the certificate and the certificate store named by the ``security_*``
settings, registers the ``auth`` serializer in kombu's (process-wide)
registry, makes it kombu's default and disables every serializer not
explicitly allowed, so that a worker accepts signed messages only.

Needs the :pypi:`cryptography` package.
"""
from __future__ import annotations

from typing import Any, Iterable

from kombu.serialization import disable_insecure_serializers as _disable_insecure_serializers
from kombu.serialization import registry

from celery.exceptions import ImproperlyConfigured, SecurityError

try:
    import cryptography  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise ImproperlyConfigured(
        'The auth serializer needs the cryptography library: '
        'pip install cryptography (or celery[auth]).') from None

from .serialization import register_auth  # noqa: E402

__all__ = ('setup_security', 'disable_untrusted_serializers')

SETTING_MISSING = """\
Message signing needs these settings:
    task_serializer = 'auth'      (sign the task messages)
    accept_content = ['auth']     (accept signed messages only: signing
                                   is pointless if nothing is verified)\
"""

SECURITY_SETTING_MISSING = """\
Message signing needs the security_key, security_certificate and
security_cert_store settings (missing: {missing}).\
"""

_AUTH_CONTENT = frozenset({'auth', 'application/data'})


def disable_untrusted_serializers(whitelist: Iterable[str] | None = None) -> None:
    """Refuse to decode content of any serializer not in ``whitelist``."""
    _disable_insecure_serializers(allowed=whitelist)


def _read_file(path: str, what: str, setting: str) -> bytes:
    try:
        with open(path, 'rb') as fh:
            return fh.read()
    except OSError as exc:
        raise SecurityError(
            f'Cannot read the {what} {path!r} ({setting}): {exc.strerror or exc}') from exc


def _accepts_only_auth(accept_content: Any) -> bool:
    if not accept_content:
        return False
    if isinstance(accept_content, str):
        return accept_content in _AUTH_CONTENT
    return set(accept_content) <= _AUTH_CONTENT


def setup_security(allowed_serializers: Iterable[str] | None = None,
                   key: str | None = None, key_password: str | bytes | None = None,
                   cert: str | None = None, store: str | None = None,
                   digest: str | None = None, serializer: str = 'json',
                   app: Any = None) -> None:
    """Enable message signing for the process (see :meth:`Celery.setup_security`).

    Arguments:
        allowed_serializers: Serializers whose content may still be decoded
            (default: none besides ``auth``).
        key: Path of the private key (default: ``security_key``).
        key_password: Password of the key (default: ``security_key_password``).
        cert: Path of the certificate (default: ``security_certificate``).
        store: Directory or glob of trusted certificates (``security_cert_store``).
        digest: Hash of the signatures (``security_digest``, ``'sha256'``).
        serializer: The serializer of the payload inside signed messages.
        app: The app whose settings are used (default: the current app).

    Raises:
        ImproperlyConfigured: the settings do not enforce signed messages,
            or the key, certificate or store is not configured.
        SecurityError: a file cannot be read, the key or a certificate is
            invalid or expired, or the key does not match the certificate.
    """
    if app is None:
        from celery import current_app
        app = current_app._get_current_object()

    _disable_insecure_serializers(allowed_serializers)

    conf = app.conf
    if conf.task_serializer != 'auth' or not _accepts_only_auth(conf.accept_content):
        raise ImproperlyConfigured(SETTING_MISSING)

    key = key or conf.security_key
    key_password = key_password or conf.security_key_password
    cert = cert or conf.security_certificate
    store = store or conf.security_cert_store
    digest = digest or conf.security_digest or 'sha256'

    missing = [name for name, value in (('security_key', key),
                                        ('security_certificate', cert),
                                        ('security_cert_store', store)) if not value]
    if missing:
        raise ImproperlyConfigured(SECURITY_SETTING_MISSING.format(missing=', '.join(missing)))

    key_pem = _read_file(key, 'private key', 'security_key')
    cert_pem = _read_file(cert, 'certificate', 'security_certificate')
    register_auth(key_pem, key_password, cert_pem, store, digest, serializer)
    registry._set_default_serializer('auth')

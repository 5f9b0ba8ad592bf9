from __future__ import annotations

import pytest

from celery.exceptions import SecurityError
from celery.security.certificate import Certificate
from celery.security.key import PrivateKey
from celery.security.utils import get_digest_algorithm

from .pki import key_to_pem, make_key


class test_PrivateKey:

    def test_sign_and_verify(self, alice):
        key = PrivateKey(alice.key_pem)
        digest = get_digest_algorithm('sha256')
        signature = key.sign(b'the data', digest)
        assert len(signature) == 256  # RSA-2048
        Certificate(alice.cert_pem).verify(b'the data', signature, digest)

    def test_accepts_text(self, alice):
        key = PrivateKey(alice.key_pem.decode())
        assert key.sign('text', get_digest_algorithm())

    def test_signatures_are_randomized(self, alice):
        # PSS uses a random salt.
        key = PrivateKey(alice.key_pem)
        digest = get_digest_algorithm()
        assert key.sign(b'x', digest) != key.sign(b'x', digest)

    @pytest.mark.parametrize('garbage', [b'', b'not a key', b'-----BEGIN PRIVATE KEY-----\nAA\n'])
    def test_invalid(self, garbage):
        with pytest.raises(SecurityError, match='Invalid private key'):
            PrivateKey(garbage)

    def test_certificate_is_not_a_key(self, alice):
        with pytest.raises(SecurityError, match='Invalid private key'):
            PrivateKey(alice.cert_pem)

    def test_encrypted(self):
        pem = key_to_pem(make_key(), password=b'secret')
        assert PrivateKey(pem, password=b'secret').sign(b'x', get_digest_algorithm())
        assert PrivateKey(pem, password='secret')
        with pytest.raises(SecurityError, match='Invalid private key'):
            PrivateKey(pem, password=b'wrong')
        with pytest.raises(SecurityError, match='Invalid private key'):
            PrivateKey(pem)

    def test_non_rsa_refused(self):
        with pytest.raises(SecurityError, match='only RSA'):
            PrivateKey(key_to_pem(make_key('ec')))

    def test_matches(self, alice, bob):
        key = PrivateKey(alice.key_pem)
        assert key.matches(Certificate(alice.cert_pem))
        assert not key.matches(Certificate(bob.cert_pem))

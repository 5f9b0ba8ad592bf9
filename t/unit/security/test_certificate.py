from __future__ import annotations

import logging
import os

import pytest
from cryptography import x509

from celery.exceptions import SecurityError
from celery.security.certificate import Certificate, CertStore, FSCertStore
from celery.security.key import PrivateKey
from celery.security.utils import get_digest_algorithm

from .pki import make_cert, make_identity, make_key


class test_Certificate:

    def test_id_is_issuer_and_serial(self):
        key = make_key()
        cert = Certificate(make_cert(key, 'carol', serial=1234, issuer='ACME'))
        assert cert.get_serial_number() == 1234
        assert cert.get_issuer() == 'ACME carol'
        assert cert.get_id() == 'ACME carol 1234'
        assert 'ACME carol 1234' in repr(cert)

    def test_not_expired(self, alice):
        assert not Certificate(alice.cert_pem).has_expired()

    def test_expired(self):
        assert Certificate(make_cert(make_key(), 'old', expired=True)).has_expired()

    def test_verify(self, alice):
        digest = get_digest_algorithm()
        signature = PrivateKey(alice.key_pem).sign(b'payload', digest)
        cert = Certificate(alice.cert_pem.decode())
        cert.verify(b'payload', signature, digest)
        cert.verify('payload', signature, digest)

    def test_verify_altered_data(self, alice):
        digest = get_digest_algorithm()
        signature = PrivateKey(alice.key_pem).sign(b'payload', digest)
        with pytest.raises(SecurityError, match='Bad signature'):
            Certificate(alice.cert_pem).verify(b'payloaD', signature, digest)

    def test_verify_other_signer(self, alice, bob):
        digest = get_digest_algorithm()
        signature = PrivateKey(bob.key_pem).sign(b'payload', digest)
        with pytest.raises(SecurityError, match='Bad signature'):
            Certificate(alice.cert_pem).verify(b'payload', signature, digest)

    def test_verify_other_digest(self, alice):
        signature = PrivateKey(alice.key_pem).sign(b'payload', get_digest_algorithm('sha256'))
        with pytest.raises(SecurityError, match='Bad signature'):
            Certificate(alice.cert_pem).verify(b'payload', signature,
                                               get_digest_algorithm('sha512'))

    def test_verify_garbage_signature(self, alice):
        with pytest.raises(SecurityError, match='Bad signature'):
            Certificate(alice.cert_pem).verify(b'payload', b'\x00' * 3, get_digest_algorithm())

    @pytest.mark.parametrize('garbage', [b'', b'nope'])
    def test_invalid(self, garbage):
        with pytest.raises(SecurityError, match='Invalid certificate'):
            Certificate(garbage)

    def test_key_is_not_a_certificate(self, alice):
        with pytest.raises(SecurityError, match='Invalid certificate'):
            Certificate(alice.key_pem)

    def test_non_rsa_refused(self):
        with pytest.raises(SecurityError, match='only RSA'):
            Certificate(make_cert(make_key('ec'), 'ec'))


class test_CertStore:

    def test_add_and_get(self, alice, bob):
        store = CertStore()
        a, b = Certificate(alice.cert_pem), Certificate(bob.cert_pem)
        store.add_cert(a)
        store.add_cert(b)
        assert store[a.get_id()] is a
        assert store[b.get_id().encode()] is b
        assert set(store.itercerts()) == {a, b}
        assert len(store) == 2
        assert a.get_id() in store and 'x' not in store

    def test_unknown(self):
        with pytest.raises(SecurityError, match="Unknown certificate: 'who 1'"):
            CertStore()[b'who 1']

    def test_duplicate(self, alice):
        store = CertStore()
        store.add_cert(Certificate(alice.cert_pem))
        with pytest.raises(SecurityError, match='Duplicate certificate'):
            store.add_cert(Certificate(alice.cert_pem))


class test_FSCertStore:

    def test_directory(self, store_dir, alice, bob):
        store = FSCertStore(str(store_dir))
        ids = {c.get_id() for c in store.itercerts()}
        assert ids == {Certificate(alice.cert_pem).get_id(), Certificate(bob.cert_pem).get_id()}

    def test_glob(self, store_dir, alice):
        store = FSCertStore(str(store_dir / 'alice.*'))
        assert [c.get_id() for c in store.itercerts()] == [Certificate(alice.cert_pem).get_id()]

    def test_single_file(self, alice):
        assert len(FSCertStore(str(alice.cert_path))) == 1

    def test_expired_refused(self, tmp_path):
        ident = make_identity(tmp_path, 'old', expired=True)
        os.remove(ident.key_path)
        with pytest.raises(SecurityError, match=r"Expired certificate: .*old\.pem"):
            FSCertStore(str(tmp_path))

    def test_invalid_file(self, tmp_path):
        (tmp_path / 'README').write_text('not a cert')
        with pytest.raises(SecurityError, match=r'Invalid certificate.*README'):
            FSCertStore(str(tmp_path))

    def test_empty_store_warns(self, tmp_path, caplog):
        with caplog.at_level(logging.WARNING):
            store = FSCertStore(str(tmp_path / 'nothing-*.pem'))
        assert len(store) == 0
        assert 'holds no certificates' in caplog.text

    def test_duplicate_files(self, tmp_path, alice):
        (tmp_path / 'a.pem').write_bytes(alice.cert_pem)
        (tmp_path / 'b.pem').write_bytes(alice.cert_pem)
        with pytest.raises(SecurityError, match='Duplicate certificate'):
            FSCertStore(str(tmp_path))


def test_pki_helper_is_sane(alice):
    cert = x509.load_pem_x509_certificate(alice.cert_pem)
    assert cert.subject.rfc4514_string() == 'CN=alice'

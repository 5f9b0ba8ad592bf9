from __future__ import annotations

import base64
import logging

import pytest
from kombu import Connection, Exchange, Queue
from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.serialization import dumps, loads, registry

from celery.exceptions import SecurityError
from celery.security.certificate import Certificate, FSCertStore
from celery.security.key import PrivateKey
from celery.security.serialization import SecureSerializer, register_auth
from celery.security.utils import get_digest_algorithm

SEP = b'\x00\x01'


@pytest.fixture
def signer(alice, store_dir):
    return SecureSerializer(PrivateKey(alice.key_pem), Certificate(alice.cert_pem),
                            FSCertStore(str(store_dir)))


def envelope(body: str | bytes) -> list[bytes]:
    return base64.b64decode(body).split(SEP, 4)


class test_SecureSerializer:

    @pytest.mark.parametrize('data', [
        {'a': 1, 'b': [1, 2.5, None, True]}, [[2, 2], {}, {'callbacks': None}],
        'unicode: ünïcødé ✓', '', 0, None, 'contains \x00\x01 the separator',
    ])
    def test_round_trip(self, signer, data):
        assert signer.deserialize(signer.serialize(data)) == data

    def test_envelope(self, signer, alice):
        # Given a signed message
        body = signer.serialize({'x': 1})
        # Then it is base64 text of five fields
        assert isinstance(body, str)
        signer_b64, sig_b64, ctype, cenc, payload = envelope(body)
        # the signer is the certificate id, base64-encoded
        cert = Certificate(alice.cert_pem)
        assert base64.b64decode(signer_b64).decode() == cert.get_id()
        # the inner content is plain JSON
        assert (ctype, cenc) == (b'application/json', b'utf-8')
        assert payload == b'{"x": 1}'
        # and the signature is RSA-PSS over the JSON bytes
        cert.verify(payload, base64.b64decode(sig_b64), get_digest_algorithm('sha256'))

    def test_accepts_bytes(self, signer):
        assert signer.deserialize(signer.serialize([1]).encode()) == [1]

    def test_other_trusted_signer(self, bob, store_dir):
        bob_signer = SecureSerializer(PrivateKey(bob.key_pem), Certificate(bob.cert_pem))
        verifier = SecureSerializer(cert_store=FSCertStore(str(store_dir)))
        assert verifier.deserialize(bob_signer.serialize('hi')) == 'hi'

    def test_untrusted_signer(self, mallory, store_dir, caplog):
        evil = SecureSerializer(PrivateKey(mallory.key_pem), Certificate(mallory.cert_pem))
        verifier = SecureSerializer(cert_store=FSCertStore(str(store_dir)))
        with caplog.at_level(logging.ERROR), pytest.raises(SecurityError, match='Unknown cert'):
            verifier.deserialize(evil.serialize('hi'))
        assert 'Rejected signed message' in caplog.text

    def test_forged_signer_id(self, alice, mallory, signer):
        # Mallory signs with her key but claims to be Alice.
        evil = SecureSerializer(PrivateKey(mallory.key_pem), Certificate(alice.cert_pem))
        with pytest.raises(SecurityError, match='Bad signature'):
            signer.deserialize(evil.serialize('give me root'))

    def test_tampered_body(self, signer, caplog):
        fields = envelope(signer.serialize({'amount': 10}))
        fields[4] = b'{"amount": 10000}'
        tampered = base64.b64encode(SEP.join(fields)).decode()
        with caplog.at_level(logging.ERROR), pytest.raises(SecurityError, match='Bad signature'):
            signer.deserialize(tampered)
        assert 'Rejected signed message' in caplog.text

    def test_tampered_content_type_cannot_smuggle(self, signer):
        # The content type is not signed, but changing it only changes how
        # the (signed) bytes are decoded: yaml/pickle content can't be slipped in.
        fields = envelope(signer.serialize('x'))
        fields[2] = b'application/x-python-serialize'
        fields[4] = b'cos\nsystem\n(S"true"\ntR.'
        with pytest.raises(SecurityError, match='Bad signature'):
            signer.deserialize(base64.b64encode(SEP.join(fields)))

    def test_tampered_inner_content_type(self, signer):
        # A valid signature over JSON bytes, relabelled as pickle in transit
        fields = envelope(signer.serialize(['x']))
        fields[2] = b'application/x-python-serialize'
        registry.disable('pickle')
        with pytest.raises(SecurityError, match="Refusing signed content of type"):
            signer.deserialize(base64.b64encode(SEP.join(fields)))

    def test_other_enabled_inner_type_is_decoded(self, alice, store_dir):
        msgpack_signer = SecureSerializer(PrivateKey(alice.key_pem),
                                          Certificate(alice.cert_pem), serializer='msgpack')
        registry.enable('msgpack')
        verifier = SecureSerializer(cert_store=FSCertStore(str(store_dir)))
        assert verifier.deserialize(msgpack_signer.serialize({'k': 1})) == {'k': 1}

    def test_tampered_signature(self, signer):
        fields = envelope(signer.serialize('x'))
        sig = bytearray(base64.b64decode(fields[1]))
        sig[0] ^= 0xFF
        fields[1] = base64.b64encode(bytes(sig))
        with pytest.raises(SecurityError, match='Bad signature'):
            signer.deserialize(base64.b64encode(SEP.join(fields)))

    @pytest.mark.parametrize('garbage', [b'', b'!!!!', base64.b64encode(b'no separators'),
                                         base64.b64encode(SEP.join([b'a', b'b', b'c']))])
    def test_malformed(self, signer, garbage):
        with pytest.raises(SecurityError):
            signer.deserialize(garbage)

    def test_cannot_sign_without_key(self, store_dir):
        with pytest.raises(SecurityError, match='Cannot sign'):
            SecureSerializer(cert_store=FSCertStore(str(store_dir))).serialize('x')

    def test_cannot_verify_without_store(self, alice):
        s = SecureSerializer(PrivateKey(alice.key_pem), Certificate(alice.cert_pem))
        with pytest.raises(SecurityError, match='Cannot verify'):
            s.deserialize(s.serialize('x'))

    def test_unserializable(self, signer):
        with pytest.raises(SecurityError, match='Unable to serialize'):
            signer.serialize(object())

    def test_inner_serializer(self, alice, store_dir):
        s = SecureSerializer(PrivateKey(alice.key_pem), Certificate(alice.cert_pem),
                             FSCertStore(str(store_dir)), serializer='msgpack')
        body = s.serialize({'k': [1, 2]})
        assert envelope(body)[2] == b'application/x-msgpack'
        assert s.deserialize(body) == {'k': [1, 2]}

    def test_digest(self, alice, store_dir):
        sha512 = SecureSerializer(PrivateKey(alice.key_pem), Certificate(alice.cert_pem),
                                  FSCertStore(str(store_dir)), digest='sha512')
        sha256 = SecureSerializer(cert_store=FSCertStore(str(store_dir)), digest='sha256')
        body = sha512.serialize('x')
        assert sha512.deserialize(body) == 'x'
        with pytest.raises(SecurityError, match='Bad signature'):
            sha256.deserialize(body)

    def test_inner_content_decoded_even_if_disabled(self, signer):
        # Signed content is trusted: json may be disabled for unsigned messages.
        registry.disable('json')
        assert signer.deserialize(signer.serialize({'a': 1})) == {'a': 1}


class test_register_auth:

    def test_registers_in_kombu(self, alice, store_dir):
        register_auth(alice.key_pem, None, alice.cert_pem, str(store_dir))
        ctype, enc, body = dumps({'hello': 'world'}, serializer='auth')
        assert (ctype, enc) == ('application/data', 'utf-8')
        assert registry.name_to_type['auth'] == 'application/data'
        assert loads(body, ctype, enc, accept={'application/data'}) == {'hello': 'world'}

    def test_key_password(self, tmp_path, store_dir):
        from .pki import make_identity
        ident = make_identity(tmp_path, 'locked', password=b'pw')
        register_auth(ident.key_pem, b'pw', ident.cert_pem, str(store_dir))
        with pytest.raises(SecurityError, match='Invalid private key'):
            register_auth(ident.key_pem, b'bad', ident.cert_pem, str(store_dir))

    def test_key_must_match_certificate(self, alice, bob, store_dir):
        with pytest.raises(SecurityError, match='does not match the certificate'):
            register_auth(alice.key_pem, None, bob.cert_pem, str(store_dir))

    def test_verify_only(self, alice, store_dir):
        verifier = register_auth(store=str(store_dir))
        signer = SecureSerializer(PrivateKey(alice.key_pem), Certificate(alice.cert_pem))
        assert verifier.deserialize(signer.serialize(1)) == 1

    def test_through_a_kombu_queue(self, alice, mallory, store_dir):
        # Given the auth serializer and a consumer accepting only it
        register_auth(alice.key_pem, None, alice.cert_pem, str(store_dir))
        exchange = Exchange('sec', 'direct')
        queue = Queue('sec', exchange, 'sec')
        with Connection('memory://') as conn:
            with conn.Producer() as producer:
                # When a signed, an unsigned and a forged message are sent
                producer.publish({'n': 1}, serializer='auth', exchange=exchange,
                                 routing_key='sec', declare=[queue])
                producer.publish({'n': 2}, serializer='json', exchange=exchange,
                                 routing_key='sec')
                evil = SecureSerializer(PrivateKey(mallory.key_pem),
                                        Certificate(mallory.cert_pem))
                producer.publish(evil.serialize({'n': 3}), exchange=exchange,
                                 routing_key='sec', content_type='application/data',
                                 content_encoding='utf-8')
            bound = queue(conn.default_channel)
            outcomes = []
            for _ in range(3):
                message = bound.get(accept={'application/data'})
                try:
                    outcomes.append(message.decode())
                except (ContentDisallowed, DecodeError) as exc:
                    outcomes.append(type(exc).__name__)
                message.ack()
        # Then only the signed one is decoded
        assert outcomes == [{'n': 1}, 'ContentDisallowed', 'DecodeError']

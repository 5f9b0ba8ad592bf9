"""setup_security: settings checks, clear errors, the registry afterwards."""
from __future__ import annotations

import pytest
from kombu.exceptions import ContentDisallowed
from kombu.serialization import dumps, loads

from celery.exceptions import ImproperlyConfigured, SecurityError
from celery.security import disable_untrusted_serializers, setup_security

from .pki import make_identity


@pytest.fixture
def secure_app(app, alice, store_dir):
    app.conf.update(
        security_key=str(alice.key_path),
        security_certificate=str(alice.cert_path),
        security_cert_store=str(store_dir / '*.pem'),
        task_serializer='auth',
        accept_content=['auth'],
    )
    return app


class test_setup_security:

    def test_enables_auth(self, secure_app):
        # When
        secure_app.setup_security()
        # Then auth is kombu's default serializer and round-trips
        ctype, enc, body = dumps({'a': 1})
        assert ctype == 'application/data'
        assert loads(body, ctype, enc, accept={'application/data'}) == {'a': 1}

    def test_disables_other_serializers(self, secure_app):
        secure_app.setup_security()
        ctype, enc, body = dumps([1], serializer='json')
        with pytest.raises(ContentDisallowed):
            loads(body, ctype, enc)

    def test_allowed_serializers(self, secure_app):
        secure_app.setup_security(allowed_serializers=['json'])
        ctype, enc, body = dumps([1], serializer='json')
        assert loads(body, ctype, enc) == [1]
        ctype, enc, body = dumps([1], serializer='msgpack')
        with pytest.raises(ContentDisallowed):
            loads(body, ctype, enc)

    def test_task_message_is_signed(self, secure_app, alice):
        # Given a task sent through the app with the auth serializer
        secure_app.setup_security()
        secure_app.conf.task_default_queue = 'signed'
        secure_app.send_task('tasks.add', (2, 2))
        # Then the queued message is signed and verifies
        with secure_app.connection_for_read() as conn:
            message = secure_app.amqp.queues['signed'](conn.default_channel).get(
                accept={'application/data'})
            assert message.content_type == 'application/data'
            args, kwargs, embed = message.decode()
            message.ack()
        assert (args, kwargs) == ([2, 2], {})
        assert message.headers['task'] == 'tasks.add'

    def test_accept_content_by_mime_type(self, secure_app):
        secure_app.conf.accept_content = {'application/data'}
        secure_app.setup_security()

    @pytest.mark.parametrize('settings', [
        {'task_serializer': 'json'},
        {'accept_content': ['json']},
        {'accept_content': ['auth', 'json']},
        {'accept_content': []},
    ])
    def test_requires_signing_settings(self, secure_app, settings):
        secure_app.conf.update(settings)
        with pytest.raises(ImproperlyConfigured, match="task_serializer = 'auth'"):
            secure_app.setup_security()

    @pytest.mark.parametrize('missing', [
        'security_key', 'security_certificate', 'security_cert_store'])
    def test_requires_files(self, secure_app, missing):
        secure_app.conf[missing] = None
        with pytest.raises(ImproperlyConfigured, match=f'missing: {missing}'):
            secure_app.setup_security()

    def test_missing_key_file(self, secure_app, tmp_path):
        secure_app.conf.security_key = str(tmp_path / 'nope.key')
        with pytest.raises(SecurityError, match=r"Cannot read the private key '.*nope\.key'"):
            secure_app.setup_security()

    def test_unreadable_key_file(self, secure_app, tmp_path):
        secure_app.conf.security_key = str(tmp_path)  # a directory
        with pytest.raises(SecurityError, match='Cannot read the private key'):
            secure_app.setup_security()

    def test_missing_certificate_file(self, secure_app, tmp_path):
        secure_app.conf.security_certificate = str(tmp_path / 'nope.pem')
        with pytest.raises(SecurityError, match='Cannot read the certificate'):
            secure_app.setup_security()

    def test_invalid_key(self, secure_app, alice):
        secure_app.conf.security_key = str(alice.cert_path)
        with pytest.raises(SecurityError, match='Invalid private key'):
            secure_app.setup_security()

    def test_key_not_matching_certificate(self, secure_app, bob):
        secure_app.conf.security_certificate = str(bob.cert_path)
        with pytest.raises(SecurityError, match='does not match the certificate'):
            secure_app.setup_security()

    def test_expired_certificate_in_store(self, secure_app, tmp_path):
        old = make_identity(tmp_path, 'old', expired=True)
        secure_app.conf.security_cert_store = str(old.cert_path)
        with pytest.raises(SecurityError, match='Expired certificate'):
            secure_app.setup_security()

    def test_encrypted_key(self, secure_app, tmp_path):
        ident = make_identity(tmp_path, 'locked', password=b'pw')
        secure_app.conf.update(security_key=str(ident.key_path),
                               security_certificate=str(ident.cert_path),
                               security_key_password=b'pw')
        secure_app.setup_security()
        secure_app.conf.security_key_password = b'wrong'
        with pytest.raises(SecurityError, match='Invalid private key'):
            secure_app.setup_security()

    def test_arguments_override_settings(self, app, alice, store_dir):
        app.conf.update(task_serializer='auth', accept_content=['auth'])
        app.setup_security(key=str(alice.key_path), cert=str(alice.cert_path),
                           store=str(store_dir), digest='sha512')
        ctype, enc, body = dumps('x', serializer='auth')
        assert loads(body, ctype, enc, accept={'application/data'}) == 'x'

    def test_digest_setting(self, secure_app):
        secure_app.conf.security_digest = 'md4-is-not-a-hash'
        with pytest.raises(SecurityError, match='Unknown digest'):
            secure_app.setup_security()

    def test_uses_current_app(self, secure_app, current_app_restored):
        secure_app.set_current()
        setup_security()
        assert dumps({'x': 1})[0] == 'application/data'


def test_disable_untrusted_serializers():
    disable_untrusted_serializers(['json'])
    ctype, enc, body = dumps([1], serializer='json')
    assert loads(body, ctype, enc) == [1]
    ctype, enc, body = dumps([1], serializer='msgpack')
    with pytest.raises(ContentDisallowed):
        loads(body, ctype, enc)
    disable_untrusted_serializers()
    ctype, enc, body = dumps([1], serializer='json')
    with pytest.raises(ContentDisallowed):
        loads(body, ctype, enc)

"""User guide, security: TLS to the broker and signed messages."""
import ssl

from celery import Celery

app = Celery('proj')

# [tls]
app.conf.broker_url = 'amqps://worker:secret@broker.example.com:5671//'
app.conf.broker_use_ssl = {
    'ca_certs': '/etc/ssl/certs/broker-ca.pem',   # the CA that signed the broker's certificate
    'certfile': '/etc/ssl/certs/worker.pem',      # our certificate, if the broker asks for one
    'keyfile': '/etc/ssl/private/worker.key',
    'cert_reqs': ssl.CERT_REQUIRED,
}
app.conf.redis_backend_use_ssl = {'ssl_cert_reqs': ssl.CERT_REQUIRED}
# [end tls]


# [signing]
def enable_signing(app, key, certificate, cert_store):
    """Sign every task message with ``key``; accept only signed messages."""
    app.conf.update(
        security_key=key,                   # private key (PEM) of this process
        security_certificate=certificate,   # its certificate, sent with each message
        security_cert_store=cert_store,     # certificates to trust: a glob of PEM files
        security_digest='sha256',
        task_serializer='auth',
        result_serializer='json',
        event_serializer='auth',
        accept_content=['auth'],
    )
    app.setup_security()
# [end signing]


if __name__ == '__main__':
    enable_signing(app, '/etc/ssl/private/worker.key', '/etc/ssl/certs/worker.pem',
                   '/etc/ssl/certs/celery/*.pem')

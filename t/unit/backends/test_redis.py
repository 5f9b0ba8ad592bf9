"""Redis backend set-up without a server: URLs, connection parameters, keys.

Behaviour against a real Redis is in t/integration/test_backends.py.
"""
from __future__ import annotations

import pytest

from celery import Celery
from celery.backends.redis import RedisBackend, SentinelBackend


@pytest.fixture
def app():
    app = Celery('t.redis', set_as_current=False, fixups=[])
    yield app
    app.close()


class test_urls:

    def test_defaults(self, app):
        backend = RedisBackend(app=app)
        params = backend.connparams
        assert (params['host'], params['port'], params['db']) == ('localhost', 6379, 0)
        assert params['socket_timeout'] == 120.0

    def test_url_parts(self, app):
        backend = RedisBackend(app=app, url='redis://:s3cr%40t@example.com:6380/4')
        params = backend.connparams
        assert (params['host'], params['port'], params['db']) == ('example.com', 6380, 4)
        assert params['password'] == 's3cr@t'
        assert 's3cr' not in backend.as_uri()
        assert backend.as_uri(include_password=True).startswith('redis://:s3cr')

    def test_query_arguments(self, app):
        backend = RedisBackend(app=app, url='redis://localhost/1?socket_timeout=5&health_check_interval=3')
        assert backend.connparams['socket_timeout'] == 5.0
        assert backend.connparams['health_check_interval'] == 3

    def test_unix_socket(self, app):
        backend = RedisBackend(app=app, url='socket:///tmp/redis.sock?virtual_host=3')
        params = backend.connparams
        assert params['path'] == '/tmp/redis.sock' and params['db'] == 3
        assert 'host' not in params and 'port' not in params

    def test_rediss_needs_cert_reqs(self, app):
        with pytest.raises(ValueError, match='ssl_cert_reqs'):
            RedisBackend(app=app, url='rediss://localhost:6380/0')
        backend = RedisBackend(app=app, url='rediss://localhost:6380/0?ssl_cert_reqs=required')
        import ssl
        assert backend.connparams['ssl_cert_reqs'] == ssl.CERT_REQUIRED

    def test_ssl_params_need_rediss(self, app):
        with pytest.raises(ValueError, match='rediss://'):
            RedisBackend(app=app, url='redis://localhost/0?ssl_cert_reqs=required')

    def test_settings(self, app):
        app.conf.update(redis_max_connections=7, redis_username='u',
                        redis_socket_keepalive=True, redis_retry_on_timeout=True)
        params = RedisBackend(app=app).connparams
        assert params['max_connections'] == 7 and params['username'] == 'u'
        assert params['socket_keepalive'] and params['retry_on_timeout']

    def test_expires_is_seconds(self, app):
        app.conf.result_expires = 90.5
        assert RedisBackend(app=app).expires == 90

    def test_transport_options(self, app):
        app.conf.result_backend_transport_options = {
            'retry_policy': {'max_retries': 3}, 'result_chord_ordered': False,
            'global_keyprefix': 'pfx'}
        backend = RedisBackend(app=app)
        assert backend.retry_policy['max_retries'] == 3
        assert backend._chord_zset is False
        assert backend.get_key_for_group('g', '.j') == b'pfx_celery-taskset-meta-g.j'

    def test_by_url_aliases(self):
        app = Celery('t.redis.alias', set_as_current=False, backend='rediss://h:1/2?ssl_cert_reqs=none')
        assert isinstance(app.backend, RedisBackend)
        assert app.backend.connparams['host'] == 'h'

    def test_too_large_values_are_refused(self, app):
        from celery.exceptions import BackendStoreError
        backend = RedisBackend(app=app)
        backend._MAX_STR_VALUE_SIZE = 3
        with pytest.raises(BackendStoreError, match='too large'):
            backend.set('k', 'abcd')

    def test_pickle(self, app):
        import pickle

        from celery import _state
        backend = RedisBackend(app=app, url='redis://localhost:6379/2')
        _state._set_current_app(app)
        try:
            clone = pickle.loads(pickle.dumps(backend))
        finally:
            _state._set_current_app(None)
        assert clone.connparams['db'] == 2


class test_sentinel:

    def test_hosts(self, app):
        app.conf.result_backend_transport_options = {'master_name': 'mymaster'}
        backend = SentinelBackend(
            app=app, url='sentinel://:pw@h1:26379/3;sentinel://:pw@h2:26380/3')
        hosts = backend.connparams['hosts']
        assert [(h['host'], h['port']) for h in hosts] == [('h1', 26379), ('h2', 26380)]
        assert backend.connparams['db'] == 3 and backend.connparams['password'] == 'pw'
        assert 'pw' not in backend.as_uri()
        assert backend.as_uri().count(';') == 1

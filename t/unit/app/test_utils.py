"""Tests for celery.app.utils: Settings, detect_settings and the app helpers."""
from __future__ import annotations

import copy
import pickle
import sys
import textwrap
import uuid
from datetime import timedelta

import pytest

from celery.app.defaults import DEFAULTS
from celery.app.utils import (Settings, _unpickle_app_v2, appstr, bugreport,
                              detect_settings, filter_hidden_settings, find_app)
from celery.exceptions import CPendingDeprecationWarning, ImproperlyConfigured

ENV_VARS = ('CELERY_BROKER_URL', 'CELERY_BROKER_READ_URL',
            'CELERY_BROKER_WRITE_URL', 'CELERY_RESULT_BACKEND')


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def settings(conf=None, **preconf):
    return detect_settings(conf if conf is not None else {}, preconf)


class test_Settings_access:

    def test_attribute_and_item_access(self):
        conf = settings({'task_serializer': 'pickle'})
        assert conf.task_serializer == conf['task_serializer'] == 'pickle'
        assert conf.result_serializer == 'json'  # from the defaults

    def test_attribute_write_goes_to_changes(self):
        conf = settings()
        conf.task_serializer = 'yaml'
        assert conf.changes == {'task_serializer': 'yaml'}
        assert conf.task_serializer == 'yaml'
        conf['worker_concurrency'] = 3
        assert conf.changes['worker_concurrency'] == 3

    def test_missing_attribute(self):
        conf = settings()
        with pytest.raises(AttributeError, match='no_such_thing'):
            conf.no_such_thing
        with pytest.raises(KeyError):
            conf['no_such_thing']
        assert conf.get('no_such_thing', 7) == 7

    def test_old_names_are_readable(self):
        conf = settings({'task_always_eager': True})
        assert conf.CELERY_ALWAYS_EAGER is True
        assert conf['CELERYD_CONCURRENCY'] is None
        assert 'CELERY_ALWAYS_EAGER' in conf
        assert conf.get('BROKER_POOL_LIMIT') == 10

    def test_old_names_written_under_new_name(self):
        conf = settings()
        conf.CELERY_ALWAYS_EAGER = True
        conf.update({'CELERYD_PREFETCH_MULTIPLIER': 1}, BROKER_URL='memory://')
        assert conf.changes == {'task_always_eager': True,
                                'worker_prefetch_multiplier': 1,
                                'broker_url': 'memory://'}
        assert conf.task_always_eager is True

    def test_delete(self):
        conf = settings(None, task_acks_late=True)
        del conf.task_acks_late
        assert conf.task_acks_late is False  # back to the default
        with pytest.raises(AttributeError):
            del conf.task_acks_late
        conf['task_acks_late'] = True
        del conf['CELERY_ACKS_LATE']
        assert 'task_acks_late' not in conf.changes

    def test_pop(self):
        conf = settings(None, task_acks_late=True)
        assert conf.pop('CELERY_ACKS_LATE') is True
        assert conf.pop('task_acks_late', 'gone') == 'gone'

    def test_setdefault(self):
        conf = settings()
        assert conf.setdefault('task_serializer', 'pickle') == 'json'  # defaults count
        assert conf.setdefault('my_custom', 5) == 5
        assert conf.changes == {'my_custom': 5}

    def test_first_and_get_by_parts(self):
        conf = settings({'task_default_queue': 'q'})
        assert conf.first('task_default_rate_limit', 'task_default_queue') == 'q'
        assert conf.first('nonexistent', 'task_default_rate_limit') is None
        assert conf.get_by_parts('task', 'default', 'queue') == 'q'
        assert conf.get_by_parts(None, 'task_default_queue') == 'q'

    def test_find_option_and_value(self):
        conf = settings({'task_always_eager': True})
        assert conf.find_option('always_eager').namespace == 'task'
        assert conf.find_value_for_key('always_eager') is True
        assert conf.find_value_for_key('task_always_eager') is True
        assert conf.find_value_for_key('url', 'broker') is None

    def test_layers(self):
        conf = detect_settings({'task_acks_late': True}, {'task_serializer': 'yaml'})
        assert conf.changes == {'task_serializer': 'yaml'}
        assert conf.defaults[0] == {'task_acks_late': True}
        assert conf.defaults[-1] == DEFAULTS
        assert conf.without_defaults() == {'task_acks_late': True,
                                           'task_serializer': 'yaml'}
        assert conf.value_set_for('task_acks_late')
        assert conf.value_set_for('task_serializer')
        assert not conf.value_set_for('task_track_started')

    def test_defaults_are_copied_per_settings(self):
        one, two = settings(), settings()
        one.beat_schedule['x'] = 1
        assert two.beat_schedule == {}
        assert DEFAULTS['beat_schedule'] == {}

    def test_add_defaults(self):
        conf = settings({'task_serializer': 'yaml'})

        class Extra:
            CELERY_ACKS_LATE = True
            task_serializer = 'msgpack'
            _private = 'hidden'
        conf.add_defaults(Extra)
        assert conf.task_acks_late is True
        assert conf.task_serializer == 'msgpack'  # layered over the source, like update
        assert '_private' not in conf
        conf.task_serializer = 'json'
        assert conf.task_serializer == 'json'  # changes still win

    def test_copy(self):
        conf = settings({'task_acks_late': True}, task_serializer='yaml')
        dup = conf.copy()
        dup.task_serializer = 'json'
        assert conf.task_serializer == 'yaml'
        assert dup.task_acks_late is True
        assert copy.copy(conf).changes == conf.changes

    def test_pickle_round_trip(self):
        conf = detect_settings({'CELERY_CUSTOM': 1}, {'task_serializer': 'yaml'},
                               prefix='CELERY')
        restored = pickle.loads(pickle.dumps(conf))
        assert isinstance(restored, Settings)
        assert restored.task_serializer == 'yaml'
        assert restored.custom == 1
        assert restored.prefix == 'CELERY_'
        assert copy.deepcopy(conf).task_serializer == 'yaml'

    def test_plain_construction(self):
        conf = Settings({'a': 1}, {'a': 0, 'b': 2})
        assert (conf.a, conf.b) == (1, 2)
        assert Settings(defaults=[{'b': 2}]).b == 2
        assert Settings().changes == {}

    def test_dir_lists_settings(self):
        assert 'task_always_eager' in dir(settings())

    def test_repr_is_short(self):
        assert repr(settings(None, task_acks_late=True)) == '<Settings: 1 set, 3 layers>'


class test_Settings_fallbacks:

    def test_broker_url_env_first(self, monkeypatch):
        conf = settings({'broker_url': 'amqp://conf//'})
        assert conf.broker_url == 'amqp://conf//'
        monkeypatch.setenv('CELERY_BROKER_URL', 'redis://env/1')
        assert conf.broker_url == 'redis://env/1'
        assert conf['broker_url'] == 'amqp://conf//'  # the raw setting

    def test_broker_url_falls_back_to_broker_host(self):
        assert settings({'BROKER_HOST': 'rabbit'}).broker_url == 'rabbit'
        assert settings().broker_url is None

    def test_read_and_write_urls(self, monkeypatch):
        conf = settings({'broker_url': 'amqp://main//'})
        assert conf.broker_read_url == conf.broker_write_url == 'amqp://main//'
        conf.broker_read_url = 'amqp://read//'
        assert conf.broker_read_url == 'amqp://read//'
        assert conf.broker_write_url == 'amqp://main//'
        monkeypatch.setenv('CELERY_BROKER_WRITE_URL', 'amqp://envwrite//')
        assert conf.broker_write_url == 'amqp://envwrite//'
        monkeypatch.setenv('CELERY_BROKER_URL', 'amqp://env//')
        assert conf.broker_read_url == 'amqp://read//'  # explicit read url wins
        monkeypatch.setenv('CELERY_BROKER_READ_URL', 'amqp://envread//')
        assert conf.broker_read_url == 'amqp://envread//'

    def test_result_backend_env_first(self, monkeypatch):
        conf = settings({'CELERY_RESULT_BACKEND': 'redis://'})
        assert conf.result_backend == 'redis://'
        monkeypatch.setenv('CELERY_RESULT_BACKEND', 'rpc://')
        assert conf.result_backend == 'rpc://'

    def test_default_exchange_and_routing_key_follow_queue(self):
        conf = settings({'task_default_queue': 'work'})
        assert conf.task_default_exchange == 'work'
        assert conf.task_default_routing_key == 'work'
        conf.task_default_exchange = 'ex'
        conf.task_default_routing_key = 'rk'
        assert (conf.task_default_exchange, conf.task_default_routing_key) == ('ex', 'rk')

    def test_timezone(self):
        assert settings().timezone is None
        assert settings({'TIME_ZONE': 'Europe/Oslo'}).timezone == 'Europe/Oslo'
        assert settings({'timezone': 'UTC', 'TIME_ZONE': 'Europe/Oslo'}).timezone == 'UTC'


class test_detect_settings:

    def test_new_names(self):
        conf = detect_settings({'broker_url': 'memory://', 'my_setting': 42})
        assert conf.broker_url == 'memory://'
        assert conf.my_setting == 42  # unknown keys are kept
        assert conf.deprecated_settings == set()

    def test_old_names_converted(self):
        # Given a configuration in the pre-4.0 style
        conf = detect_settings({'CELERY_ALWAYS_EAGER': True,
                                'CELERYD_CONCURRENCY': 3,
                                'CELERY_TASK_RESULT_EXPIRES': 60,
                                'CUSTOM': 'x'})
        # Then the user layer is keyed by the new names
        assert conf.defaults[0] == {'task_always_eager': True,
                                    'worker_concurrency': 3,
                                    'result_expires': 60, 'CUSTOM': 'x'}
        assert conf.task_always_eager is True
        assert conf.deprecated_settings == {'CELERY_ALWAYS_EAGER', 'CELERYD_CONCURRENCY',
                                            'CELERY_TASK_RESULT_EXPIRES'}

    def test_preconf_overrides_conf(self):
        conf = detect_settings({'CELERY_TASK_SERIALIZER': 'json', 'BROKER_URL': 'a://'},
                               {'task_serializer': 'yaml', 'CELERY_ACKS_LATE': True})
        assert conf.task_serializer == 'yaml'
        assert conf.changes == {'task_serializer': 'yaml', 'task_acks_late': True}
        assert conf.broker_url == 'a://'

    def test_mixing_old_into_new_is_an_error(self):
        with pytest.raises(ImproperlyConfigured) as excinfo:
            detect_settings({'broker_url': 'x', 'task_serializer': 'json',
                             'CELERY_ALWAYS_EAGER': True, 'CELERYD_CONCURRENCY': 2})
        message = str(excinfo.value)
        assert 'Cannot mix' in message
        assert 'CELERY_ALWAYS_EAGER' in message and 'task_always_eager' in message
        assert 'CELERYD_CONCURRENCY' in message and 'worker_concurrency' in message
        assert 'broker_url' not in message
        assert 'celery upgrade settings' in message

    def test_mixing_new_into_old_is_an_error(self):
        with pytest.raises(ImproperlyConfigured) as excinfo:
            detect_settings({'BROKER_URL': 'x', 'CELERY_TASK_SERIALIZER': 'json',
                             'task_always_eager': True})
        message = str(excinfo.value)
        assert 'old upper-case names' in message
        assert 'task_always_eager' in message and 'CELERY_ALWAYS_EAGER' in message
        assert 'BROKER_URL' not in message

    def test_same_setting_under_both_names_is_allowed(self):
        conf = detect_settings({'result_expires': 10, 'task_acks_late': True,
                                'CELERY_TASK_RESULT_EXPIRES': 20})
        assert conf.result_expires == 10  # the majority style wins

    def test_old_style_wins_in_old_configuration(self):
        conf = detect_settings({'CELERY_ACKS_LATE': True, 'BROKER_URL': 'x',
                                'task_acks_late': False})
        assert conf.task_acks_late is True

    def test_conf_none_uses_preconf_and_ignore_keys(self):
        # The app set broker_url itself; the user only gave old names.
        conf = detect_settings(None, {'broker_url': 'memory://', 'CELERY_ACKS_LATE': True},
                               ignore_keys={'broker_url'})
        assert conf.task_acks_late is True
        assert conf.broker_url == 'memory://'
        with pytest.raises(ImproperlyConfigured):
            detect_settings(None, {'broker_url': 'memory://', 'CELERY_ACKS_LATE': True})

    def test_namespace(self):
        # Given Django settings read with namespace='CELERY'
        django = {'CELERY_BROKER_URL': 'redis://', 'CELERY_TASK_ALWAYS_EAGER': True,
                  'CELERY_WORKER_CONCURRENCY': 4, 'CELERY_MY_OPTION': 'mine',
                  'BROKER_URL': 'ignored://', 'CELERY_ACKS_LATE': True,
                  'INSTALLED_APPS': ['x'], 'DEBUG': True}
        conf = detect_settings(django, prefix='CELERY')
        # Then the namespaced keys are the settings
        assert conf.broker_url == 'redis://'
        assert conf.task_always_eager is True
        assert conf.worker_concurrency == 4
        # old names still work, but lose to namespaced ones
        assert conf.task_acks_late is True
        assert conf.deprecated_settings == {'BROKER_URL', 'CELERY_ACKS_LATE'}
        # custom namespaced keys are reachable by their short name too
        assert conf.my_option == conf.CELERY_MY_OPTION == 'mine'
        assert conf.DEBUG is True
        assert conf.prefix == 'CELERY_'

    def test_namespace_allows_any_style(self):
        conf = detect_settings({'CELERY_BROKER_URL': 'a://', 'task_serializer': 'yaml',
                                'CELERY_ALWAYS_EAGER': True}, prefix='CELERY_')
        assert (conf.broker_url, conf.task_serializer, conf.task_always_eager) == (
            'a://', 'yaml', True)

    def test_lowercase_namespace(self):
        conf = detect_settings({'celery_broker_url': 'a://', 'celery_custom': 1},
                               prefix='celery')
        assert conf.broker_url == 'a://'
        assert conf.custom == 1

    def test_namespaced_writes(self):
        conf = detect_settings({}, prefix='CELERY')
        conf.update(CELERY_TASK_ACKS_LATE=True)
        assert conf.changes == {'task_acks_late': True}

    def test_custom_key_sets(self):
        # all_keys/old_keys only change how the style is told.
        conf = detect_settings({'a': 1, 'B': 2}, all_keys={'a'}, old_keys=set())
        assert (conf.a, conf.B) == (1, 2)
        with pytest.raises(ImproperlyConfigured):
            detect_settings({'a': 1, 'b': 1, 'CELERY_ACKS_LATE': 1}, all_keys={'a', 'b'})

    def test_works_with_any_mapping(self):
        class Config(dict):
            pass
        conf = detect_settings(Config(CELERY_ALWAYS_EAGER=True))
        assert conf.task_always_eager is True

    def test_maybe_warn_deprecated_settings(self, recwarn):
        assert detect_settings({'broker_url': 'x'}).maybe_warn_deprecated_settings() is False
        assert not recwarn.list
        conf = detect_settings({'CELERY_ALWAYS_EAGER': True})
        with pytest.warns(CPendingDeprecationWarning, match="'CELERY_ALWAYS_EAGER'.*"
                                                            "'task_always_eager'"):
            assert conf.maybe_warn_deprecated_settings() is True


class test_censoring:

    def test_secret_keys_are_masked(self):
        out = filter_hidden_settings({
            'broker_password': 'p', 'security_key': 'k', 's3_secret_access_key': 's',
            'some_api_token': 't', 'database_url': 'postgresql://u:p@h/db',
            'task_serializer': 'json', 'worker_concurrency': 2,
        })
        assert out == {
            'broker_password': '********', 'security_key': '********',
            's3_secret_access_key': '********', 'some_api_token': '********',
            'database_url': '********', 'task_serializer': 'json',
            'worker_concurrency': 2,
        }

    def test_url_passwords_are_masked(self):
        out = filter_hidden_settings({
            'broker_url': 'amqp://guest:secret@localhost:5672//',
            'result_backend': 'db+postgresql://scott:tiger@db/app',
            'broker_read_url': 'redis://:pw@a:6379/0;redis://:pw2@b:6379/0',
            'broker_write_url': ['amqp://u:pw@a//', 'amqp://b//'],
            'other': 'redis://localhost:6379/0',
            'nopw': 'amqp://guest@host//',
            'slash': 'amqp://u:p/w@host//',
            'sqlite': 'db+sqlite:///results.db',
        })
        assert out == {
            'broker_url': 'amqp://guest:********@localhost:5672//',
            'result_backend': 'db+postgresql://scott:********@db/app',
            'broker_read_url': 'redis://:********@a:6379/0;redis://:********@b:6379/0',
            'broker_write_url': ['amqp://u:********@a//', 'amqp://b//'],
            'other': 'redis://localhost:6379/0',
            'nopw': 'amqp://guest@host//',
            'slash': 'amqp://u:********@host//',
            'sqlite': 'db+sqlite:///results.db',
        }

    def test_nested_mappings_are_filtered(self):
        out = filter_hidden_settings({'broker_transport_options': {
            'sentinel_kwargs': {'password': 'x'}, 'visibility_timeout': 10}})
        assert out == {'broker_transport_options': {
            'sentinel_kwargs': {'password': '********'}, 'visibility_timeout': 10}}

    def test_table(self):
        conf = settings({'redis_password': 'pw', 'task_acks_late': True, '_private': 1})
        assert conf.table() == {'redis_password': '********', 'task_acks_late': True}
        assert conf.table(censored=False)['redis_password'] == 'pw'
        full = conf.table(with_defaults=True)
        assert full['task_serializer'] == 'json'
        assert full['redis_password'] == '********'

    def test_humanize(self):
        conf = settings({'broker_url': 'amqp://u:pw@h//', 'task_acks_late': True,
                         'beat_schedule': {f'entry-{i}': {'task': 'proj.tasks.add',
                                                          'schedule': 30.0}
                                           for i in range(3)}})
        text = conf.humanize()
        lines = text.splitlines()
        assert "broker_url: 'amqp://u:********@h//'" in lines
        assert 'task_acks_late: True' in lines
        # long containers go on indented lines of their own
        assert 'beat_schedule: ' in lines
        assert lines[lines.index('beat_schedule: ') + 1].startswith("    {'entry-0'")
        assert 'pw@' not in text
        assert 'task_serializer' not in text
        assert "task_serializer: 'json'" in conf.humanize(with_defaults=True).splitlines()
        assert 'pw@' in conf.humanize(censored=False)


class test_app_helpers:

    def test_appstr(self, app):
        assert appstr(app) == f't.unit:{id(app):#x}'
        app.main = None
        assert appstr(app).startswith('__main__:0x')

    def test_bugreport(self, app):
        app.conf.redis_password = 'hunter2'
        report = bugreport(app)
        assert 'software -> celery:' in report
        assert 'kombu:' in report and 'billiard:' in report
        assert 'platform -> system:' in report
        assert 'loader   -> celery.loaders.' in report
        assert 'settings -> transport:memory results:cache+memory://' in report
        assert "redis_password: '********'" in report
        assert 'hunter2' not in report

    def test_bugreport_survives_broken_broker(self, app):
        app.conf.broker_url = 'nosuchtransport://'
        report = bugreport(app)
        assert 'settings -> transport: results:' in report

    def test_unpickle_app_v2(self):
        class FakeApp:
            def __init__(self, **kwargs):
                self.kwargs = kwargs
        app = _unpickle_app_v2(FakeApp, {'main': 'proj', 'set_as_current': True})
        assert app.kwargs == {'main': 'proj', 'set_as_current': False}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A writable import root; yields a function that writes a module."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def write(relpath, source):
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        created.append(relpath.split('/')[0].removesuffix('.py'))
        return path
    yield write
    for name in list(sys.modules):
        if name.split('.')[0] in created:
            del sys.modules[name]


def unique(name):
    return f'{name}_{uuid.uuid4().hex[:8]}'


APP_SOURCE = """
from celery import Celery
{name} = Celery('proj', set_as_current=False)
"""


class test_find_app:

    @pytest.mark.parametrize('attr', ['app', 'celery'])
    def test_module_with_app_or_celery_attribute(self, project, attr):
        mod = unique('proj')
        project(f'{mod}.py', APP_SOURCE.format(name=attr))
        found = find_app(mod)
        assert found is sys.modules[mod].__dict__[attr]

    def test_explicit_attribute(self, project):
        mod = unique('proj')
        project(f'{mod}.py', APP_SOURCE.format(name='my_app'))
        assert find_app(f'{mod}:my_app') is sys.modules[mod].my_app
        assert find_app(f'{mod}.my_app') is sys.modules[mod].my_app

    def test_package_with_celery_module(self, project):
        pkg = unique('proj')
        project(f'{pkg}/__init__.py', '')
        project(f'{pkg}/celery.py', APP_SOURCE.format(name='app'))
        assert find_app(pkg) is sys.modules[f'{pkg}.celery'].app
        assert find_app(f'{pkg}.celery') is sys.modules[f'{pkg}.celery'].app

    def test_package_importing_its_celery_module(self, project):
        # The Django layout: proj/__init__.py does `from .celery import app as celery_app`.
        pkg = unique('proj')
        project(f'{pkg}/__init__.py', 'from .celery import app as celery_app\n')
        project(f'{pkg}/celery.py', APP_SOURCE.format(name='app'))
        assert find_app(pkg) is sys.modules[f'{pkg}.celery'].app

    def test_any_app_in_module(self, project):
        mod = unique('proj')
        project(f'{mod}.py', APP_SOURCE.format(name='whatever'))
        assert find_app(mod) is sys.modules[mod].whatever

    def test_module_without_app(self, project):
        mod = unique('proj')
        project(f'{mod}.py', 'x = 1\n')
        with pytest.raises(AttributeError, match=f"{mod}.*'app' or 'celery'"):
            find_app(mod)

    def test_missing_module(self):
        name = unique('nosuchmodule')
        with pytest.raises(ModuleNotFoundError) as excinfo:
            find_app(name)
        assert excinfo.value.name == name

    def test_missing_attribute_with_colon(self, project):
        mod = unique('proj')
        project(f'{mod}.py', 'x = 1\n')
        with pytest.raises(AttributeError, match='nope'):
            find_app(f'{mod}:nope')

    def test_custom_resolvers(self):
        sentinel = object()
        calls = []

        def fake_symbol_by_name(name, imp=None):
            calls.append((name, imp))
            return sentinel
        assert find_app('x:y', symbol_by_name=fake_symbol_by_name, imp=len) is sentinel
        assert calls == [('x:y', len)]


def test_result_expires_default_is_timedelta():
    assert settings().result_expires == timedelta(days=1)

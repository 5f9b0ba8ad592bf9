"""Tests for celery.app.defaults: the settings table and its derived maps."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from celery.app import defaults
from celery.app.defaults import (_OLD_SETTING_KEYS, _TO_NEW_KEY, _TO_OLD_KEY,
                                 DEFAULT_PROCESS_LOG_FMT, DEFAULT_TASK_LOG_FMT,
                                 DEFAULTS, NAMESPACES, SETTING_KEYS, Option,
                                 find, find_deprecated_settings, flatten,
                                 searchresult)
from celery.exceptions import CPendingDeprecationWarning

CONFIGURATION_RST = Path('/work/shared/reference/celery-docs/userguide__configuration.rst')


class test_Option:

    @pytest.mark.parametrize('value,expected', [
        ('true', True), ('Yes', True), ('1', True), ('on', True), (True, True), (1, True),
        ('false', False), ('NO', False), ('0', False), ('off', False), (False, False), (0, False),
    ])
    def test_bool(self, value, expected):
        assert Option(type='bool').to_python(value) is expected

    @pytest.mark.parametrize('value', ['maybe', '2', 2, None])
    def test_bool_rejects_nonsense(self, value):
        with pytest.raises(ValueError, match='not a boolean'):
            Option(type='bool').to_python(value)

    def test_int_float_string(self):
        assert Option(type='int').to_python('42') == 42
        assert Option(type='float').to_python('0.5') == 0.5
        assert Option(type='float').to_python('inf') == float('inf')
        assert Option(type='string').to_python(3) == '3'
        assert Option().to_python('x') == 'x'  # string is the default type

    def test_int_rejects_garbage(self):
        with pytest.raises(ValueError):
            Option(type='int').to_python('four')

    def test_dict(self):
        opt = Option(type='dict')
        assert opt.to_python("{'a': 1, 'b': [2]}") == {'a': 1, 'b': [2]}
        assert opt.to_python('{"a": true, "b": null}') == {'a': True, 'b': None}
        assert opt.to_python({'x': 1}) == {'x': 1}
        assert opt.to_python('') == {}

    @pytest.mark.parametrize('value', ['[1, 2]', 'not a dict', '{broken'])
    def test_dict_rejects_non_mappings(self, value):
        with pytest.raises(ValueError):
            Option(type='dict').to_python(value)

    def test_dict_does_not_evaluate_code(self):
        with pytest.raises(ValueError):
            Option(type='dict').to_python("__import__('os').getcwd()")

    def test_list_and_tuple(self):
        assert Option(type='list').to_python('json, pickle ,') == ['json', 'pickle']
        assert Option(type='list').to_python("['json', 'yaml']") == ['json', 'yaml']
        assert Option(type='tuple').to_python('proj.tasks,proj.other') == (
            'proj.tasks', 'proj.other')
        assert Option(type='tuple').to_python("('a',)") == ('a',)
        assert Option(type='tuple').to_python(['a', 'b']) == ('a', 'b')
        assert Option(type='list').to_python('') == []

    def test_list_rejects_mapping(self):
        with pytest.raises(ValueError):
            Option(type='list').to_python({'a': 1})

    def test_bytes_and_any(self):
        assert Option(type='bytes').to_python('pw') == b'pw'
        sentinel = object()
        assert Option(type='any').to_python(sentinel) is sentinel

    def test_unknown_type_fails_early(self):
        with pytest.raises(ValueError, match='unknown option type'):
            Option(type='complex')

    def test_attributes(self):
        opt = Option(5, type='int', old={'b_{0}', 'a_{0}'}, deprecate_by='5.0',
                     remove_by='6.0', alt='other', extra='kept')
        assert opt.default == 5
        assert opt.old == ('a_{0}', 'b_{0}')  # sets are ordered for determinism
        assert (opt.deprecate_by, opt.remove_by, opt.alt, opt.extra) == (
            '5.0', '6.0', 'other', 'kept')
        assert repr(opt) == '<Option: type->int default->5>'


class test_tables:

    def test_documented_settings_all_exist(self):
        # Given every setting documented in configuration.rst
        documented = set(re.findall(r'^\.\. setting:: (\S+)$',
                                    CONFIGURATION_RST.read_text(), re.M))
        # Then each has a default here
        assert documented
        assert documented - SETTING_KEYS == set()

    @pytest.mark.parametrize('name,default', [
        ('accept_content', ('json',)),
        ('result_accept_content', None),
        ('enable_utc', True),
        ('timezone', None),
        ('imports', ()),
        ('broker_url', None),
        ('broker_connection_timeout', 4),
        ('broker_connection_retry', True),
        ('broker_connection_max_retries', 100),
        ('broker_heartbeat', 120),
        ('broker_pool_limit', 10),
        ('broker_native_delayed_delivery_queue_type', 'quorum'),
        ('broker_transport_options', {}),
        ('result_backend', None),
        ('result_expires', timedelta(days=1)),
        ('result_serializer', 'json'),
        ('result_cache_max', -1),
        ('result_chord_join_timeout', 3.0),
        ('result_backend_max_retries', float('inf')),
        ('result_backend_max_sleep_between_retries_ms', 10000),
        ('result_backend_base_sleep_between_retries_ms', 10),
        ('result_extended', False),
        ('database_engine_options', {'pool_pre_ping': True, 'pool_recycle': 3600}),
        ('database_create_tables_at_setup', True),
        ('control_queue_ttl', 300.0),
        ('control_queue_expires', 10.0),
        ('control_exchange', 'celery'),
        ('event_queue_ttl', 5.0),
        ('event_queue_expires', 60.0),
        ('event_queue_prefix', 'celeryev'),
        ('event_exchange', 'celeryev'),
        ('event_serializer', 'json'),
        ('beat_schedule', {}),
        ('beat_scheduler', 'celery.beat:PersistentScheduler'),
        ('beat_schedule_filename', 'celerybeat-schedule'),
        ('beat_sync_every', 0),
        ('beat_max_loop_interval', 0),
        ('task_serializer', 'json'),
        ('task_protocol', 2),
        ('task_acks_late', False),
        ('task_acks_on_failure_or_timeout', True),
        ('task_acks_on_failure', None),
        ('task_default_queue', 'celery'),
        ('task_default_exchange', None),
        ('task_default_exchange_type', 'direct'),
        ('task_default_routing_key', None),
        ('task_default_queue_type', 'classic'),
        ('task_create_missing_queues', True),
        ('task_create_missing_queue_type', 'classic'),
        ('task_publish_retry', True),
        ('task_publish_retry_policy', {'max_retries': 3, 'interval_start': 0,
                                       'interval_max': 1, 'interval_step': 0.2}),
        ('task_time_limit', None),
        ('worker_prefetch_multiplier', 4),
        ('worker_pool', 'prefork'),
        ('worker_concurrency', None),
        ('worker_lost_wait', 10.0),
        ('worker_proc_alive_timeout', 4.0),
        ('worker_timer_precision', 1.0),
        ('worker_enable_remote_control', True),
        ('worker_redirect_stdouts_level', 'WARNING'),
        ('worker_autoscaler', 'celery.worker.autoscale:Autoscaler'),
        ('worker_consumer', 'celery.worker.consumer:Consumer'),
        ('worker_soft_shutdown_timeout', 0.0),
        ('worker_detect_quorum_queues', True),
        ('security_digest', 'sha256'),
        ('redis_socket_timeout', 120.0),
        ('cassandra_port', 9042),
        ('azureblockblob_container_name', 'celery'),
        ('cosmosdbsql_database_name', 'celerydb'),
    ])
    def test_default(self, name, default):
        assert DEFAULTS[name] == default

    def test_log_formats(self):
        assert DEFAULTS['worker_log_format'] == DEFAULT_PROCESS_LOG_FMT == (
            '[%(asctime)s: %(levelname)s/%(processName)s] %(message)s')
        assert DEFAULTS['worker_task_log_format'] == DEFAULT_TASK_LOG_FMT == (
            '[%(asctime)s: %(levelname)s/%(processName)s] '
            '%(task_name)s[%(task_id)s]: %(message)s')

    def test_nested_layout(self):
        assert NAMESPACES['broker']['url'].default is None
        assert NAMESPACES['task']['always_eager'].type == 'bool'
        assert isinstance(NAMESPACES['accept_content'], Option)

    def test_flatten(self):
        flat = dict(flatten(NAMESPACES))
        assert flat['broker_url'] is NAMESPACES['broker']['url']
        assert set(flat) == SETTING_KEYS
        assert [k for k, _ in flatten({'a': {'b': Option(1)}}, root='x_')] == ['x_a_b']

    def test_flatten_keyfilter(self):
        seen = list(flatten({'ns': {'k': Option(1)}},
                            keyfilter=lambda ns, key, opt: [(ns, key)]))
        assert seen == [('ns_', 'k')]

    @pytest.mark.parametrize('old,new', [
        ('CELERY_ALWAYS_EAGER', 'task_always_eager'),
        ('CELERY_TASK_ALWAYS_EAGER', 'task_always_eager'),
        ('BROKER_URL', 'broker_url'),
        ('BROKER_HOST', 'broker_host'),
        ('CELERY_RESULT_BACKEND', 'result_backend'),
        ('CELERY_TASK_RESULT_EXPIRES', 'result_expires'),
        ('CELERY_MAX_CACHED_RESULTS', 'result_cache_max'),
        ('CELERYD_CONCURRENCY', 'worker_concurrency'),
        ('CELERYD_TASK_TIME_LIMIT', 'task_time_limit'),
        ('CELERYD_TIME_LIMIT', 'task_time_limit'),
        ('CELERY_SEND_EVENTS', 'worker_send_task_events'),
        ('CELERYBEAT_SCHEDULE', 'beat_schedule'),
        ('CELERY_EVENT_QUEUE_TTL', 'event_queue_ttl'),
        ('CELERY_REDIS_HOST', 'redis_host'),
        ('CELERY_RESULT_DBURI', 'database_url'),
        ('CELERY_RESULT_DB_TABLENAMES', 'database_table_names'),
        ('CASSANDRA_COLUMN_FAMILY', 'cassandra_table'),
        ('CELERY_SECURITY_KEY', 'security_key'),
        ('CELERY_ENABLE_UTC', 'enable_utc'),
        ('CELERY_TIMEZONE', 'timezone'),
        ('CELERY_MESSAGE_COMPRESSION', 'task_compression'),
        ('CELERY_EAGER_PROPAGATES_EXCEPTIONS', 'task_eager_propagates'),
    ])
    def test_old_names(self, old, new):
        assert _TO_NEW_KEY[old] == new
        assert old in _OLD_SETTING_KEYS

    def test_canonical_old_name(self):
        assert _TO_OLD_KEY['task_always_eager'] == 'CELERY_ALWAYS_EAGER'
        assert _TO_OLD_KEY['task_time_limit'] == 'CELERYD_TASK_TIME_LIMIT'
        assert _TO_OLD_KEY['broker_url'] == 'BROKER_URL'
        assert set(_TO_OLD_KEY) == SETTING_KEYS

    def test_old_names_are_unambiguous_with_namespace(self):
        # 'CELERY_' + NEW_NAME (Django namespace style) never is the old
        # name of a different setting.
        for new in SETTING_KEYS:
            namespaced = f'CELERY_{new.upper()}'
            assert _TO_NEW_KEY.get(namespaced, new) == new

    def test_documented_renames(self):
        # Every row of the old-name table in configuration.rst is understood
        # (one row is a documentation slip, see test below).
        text = CONFIGURATION_RST.read_text()
        rows = re.findall(r'^``([A-Z_]+)``\s*:setting:`(\w+)`', text, re.M)
        assert len(rows) > 100
        wrong = {old: (new, _TO_NEW_KEY.get(old)) for old, new in rows
                 if _TO_NEW_KEY.get(old) != new}
        assert wrong == {
            'CELERY_MESSAGE_COMPRESSION': ('result_compression', 'task_compression'),
            'CELERY_RESULT_DB_TABLE_NAMES': ('database_db_names', 'database_table_names'),
        }


class test_find:

    def test_short_name(self):
        assert find('always_eager') == searchresult(
            'task', 'always_eager', NAMESPACES['task']['always_eager'])

    def test_full_name(self):
        found = find('task_always_eager')
        assert found.namespace is None
        assert found.key == 'task_always_eager'
        assert found.type is NAMESPACES['task']['always_eager']

    def test_case_insensitive(self):
        assert find('BROKER_URL').type is NAMESPACES['broker']['url']

    def test_namespace_preferred(self):
        assert find('url', 'database').namespace == 'database'
        assert find('url', 'broker').namespace == 'broker'

    def test_top_level_option_and_namespace(self):
        assert find('timezone') == searchresult(None, 'timezone', NAMESPACES['timezone'])
        assert find('worker') == searchresult(None, 'worker', NAMESPACES['worker'])

    def test_missing(self):
        with pytest.raises(KeyError):
            find('no_such_setting_anywhere')


class test_find_deprecated_settings:

    def test_warns_for_set_deprecated_option(self, monkeypatch):
        monkeypatch.setitem(defaults._OPTIONS, 'old_thing',
                            Option(None, deprecate_by='5.0', remove_by='6.0', alt='new_thing'))

        class Source:
            old_thing = 'set'
        with pytest.warns(CPendingDeprecationWarning, match="'old_thing'.*new_thing"):
            assert find_deprecated_settings(Source) is Source

    def test_silent_without_deprecated_options(self, recwarn):
        class Source:
            broker_url = 'memory://'
        find_deprecated_settings(Source)
        assert not recwarn.list

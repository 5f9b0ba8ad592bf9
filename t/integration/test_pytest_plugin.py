"""Test suites written as the testing guide shows them, run by pytest with our plugin.

Each suite is a separate pytest run (pytester, in a subprocess) that uses only
the plugin's fixtures, exactly as ``userguide/testing`` documents them: the
``celery_app`` + ``celery_worker`` example, ``celery_config`` in a
``conftest.py``, the ``celery`` mark, the session worker, ``celery_includes``,
``celery_worker_pool`` and ``celery_worker_parameters``.
"""
from __future__ import annotations

import textwrap
import uuid

import pytest

pytest_plugins = ['pytester']
pytestmark = pytest.mark.integration


def run(pytester, conftest: str, **files: str):
    pytester.makeconftest(textwrap.dedent(conftest))
    for name, source in files.items():
        pytester.makepyfile(**{name: textwrap.dedent(source)})
    return pytester.runpytest_subprocess('-p', 'no:cacheprovider', '-v')


def test_guide_function_scope_example(pytester):
    # Given the guide's first example, with the default (in-memory) test config
    result = run(pytester, '', test_guide='''
        def test_create_task(celery_app, celery_worker):
            @celery_app.task
            def mul(x, y):
                return x * y

            celery_worker.reload()
            assert mul.delay(4, 4).get(timeout=10) == 16
    ''')
    # Then it passes against our package
    result.assert_outcomes(passed=1)


def test_guide_config_mark_and_parameters(pytester, redis_url):
    queue = f'plugin.{uuid.uuid4().hex}'
    result = run(pytester, f'''
        import pytest

        # Put this in your conftest.py
        @pytest.fixture(scope='session')
        def celery_config():
            return {{
                'broker_url': {redis_url!r},
                'result_backend': {redis_url!r},
                'task_default_queue': {queue!r},
            }}

        @pytest.fixture(scope="session")
        def celery_worker_parameters():
            return {{"without_heartbeat": False, "shutdown_timeout": 10}}
    ''', tasks_mod='''
        from celery import shared_task

        @shared_task
        def mytask():
            return 'done'
    ''', test_guide='''
        import pytest
        from tasks_mod import mytask


        def test_add(celery_worker):
            assert mytask.delay().get(timeout=10) == 'done'


        # If you wish to override some setting in one test cases
        # only - you can use the ``celery`` mark:
        @pytest.mark.celery(result_backend='rpc')
        def test_other(celery_app, celery_worker):
            assert celery_app.conf.result_backend == 'rpc'
            assert mytask.delay().get(timeout=10) == 'done'
    ''')
    result.assert_outcomes(passed=2)


def test_guide_session_worker(pytester, amqp_url):
    queue = f'plugin.{uuid.uuid4().hex}'
    result = run(pytester, f'''
        import pytest

        # Add this to your conftest.py
        @pytest.fixture(scope='session')
        def celery_config():
            return {{
                'broker_url': {amqp_url!r},
                'result_backend': 'rpc',
                'task_default_queue': {queue!r},
            }}

        @pytest.fixture(scope='session')
        def celery_includes():
            return ['proj_tasks', 'proj_signals']

        @pytest.fixture(scope='session')
        def celery_enable_logging():
            return True
    ''', proj_tasks='''
        from celery import shared_task

        @shared_task
        def add(x, y):
            return x + y
    ''', proj_signals='''
        from celery.signals import task_prerun

        SEEN = []

        @task_prerun.connect
        def remember(sender=None, task_id=None, **kwargs):
            SEEN.append(task_id)
    ''', test_guide='''
        from proj_tasks import add


        # Do this in your tests.
        def test_add_task(celery_session_worker):
            assert add.delay(2, 2).get() == 4


        def test_includes_were_imported(celery_session_worker):
            import proj_signals
            result = add.delay(1, 1)
            assert result.get(timeout=10) == 2
            assert result.id in proj_signals.SEEN
    ''')
    result.assert_outcomes(passed=2)


def test_guide_pool_and_queues(pytester):
    result = run(pytester, '''
        import pytest

        @pytest.fixture(scope='session')
        def celery_worker_pool():
            return 'threads'

        @pytest.fixture(scope='session')
        def celery_worker_parameters():
            return {
                'queues': ('high-prio', 'low-prio'),
                'exclude_queues': ('celery'),
                # celery.ping goes to the excluded default queue
                'perform_ping_check': False,
            }
    ''', test_guide='''
        def test_queues(celery_app, celery_worker):
            @celery_app.task
            def hello():
                return 'hi'

            celery_worker.reload()
            assert hello.apply_async(queue='low-prio').get(timeout=10) == 'hi'
    ''')
    result.assert_outcomes(passed=1)


def test_guide_class_tasks(pytester):
    result = run(pytester, '''
        import pytest
        from celery import Task

        class Square(Task):
            name = 'proj.square'

            def run(self, x):
                return x * x

        @pytest.fixture(scope='session')
        def celery_class_tasks():
            return [Square]
    ''', test_guide='''
        def test_class_task(celery_session_app, celery_session_worker):
            assert celery_session_app.send_task('proj.square', (7,)).get(timeout=10) == 49
    ''')
    result.assert_outcomes(passed=1)

"""The documentation's examples run and print what the pages say they print.

Every Python example of the tutorial and the user guide is a file under
``docs/examples/`` that the pages pull in with ``literalinclude``, so the code
run here is the code readers see. Expected output is written in the example
itself, as ``# -> text`` comments, one per printed line, in order.

Examples that only call tasks run with ``task_always_eager`` forced on (the
test swaps ``celery.Celery`` for a subclass that sets it); the ones about
workers run against a real embedded worker on the in-memory broker, and the
tutorial once more against the file-system broker and SQLite, as written.
"""
from __future__ import annotations

import logging
import os
import re
import runpy
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

import celery
import celery.exceptions
from celery import _state
from celery.app.base import Celery

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / 'docs'
EXAMPLES = DOCS / 'examples'

#: Module names the examples import from their own folder; two folders both
#: have a ``celeryconfig``, so they are dropped from sys.modules around each run.
EXAMPLE_MODULES = ('tasks', 'celeryconfig', 'oldconfig', 'mixedconfig', 'orders',
                   'workers_app', 'redis_app')

_EXPECTED = re.compile(r'#\s*->\s?(.*)$')


def expected_output(path: Path) -> list[str]:
    """The ``# -> text`` markers of an example, in order."""
    return [match.group(1).rstrip()
            for line in path.read_text(encoding='utf-8').splitlines()
            if (match := _EXPECTED.search(line))]


def printed(capsys: pytest.CaptureFixture) -> list[str]:
    return [line.rstrip() for line in capsys.readouterr().out.splitlines()]


def _forget_example_modules() -> None:
    for name in EXAMPLE_MODULES:
        sys.modules.pop(name, None)


PACKAGE = Path(celery.__file__).resolve().parent


def _source_files(callback: Any) -> set[Path]:
    """Files defining ``callback`` and the functions it closes over."""
    functions = [callback, *(cell.cell_contents for cell in callback.__closure__ or ()
                             if callable(cell.cell_contents))]
    return {Path(function.__code__.co_filename).resolve()
            for function in functions if hasattr(function, '__code__')}


def _defined_under(callback: Any, folder: Path) -> bool:
    return any(path.is_relative_to(folder) for path in _source_files(callback))


def _foreign(callback: Any) -> bool:
    """A finalizer adding tasks defined outside the package (another test's shared task)."""
    return any(not path.is_relative_to(PACKAGE) for path in _source_files(callback))


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list]:
    """Run in tmp_path; restore the current app, shared tasks and sys.modules.

    Yields the list of apps created meanwhile (closed afterwards).
    """
    monkeypatch.chdir(tmp_path)
    current, default = _state._tls.current_app, _state.default_app
    finalizers = set(_state._on_app_finalizers)
    # Shared tasks that other tests defined would be added to the examples'
    # apps (and show in their task lists): set them aside meanwhile.
    others = {callback for callback in finalizers if _foreign(callback)}
    _state._on_app_finalizers.difference_update(others)
    created: list = []
    original_init = Celery.__init__

    def tracking_init(self: Celery, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(Celery, '__init__', tracking_init)
    # The database backend keeps one engine per URL for the whole process; the
    # tutorial's relative SQLite URL must open a file in this test's folder.
    from celery.backends import database
    sessions = database.SessionManager()
    monkeypatch.setattr(database, '_session_manager', sessions)
    _forget_example_modules()
    try:
        yield created
    finally:
        _forget_example_modules()
        for engine in sessions._engines.values():
            engine.dispose()
        # Shared tasks defined by the examples must not reach later apps;
        # other finalizers registered meanwhile (built-in tasks) stay.
        for callback in set(_state._on_app_finalizers) - finalizers:
            if _defined_under(callback, EXAMPLES):
                _state._on_app_finalizers.discard(callback)
        _state._on_app_finalizers.update(others)
        _state._tls.current_app, _state.default_app = current, default
        for app in created:
            app.close()


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch, isolated: list) -> list:
    """Make every app created by an example run its tasks in place."""

    class EagerCelery(Celery):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.conf.update(task_always_eager=True)

    monkeypatch.setattr(celery, 'Celery', EagerCelery)
    return isolated


def run_example(path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run an example as a script, with its folder importable."""
    monkeypatch.syspath_prepend(str(path.parent))
    return runpy.run_path(str(path), run_name='__main__')


# -- examples that run eagerly -------------------------------------------------

EAGER_EXAMPLES = [
    'first_steps/use_tasks.py',
    'userguide/application.py',
    'userguide/tasks.py',
    'userguide/canvas.py',
    'userguide/periodic_tasks.py',
    'userguide/routing.py',
]


@pytest.mark.parametrize('name', EAGER_EXAMPLES)
def test_eager_example_prints_what_the_page_says(
        name: str, eager: list, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    # Given an example with its expected output written beside it
    path = EXAMPLES / name
    expected = expected_output(path)
    assert expected, f'{name} documents no output'
    # When it runs, its apps executing tasks in place
    run_example(path, monkeypatch)
    # Then it prints exactly that
    assert printed(capsys) == expected


def test_calling_example_prints_and_sends_by_name(
        eager: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    path = EXAMPLES / 'userguide' / 'calling.py'
    with pytest.warns(celery.exceptions.AlwaysEagerIgnored):
        namespace = run_example(path, monkeypatch)
    assert printed(capsys) == expected_output(path)
    # send_task is never eager: the message waits in the 'math' queue.
    with namespace['app'].connection_for_read() as connection:
        queue = connection.SimpleQueue('math')
        message = queue.get(timeout=1)
        message.ack()
        queue.close()
    assert message.headers['task'] == 'proj.add'
    assert message.headers['id'] == namespace['pending'].id


def test_configuration_example_loads_settings_as_described(
        isolated: list, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv('CELERY_BROKER_URL', raising=False)
    monkeypatch.delenv('CELERY_RESULT_BACKEND', raising=False)
    monkeypatch.delenv('PROJ_SETTINGS', raising=False)
    path = EXAMPLES / 'configuration' / 'loading.py'
    run_example(path, monkeypatch)
    assert printed(capsys) == expected_output(path)


def test_first_steps_configuration_module_is_valid(isolated: list,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from celery.app.defaults import SETTING_KEYS
    monkeypatch.syspath_prepend(str(EXAMPLES / 'first_steps'))
    import celeryconfig
    names = {name for name in vars(celeryconfig) if not name.startswith('_')}
    assert names <= SETTING_KEYS, names - SETTING_KEYS
    app = Celery('tasks', set_as_current=False)
    app.config_from_object('celeryconfig')
    assert app.conf.result_expires == 3600
    assert app.conf.timezone == 'Europe/Oslo'


def test_redis_variant_only_changes_the_urls(isolated: list,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('CELERY_BROKER_URL', raising=False)
    monkeypatch.delenv('CELERY_RESULT_BACKEND', raising=False)
    namespace = run_example(EXAMPLES / 'first_steps' / 'redis_app.py', monkeypatch)
    app = namespace['app']
    assert app.conf.broker_url == 'redis://localhost:6379/0'
    assert app.conf.result_backend == 'redis://localhost:6379/1'


# -- examples that need a worker -----------------------------------------------

@contextmanager
def logging_restored() -> Iterator[None]:
    """Undo what a worker's logging set-up does to loggers (levels, handlers)."""
    known = logging.Logger.manager.loggerDict.values()
    loggers = [logging.getLogger(),
               *(logger for logger in known if isinstance(logger, logging.Logger))]
    saved = [(logger, logger.level, logger.propagate, logger.disabled, list(logger.handlers))
             for logger in loggers]
    try:
        yield
    finally:
        for logger, level, propagate, disabled, handlers in saved:
            logger.setLevel(level)
            logger.propagate, logger.disabled, logger.handlers[:] = propagate, disabled, handlers


@contextmanager
def embedded_worker(app: Celery, remote_control: bool = False) -> Iterator[Any]:
    """A solo worker in a thread; with ``remote_control``, wait until it answers pings."""
    from celery.contrib.testing.worker import start_worker
    app.conf.worker_hijack_root_logger = False
    with logging_restored(), start_worker(app, pool='solo', perform_ping_check=False,
                                          shutdown_timeout=10.0) as worker:
        if remote_control:
            deadline = time.monotonic() + 10
            while not app.control.ping(timeout=0.2):
                assert time.monotonic() < deadline, 'the worker never answered a ping'
        yield worker


def test_first_steps_tutorial_on_the_filesystem_broker_and_sqlite(
        isolated: list, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    # Given the tutorial's tasks.py, unchanged: broker folders and SQLite file
    # relative to the working directory (tmp_path)
    monkeypatch.delenv('CELERY_BROKER_URL', raising=False)
    monkeypatch.delenv('CELERY_RESULT_BACKEND', raising=False)
    monkeypatch.syspath_prepend(str(EXAMPLES / 'first_steps'))
    import tasks
    # Speed up the file-system transport's polling for the test only.
    tasks.app.conf.broker_transport_options['polling_interval'] = 0.05
    # When a worker runs and the tutorial's calls are made
    with embedded_worker(tasks.app):
        run_example(EXAMPLES / 'first_steps' / 'use_tasks.py', monkeypatch)
    # Then they print what the tutorial shows, and the broker kept its files
    assert printed(capsys) == expected_output(EXAMPLES / 'first_steps' / 'use_tasks.py')
    assert (tmp_path / 'results.sqlite').exists()
    assert list((tmp_path / 'broker' / 'processed').iterdir())


def test_workers_guide_remote_control(isolated: list, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / 'userguide'))
    import workers_app
    # The page's app names Redis; the test runs it on the in-memory transport,
    # polled often so that replies come within the example's timeouts.
    # Its own queue keeps the revoked ETA message, returned to the queue when
    # the worker stops, away from other tests on the same in-memory broker.
    queue = f'docs-{uuid.uuid4()}'
    app = workers_app.app
    app.conf.update(broker_url='memory://', result_backend='cache+memory://',
                    broker_transport_options={'polling_interval': 0.01},
                    task_default_queue=queue)
    with embedded_worker(app, remote_control=True):
        run_example(EXAMPLES / 'userguide' / 'workers_control.py', monkeypatch)
    with app.connection_for_write() as connection:
        connection.default_channel.queue_delete(queue)
    assert printed(capsys) == expected_output(EXAMPLES / 'userguide' / 'workers_control.py')


def test_monitoring_guide_reports_failures(isolated: list, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    # Given the page's failure watcher listening on the in-memory transport
    monkeypatch.delenv('CELERY_BROKER_URL', raising=False)
    namespace = runpy.run_path(str(EXAMPLES / 'userguide' / 'monitoring.py'))
    app = namespace['app']
    app.conf.broker_url = 'memory://'
    # Import the events package here first: a first import of it racing
    # between two threads can fail with an import-lock deadlock (reported).
    import celery.events  # noqa: F401
    errors: list = []

    def watch() -> None:
        try:
            namespace['watch_failures'](app, 1)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # When a worker reports a failure (repeated until the watcher has bound its queue)
    failed = {'uuid': 'f00d', 'exception': "ZeroDivisionError('division by zero')",
              'traceback': ''}
    deadline = time.monotonic() + 10
    with app.events.default_dispatcher(hostname='w1@example.com') as dispatcher:
        while watcher.is_alive() and time.monotonic() < deadline:
            dispatcher.send('task-failed', **failed)
            watcher.join(0.05)
    # Then the watcher prints it once and returns
    assert not errors, errors
    assert not watcher.is_alive(), 'the watcher never saw the event'
    assert printed(capsys) == [
        "task f00d failed on w1@example.com: ZeroDivisionError('division by zero')"]


def test_security_guide_signs_messages(isolated: list, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    from kombu.serialization import dumps, loads, registry
    # setup_security() changes kombu's process-wide serializer registry (it
    # disables every serializer but 'auth'); give it copies, restored after.
    for attr in ('_encoders', '_decoders', '_disabled_content_types',
                 'type_to_name', 'name_to_type'):
        monkeypatch.setattr(registry, attr, type(getattr(registry, attr))(getattr(registry, attr)))
    namespace = runpy.run_path(str(EXAMPLES / 'userguide' / 'security.py'))
    app = namespace['app']
    assert app.conf.broker_use_ssl['cert_reqs'] is not None
    key, cert = _self_signed(tmp_path)
    namespace['enable_signing'](app, str(key), str(cert), str(tmp_path / '*.pem'))
    assert app.conf.task_serializer == 'auth'
    content_type, encoding, data = dumps({'x': 1}, serializer='auth')
    assert loads(data, content_type, encoding, accept=['auth']) == {'x': 1}


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A private key and a self-signed certificate, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'worker')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_path, cert_path = folder / 'worker.key', folder / 'worker.pem'
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def test_testing_guide_example_suite_passes(tmp_path: Path) -> None:
    # The testing guide's test module, run by pytest with the celery plugin.
    folder = EXAMPLES / 'testing'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(folder), str(ROOT), os.environ.get('PYTHONPATH', '')]))
    env.pop('CELERY_BROKER_URL', None)
    env.pop('CELERY_RESULT_BACKEND', None)
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         str(folder / 'test_orders.py')],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '4 passed' in proc.stdout, proc.stdout


# -- the pages themselves ------------------------------------------------------

GUIDE_PAGES = sorted([*DOCS.glob('getting-started/*.rst'), *DOCS.glob('userguide/*.rst'),
                      DOCS / 'introduction.rst'])


@pytest.mark.parametrize('page', GUIDE_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_python_examples_come_from_tested_files(page: Path) -> None:
    # Inline Python would escape these tests: examples must be literalincludes.
    text = page.read_text(encoding='utf-8')
    inline = re.findall(
        r'^\s*\.\. code-block::\s*(?:python|python3|pycon|py)\s*$|^.*::\s*$\n\n\s+>>>',
        text, re.M)
    assert not inline, f'{page.name} has inline Python examples'


def _literalincludes() -> list[tuple[Path, Path, dict]]:
    """(page, included file, options) of every literalinclude of the docs."""
    found = []
    for page in DOCS.rglob('*.rst'):
        if '_build' in page.parts:
            continue
        text = page.read_text(encoding='utf-8')
        for match in re.finditer(
                r'^\.\. literalinclude::\s*(\S+)\n((?:[ \t]+:[\w-]+:.*\n)*)', text, re.M):
            options = dict(re.findall(r':([\w-]+):\s*(.*)', match.group(2)))
            found.append((page, (page.parent / match.group(1)).resolve(), options))
    return found


def test_every_included_example_is_exercised() -> None:
    tested = {(EXAMPLES / name).resolve() for name in EAGER_EXAMPLES} | {
        (EXAMPLES / name).resolve() for name in (
            'first_steps/tasks.py', 'first_steps/celeryconfig.py', 'first_steps/redis_app.py',
            'userguide/calling.py',
            'configuration/loading.py', 'configuration/celeryconfig.py',
            'configuration/oldconfig.py', 'configuration/mixedconfig.py',
            'userguide/workers_control.py', 'userguide/monitoring.py',
            'userguide/security.py', 'testing/orders.py', 'testing/test_orders.py')}
    includes = _literalincludes()
    assert includes
    for page, target, options in includes:
        assert target in tested, f'{page.name} includes {target.name}, which no test runs'
        text = target.read_text(encoding='utf-8')
        markers = [options.get(key) for key in ('start-after', 'end-before', 'start-at')]
        if 'pyobject' in options:
            markers.append(f"def {options['pyobject']}(")
        for marker in filter(None, markers):
            assert marker in text, f'{page.name}: {marker!r} not in {target.name}'


def test_setting_references_name_real_settings() -> None:
    from celery.app.defaults import SETTING_KEYS
    for page in DOCS.rglob('*.rst'):
        if '_build' in page.parts:
            continue
        for name in re.findall(r':setting:`([^`]+)`', page.read_text(encoding='utf-8')):
            assert name in SETTING_KEYS, f'{page.name} refers to unknown setting {name!r}'


def test_settings_table_lists_every_setting() -> None:
    sys.path.insert(0, str(DOCS / '_ext'))
    try:
        from settings_table import format_default, setting_rows
    finally:
        sys.path.remove(str(DOCS / '_ext'))
    from celery.app.defaults import DEFAULTS
    rows = {row.name: row for row in setting_rows()}
    assert set(rows) == set(DEFAULTS)
    assert rows['broker_url'].old_names == ('BROKER_URL',)
    assert rows['task_always_eager'].old_names[0] == 'CELERY_ALWAYS_EAGER'
    assert rows['worker_prefetch_multiplier'].old_names == ('CELERYD_PREFETCH_MULTIPLIER',)
    assert format_default(rows['result_expires'].default) == 'timedelta(days=1)'
    assert format_default(float('inf')) == "float('inf')"


# -- the build helpers in docs/_ext --------------------------------------------

@pytest.fixture
def ext(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DOCS / '_ext'))


def test_pages_of_unimportable_modules_are_left_out(ext: None, tmp_path: Path) -> None:
    from reference_pages import unavailable_pages
    reference = tmp_path / 'reference'
    reference.mkdir()
    (reference / 'celery.states.rst').write_text('.. automodule:: celery.states\n')
    (reference / 'cli.rst').write_text('.. click:: celery.no_such_module:celery\n')
    missing = unavailable_pages(reference)
    assert list(missing) == ['reference/cli.rst']
    assert 'ModuleNotFoundError' in missing['reference/cli.rst']


def test_terminal_help_keeps_its_underscores(ext: None) -> None:
    from build_fixes import escape_help_markup
    lines = ['write CELERY_ prefixed names', 'reads CELERY_BROKER_URL', 'a ``literal_``']
    escape_help_markup(None, None, lines)
    assert lines == ['write CELERY\\_ prefixed names', 'reads CELERY_BROKER_URL',
                     'a ``literal_``']


def test_borrowed_docstrings_are_dropped(ext: None) -> None:
    from build_fixes import drop_borrowed_docstring
    borrowed = dict.__doc__.splitlines()
    drop_borrowed_docstring(None, 'attribute', 'x', {}, None, borrowed)
    assert borrowed == []
    own = ['Return the answer.']
    drop_borrowed_docstring(None, 'method', 'x', len, None, own)
    assert own == ['Return the answer.']

"""Signed task messages (the ``auth`` serializer) through a real worker on Redis.

The worker runs as ``celery worker`` in a subprocess; the client is this
process (``setup_security`` changes kombu's process-wide registry, which is
restored after each test). Keys and certificates are made for the test.
"""
from __future__ import annotations

import base64
import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kombu.serialization import dumps, registry

from celery import Celery
from celery.security.certificate import Certificate
from celery.security.key import PrivateKey
from celery.security.serialization import SecureSerializer

pytestmark = pytest.mark.integration

DEADLINE = 60.0
SEP = b'\x00\x01'


def _load_pki():
    path = Path(__file__).resolve().parents[1] / 'unit' / 'security' / 'pki.py'
    spec = importlib.util.spec_from_file_location('_celery_test_pki', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pki = _load_pki()

WORKER_APP = '''
import os
from celery import Celery

app = Celery('secapp', broker=os.environ['SEC_BROKER'], backend=os.environ['SEC_BROKER'])
app.conf.update(
    security_key=os.environ['SEC_KEY'],
    security_certificate=os.environ['SEC_CERT'],
    security_cert_store=os.environ['SEC_STORE'],
    task_serializer='auth',
    accept_content=['auth'],
    result_serializer='json',
    result_accept_content=['json'],
    task_default_queue=os.environ['SEC_QUEUE'],
)
app.setup_security()


@app.task(name='sec.add')
def add(x, y):
    return x + y
'''


@pytest.fixture
def restore_registry():
    saved = (dict(registry._encoders), dict(registry._decoders),
             set(registry._disabled_content_types), dict(registry.type_to_name),
             dict(registry.name_to_type), registry._default_encode,
             registry._default_content_type, registry._default_content_encoding)
    yield
    registry._encoders, registry._decoders = saved[0], saved[1]
    registry._disabled_content_types = saved[2]
    registry.type_to_name, registry.name_to_type = saved[3], saved[4]
    (registry._default_encode, registry._default_content_type,
     registry._default_content_encoding) = saved[5:]


@pytest.fixture
def keys(tmp_path):
    store = tmp_path / 'store'
    store.mkdir()
    alice = pki.make_identity(tmp_path / 'keys', 'alice')
    (store / 'alice.pem').write_bytes(alice.cert_pem)
    mallory = pki.make_identity(tmp_path / 'evil', 'mallory')
    return {'alice': alice, 'mallory': mallory, 'store': store}


@pytest.fixture
def setting_env(redis_url, keys):
    return {
        'SEC_BROKER': redis_url,
        'SEC_KEY': str(keys['alice'].key_path),
        'SEC_CERT': str(keys['alice'].cert_path),
        'SEC_STORE': str(keys['store']),
        'SEC_QUEUE': f'security.{uuid.uuid4().hex}',
    }


@pytest.fixture
def worker(setting_env, tmp_path):
    (tmp_path / 'secapp.py').write_text(WORKER_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith('CELERY_')}
    env.update(setting_env, PYTHONUNBUFFERED='1', PYTHONPATH=str(tmp_path))
    log = tmp_path / 'worker.log'
    with open(log, 'wb') as fh:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'celery', '-A', 'secapp', 'worker', '-P', 'solo',
             '-l', 'INFO', '--without-heartbeat', '--without-mingle', '--without-gossip'],
            cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT)
    output = lambda: log.read_text(errors='replace')  # noqa: E731
    deadline = time.monotonic() + DEADLINE
    try:
        while ' ready.' not in output():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f'worker did not start:\n{output()}')
            time.sleep(0.05)
        yield output
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def client(setting_env, restore_registry):
    app = Celery('secclient', broker=setting_env['SEC_BROKER'],
                 backend=setting_env['SEC_BROKER'], set_as_current=False, fixups=[])
    app.conf.update(
        security_key=setting_env['SEC_KEY'], security_certificate=setting_env['SEC_CERT'],
        security_cert_store=setting_env['SEC_STORE'], task_serializer='auth',
        accept_content=['auth'], result_serializer='json', result_accept_content=['json'],
        task_default_queue=setting_env['SEC_QUEUE'])
    app.setup_security()
    yield app
    app.close()


def publish_raw(app, body, content_type, task_id, args=(1, 1)):
    """Publish a sec.add message whose body is given as is."""
    message = app.amqp.as_task_v2(task_id, 'sec.add', args, {})
    queue = app.amqp.queues[app.conf.task_default_queue]
    with app.producer_or_acquire() as producer:
        producer.publish(body, exchange='', routing_key=queue.name, declare=[queue],
                         headers=message.headers, content_type=content_type,
                         content_encoding='utf-8', **message.properties)
    return message


def test_signed_tasks_run_and_bad_ones_are_rejected(worker, client, keys):
    # Given a message signed by an untrusted key,
    forged_id = f'forged-{uuid.uuid4()}'
    mallory = SecureSerializer(PrivateKey(keys['mallory'].key_pem),
                               Certificate(keys['mallory'].cert_pem))
    body = client.amqp.as_task_v2(forged_id, 'sec.add', (1, 1), {}).body
    publish_raw(client, mallory.serialize(body), 'application/data', forged_id)
    # one signed by Alice but altered in transit,
    tampered_id = f'tampered-{uuid.uuid4()}'
    body = client.amqp.as_task_v2(tampered_id, 'sec.add', (1, 1), {}).body
    _, _, signed = dumps(body, serializer='auth')
    fields = base64.b64decode(signed).split(SEP, 4)
    fields[4] = fields[4].replace(b'[1, 1]', b'[9, 9]')
    publish_raw(client, base64.b64encode(SEP.join(fields)).decode(), 'application/data',
                tampered_id)
    # and an unsigned one
    unsigned_id = f'unsigned-{uuid.uuid4()}'
    _, _, plain = dumps(client.amqp.as_task_v2(unsigned_id, 'sec.add', (1, 1), {}).body,
                        serializer='json')
    publish_raw(client, plain, 'application/json', unsigned_id)

    # When a properly signed task follows
    result = client.send_task('sec.add', (2, 2))

    # Then it runs (the worker went on) and the others never did
    assert result.get(timeout=30) == 4
    for task_id in (forged_id, tampered_id, unsigned_id):
        assert client.AsyncResult(task_id).state == 'PENDING'
    # (the worker logs the success after storing the result: wait for the line)
    deadline = time.monotonic() + DEADLINE
    while 'succeeded' not in worker() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = worker()
    assert "Rejected signed message: Unknown certificate: 'Celery Test CA mallory" in log
    assert 'Rejected signed message: Bad signature' in log
    assert forged_id in log and tampered_id in log  # logged with the task id
    assert 'untrusted content' in log  # the unsigned one, refused by accept_content
    assert log.count('succeeded') == 1


def test_wire_format_is_signed(client, keys):
    # A message as it sits on the broker: base64 envelope, signer = alice
    task_id = str(uuid.uuid4())
    client.send_task('sec.add', (3, 4), task_id=task_id)
    queue = client.amqp.queues[client.conf.task_default_queue]
    with client.connection_for_read() as conn:
        message = queue(conn.default_channel).get(accept={'application/data'})
        try:
            assert message.content_type == 'application/data'
            signer, _, ctype, _, body = base64.b64decode(message.body).split(SEP, 4)
            assert base64.b64decode(signer).decode() == \
                Certificate(keys['alice'].cert_pem).get_id()
            assert ctype == b'application/json'
            assert body.startswith(b'[[3, 4], {}')
            assert message.headers['id'] == task_id
            assert message.decode()[0] == [3, 4]
        finally:
            message.ack()
            queue(conn.default_channel).delete()


# -- against real Celery 5 ---------------------------------------------------------

def _load_celery_venv():
    path = Path(__file__).resolve().parents[1] / 'interop' / 'celery_venv.py'
    spec = importlib.util.spec_from_file_location('_celery_test_interop_venv', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def real_celery_python(tmp_path_factory):
    """The interop venv's python, plus a directory giving it ``cryptography``.

    The interop venv holds real Celery without the auth extra; the compiled
    cryptography of the project venv (same Python) is linked in, nothing else.
    """
    celery_venv = _load_celery_venv()
    try:
        python = celery_venv.ensure_venv()
    except celery_venv.InteropVenvError as exc:
        pytest.fail(f'cannot build the interop venv with real Celery: {exc}', pytrace=False)
    import cffi
    import cryptography
    import pycparser
    site = Path(cryptography.__file__).resolve().parents[1]
    extra = tmp_path_factory.mktemp('crypto-path')
    for name in (Path(cryptography.__file__).parent, Path(cffi.__file__).parent,
                 Path(pycparser.__file__).parent, *site.glob('_cffi_backend*.so')):
        (extra / name.name).symlink_to(name)
    return python, extra


def real_celery_cmd(real_celery_python, app_dir: Path, *argv: str) -> list[str]:
    python, extra = real_celery_python
    boot = (f'import sys; sys.path[:0] = [{str(app_dir)!r}]; sys.path.append({str(extra)!r}); '
            'import celery; assert "/interop-venv-" in celery.__file__, celery.__file__; '
            f'from celery.__main__ import main; sys.argv = ["celery", *{list(argv)!r}]; main()')
    return [str(python), '-I', '-c', boot]


def start_worker(cmd: list[str], env: dict, log: Path, cwd: Path):
    fh = open(log, 'wb')
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + DEADLINE
    while ' ready.' not in log.read_text(errors='replace'):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f'worker did not start:\n{log.read_text(errors="replace")}')
        time.sleep(0.05)
    return proc, fh


def stop_worker(proc, fh) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    fh.close()


@pytest.mark.interop
def test_real_celery_worker_runs_our_signed_tasks(real_celery_python, setting_env, client,
                                                  tmp_path):
    # Given a real Celery 5 worker with the same keys
    (tmp_path / 'secapp.py').write_text(WORKER_APP)
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'VIRTUAL_ENV') and not k.startswith('CELERY_')}
    env.update(setting_env, PYTHONUNBUFFERED='1')
    cmd = real_celery_cmd(real_celery_python, tmp_path, '-A', 'secapp', 'worker', '-P', 'solo',
                          '-l', 'INFO', '--without-heartbeat', '--without-mingle',
                          '--without-gossip')
    proc, fh = start_worker(cmd, env, tmp_path / 'real-worker.log', tmp_path)
    try:
        # When our client sends a signed task, Then the real worker runs it
        assert client.send_task('sec.add', (20, 22)).get(timeout=30) == 42
    finally:
        stop_worker(proc, fh)


@pytest.mark.interop
def test_our_worker_runs_real_celery_signed_tasks(real_celery_python, setting_env, worker,
                                                  client, tmp_path):
    # Given a real Celery 5 client with the same keys: it signs and sends a task
    client_dir = tmp_path / 'real-client'
    client_dir.mkdir()
    (client_dir / 'secapp.py').write_text(WORKER_APP)
    python, extra = real_celery_python
    code = (f'import sys; sys.path[:0] = [{str(client_dir)!r}]; sys.path.append({str(extra)!r})\n'
            'import celery; assert "/interop-venv-" in celery.__file__\n'
            'from secapp import add\n'
            'print(add.delay(40, 2).id)\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'VIRTUAL_ENV') and not k.startswith('CELERY_')}
    env.update(setting_env)
    proc = subprocess.run([str(python), '-I', '-c', code], env=env, cwd=client_dir,
                          capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    task_id = proc.stdout.strip().splitlines()[-1]
    # Then our worker verifies and runs it
    assert client.AsyncResult(task_id).get(timeout=30) == 42
    assert 'Rejected' not in worker()

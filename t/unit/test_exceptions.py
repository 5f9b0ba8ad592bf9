"""Tests for celery.exceptions."""
from __future__ import annotations

import pickle
import subprocess
import sys
from datetime import datetime

import pytest

from celery import exceptions
from celery.exceptions import (AlreadyRegistered, AlwaysEagerIgnored,
                               BackendError, BackendGetMetaError,
                               BackendStoreError, CDeprecationWarning,
                               CeleryError, CeleryWarning, ChordError,
                               CPendingDeprecationWarning,
                               DuplicateNodenameWarning, FixupWarning, Ignore,
                               ImproperlyConfigured, IncompleteStream,
                               InvalidTaskError, MaxRetriesExceededError,
                               NotConfigured, NotRegistered, QueueNotFound,
                               Reject, Retry, SecurityError, SecurityWarning,
                               TaskError, TaskPredicate, TaskRevokedError,
                               TimeoutError, WorkerShutdown, WorkerTerminate,
                               reraise)


@pytest.mark.parametrize('cls,bases', [
    (ImproperlyConfigured, (CeleryError,)),
    (SecurityError, (CeleryError,)),
    (TaskPredicate, (CeleryError,)),
    (Ignore, (TaskPredicate,)),
    (Reject, (TaskPredicate,)),
    (Retry, (TaskPredicate,)),
    (TaskError, (CeleryError,)),
    (QueueNotFound, (KeyError, TaskError)),
    (IncompleteStream, (TaskError,)),
    (NotRegistered, (KeyError, TaskError)),
    (AlreadyRegistered, (TaskError,)),
    (TimeoutError, (TaskError,)),
    (MaxRetriesExceededError, (TaskError,)),
    (TaskRevokedError, (TaskError,)),
    (InvalidTaskError, (TaskError,)),
    (ChordError, (TaskError,)),
    (BackendGetMetaError, (BackendError,)),
    (BackendStoreError, (BackendError,)),
    (CeleryWarning, (UserWarning,)),
    (AlwaysEagerIgnored, (CeleryWarning,)),
    (DuplicateNodenameWarning, (CeleryWarning,)),
    (FixupWarning, (CeleryWarning,)),
    (NotConfigured, (CeleryWarning,)),
    (SecurityWarning, (CeleryWarning,)),
    (CPendingDeprecationWarning, (PendingDeprecationWarning,)),
    (CDeprecationWarning, (DeprecationWarning,)),
    (WorkerShutdown, (SystemExit,)),
    (WorkerTerminate, (SystemExit,)),
])
def test_hierarchy(cls, bases):
    for base in bases:
        assert issubclass(cls, base)


def test_backend_error_is_not_a_celery_error():
    assert not issubclass(BackendError, CeleryError)


def test_all_names_resolve():
    for name in exceptions.__all__:
        assert getattr(exceptions, name) is not None
    assert set(exceptions.__all__) <= set(dir(exceptions))


def test_reexports_are_the_library_classes():
    import billiard.exceptions
    import kombu.exceptions
    assert exceptions.SoftTimeLimitExceeded is billiard.exceptions.SoftTimeLimitExceeded
    assert exceptions.TimeLimitExceeded is billiard.exceptions.TimeLimitExceeded
    assert exceptions.WorkerLostError is billiard.exceptions.WorkerLostError
    assert exceptions.Terminated is billiard.exceptions.Terminated
    assert exceptions.OperationalError is kombu.exceptions.OperationalError
    from celery.exceptions import SoftTimeLimitExceeded
    assert SoftTimeLimitExceeded is billiard.exceptions.SoftTimeLimitExceeded


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        exceptions.NoSuchError


def test_import_is_cheap():
    code = ('import sys, celery.exceptions; '
            'print(any(m.split(".")[0] in ("click", "kombu", "amqp", "billiard")'
            ' for m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == 'False'


def test_command_exception():
    import click
    exc = exceptions.CeleryCommandException('bad', 3)
    assert isinstance(exc, click.ClickException)
    assert exc.exit_code == 3
    assert exc.message == 'bad'
    assert exceptions.CeleryCommandException is type(exc)
    assert type(exc).__module__ == 'celery.exceptions'


class TestRetry:

    def test_str_with_seconds_and_exc(self):
        r = Retry(exc=KeyError('k'), when=10)
        assert r.humanize() == 'in 10s'
        assert str(r) == "Retry in 10s: KeyError('k')"
        assert r.exc.args == ('k',)

    def test_str_with_datetime(self):
        when = datetime(2024, 1, 2, 3, 4, 5)
        assert str(Retry(when=when)) == f'Retry at {when}'

    def test_message_wins(self):
        assert str(Retry('custom', exc=KeyError(), when=1)) == 'custom'

    def test_exc_as_string(self):
        r = Retry(exc='text reason', when=1)
        assert r.exc is None
        assert r.excs == 'text reason'
        assert str(r) == 'Retry in 1s: text reason'

    def test_attributes(self):
        sig = object()
        r = Retry(is_eager=True, sig=sig)
        assert r.is_eager and r.sig is sig

    def test_broken_repr_of_exc(self):
        class Bad(Exception):
            def __repr__(self):
                raise RuntimeError('no repr')

        assert 'unrepresentable' in str(Retry(exc=Bad(), when=1))

    def test_pickle(self):
        r = pickle.loads(pickle.dumps(Retry('msg', KeyError('k'), 5)))
        assert isinstance(r, Retry)
        assert r.message == 'msg'
        assert isinstance(r.exc, KeyError)
        assert r.when == 5

    def test_compat_alias(self):
        assert exceptions.RetryTaskError is Retry


class TestReject:

    def test_attributes_and_repr(self):
        r = Reject('bad message', requeue=True)
        assert r.reason == 'bad message'
        assert r.requeue is True
        assert repr(r) == 'reject requeue=True: bad message'
        assert Reject().requeue is False

    def test_pickle(self):
        r = pickle.loads(pickle.dumps(Reject('x', True)))
        assert (r.reason, r.requeue) == ('x', True)


def test_not_registered():
    exc = NotRegistered('proj.tasks.add')
    assert repr(exc) == ("Task of kind 'proj.tasks.add' never registered, "
                         "please make sure it's imported.")
    with pytest.raises(KeyError):
        raise exc


def test_max_retries_exceeded():
    exc = MaxRetriesExceededError('too many', task_args=(1,),
                                  task_kwargs={'a': 1}, task_name='t',
                                  task_id='id')
    assert exc.args == ('too many',)
    assert exc.task_args == (1,)
    assert exc.task_kwargs == {'a': 1}
    assert (exc.task_name, exc.task_id) == ('t', 'id')
    plain = MaxRetriesExceededError()
    assert plain.task_args == [] and plain.task_kwargs == {}


def test_backend_errors():
    get = BackendGetMetaError('failed', task_id='abc')
    assert get.task_id == 'abc'
    assert get.args == ('failed',)
    assert repr(get).endswith('task_id:abc')
    store = BackendStoreError('failed', state='SUCCESS', task_id='abc')
    assert repr(store).endswith('state:SUCCESS task_id:abc')


def test_worker_shutdown_requests_exit():
    with pytest.raises(SystemExit) as info:
        raise WorkerShutdown(2)
    assert info.value.code == 2
    assert exceptions.SystemTerminate is WorkerTerminate


def test_reraise():
    try:
        raise KeyError('original')
    except KeyError as exc:
        tb = exc.__traceback__
        err = exc
    with pytest.raises(KeyError) as info:
        reraise(KeyError, err, tb)
    assert info.value is err
    with pytest.raises(ValueError):
        reraise(ValueError, ValueError('x'))

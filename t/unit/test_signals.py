"""Tests for celery.signals: every documented signal exists and works."""
from __future__ import annotations

import subprocess
import sys

import pytest

from celery import signals
from celery.utils.dispatch import Signal

DOCUMENTED = [
    'before_task_publish', 'after_task_publish', 'task_received',
    'task_prerun', 'task_postrun', 'task_retry', 'task_success',
    'task_failure', 'task_internal_error', 'task_revoked', 'task_rejected',
    'task_unknown', 'import_modules', 'celeryd_after_setup', 'celeryd_init',
    'worker_init', 'worker_before_create_process', 'worker_ready',
    'heartbeat_sent', 'worker_shutting_down', 'worker_process_init',
    'worker_process_shutdown', 'worker_shutdown', 'beat_init',
    'beat_embedded_init', 'eventlet_pool_started', 'eventlet_pool_preshutdown',
    'eventlet_pool_postshutdown', 'eventlet_pool_apply', 'setup_logging',
    'after_setup_logger', 'after_setup_task_logger', 'user_preload_options',
]


@pytest.mark.parametrize('name', DOCUMENTED)
def test_signal_exists_with_its_name(name):
    sig = getattr(signals, name)
    assert isinstance(sig, Signal)
    assert sig.name == name
    assert name in signals.__all__


def test_all_lists_only_signals():
    assert sorted(signals.__all__) == sorted(DOCUMENTED)


def test_nothing_connected_by_default():
    # Senders rely on an empty receiver list to skip dispatch entirely.
    # A fresh interpreter: other tests in this process may connect receivers.
    code = ('import celery, celery.signals as s; '
            f'print([n for n in {DOCUMENTED!r} if getattr(s, n).receivers])')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == '[]'


def test_documented_arguments():
    assert signals.task_prerun.providing_args == {'task_id', 'task', 'args', 'kwargs'}
    assert {'retval', 'state'} <= signals.task_postrun.providing_args
    assert {'request', 'terminated', 'signum', 'expired'} == (
        signals.task_revoked.providing_args)
    assert 'headers' in signals.before_task_publish.providing_args


def test_connect_with_task_name_sender():
    received = []

    @signals.after_task_publish.connect(sender='proj.tasks.add')
    def handler(sender=None, headers=None, body=None, **kwargs):
        received.append((sender, headers['id']))

    try:
        signals.after_task_publish.send(sender='proj.tasks.mul', headers={'id': 1})
        signals.after_task_publish.send(sender='proj.tasks.add', headers={'id': 2})
    finally:
        assert signals.after_task_publish.disconnect(handler, sender='proj.tasks.add')
    assert received == [('proj.tasks.add', 2)]

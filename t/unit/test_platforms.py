"""Platform glue: pid files, signals by name, privilege checks."""
from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from celery import platforms
from celery.exceptions import SecurityError


def test_pidfile_lifecycle(tmp_path: Any) -> None:
    path = tmp_path / 'w.pid'
    pidfile = platforms.Pidfile(str(path))
    assert not pidfile.is_locked()
    pidfile.acquire()
    assert pidfile.read_pid() == os.getpid()
    assert not pidfile.remove_if_stale()  # it is us
    pidfile.release()
    assert not path.exists()


def test_stale_and_broken_pidfiles_are_removed(tmp_path: Any) -> None:
    path = tmp_path / 'stale.pid'
    path.write_text('999999999\n')
    assert platforms.Pidfile(str(path)).remove_if_stale()
    assert not path.exists()
    path.write_text('garbage')
    assert platforms.Pidfile(str(path)).remove_if_stale()


def test_create_pidlock_refuses_a_live_pid(tmp_path: Any) -> None:
    path = tmp_path / 'live.pid'
    path.write_text(f'{os.getppid()}\n')
    with pytest.raises(SystemExit):
        platforms._create_pidlock(str(path))
    lock = platforms._create_pidlock(str(tmp_path / 'new.pid'))
    assert lock.read_pid() == os.getpid()
    lock.release()


def test_signals_by_name() -> None:
    signals = platforms.signals
    assert signals.signum('TERM') == signal.SIGTERM
    assert signals.signum('SIGINT') == signal.SIGINT
    assert signals.signum(9) == 9
    with pytest.raises(TypeError):
        signals.signum('term')
    assert signals.supported('HUP') and not signals.supported('NOPE')
    previous = signals['USR2']
    try:
        signals['USR2'] = signals.ignored
        assert signals['USR2'] == signal.SIG_IGN
        signals.reset('USR2')
        assert signals['USR2'] == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert platforms.signal_name(signal.SIGTERM) == 'TERM'


def test_parse_uid_and_gid() -> None:
    assert platforms.parse_uid('0') == 0 and platforms.parse_uid('root') == 0
    assert platforms.parse_gid('0') == 0
    with pytest.raises(KeyError):
        platforms.parse_uid('no-such-user-xyz')


def test_check_privileges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, 'getuid', lambda: 0)
    monkeypatch.delenv('C_FORCE_ROOT', raising=False)
    with pytest.raises(SecurityError):
        platforms.check_privileges({'pickle'})
    with pytest.warns(RuntimeWarning):
        platforms.check_privileges({'json'})
    monkeypatch.setenv('C_FORCE_ROOT', '1')
    with pytest.warns(RuntimeWarning):
        platforms.check_privileges({'pickle'})


def test_strargv_and_titles() -> None:
    assert platforms.strargv(['celery', 'worker', '-l', 'INFO']) == 'worker -l INFO'
    assert platforms.set_process_title('celeryd', info='x') == '[celeryd] x'


def test_ignore_errno() -> None:
    import errno
    with platforms.ignore_errno('ENOENT'):
        raise OSError(errno.ENOENT, 'gone')
    with pytest.raises(OSError):
        with platforms.ignore_errno(errno.ENOENT):
            raise OSError(errno.EACCES, 'denied')

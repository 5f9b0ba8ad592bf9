"""Operating-system glue: signals, pid files, daemonizing, users and titles.

Everything here runs in the main process of a worker or beat.  The signal
helpers work on Unix and degrade to no-ops where a signal does not exist
(Windows), so callers need no platform checks of their own.
"""
from __future__ import annotations

import atexit
import errno
import math
import numbers
import os
import platform as _platform
import signal as _signal
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from kombu.utils.compat import maybe_fileno

from celery.exceptions import SecurityError

__all__ = (
    'EX_OK', 'EX_FAILURE', 'EX_UNAVAILABLE', 'EX_USAGE', 'SYSTEM', 'IS_macOS',
    'IS_WINDOWS', 'SIGMAP', 'pyimplementation', 'LockFailed', 'get_fdmax',
    'Pidfile', 'create_pidlock', 'close_open_fds', 'DaemonContext', 'detached',
    'parse_uid', 'parse_gid', 'setgroups', 'initgroups', 'setgid', 'setuid',
    'maybe_drop_privileges', 'signals', 'signal_name', 'set_process_title',
    'set_mp_process_title', 'get_errno_name', 'ignore_errno', 'fd_by_path',
    'isatty', 'check_privileges', 'maybe_fileno', 'strargv',
)

EX_OK = getattr(os, 'EX_OK', 0)
EX_FAILURE = 1
EX_UNAVAILABLE = getattr(os, 'EX_UNAVAILABLE', 69)
EX_USAGE = getattr(os, 'EX_USAGE', 64)
EX_CANTCREAT = getattr(os, 'EX_CANTCREAT', 73)

SYSTEM = _platform.system()
IS_macOS = SYSTEM == 'Darwin'
IS_WINDOWS = SYSTEM == 'Windows'

DAEMON_UMASK = 0o022
DAEMON_WORKDIR = '/'

PIDFILE_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY
PIDFILE_MODE = ((os.R_OK | os.W_OK) << 6) | (os.R_OK << 3) | os.R_OK

PIDLOCKED = """ERROR: Pidfile ({0}) already exists.
Seems we're already running? (pid: {1})"""

ROOT_DISALLOWED = """\
Running a worker with superuser privileges when the
worker accepts messages serialized with pickle is a very bad idea!

If you really want to continue then you have to set the C_FORCE_ROOT
environment variable (but please think about this before you do).

User information: uid={uid} euid={euid} gid={gid} egid={egid}
"""

ROOT_DISCOURAGED = """\
You're running the worker with superuser privileges: this is
absolutely not recommended!

Please specify a different user using the --uid option.

User information: uid={uid} euid={euid} gid={gid} egid={egid}
"""

ASSUMING_ROOT = """\
An entry for the specified gid or egid was not found.
We're assuming this is a potential security issue.
"""

SIGNAMES = {
    sig for sig in dir(_signal)
    if sig.startswith('SIG') and '_' not in sig
}
SIGMAP = {getattr(_signal, name): name for name in SIGNAMES}


def isatty(fh: Any) -> bool:
    """Return true if ``fh`` is a terminal (false for anything odd)."""
    try:
        return fh.isatty()
    except AttributeError:
        return False


def pyimplementation() -> str:
    """Return the Python implementation and version, e.g. ``CPython``."""
    impl = _platform.python_implementation()
    if impl == 'PyPy':  # pragma: no cover
        return f'PyPy{_platform.python_version()}'
    return impl


class LockFailed(Exception):
    """Could not create or acquire the pid file."""


class Pidfile:
    """A pid file: holds the pid of the running process, as a lock.

    Stale pid files (their process no longer exists) are removed.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)

    def acquire(self) -> Pidfile:
        try:
            self.write_pid()
        except OSError as exc:
            raise LockFailed(str(exc)) from exc
        return self

    __enter__ = acquire

    def is_locked(self) -> bool:
        return os.path.exists(self.path)

    def release(self, *args: Any) -> None:
        self.remove()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def read_pid(self) -> int | None:
        """Return the pid in the file, ``None`` if there is no file."""
        try:
            with open(self.path) as fh:
                line = fh.readline()
                if line.strip() == line:  # must end with a newline
                    raise ValueError(f'Partial or invalid pidfile {self.path}')
                try:
                    return int(line.strip())
                except ValueError:
                    raise ValueError(f'pidfile {self.path} contents invalid.') from None
        except FileNotFoundError:
            return None

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except PermissionError:
            pass

    def remove_if_stale(self) -> bool:
        """Remove the file if its process is gone; return true if removed."""
        try:
            pid = self.read_pid()
        except ValueError:
            print('Broken pidfile found - Removing it.', file=sys.stderr)
            self.remove()
            return True
        if not pid:
            self.remove()
            return True
        if pid == os.getpid():
            return False  # that's us (e.g. after re-exec)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print('Stale pidfile exists - Removing it.', file=sys.stderr)
            self.remove()
            return True
        except PermissionError:
            return False  # the process exists, it just isn't ours
        return False

    def write_pid(self) -> None:
        pid = os.getpid()
        content = f'{pid}\n'
        fd = os.open(self.path, PIDFILE_FLAGS, PIDFILE_MODE)
        with os.fdopen(fd, 'w') as fh:
            fh.write(content)
            fh.flush()
            try:
                os.fsync(fh.fileno())
            except OSError:  # pragma: no cover
                pass
        with open(self.path) as fh:
            if fh.read() != content:
                raise LockFailed("Inconsistency: Pidfile content doesn't match at re-read")


PIDLockFile = Pidfile


def create_pidlock(pidfile: str) -> Pidfile:
    """Create a pid file and remove it at exit; exit if another process holds it."""
    pidlock = _create_pidlock(pidfile)
    atexit.register(pidlock.release)
    return pidlock


def _create_pidlock(pidfile: str) -> Pidfile:
    pidlock = Pidfile(pidfile)
    if pidlock.is_locked() and not pidlock.remove_if_stale():
        print(PIDLOCKED.format(pidfile, pidlock.read_pid()), file=sys.stderr)
        raise SystemExit(EX_CANTCREAT)
    pidlock.acquire()
    return pidlock


def fd_by_path(paths: list[str]) -> list[int]:
    """Return the open file descriptors of this process whose files are ``paths``."""
    stats = set()
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            stats.add(os.fstat(fd)[1:3])
        finally:
            os.close(fd)

    def fd_in_stats(fd: int) -> bool:
        try:
            return os.fstat(fd)[1:3] in stats
        except OSError:
            return False

    return [fd for fd in range(get_fdmax(2048)) if fd_in_stats(fd)]


def get_fdmax(default: int | None = None) -> int | None:
    """Return the maximum number of open files (``default`` if unlimited)."""
    try:
        return os.sysconf('SC_OPEN_MAX')
    except (AttributeError, ValueError, OSError):  # pragma: no cover
        pass
    return default


def close_open_fds(keep: Any = None) -> None:
    """Close every file descriptor except those in ``keep``."""
    keep = {maybe_fileno(f) for f in (keep or []) if maybe_fileno(f) is not None}
    fdmax = get_fdmax(2048) or 2048
    low = 0
    for fd in sorted(keep) + [fdmax]:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1


class DaemonContext:
    """Turn the process into a daemon: fork twice, new session, no tty."""

    _is_open = False

    def __init__(self, pidfile: str | None = None, workdir: str | None = None,
                 umask: Any = None, fake: bool = False, after_chdir: Callable | None = None,
                 after_forkers: bool = True, **kwargs: Any) -> None:
        if isinstance(umask, str):
            umask = int(umask, 8)  # octal string
        self.workdir = workdir or DAEMON_WORKDIR
        self.umask = umask
        self.fake = fake
        self.after_chdir = after_chdir
        self.after_forkers = after_forkers
        self.stdfds = (sys.stdin, sys.stdout, sys.stderr)

    def redirect_to_null(self, fd: int | None) -> None:
        if fd is not None:
            dest = os.open(os.devnull, os.O_RDWR)
            os.dup2(dest, fd)
            os.close(dest)

    def open(self) -> None:
        if self._is_open:
            return
        if not self.fake:
            self._detach()
        os.chdir(self.workdir)
        if self.umask is not None:
            os.umask(self.umask)
        if self.after_chdir:
            self.after_chdir()
        if not self.fake:
            keep = list(self.stdfds) + fd_by_path(['/dev/urandom'])
            close_open_fds(keep)
            for fd in self.stdfds:
                self.redirect_to_null(maybe_fileno(fd))
            if self.after_forkers:
                try:
                    from billiard import util
                    util._run_after_forkers()
                except (ImportError, AttributeError):  # pragma: no cover
                    pass
        self._is_open = True

    __enter__ = open

    def close(self, *args: Any) -> None:
        if self._is_open:
            self._is_open = False

    __exit__ = close

    def _detach(self) -> DaemonContext:
        if os.fork() == 0:      # first child
            os.setsid()         # new session, no controlling terminal
            if os.fork() > 0:   # pragma: no cover - the intermediate exits
                os._exit(0)
        else:
            os._exit(0)
        return self


def detached(logfile: str | None = None, pidfile: str | None = None, uid: Any = None,
             gid: Any = None, umask: Any = 0, workdir: str | None = None,
             fake: bool = False, **opts: Any) -> DaemonContext:
    """Return a :class:`DaemonContext` that detaches the process when entered."""
    if not hasattr(os, 'fork'):
        raise RuntimeError('This platform does not support detach.')
    workdir = os.getcwd() if workdir is None else workdir
    signals.reset('SIGCLD')  # make sure SIGCLD is using the default handler
    maybe_drop_privileges(uid=uid, gid=gid)

    def after_chdir_do() -> None:
        # the log file and pid file must be writable by us, and taken now
        logfile and open(logfile, 'a').close()
        if pidfile:
            _create_pidlock(pidfile).release()

    return DaemonContext(umask=umask, workdir=workdir, fake=fake,
                         after_chdir=after_chdir_do)


def parse_uid(uid: Any) -> int:
    """Return the numeric uid of a user name or number."""
    try:
        return int(uid)
    except ValueError:
        try:
            import pwd
            return pwd.getpwnam(uid).pw_uid
        except (AttributeError, KeyError, ImportError):
            raise KeyError(f'User does not exist: {uid}') from None


def parse_gid(gid: Any) -> int:
    """Return the numeric gid of a group name or number."""
    try:
        return int(gid)
    except ValueError:
        try:
            import grp
            return grp.getgrnam(gid).gr_gid
        except (AttributeError, KeyError, ImportError):
            raise KeyError(f'Group does not exist: {gid}') from None


def _setgroups_hack(groups: list[int]) -> None:
    # setgroups may fail with too many groups: try fewer.
    while 1:
        try:
            return os.setgroups(groups)
        except ValueError:
            if len(groups) <= 1:
                raise
            groups[:] = groups[:-1]
        except OSError as exc:
            if exc.errno != errno.EINVAL or len(groups) <= 1:
                raise
            groups[:] = groups[:-1]


def setgroups(groups: list[int]) -> None:
    """Set the supplementary groups of this process."""
    max_groups = None
    try:
        max_groups = os.sysconf('SC_NGROUPS_MAX')
    except Exception:  # pragma: no cover
        pass
    try:
        return _setgroups_hack(groups[:max_groups])
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise
        if any(group not in groups for group in os.getgroups()):
            raise


def initgroups(uid: int, gid: int) -> None:
    """Initialise the supplementary groups of user ``uid``."""
    if not hasattr(os, 'initgroups'):  # pragma: no cover
        return
    import pwd
    username = pwd.getpwuid(uid)[0]
    if hasattr(os, 'initgroups'):
        return os.initgroups(username, gid)


def setgid(gid: int) -> None:
    os.setgid(parse_gid(gid))


def setuid(uid: int) -> None:
    os.setuid(parse_uid(uid))


def maybe_drop_privileges(uid: Any = None, gid: Any = None) -> None:
    """Change to user ``uid`` and group ``gid`` if given, and check it stuck."""
    if sys.platform == 'win32':  # pragma: no cover
        return
    if os.geteuid():
        # no point trying to setuid unless we're root.
        if not os.getuid():
            raise SecurityError('contact support')
    uid = uid and parse_uid(uid)
    gid = gid and parse_gid(gid)

    if uid:
        _setuid(uid, gid)
    else:
        gid and setgid(gid)

    if uid and not os.getuid() and not os.geteuid():
        raise SecurityError('Still root uid after drop privileges!')
    if gid and not os.getgid() and not os.getegid():
        raise SecurityError('Still root gid after drop privileges!')


def _setuid(uid: int, gid: int | None) -> None:
    if not gid:
        import pwd
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            gid = None
    if gid:
        initgroups(uid, gid)
        setgid(gid)
    setuid(uid)
    try:
        setuid(0)  # must not be able to become root again
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise
    else:
        raise SecurityError('non-root user able to restore privileges after setuid.')


class Signals:
    """Dict-like access to signal handlers, by name or number.

    ``signals['INT'] = handler``, ``signals.ignore('HUP')``,
    ``signals.reset('TERM')``; unknown signals are silently skipped.
    """

    ignored = _signal.SIG_IGN
    default = _signal.SIG_DFL

    def arm_alarm(self, seconds: float) -> None:
        if hasattr(_signal, 'setitimer'):
            _signal.setitimer(_signal.ITIMER_REAL, seconds)
        else:  # pragma: no cover
            _signal.alarm(math.ceil(seconds))

    def reset_alarm(self) -> int:
        return _signal.alarm(0)

    def supported(self, name: str) -> bool:
        try:
            self.signum(name)
        except AttributeError:
            return False
        return True

    def signum(self, name: int | str) -> int:
        """Return the number of the signal ``name`` (``'INT'`` or ``'SIGINT'``)."""
        if isinstance(name, numbers.Integral):
            return int(name)
        if not isinstance(name, str) or not name.isupper():
            raise TypeError('signal name must be uppercase string.')
        if not name.startswith('SIG'):
            name = 'SIG' + name
        return getattr(_signal, name)

    def reset(self, *signal_names: str) -> None:
        """Restore the default handler of the given signals."""
        self.update((sig, self.default) for sig in signal_names)

    def ignore(self, *names: str) -> None:
        """Ignore the given signals."""
        self.update((sig, self.ignored) for sig in names)

    def __getitem__(self, name: int | str) -> Any:
        return _signal.getsignal(self.signum(name))

    def __setitem__(self, name: int | str, handler: Any) -> None:
        try:
            _signal.signal(self.signum(name), handler)
        except (AttributeError, ValueError):
            pass  # unsupported signal, or not in the main thread

    def update(self, _d_: Any = None, **sigmap: Any) -> None:
        items = dict(_d_ or {}, **sigmap)
        for name, handler in items.items():
            self[name] = handler


signals = Signals()
get_signal = signals.signum
reset_signal = signals.reset
ignore_signal = signals.ignore
install_signal_handler = signals.__setitem__


def signal_name(signum: int) -> str:
    """Return the name of signal number ``signum`` without ``SIG``."""
    return SIGMAP[signum][3:]


def strargv(argv: list[str]) -> str:
    """Return the program arguments as a string (for process titles)."""
    arg_start = 2 if 'manage' in argv[0] else 1
    if len(argv) > arg_start:
        return ' '.join(argv[arg_start:])
    return ''


def set_process_title(progname: str, info: str | None = None) -> str:
    """Set the ``ps`` name of the process (needs :pypi:`setproctitle`)."""
    proctitle = f'[{progname}]'
    proctitle = f'{proctitle} {info}' if info else proctitle
    try:
        from setproctitle import setproctitle
    except ImportError:
        return proctitle
    setproctitle(proctitle)  # pragma: no cover
    return proctitle  # pragma: no cover


def set_mp_process_title(progname: str, info: str | None = None,
                         hostname: str | None = None) -> str:
    """Set the ``ps`` name of a pool process: ``celeryd.<index>``."""
    if os.environ.get('NOSETPS'):  # pragma: no cover
        return ''
    try:
        from billiard.process import current_process
        name = current_process().name
    except ImportError:  # pragma: no cover
        name = 'MainProcess'
    if hostname:
        progname = f'{progname}: {hostname}'
    return set_process_title(f'{progname}:{name}', info=info)


def get_errno_name(n: int) -> str:
    """Return the symbolic name of errno ``n``."""
    return errno.errorcode.get(n, str(n))


@contextmanager
def ignore_errno(*errnos: Any, **kwargs: Any) -> Iterator[None]:
    """Ignore :exc:`OSError` with the given errnos (names or numbers)."""
    types = kwargs.get('types') or (Exception,)
    errnos = [get_errno_name_to_num(e) for e in errnos]
    try:
        yield
    except types as exc:
        if not hasattr(exc, 'errno'):
            raise
        if exc.errno not in errnos:
            raise


def get_errno_name_to_num(n: Any) -> int:
    return getattr(errno, n) if isinstance(n, str) else n


def check_privileges(accept_content: Any) -> None:
    """Refuse (pickle) or warn when running as root."""
    if IS_WINDOWS or not hasattr(os, 'getuid'):  # pragma: no cover
        return
    uid, euid = os.getuid(), os.geteuid()
    gid, egid = os.getgid(), os.getegid()
    if 0 not in (uid, euid, gid, egid):
        return
    info = dict(uid=uid, euid=euid, gid=gid, egid=egid)
    if os.environ.get('C_FORCE_ROOT'):
        warnings.warn(RuntimeWarning(ROOT_DISCOURAGED.format(**info)))
        return
    if accept_content and ('pickle' in accept_content or
                           'application/x-python-serialize' in accept_content):
        raise SecurityError(ROOT_DISALLOWED.format(**info))
    warnings.warn(RuntimeWarning(ROOT_DISCOURAGED.format(**info)))

"""A cluster of worker nodes on this machine: what ``celery multi`` drives.

:class:`NamespacedOptionParser` splits a ``celery multi`` command line into
node names, options for every node and options for some nodes only
(``-c:1-3 4``, ``--logfile:w2=w2.log``).  :class:`MultiParser` turns that into
:class:`Node` objects, each with its own worker command line (``%n``, ``%h``,
``%d`` expanded for the node; ``%i`` and ``%I`` left for the worker).
:class:`Cluster` starts the nodes (``python -m celery worker --detach ...``),
signals them through their pid files, waits for them to stop and clears
pid files left behind by dead processes.

Runs in the ``celery multi`` process.  Not thread safe.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any, Callable, Iterable, Iterator, Mapping

from celery.platforms import IS_WINDOWS, Pidfile, signal_name
from celery.utils.nodenames import NODENAME_SEP, gethostname, nodesplit

__all__ = (
    'Cluster', 'Node', 'MultiParser', 'NamespacedOptionParser',
    'build_nodename', 'build_expander', 'format_opt', 'MultiError',
)

#: Where a node's pid file and log file go unless told otherwise.
DEFAULT_PIDFILE = '/var/run/celery/%n.pid'
DEFAULT_LOGFILE = '/var/log/celery/%n%I.log'

#: Options of the ``celery`` command itself: they go before the sub-command.
GLOBAL_OPTIONS = frozenset({
    '-A', '--app', '-b', '--broker', '--result-backend', '--loader',
    '--config', '--workdir', '-C', '--no-color', '-q', '--quiet',
})

#: Options that configure ``celery multi`` and are not passed to workers.
MULTI_OPTIONS = ('--cmd', '--append', '--hostname', '-n', '--prefix',
                 '--suffix', '--range-prefix')

_PLACEHOLDER = re.compile(r'%(\w)')


class MultiError(Exception):
    """A ``celery multi`` command line that cannot be turned into nodes."""


def format_opt(opt: str, value: Any) -> list[str]:
    """Render one option as argv items: ``--opt=value``, ``-o value`` or a flag."""
    if value is None or value == '':
        return [opt]
    if opt.startswith('--'):
        return [f'{opt}={value}']
    return [opt, str(value)]


def build_nodename(name: str, prefix: str, suffix: str) -> tuple[str, str, str]:
    """Return ``(namespace, nodename, hostname)`` for a name given to multi.

    ``namespace`` is the name as written (what ``-c:NAME`` refers to);
    a name that already holds an ``@`` is a full node name.
    """
    shortname, hostname = nodesplit(name)
    if shortname is not None:  # 'name@host'
        return shortname, name, hostname
    hostname = suffix
    shortname = f'{prefix}{name}'
    nodename = f'{shortname}{NODENAME_SEP}{hostname}' if hostname else shortname
    return name, nodename, hostname


def build_expander(nodename: str, shortname: str, hostname: str) -> Callable[[str], str]:
    """Return a function expanding a node's placeholders in a string.

    ``%n`` and ``%N`` are the short name, ``%h`` and ``%p`` the full node
    name, ``%d`` the host part and ``%%`` a percent sign.  ``%i`` and ``%I``
    (pool process index) stay as they are, for the worker to expand, and so
    does any placeholder this function does not know.
    """
    keys = {'n': shortname, 'N': shortname, 'h': nodename, 'p': nodename,
            'd': hostname}

    def expand(s: str) -> str:
        if not s or '%' not in s:
            return s
        return _PLACEHOLDER.sub(lambda m: keys.get(m.group(1), m.group(0)),
                                s.replace('%%', '\0')).replace('\0', '%')

    return expand


class NamespacedOptionParser:
    """Split a multi command line into values, options and per-node options.

    A long option carries its value after ``=`` (``--logfile=x.log``) or is a
    flag; a short option takes the next argument as its value unless that
    starts with ``-`` (``-c 3``).  A ``:spec`` suffix (``-c:1-3 4``,
    ``--pool:w1=solo``) files the option under the namespace ``spec``.
    Everything after ``--`` is passed through to every worker untouched.
    """

    def __init__(self, args: Iterable[str]) -> None:
        self.args = [arg for arg in args if arg]
        self.options: dict[str, Any] = {}
        self.values: list[str] = []
        self.passthrough: list[str] = []
        self.namespaces: defaultdict[str, dict[str, Any]] = defaultdict(dict)

    def parse(self) -> NamespacedOptionParser:
        args, pos = self.args, 0
        while pos < len(args):
            arg = args[pos]
            if arg == '--':
                self.passthrough = args[pos:]
                break
            if arg.startswith('--'):
                name, _, value = arg[2:].partition('=')
                self.add_option(name, value if '=' in arg else None, short=False)
            elif arg.startswith('-') and len(arg) > 1:
                value = None
                if pos + 1 < len(args) and not args[pos + 1].startswith('-'):
                    pos += 1
                    value = args[pos]
                self.add_option(arg[1:], value, short=True)
            else:
                self.values.append(arg)
            pos += 1
        return self

    def add_option(self, name: str, value: Any, short: bool = False,
                   ns: str | None = None) -> None:
        """Record an option, in namespace ``ns`` or the one after ``:`` in ``name``."""
        if ns is None and ':' in name:
            name, ns = name.split(':', 1)
        dest = self.options if ns is None else self.namespaces[ns]
        dest[('-' if short else '--') + name] = value

    def optmerge(self, ns: str, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The options of namespace ``ns`` over ``defaults`` (the global options)."""
        merged = dict(self.options if defaults is None else defaults)
        merged.update(self.namespaces.get(ns, {}))
        return merged


def _expand_spec(spec: str) -> list[str]:
    """``'1-3,5'`` -> ``['1', '2', '3', '5']``; names are left as they are."""
    out: list[str] = []
    for part in spec.split(','):
        start, dash, stop = part.partition('-')
        if dash and start.isdigit() and stop.isdigit():
            out.extend(str(i) for i in range(int(start), int(stop) + 1))
        else:
            out.append(part)
    return out


class Node:
    """One worker of the cluster, with its command line and pid file.

    Arguments:
        name: the full node name (``w1@host``).
        cmd: the command that starts a worker, after the Python executable.
        append: text appended to the command line (expanded).
        options: the worker's options (``{'-c': '3', '--pidfile': ...}``).
        extra_args: arguments passed through after ``--``.
    """

    def __init__(self, name: str, cmd: str | None = None, append: str | None = None,
                 options: Mapping[str, Any] | None = None,
                 extra_args: Iterable[str] | str | None = None) -> None:
        self.name = name
        self.cmd = cmd or '-m celery worker --detach'
        self.append = append
        shortname, hostname = nodesplit(name)
        self.shortname = shortname or name
        self.hostname = hostname
        self.expander = build_expander(name, self.shortname, hostname)
        if isinstance(extra_args, str):
            extra_args = shlex.split(extra_args)
        self.extra_args = list(extra_args or ())
        self.options = self._with_defaults(dict(options or {}))
        self.executable = self.options.pop('--executable')
        self.argv = tuple(self._prepare_argv())
        #: The pid last read from the pid file (kept after the file is gone).
        self.last_pid: int | None = None

    @classmethod
    def from_kwargs(cls, name: str, **kwargs: Any) -> Node:
        """A node whose options are keyword arguments (``concurrency=3``)."""
        options = {}
        for key, value in kwargs.items():
            flag = key.replace('_', '-')
            options[('-' if len(flag) == 1 else '--') + flag] = value
        return cls(name, options=options)

    def _with_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        options['-n'] = self.name
        self._setdefault(options, ('--pidfile', '-p'), DEFAULT_PIDFILE)
        self._setdefault(options, ('--logfile', '-f'), DEFAULT_LOGFILE)
        options.setdefault('--executable', sys.executable)
        # the worker may chdir (--workdir): pin the files to absolute paths
        base = options.get('--workdir') or os.getcwd()
        for name in ('--pidfile', '-p', '--logfile', '-f'):
            value = options.get(name)
            if isinstance(value, str) and value:
                options[name] = os.path.normpath(os.path.join(base, value))
        return options

    @staticmethod
    def _setdefault(options: dict[str, Any], names: tuple[str, ...], default: str) -> None:
        if not any(name in options for name in names):
            options[names[0]] = default

    def _prepare_argv(self) -> list[str]:
        cmd = shlex.split(self.expander(self.cmd), posix=not IS_WINDOWS)
        # global options of ``celery`` go right after the program name
        at = cmd.index('celery') + 1 if 'celery' in cmd else len(cmd)
        before, after = [], []
        for opt, value in self.options.items():
            target = before if opt in GLOBAL_OPTIONS else after
            target.extend(format_opt(opt, self.expander(value) if isinstance(value, str)
                                     else value))
        argv = cmd[:at] + before + cmd[at:] + after + self.extra_args
        if self.append:
            argv.extend(shlex.split(self.expander(self.append)))
        return argv

    @property
    def argv_with_executable(self) -> tuple[str, ...]:
        return (self.executable, *self.argv)

    def getopt(self, *names: str) -> Any:
        """The value of the first of ``names`` this node has; :exc:`KeyError` if none."""
        for name in names:
            if name in self.options:
                return self.options[name]
        raise KeyError(names[0])

    @property
    def pidfile(self) -> str:
        return os.path.abspath(self.expander(self.getopt('--pidfile', '-p')))

    @property
    def logfile(self) -> str:
        return self.expander(self.getopt('--logfile', '-f'))

    @property
    def pid(self) -> int | None:
        """The pid in the node's pid file; :exc:`ValueError` if the file is broken."""
        pid = Pidfile(self.pidfile).read_pid()
        if pid:
            self.last_pid = pid
        return pid

    def alive(self) -> bool:
        """True while the node's process runs.

        The process is the one named in the pid file or, once the file is
        gone (a worker removes it just before it exits), the last one seen.
        """
        try:
            pid = self.pid
        except ValueError:
            pid = None
        pid = pid or self.last_pid
        return bool(pid) and process_alive(pid)

    def send(self, sig: int, on_error: Callable[[Node], Any] | None = None) -> bool:
        """Send ``sig`` to the node; ``on_error(node)`` and False if it is gone."""
        try:
            pid = self.pid
        except ValueError:
            pid = None
        if pid:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            else:
                return True
        if on_error is not None:
            on_error(self)
        return False

    def remove_stale_pidfile(self) -> bool:
        """Remove the pid file if its process is gone; True if it was removed."""
        if not os.path.exists(self.pidfile):
            return False
        if self.alive():
            return False
        Pidfile(self.pidfile).remove()
        return True

    def prepare_dirs(self) -> None:
        """Create the directories of the pid file and log file if missing."""
        for path in (self.pidfile, self.logfile):
            directory = os.path.dirname(path)
            if directory:
                try:
                    os.makedirs(directory, exist_ok=True)
                except OSError as exc:
                    raise MultiError(
                        f'{self.name}: cannot create {directory}: {exc.strerror}; '
                        f'choose another place with --pidfile/--logfile') from None

    def start(self, env: Mapping[str, str] | None = None, **kwargs: Any) -> int:
        """Run the command that starts the worker; return its exit status."""
        self.prepare_dirs()
        return self._waitexec(self.argv, path=self.executable, env=env, **kwargs)

    def _waitexec(self, argv: Iterable[str], path: str = sys.executable,
                  env: Mapping[str, str] | None = None,
                  on_spawn: Callable | None = None,
                  on_signalled: Callable | None = None,
                  on_failure: Callable | None = None) -> int:
        args = [path, *argv]
        if on_spawn is not None:
            on_spawn(self, argstr=' '.join(shlex.quote(a) for a in args), env=env)
        proc = subprocess.Popen(args, env=dict(env) if env is not None else None)
        return self.handle_process_exit(proc.wait(), on_signalled=on_signalled,
                                        on_failure=on_failure)

    def handle_process_exit(self, retcode: int, on_signalled: Callable | None = None,
                            on_failure: Callable | None = None) -> int:
        """Report a non-zero exit; return the exit code or signal number."""
        if retcode < 0:
            if on_signalled is not None:
                on_signalled(self, -retcode)
            return -retcode
        if retcode > 0 and on_failure is not None:
            on_failure(self, retcode)
        return retcode

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self.name}>'


def process_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0); Linux tells us its state
        with open(f'/proc/{pid}/stat') as fh:
            return fh.read().rpartition(')')[2].split()[0] != 'Z'
    except (OSError, IndexError):
        return True


class MultiParser:
    """Turn a parsed multi command line into :class:`Node` objects.

    A single number as the only name means that many nodes, named
    ``range_prefix`` plus their index (``celery1@host``, ``celery2@host``);
    otherwise each value is a node name.  A namespace names nodes by name,
    by index (from 1), as a list (``1,3``) or a range of indexes (``1-3``).
    """

    Node = Node

    def __init__(self, cmd: str = '-m celery worker --detach', append: str = '',
                 prefix: str = '', suffix: str = '', range_prefix: str = 'celery') -> None:
        self.cmd = cmd
        self.append = append
        self.prefix = prefix
        self.suffix = suffix
        self.range_prefix = range_prefix

    def parse(self, p: NamespacedOptionParser) -> Iterator[Node]:
        """Yield the nodes; :exc:`MultiError` for a namespace index out of range."""
        names = list(p.values)
        options = dict(p.options)
        cmd = options.pop('--cmd', None) or self.cmd
        append = options.pop('--append', None) or self.append
        hostname = options.pop('--hostname', None) or options.pop('-n', None) or gethostname()
        options.pop('-n', None)
        prefix = options.pop('--prefix', None) or self.prefix
        suffix = options.pop('--suffix', None) or self.suffix or hostname
        if suffix in ('""', "''"):
            suffix = ''
        range_prefix = options.pop('--range-prefix', None) or self.range_prefix
        if len(names) == 1 and names[0].isdigit():
            names, prefix = [str(i) for i in range(1, int(names[0]) + 1)], range_prefix
        built = [build_nodename(name, prefix, suffix) for name in names]
        namespaces = self._resolve_namespaces(p, built)
        for namespace, nodename, _ in built:
            merged = dict(options)
            merged.update(namespaces.get(nodename, {}))
            yield self.Node(nodename, cmd, append, merged, p.passthrough)

    @staticmethod
    def _resolve_namespaces(p: NamespacedOptionParser,
                            built: list[tuple[str, str, str]]) -> dict[str, dict[str, Any]]:
        """Map node names to the options their namespaces give them.

        A namespace names a node as written, by its full or short name, or by
        its index (from 1).  One naming no node is ignored (a shared
        configuration may mention nodes this host does not run); an index
        out of range is an error.
        """
        by_key: dict[str, str] = {}
        for namespace, nodename, _ in built:
            by_key.setdefault(nodename, nodename)
            by_key.setdefault(nodesplit(nodename)[0] or nodename, nodename)
            by_key.setdefault(namespace, nodename)
        resolved: defaultdict[str, dict[str, Any]] = defaultdict(dict)
        for spec, opts in p.namespaces.items():
            for key in _expand_spec(spec):
                if key in by_key:
                    resolved[by_key[key]].update(opts)
                elif key.isdigit():
                    index = int(key) - 1
                    if not 0 <= index < len(built):
                        raise MultiError(
                            f'No node at index {key} in option namespace {spec!r} '
                            f'(there are {len(built)} nodes, counted from 1)')
                    resolved[built[index][1]].update(opts)
        return resolved


class Cluster:
    """A set of nodes started, signalled and waited for together.

    Progress is reported through the ``on_*`` callbacks, each called with
    the node (and details) when the event happens; all are optional.
    """

    def __init__(self, nodes: Iterable[Node], cmd: str | None = None,
                 env: Mapping[str, str] | None = None, **callbacks: Callable | None) -> None:
        self.nodes = list(nodes)
        self.cmd = cmd or '-m celery worker --detach'
        self.env = env
        known = {'on_stopping_preamble', 'on_send_signal', 'on_still_waiting_for',
                 'on_still_waiting_progress', 'on_still_waiting_end', 'on_node_start',
                 'on_node_restart', 'on_node_shutdown_ok', 'on_node_status',
                 'on_node_signal', 'on_node_signal_dead', 'on_node_down',
                 'on_child_spawn', 'on_child_signalled', 'on_child_failure'}
        unknown = set(callbacks) - known
        if unknown:
            raise TypeError(f'unknown callbacks: {", ".join(sorted(unknown))}')
        self._callbacks = callbacks

    def _call(self, event: str, *args: Any, **kwargs: Any) -> None:
        callback = self._callbacks.get(event)
        if callback is not None:
            callback(*args, **kwargs)

    # -- starting ------------------------------------------------------------

    def start(self) -> list[int]:
        """Start every node; return their exit statuses."""
        return [self.start_node(node) for node in self.nodes]

    def start_node(self, node: Node) -> int:
        if node.remove_stale_pidfile():
            self._call('on_node_signal_dead', node)
        self._call('on_node_start', node)
        retcode = node.start(
            self.env,
            on_spawn=self._callbacks.get('on_child_spawn'),
            on_signalled=self._callbacks.get('on_child_signalled'),
            on_failure=self._callbacks.get('on_child_failure'),
        )
        self._call('on_node_status', node, retcode)
        return retcode

    # -- signalling ----------------------------------------------------------

    def send_all(self, sig: int) -> None:
        for node in self.getpids(on_down=self._callbacks.get('on_node_down')):
            self._call('on_node_signal', node, signal_name(sig))
            node.send(sig, self.on_node_signal_dead)

    def on_node_signal_dead(self, node: Node) -> None:
        node.remove_stale_pidfile()
        self._call('on_node_signal_dead', node)

    def kill(self, wait: float = 2.0) -> None:
        """SIGKILL every node, then remove the pid files they leave behind."""
        self.send_all(signal.SIGKILL)
        pending = [node for node in self.nodes if os.path.exists(node.pidfile)]
        deadline = time.monotonic() + wait
        while pending and time.monotonic() < deadline:
            pending = [node for node in pending if not node.remove_stale_pidfile()]
            if pending:
                time.sleep(0.05)

    def restart(self, sig: int = signal.SIGTERM, interval: float = 0.5) -> list[int]:
        """Stop each running node, wait for it and start it again.

        Nodes that were not running are started too.
        """
        retvals: list[int] = []
        down: list[Node] = []
        running = list(self.getpids(on_down=down.append))
        restarted = set()
        for node in self.shutdown_nodes(running, sig=sig, retry=interval):
            restarted.add(node.name)
            self._call('on_node_restart', node)
            retvals.append(self.start_node(node))
        for node in down + [n for n in running if n.name not in restarted]:
            self._call('on_node_down', node)
            self._call('on_node_restart', node)
            retvals.append(self.start_node(node))
        return retvals

    def stop(self, retry: float | None = None, callback: Callable | None = None,
             sig: int = signal.SIGTERM) -> list[Node]:
        """Signal every running node; with ``retry`` wait for them to go away."""
        stopped = []
        for node in self.shutdown_nodes(
                self.getpids(on_down=self._callbacks.get('on_node_down')),
                sig=sig, retry=retry):
            stopped.append(node)
            if callback is not None:
                callback(node)
        return stopped

    def stopwait(self, retry: float = 0.5, callback: Callable | None = None,
                 sig: int = signal.SIGTERM) -> list[Node]:
        return self.stop(retry=retry, callback=callback, sig=sig)

    def shutdown_nodes(self, nodes: Iterable[Node], sig: int = signal.SIGTERM,
                       retry: float | None = None) -> Iterator[Node]:
        """Signal ``nodes``; with ``retry``, yield each once its process and pid file are gone.

        Without ``retry`` every node signalled is yielded at once.
        """
        pending = list(nodes)
        if not pending:
            return
        self._call('on_stopping_preamble', pending)
        signalled = []
        for node in pending:
            self._call('on_send_signal', node, signal_name(sig))
            if node.send(sig, self.on_node_signal_dead):
                signalled.append(node)
                if not retry:
                    yield node
        if not retry:
            return
        waiting = signalled
        self._call('on_still_waiting_for', waiting)
        while waiting:
            gone = [node for node in waiting if not node.alive()]
            for node in gone:
                node.remove_stale_pidfile()
                waiting.remove(node)
                self._call('on_node_shutdown_ok', node)
                yield node
            if gone and waiting:
                self._call('on_still_waiting_for', waiting)
            elif waiting:
                self._call('on_still_waiting_progress', waiting)
                time.sleep(retry)
        self._call('on_still_waiting_end')

    # -- lookup ----------------------------------------------------------------

    def find(self, name: str) -> Node:
        """The node called ``name`` (full or short name); :exc:`KeyError` if none."""
        for node in self.nodes:
            if name in (node.name, node.shortname):
                return node
        raise KeyError(name)

    def getpids(self, on_down: Callable[[Node], Any] | None = None) -> Iterator[Node]:
        """Yield the nodes whose pid file names a live process.

        Nodes without one are passed to ``on_down``; a pid file left by a
        dead process (or unreadable) is removed on the way.
        """
        for node in self.nodes:
            try:
                pid = node.pid
            except ValueError:
                pid = None
            if pid and process_alive(pid):
                yield node
                continue
            node.remove_stale_pidfile()
            if on_down is not None:
                on_down(node)

    @property
    def data(self) -> list[Node]:
        return self.nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __getitem__(self, index: int) -> Node:
        return self.nodes[index]

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {len(self.nodes)} nodes>'


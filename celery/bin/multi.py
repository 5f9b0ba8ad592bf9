"""The ``celery multi`` command: start and stop several workers in the background.

Usage::

    celery multi COMMAND NODES [WORKER OPTIONS] [-- PASSED THROUGH]

``COMMAND`` is one of ``start``, ``stop``, ``stopwait``, ``restart``,
``kill``, ``show``, ``names``, ``get``, ``expand`` and ``help``.  ``NODES``
is a count (``3`` gives ``celery1`` to ``celery3``) or a list of names.
Options are worker options; ``-opt:SPEC value`` applies an option to some
nodes only (``-c:1-3 4``, ``-Q:w2 images``, ``--logfile:w1=w1.log``).
``%n`` (short node name), ``%h`` (full node name) and ``%d`` (host part)
are expanded per node; ``%i``/``%I`` are left for the worker.

Each node is started as ``python -m celery worker --detach`` with its own
pid file (default ``/var/run/celery/%n.pid``) and log file (default
``/var/log/celery/%n%I.log``); the same ``--pidfile`` must be given to the
later ``stop``, ``stopwait``, ``restart`` and ``kill``, as nothing is stored
between calls.  The real work is in :mod:`celery.apps.multi`.
"""
from __future__ import annotations

import signal
import sys
from typing import IO, Any, Callable, Mapping, Sequence

import click

from celery.apps.multi import Cluster, MultiError, MultiParser, NamespacedOptionParser, Node

__all__ = ('MultiTool', 'multi', 'main')

EX_OK, EX_FAILURE, EX_USAGE = 0, 1, 64

USAGE = """\
usage: celery multi COMMAND NODES [worker options] [-- passthrough]

commands:
  start     start the nodes in the background (celery worker --detach)
  stop      send TERM to the nodes and return
  stopwait  send TERM to the nodes and wait until they are gone
  restart   stop each running node, wait for it and start it again
  kill      send KILL to the nodes and remove their pid files
  show      print the command line of every node
  names     print the node names
  get       print the command line of one node: get NAME NODES [options]
  expand    expand a template for every node: expand TEMPLATE NODES [options]
  help      print this text

NODES is a count (3 -> celery1..celery3, prefix set by --range-prefix)
or a list of names (w1 w2, or full names such as w1@example.com).

options for some nodes only: -c:1-3 4  -Q:w2 images  --logfile:w1=w1.log
placeholders, per node: %n short name, %h node name, %d host part,
%i / %I pool process index (expanded by the worker itself).

multi's own options: --nosplash --quiet/-q --verbose --no-color
  --cmd=CMD --hostname/-n=HOST --range-prefix=P --executable=PYTHON

examples:
  celery -A proj multi start 3 -c 2 --pidfile=run/%n.pid --logfile=log/%n%I.log
  celery multi stopwait 3 --pidfile=run/%n.pid
  celery -A proj multi start w1 w2 -Q:w1 images -Q:w2 video -l INFO
  celery multi show 10 -Q:1-3 images,video -c:4,5 8
"""

#: ``celery`` group options that multi hands on to every worker.  (``--quiet``
#: and ``--no-color`` apply to multi's own output instead.)
_GLOBAL_PARAMS: tuple[tuple[str, str], ...] = (
    ('app', '--app'), ('broker', '--broker'), ('result_backend', '--result-backend'),
    ('loader', '--loader'), ('config', '--config'), ('workdir', '--workdir'),
)


def _version() -> str:
    import celery
    return f'{celery.__version__} ({celery.SERIES})'


class MultiTool:
    """Run one ``celery multi`` command line and report progress.

    Arguments:
        env: environment of the started workers (default: this process's).
        cmd: the worker command after the Python executable.
        stdout, stderr: where progress and errors go.
        nosplash, quiet, verbose, no_color: output switches (also read
            from the command line: ``--nosplash``, ``-q``, ``--verbose``,
            ``--no-color``).
    """

    MultiParser = MultiParser
    reserved_options = (
        ('--nosplash', 'nosplash'), ('--quiet', 'quiet'), ('-q', 'quiet'),
        ('--verbose', 'verbose'), ('--no-color', 'no_color'),
    )
    retry_interval = 0.5

    def __init__(self, env: Mapping[str, str] | None = None, cmd: str | None = None,
                 stdout: IO[str] | None = None, stderr: IO[str] | None = None,
                 nosplash: bool = False, quiet: bool = False, verbose: bool = False,
                 no_color: bool = False) -> None:
        self.env = env
        self.cmd = cmd
        self.stdout = stdout
        self.stderr = stderr
        self.nosplash = nosplash
        self.quiet = quiet
        self.verbose = verbose
        self.no_color = no_color
        self.prog_name = 'celery multi'
        self._partial_line = False  # a progress line waits for its end
        self._restarting = False
        self.commands: dict[str, Callable[..., int]] = {
            'start': self.start, 'stop': self.stop, 'stopwait': self.stopwait,
            'stop_verify': self.stopwait, 'restart': self.restart, 'kill': self.kill,
            'show': self.show, 'names': self.names, 'get': self.get,
            'expand': self.expand, 'help': self.help,
        }

    # -- entry point ---------------------------------------------------------

    def execute_from_commandline(self, argv: Sequence[str]) -> int:
        """Run ``argv`` (without the program name); return the exit status."""
        argv = self._take_reserved_options(list(argv))
        if not argv or argv[0] in ('-h', '--help'):
            self.usage()
            return EX_OK if argv else EX_USAGE
        command, rest = argv[0], argv[1:]
        try:
            handler = self.commands[command]
        except KeyError:
            self.error(f'Invalid command: {command!r} (see: celery multi help)')
            return EX_USAGE
        try:
            return handler(*rest)
        except MultiError as exc:
            self.error(str(exc))
            return EX_USAGE

    def _take_reserved_options(self, argv: list[str]) -> list[str]:
        cut = argv.index('--') if '--' in argv else len(argv)
        head, tail = argv[:cut], argv[cut:]
        for flag, attr in self.reserved_options:
            while flag in head:
                head.remove(flag)
                setattr(self, attr, True)
        return head + tail

    # -- building the cluster ------------------------------------------------

    def _nodes(self, argv: Sequence[str], cmd: str | None = None) -> list[Node]:
        p = NamespacedOptionParser(argv).parse()
        if not p.values:
            raise MultiError('no nodes given: name them or give a count (see: celery multi help)')
        parser = self.MultiParser(cmd=cmd or self.cmd or '-m celery worker --detach')
        return list(parser.parse(p))

    def cluster_from_argv(self, argv: Sequence[str], cmd: str | None = None) -> Cluster:
        return Cluster(
            self._nodes(argv, cmd), env=self.env,
            on_stopping_preamble=self.on_stopping_preamble,
            on_send_signal=self.on_send_signal,
            on_still_waiting_for=self.on_still_waiting_for,
            on_still_waiting_progress=self.on_still_waiting_progress,
            on_still_waiting_end=self.on_still_waiting_end,
            on_node_start=self.on_node_start,
            on_node_restart=self.on_node_restart,
            on_node_shutdown_ok=self.on_node_shutdown_ok,
            on_node_status=self.on_node_status,
            on_node_signal_dead=self.on_node_signal_dead,
            on_node_signal=self.on_node_signal,
            on_node_down=self.on_node_down,
            on_child_spawn=self.on_child_spawn,
            on_child_signalled=self.on_child_signalled,
            on_child_failure=self.on_child_failure,
        )

    # -- commands --------------------------------------------------------------

    def start(self, *argv: str) -> int:
        cluster = self.cluster_from_argv(argv)
        self.splash()
        self.note('> Starting nodes...')
        return EX_FAILURE if any(cluster.start()) else EX_OK

    def stop(self, *argv: str, retry: float | None = None,
             sig: int = signal.SIGTERM) -> int:
        cluster = self.cluster_from_argv(argv)
        self.splash()
        cluster.stop(retry=retry, sig=sig)
        return EX_OK

    def stopwait(self, *argv: str, sig: int = signal.SIGTERM) -> int:
        return self.stop(*argv, retry=self.retry_interval, sig=sig)

    def restart(self, *argv: str, sig: int = signal.SIGTERM) -> int:
        cluster = self.cluster_from_argv(argv)
        self.splash()
        return EX_FAILURE if any(cluster.restart(sig=sig, interval=self.retry_interval)) else EX_OK

    def kill(self, *argv: str) -> int:
        cluster = self.cluster_from_argv(argv)
        self.splash()
        cluster.kill()
        return EX_OK

    def show(self, *argv: str) -> int:
        for node in self._nodes(argv):
            self.say(' '.join(_quote(arg) for arg in node.argv_with_executable))
        return EX_OK

    def names(self, *argv: str) -> int:
        for node in self._nodes(argv):
            self.say(node.name)
        return EX_OK

    def get(self, *argv: str) -> int:
        if not argv:
            raise MultiError('usage: celery multi get NODENAME NODES [options]')
        wanted, rest = argv[0], argv[1:]
        for node in self._nodes(rest):
            if wanted in (node.name, node.shortname):
                self.say(' '.join(_quote(arg) for arg in node.argv_with_executable))
                return EX_OK
        self.error(f'No node named {wanted!r}')
        return EX_FAILURE

    def expand(self, *argv: str) -> int:
        if not argv:
            raise MultiError('usage: celery multi expand TEMPLATE NODES [options]')
        template, rest = argv[0], argv[1:]
        for node in self._nodes(rest):
            self.say(node.expander(template))
        return EX_OK

    def help(self, *argv: str) -> int:
        self.usage()
        return EX_OK

    # -- progress reports ------------------------------------------------------

    def on_stopping_preamble(self, nodes: list[Node]) -> None:
        self.note(self.colored('> Stopping nodes...', fg='cyan', bold=True))

    def on_send_signal(self, node: Node, sig: str) -> None:
        self.note(f'\t> {node.name}: {self.colored(sig, fg="cyan")} -> {_safe_pid(node)}')

    def on_still_waiting_for(self, nodes: list[Node]) -> None:
        count = len(nodes)
        if count:
            pids = ', '.join(str(_safe_pid(node)) for node in nodes)
            plural = 'node' if count == 1 else 'nodes'
            self.note(self.colored(f'> Waiting for {count} {plural} -> {pids}...',
                                   fg='cyan', bold=True), newline=False)

    def on_still_waiting_progress(self, nodes: list[Node]) -> None:
        self.note('.', newline=False)

    def on_still_waiting_end(self) -> None:
        self._end_line()

    def on_node_start(self, node: Node) -> None:
        if self._restarting:  # already announced by on_node_restart
            self._restarting = False
            return
        self._show_command(node)
        self.note(f'\t> {node.name}: ', newline=False)

    def _show_command(self, node: Node) -> None:
        if self.verbose:
            command = ' '.join(_quote(arg) for arg in node.argv_with_executable)
            self.note(f'\t> {node.name}: {command}')

    def on_node_restart(self, node: Node) -> None:
        self._show_command(node)
        self.note(self.colored(f'> Restarting node {node.name}: ', fg='cyan', bold=True),
                  newline=False)
        self._restarting = True

    def on_node_down(self, node: Node) -> None:
        self.note(f'> {node.name}: {self.colored("DOWN", fg="magenta")}')

    def on_node_shutdown_ok(self, node: Node) -> None:
        self.note(f'\t> {node.name}: {self.OK}')

    def on_node_status(self, node: Node, retval: int) -> None:
        self.note(self.FAILED if retval else self.OK)

    def on_node_signal(self, node: Node, sig: str) -> None:
        self.note(f'\t> {node.name}: {self.colored(sig, fg="cyan")} -> {_safe_pid(node)}')

    def on_node_signal_dead(self, node: Node) -> None:
        self.note(f'\t> {node.name}: process gone, removed its stale pid file '
                  f'{node.pidfile}')

    def on_child_spawn(self, node: Node, argstr: str, env: Any) -> None:
        pass  # with --verbose, on_node_start shows the command line

    def on_child_signalled(self, node: Node, signum: int) -> None:
        self.note(f'* Child was terminated by signal {signum}')

    def on_child_failure(self, node: Node, retcode: int) -> None:
        self.note(f'* Child terminated with exit code {retcode}')

    # -- output ----------------------------------------------------------------

    @property
    def OK(self) -> str:  # noqa: N802 - reads like a constant
        return self.colored('OK', fg='green', bold=True)

    @property
    def FAILED(self) -> str:  # noqa: N802
        return self.colored('FAILED', fg='red', bold=True)

    def colored(self, text: str, **style: Any) -> str:
        return text if self.no_color else click.style(text, **style)

    def splash(self) -> None:
        if not self.nosplash:
            self.note(self.colored(f'{self.prog_name} v{_version()}', fg='cyan', bold=True))

    def usage(self) -> None:
        self.say(USAGE, newline=False)

    def say(self, msg: str, newline: bool = True, err: bool = False) -> None:
        if not err and self._partial_line and msg.startswith(('>', '\t>')):
            self._end_line()
        click.echo(msg, file=self.stderr if err else self.stdout, nl=newline,
                   color=None if not self.no_color else False)
        if not err:
            self._partial_line = not newline and (self._partial_line or bool(msg))

    def _end_line(self) -> None:
        if self._partial_line:
            self._partial_line = False
            click.echo('', file=self.stdout)

    def note(self, msg: str, newline: bool = True) -> None:
        if not self.quiet:
            self.say(msg, newline=newline)

    def error(self, msg: str) -> None:
        self.say(f'{self.colored("Error", fg="red")}: {msg}', err=True)


def _safe_pid(node: Node) -> int | None:
    """The node's pid, or the last one seen once the pid file is gone."""
    try:
        return node.pid or node.last_pid
    except ValueError:
        return node.last_pid


def _quote(arg: str) -> str:
    import shlex
    return shlex.quote(str(arg))


def _global_args(ctx: click.Context) -> list[str]:
    """The ``celery`` group options given before ``multi``, as worker options."""
    params = ctx.find_root().params if ctx.parent is not None else {}
    args: list[str] = []
    for name, flag in _GLOBAL_PARAMS:
        value = params.get(name)
        if value:
            args.append(f'{flag}={value}')
    return args


class _PassThroughCommand(click.Command):
    """A command that leaves its arguments alone (``--`` included) for MultiTool."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.args = list(args)
        return ctx.args


@click.command(cls=_PassThroughCommand, name='multi', add_help_option=False,
               context_settings={'ignore_unknown_options': True,
                                 'allow_extra_args': True})
@click.pass_context
def multi(ctx: click.Context, **kwargs: Any) -> None:
    """Start and stop several workers in the background (see: celery multi help)."""
    obj = ctx.obj
    tool = MultiTool(quiet=bool(getattr(obj, 'quiet', False)),
                     no_color=bool(getattr(obj, 'no_color', False)))
    argv = list(ctx.args)
    if argv:
        cut = argv.index('--') if '--' in argv else len(argv)
        argv[cut:cut] = _global_args(ctx)  # before any passthrough section
    ctx.exit(tool.execute_from_commandline(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``celery multi`` without the ``celery`` group (for scripts)."""
    return MultiTool().execute_from_commandline(sys.argv[1:] if argv is None else argv)


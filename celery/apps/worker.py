"""The ``celery worker`` program: :class:`Worker`.

A :class:`~celery.worker.WorkController` that sets up logging, prints the
start-up banner, optionally purges the queues, and installs the signal
handlers of a worker process:

* ``SIGTERM`` -- warm shutdown (finish running tasks, then exit); a cold
  one, like ``SIGQUIT``, when the environment has ``REMAP_SIGTERM=SIGQUIT``;
* ``SIGINT`` -- warm shutdown; a second one: cold shutdown;
* ``SIGQUIT`` -- cold shutdown (terminate running tasks), after a soft
  shutdown when :setting:`worker_soft_shutdown_timeout` is set;
* ``SIGHUP`` -- restart (re-exec) when not attached to a terminal;
* ``SIGUSR1`` -- dump the stack of every thread to the log.

Signal handlers only set flags and wake the event loop, which does the work.
"""
from __future__ import annotations

import logging
import os
import platform as _platform
import sys
import threading
import traceback
from datetime import datetime
from functools import partial
from typing import Any, Callable

from billiard.process import current_process
from kombu.utils.encoding import safe_str

from celery import platforms, signals
from celery.app import trace
from celery.exceptions import WorkerTerminate
from celery.platforms import EX_FAILURE, EX_OK, check_privileges
from celery.utils.log import get_logger, in_sighandler, set_in_sighandler
from celery.worker import WorkController
from celery.worker import state as worker_state

__all__ = ('Worker',)

logger = get_logger(__name__)
is_pypy = hasattr(sys, 'pypy_version_info')

ARTLINES = [
    '            ',
    '   .----.   ',
    '  /  ()  \\  ',
    ' |  ----  | ',
    ' |  ()()  | ',
    '  \\  --  /  ',
    "   '----'   ",
]

BANNER = """\
{hostname} v{version}

{platform} {timestamp}

[config]
.> app:         {app}
.> transport:   {conninfo}
.> results:     {results}
.> concurrency: {concurrency}
.> task events: {events}

[queues]
{queues}
"""

EXTRA_INFO_FMT = """
[tasks]
{tasks}
"""


def _version_banner() -> str:
    import celery
    return f'{celery.__version__} ({celery.SERIES})'


def probe_platform() -> threading.Thread:
    """Compute ``platform.platform()`` in a thread; the result is cached by the module.

    On Linux it runs ``uname -p`` in a subprocess: waiting for that while
    the worker imports its transport, rather than when it prints the banner,
    keeps the wait off the start-up path.  The thread ends before the pool
    forks (:meth:`Worker.platform_name` joins it).
    """
    probe = threading.Thread(target=_platform.platform, name='platform-probe', daemon=True)
    probe.start()
    return probe


def safe_say(msg: str, f: Any = sys.__stderr__) -> None:
    """Write ``msg`` to ``f`` (usable in signal handlers: no logging)."""
    if f is None:
        return
    try:
        print(f'\n{msg}', file=f, flush=True)
    except (OSError, ValueError):
        pass


class Worker(WorkController):
    """A worker process as started by ``celery worker``."""

    quiet = False
    purge = False
    no_color: bool | None = None
    _platform_probe: threading.Thread | None = None

    def on_before_init(self, quiet: bool = False, **kwargs: Any) -> None:
        self.quiet = quiet
        trace.setup_worker_optimizations(self.app, self.hostname)
        if signals.celeryd_init.receivers:
            signals.celeryd_init.send(sender=self.hostname, instance=self,
                                      conf=self.app.conf, options=kwargs)
        check_privileges(self.app.conf.accept_content)

    def on_after_init(self, purge: bool = False, no_color: bool | None = None,
                      redirect_stdouts: bool | None = None,
                      redirect_stdouts_level: Any = None, **kwargs: Any) -> None:
        self.redirect_stdouts = self.app.either('worker_redirect_stdouts', redirect_stdouts)
        self.redirect_stdouts_level = self.app.either('worker_redirect_stdouts_level',
                                                      redirect_stdouts_level)
        super().setup_defaults(**kwargs)
        self.purge = purge
        self.no_color = no_color
        self._isatty = platforms.isatty(sys.stdout)
        self.colored = self.app.log.colored(
            self.logfile, enabled=not no_color if no_color is not None else no_color)
        if not self.quiet:  # the banner's platform line, looked up meanwhile
            self._platform_probe = probe_platform()

    def on_init_blueprint(self) -> None:
        self._custom_logging = self.setup_logging()
        # finalizes the app: every task is known from here on
        trace.setup_worker_optimizations(self.app, self.hostname)
        from celery.worker import request
        request.__optimize__()

    def on_start(self) -> None:
        app = self.app
        super().on_start()
        if signals.celeryd_after_setup.receivers:
            signals.celeryd_after_setup.send(sender=self.hostname, instance=self, conf=app.conf)
        if self.purge:
            self.purge_messages()
        if not self.quiet:
            self.emit_banner()
        self.set_process_status('-active-')
        self.install_platform_tweaks(self)
        if not self._custom_logging and self.redirect_stdouts:
            app.log.redirect_stdouts(self.redirect_stdouts_level)
        warn_deprecated = True
        config_source = getattr(app, '_config_source', None)
        if isinstance(config_source, str):
            warn_deprecated = config_source.lower() not in ('django.conf:settings',)
        maybe_warn = getattr(app.conf, 'maybe_warn_deprecated_settings', None)
        if warn_deprecated and maybe_warn is not None and maybe_warn():
            logger.warning('Please run `celery upgrade settings path/to/settings.py` '
                           'to avoid these warnings and to allow a smoother upgrade '
                           'to Celery 6.0.')

    def emit_banner(self) -> None:
        print(safe_str(''.join([
            str(self.colored.cyan(' \n', self.startup_info())),
            str(self.colored.reset(self.extra_info() or '')),
        ])), file=sys.__stdout__, flush=True)

    def on_consumer_ready(self, consumer: Any) -> None:
        if signals.worker_ready.receivers:
            signals.worker_ready.send(sender=consumer)
        logger.info('%s ready.', safe_str(self.hostname))

    def setup_logging(self, colorize: bool | None = None) -> Any:
        if colorize is None and self.no_color is not None:
            colorize = not self.no_color
        return self.app.log.setup(self.loglevel, self.logfile, redirect_stdouts=False,
                                  colorize=colorize, hostname=self.hostname)

    def purge_messages(self) -> None:
        with self.app.connection_for_write() as connection:
            count = self.app.control.purge(connection=connection)
            if count:
                word = 'message' if count == 1 else 'messages'
                print(f'purge: Erased {count} {word} from the queue.\n', flush=True)

    def tasklist(self, include_builtins: bool = True, sep: str = '\n',
                 int_: str = 'celery.') -> str:
        return sep.join(
            f'  . {task}' for task in sorted(self.app.tasks)
            if include_builtins or not task.startswith(int_))

    def extra_info(self) -> str | None:
        if self.loglevel is None:
            return None
        if self.loglevel <= logging.INFO:
            include_builtins = self.loglevel <= logging.DEBUG
            return EXTRA_INFO_FMT.format(tasks=self.tasklist(include_builtins=include_builtins))
        return None

    def startup_info(self, artlines: bool = True) -> str:
        app = self.app
        concurrency = str(self.concurrency)
        appr = f'{app.main or "__main__"}:{id(app):#x}'
        loader = type(app.loader)
        if not loader.__module__.startswith('celery.loaders.app'):
            name = f'{loader.__module__}.{loader.__name__}'
            if name.startswith('celery.loaders'):
                name = name[len('celery.loaders.'):]
            appr += f' ({name})'
        if self.autoscale:
            max_c, min_c = self.autoscale
            concurrency = f'{{min={min_c}, max={max_c}}}'
        pool = self.pool_cls
        if not isinstance(pool, str):
            pool = pool.__module__
        concurrency += f" ({pool.split('.')[-1]})"
        events = 'ON' if self.task_events else 'OFF (enable -E to monitor tasks in this worker)'
        banner = BANNER.format(
            app=appr,
            hostname=safe_str(self.hostname),
            timestamp=datetime.now().replace(microsecond=0),
            version=_version_banner(),
            conninfo=self.app.connection().as_uri(),
            results=self._results_uri(),
            concurrency=concurrency,
            platform=safe_str(self.platform_name()),
            events=events,
            queues=app.amqp.queues.format(indent=0, indent_first=False),
        ).splitlines()
        if artlines:
            for i, line in enumerate(banner):
                art = ARTLINES[i] if i < len(ARTLINES) else ' ' * len(ARTLINES[0])
                banner[i] = f'{art} {line}'
        return '\n'.join(banner) + '\n'

    def platform_name(self) -> str:
        """``platform.platform()``, once the look-up started at init has finished."""
        probe, self._platform_probe = self._platform_probe, None
        if probe is not None:
            probe.join()
        return _platform.platform()

    def _results_uri(self) -> str:
        try:
            return self.app.backend.as_uri()
        except Exception:  # a backend that cannot even describe itself
            return str(self.app.conf.result_backend or 'disabled://')

    def install_platform_tweaks(self, worker: Any) -> None:
        """Install the signal handlers of a worker process."""
        if not self._isatty:
            # only when detached: closing the terminal must not restart us
            if self.app.IS_macOS:
                install_HUP_not_supported_handler(worker)
            else:
                install_worker_restart_handler(worker)
        install_worker_term_handler(worker)
        install_worker_term_hard_handler(worker)
        install_worker_int_handler(worker)
        install_cry_handler()

    def set_process_status(self, info: str) -> str:
        return platforms.set_mp_process_title(
            'celeryd', info=f'{info} ({platforms.strargv(sys.argv)})',
            hostname=self.hostname)


def _shutdown_handler(worker: Any, sig: str = 'SIGTERM', how: str = 'Warm',
                      callback: Callable | None = None, exitcode: int = EX_OK,
                      verbose: bool = True) -> None:
    """Install a handler asking for a warm or cold shutdown (in the main process)."""

    def _handle_request(*args: Any) -> None:
        with in_sighandler():
            if current_process()._name == 'MainProcess':
                if callback:
                    callback(worker)
                if verbose:
                    safe_say(f'worker: {how} shutdown (MainProcess)', sys.__stdout__)
                if signals.worker_shutting_down.receivers:
                    signals.worker_shutting_down.send(sender=worker.hostname, sig=sig,
                                                      how=how, exitcode=exitcode)
            if how == 'Warm':
                worker_state.should_stop = exitcode
            else:
                worker_state.should_terminate = exitcode
            worker.wakeup()
        if how == 'Cold' and worker_state.should_stop is not None and _warm_shutdown_running(worker):
            # a warm shutdown waits for the pool: this cuts it short
            raise WorkerTerminate(exitcode)

    _handle_request.__name__ = f'worker_{how}'
    platforms.signals[sig] = _handle_request


def _warm_shutdown_running(worker: Any) -> bool:
    blueprint = getattr(worker, 'blueprint', None)
    from celery.bootsteps import CLOSE
    return blueprint is not None and blueprint.state == CLOSE


def on_SIGINT(worker: Any) -> None:
    safe_say('worker: Hitting Ctrl+C again will terminate all running tasks!', sys.__stdout__)
    install_worker_term_hard_handler(worker, sig='SIGINT')


def install_worker_term_handler(worker: Any, sig: str = 'SIGTERM') -> None:
    """``SIGTERM``: warm shutdown, or cold when ``REMAP_SIGTERM=SIGQUIT`` is set.

    The environment is read when the handler is installed, so a supervisor
    that can only send ``SIGTERM`` (docker, Kubernetes) can ask for the cold
    shutdown, soft first when :setting:`worker_soft_shutdown_timeout` is set.
    """
    if sigterm_is_cold():
        _shutdown_handler(worker, sig=sig, how='Cold', exitcode=EX_FAILURE)
    else:
        _shutdown_handler(worker, sig=sig, how='Warm')


def sigterm_is_cold() -> bool:
    """Whether ``REMAP_SIGTERM`` maps ``SIGTERM`` to the cold shutdown of ``SIGQUIT``."""
    remap = os.environ.get('REMAP_SIGTERM', '').strip().upper()
    return remap in ('SIGQUIT', 'QUIT')


install_worker_term_hard_handler = partial(_shutdown_handler, sig='SIGQUIT', how='Cold',
                                           exitcode=EX_FAILURE)
install_worker_int_handler = partial(_shutdown_handler, sig='SIGINT', callback=on_SIGINT,
                                     exitcode=EX_FAILURE)


def _reload_current_worker() -> None:
    platforms.close_open_fds([sys.__stdin__, sys.__stdout__, sys.__stderr__])
    os.execv(sys.executable, [sys.executable] + sys.argv)


def install_worker_restart_handler(worker: Any, sig: str = 'SIGHUP') -> None:
    """``SIGHUP``: warm shutdown, then re-exec the same command line."""

    def restart_worker_sig_handler(*args: Any) -> None:
        set_in_sighandler(True)
        safe_say(f"Restarting celery worker ({' '.join(sys.argv)})", sys.__stdout__)
        import atexit
        atexit.register(_reload_current_worker)
        worker_state.should_stop = EX_OK
        worker.wakeup()

    platforms.signals[sig] = restart_worker_sig_handler


def install_cry_handler(sig: str = 'SIGUSR1') -> None:
    """``SIGUSR1``: log the stack of every thread."""
    if is_pypy:  # pragma: no cover
        return

    def cry_handler(*args: Any) -> None:
        with in_sighandler():
            safe_say(cry())

    platforms.signals[sig] = cry_handler


def cry() -> str:
    """Return the current stack of every thread, as text."""
    import threading
    frames = sys._current_frames()
    out = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident)
        if frame is None:
            continue
        out.append(f'{thread.name} ({thread.ident})\n' + '=' * 49)
        out.append(''.join(traceback.format_stack(frame)))
    return '\n'.join(out)


def install_HUP_not_supported_handler(worker: Any, sig: str = 'SIGHUP') -> None:
    def warn_on_HUP_handler(signum: int, frame: Any) -> None:
        with in_sighandler():
            safe_say(f'{sig} not supported: Restarting with {sig} is '
                     'unstable on this platform!')

    platforms.signals[sig] = warn_on_HUP_handler


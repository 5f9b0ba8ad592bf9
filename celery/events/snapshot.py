"""Snapshot cameras: look at the cluster state at a fixed rate.

Subclass :class:`Polaroid` and override :meth:`Polaroid.on_shutter` (and
maybe :meth:`Polaroid.on_cleanup`); ``celery events --camera=mod.Camera
--frequency=2.0`` (or :func:`evcam`) runs it.  The shutter runs in a timer
thread while the events are applied in the receiving thread; the state is
frozen meanwhile (:meth:`State.freeze_while`).
"""
from __future__ import annotations

import sys
from typing import Any

from kombu.utils.limits import TokenBucket

from celery import _state, platforms
from celery.utils.dispatch import Signal
from celery.utils.imports import instantiate
from celery.utils.log import get_logger
from celery.utils.time import rate
from celery.utils.timer2 import Timer

__all__ = ('Polaroid', 'evcam')

logger = get_logger('celery.evcam')


class Polaroid:
    """Take a snapshot of the cluster state every ``freq`` seconds.

    Arguments:
        state: the :class:`~celery.events.state.State` to photograph.
        freq: seconds between shots.
        maxrate: at most this many shots (a rate string like ``'10/m'``).
        cleanup_freq: seconds between calls of :meth:`cleanup`.
        timer: a :class:`celery.utils.timer2.Timer` to schedule shots on.
    """

    timer: Any = None
    shutter_signal = Signal(name='shutter', providing_args={'state'})
    cleanup_signal = Signal(name='cleanup')
    #: Clear the state after each shot (its event and task counts too).
    clear_after = False

    _tref: Any = None
    _ctref: Any = None

    def __init__(self, state: Any, freq: float = 1.0, maxrate: Any = None,
                 cleanup_freq: float = 3600.0, timer: Any = None,
                 app: Any = None) -> None:
        self.app = _state.app_or_default(app)
        self.state = state
        self.freq = freq
        self.cleanup_freq = cleanup_freq
        self.timer = timer or self.timer or Timer()
        self.logger = logger
        self.maxrate = TokenBucket(rate(maxrate)) if maxrate else None

    def install(self) -> None:
        """Start taking shots (and cleaning up) on the timer."""
        self._tref = self.timer.call_repeatedly(self.freq, self.capture)
        self._ctref = self.timer.call_repeatedly(self.cleanup_freq, self.cleanup)

    def on_shutter(self, state: Any) -> None:
        """Handle a snapshot of ``state`` (override this)."""

    def on_cleanup(self) -> None:
        """Do periodic clean-up (override this)."""

    def cleanup(self) -> None:
        logger.debug('Cleanup: Running...')
        if self.cleanup_signal.receivers:
            self.cleanup_signal.send(sender=self.state)
        self.on_cleanup()

    def shutter(self) -> None:
        """Take one shot now, unless over :attr:`maxrate`."""
        if self.maxrate is None or self.maxrate.can_consume():
            logger.debug('Shutter: %s', self.state)
            if self.shutter_signal.receivers:
                self.shutter_signal.send(sender=self.state)
            self.on_shutter(self.state)

    def capture(self) -> None:
        """Take a shot with the state frozen (and cleared after if asked)."""
        self.state.freeze_while(self.shutter, clear_after=self.clear_after)

    def cancel(self) -> None:
        """Stop taking shots; the last one is taken now."""
        if self._tref is not None:
            self._tref()  # a final shot
            self._tref.cancel()
        if self._ctref is not None:
            self._ctref.cancel()

    def __enter__(self) -> Polaroid:
        self.install()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.cancel()


def evcam(camera: Any, freq: float = 1.0, maxrate: Any = None,
          loglevel: Any = 0, logfile: str | None = None,
          pidfile: str | None = None, timer: Any = None, app: Any = None,
          **kwargs: Any) -> None:
    """Run ``camera`` (a class, or its dotted name) on live events forever."""
    app = _state.app_or_default(app)
    if pidfile:
        platforms.create_pidlock(pidfile)
    app.log.setup_logging_subsystem(loglevel, logfile)
    print(f'-> evcam: Taking snapshots with {camera} (every {freq} secs.)',
          file=sys.stdout, flush=True)
    state = app.events.State()
    cam = instantiate(camera, state, app=app, freq=freq, maxrate=maxrate,
                      timer=timer)
    cam.install()
    conn = app.connection_for_read()
    recv = app.events.Receiver(conn, handlers={'*': state.event})
    try:
        try:
            recv.capture(limit=None)
        except KeyboardInterrupt:
            raise SystemExit from None
    finally:
        cam.cancel()
        conn.close()

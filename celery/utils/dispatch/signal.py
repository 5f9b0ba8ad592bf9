"""Signals: in-process publish/subscribe (the observer pattern).

A :class:`Signal` keeps a list of receivers, each optionally limited to one
sender.  ``send`` calls the matching receivers with ``signal``, ``sender``
and the signal's keyword arguments; an error in one receiver is logged and
returned in place of its response, and the others still run.

Receivers are held through weak references by default (bound methods through
:class:`weakref.WeakMethod`) and disappear with their object.

Thread safety: connect/disconnect take a lock and replace the receiver list
(copy on write), so ``send`` reads it without locking.  Hot paths may test
``if signal.receivers:`` to skip building arguments when nobody listens.
"""
from __future__ import annotations

import logging
import threading
import warnings
import weakref
from types import MethodType
from typing import Any, Callable, Hashable, Iterable

from celery.local import PromiseProxy, Proxy

__all__ = ('Signal',)

logger = logging.getLogger(__name__)

Receiver = Callable[..., Any]

_NO_RECEIVERS: tuple = ()


def _make_id(target: Any) -> Hashable:
    """Key for a receiver or sender: strings by value, objects by identity."""
    if isinstance(target, Proxy):
        target = target._get_current_object()
    if isinstance(target, (str, bytes)):
        return target
    if target is None:
        return None
    func = getattr(target, '__func__', None)
    owner = getattr(target, '__self__', None)
    if func is not None and owner is not None:  # bound method: new each time
        return (id(owner), id(func))
    return id(target)


def _lookup_key(receiver: Any, sender: Any, dispatch_uid: Hashable) -> tuple:
    if dispatch_uid:
        return (dispatch_uid, _make_id(sender))
    return (_make_id(receiver), _make_id(sender))


def _accepts_kwargs(fun: Callable) -> bool:
    import inspect  # only needed when connecting; keeps import time low
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):  # builtins and the like: trust them
        return True
    return any(p.kind is p.VAR_KEYWORD for p in params)


class Signal:
    """An event that receivers can subscribe to.

    Arguments:
        providing_args: names of the keyword arguments sent (documentation).
        use_caching: remember the receivers found for each sender.
        name: the signal's name, used in reprs and logs.
    """

    #: ``[(lookup_key, receiver or weak reference), ...]``; empty (falsy)
    #: when nothing is connected.
    receivers: list

    def __init__(self, providing_args: Iterable[str] | None = None,
                 use_caching: bool = False, name: str | None = None) -> None:
        self.receivers = []
        self.providing_args = set(providing_args or ())
        self.use_caching = use_caching
        self.name = name
        self.lock = threading.Lock()
        self._cache: dict[Hashable, tuple] = {}
        self._dead_receivers = False

    # -- connecting ---------------------------------------------------------

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        """Connect a receiver, directly or as a decorator.

        ``sig.connect(fun)``, ``@sig.connect`` and
        ``@sig.connect(sender=..., weak=..., dispatch_uid=..., retry=...)``
        are all accepted.

        Arguments:
            receiver: callable accepting ``**kwargs``.
            sender: only receive signals sent by this object (or equal
                string); ``None`` receives from every sender.
            weak: hold the receiver by weak reference (default True).
            dispatch_uid: identifies the receiver; a second connect with the
                same uid (and sender) is ignored.
            retry: on error, call the receiver again with increasing delays
                until it succeeds (keeps a strong reference).
        """
        if args and callable(args[0]):
            return self._connect(args[0], *args[1:], **kwargs)

        def _decorate(fun: Receiver) -> Receiver:
            return self._connect(fun, *args, **kwargs)
        return _decorate

    def _connect(self, receiver: Receiver, sender: Any = None,
                 weak: bool = True, dispatch_uid: Hashable = None,
                 retry: bool = False) -> Receiver:
        if not callable(receiver):
            raise TypeError('Signal receivers must be callable.')
        if not _accepts_kwargs(receiver):
            raise ValueError('Signal receiver must accept keyword arguments.')
        target = receiver
        if retry:
            weak = False
            dispatch_uid = dispatch_uid or _make_id(receiver)
            target = _RetryingReceiver(receiver)
        if isinstance(sender, PromiseProxy) and not sender.__evaluated__():
            sender.__then__(self._connect_resolved, target, sender, weak,
                            dispatch_uid)
            return receiver
        self._connect_resolved(target, sender, weak, dispatch_uid)
        return receiver

    def _connect_resolved(self, receiver: Receiver, sender: Any, weak: bool,
                          dispatch_uid: Hashable) -> None:
        if isinstance(sender, Proxy):
            sender = sender._get_current_object()
        key = _lookup_key(receiver, sender, dispatch_uid)
        entry: Any = receiver
        if weak:
            entry = self._weak_entry(receiver)
        with self.lock:
            receivers = self._live_entries()
            if not any(k == key for k, _ in receivers):
                receivers.append((key, entry))
            self.receivers = receivers
            self._cache.clear()

    def _weak_entry(self, receiver: Receiver) -> Any:
        """A weak reference to ``receiver`` that drops it when it dies.

        Objects that cannot be weakly referenced are kept strongly.
        """
        try:
            if isinstance(receiver, MethodType):
                entry: Any = weakref.WeakMethod(receiver)
                weakref.finalize(receiver.__self__, self._remove_receiver)
            else:
                entry = weakref.ref(receiver)
                weakref.finalize(receiver, self._remove_receiver)
        except TypeError:
            return receiver
        return entry

    def disconnect(self, receiver: Receiver | None = None, sender: Any = None,
                   weak: Any = None, dispatch_uid: Hashable = None) -> bool:
        """Disconnect a receiver; return True if one was connected."""
        if weak is not None:
            from celery.exceptions import CDeprecationWarning
            warnings.warn('Passing `weak` to disconnect has no effect.',
                          CDeprecationWarning, stacklevel=2)
        key = _lookup_key(receiver, sender, dispatch_uid)
        with self.lock:
            receivers = self._live_entries()
            kept = [entry for entry in receivers if entry[0] != key]
            self.receivers = kept
            self._cache.clear()
        return len(kept) != len(receivers)

    def _live_entries(self) -> list:
        """A fresh copy of the receiver list without dead references.

        The caller holds :attr:`lock`.
        """
        self._dead_receivers = False
        return [(key, entry) for key, entry in self.receivers
                if not (isinstance(entry, weakref.ReferenceType)
                        and entry() is None)]

    def _remove_receiver(self, *args: Any) -> None:
        # Runs from the garbage collector, possibly while this thread holds
        # the lock: clean up only if the lock is free, else leave a mark.
        self._dead_receivers = True
        if self.lock.acquire(blocking=False):
            try:
                self.receivers = self._live_entries()
                self._cache.clear()
            finally:
                self.lock.release()

    # -- sending ------------------------------------------------------------

    def has_listeners(self, sender: Any = None) -> bool:
        """Return True if any live receiver would get a signal from ``sender``."""
        return bool(self._live_receivers(sender))

    def _live_receivers(self, sender: Any) -> list[Receiver]:
        if self._dead_receivers:
            with self.lock:
                self.receivers = self._live_entries()
                self._cache.clear()
        sender_key = _make_id(sender)
        entries = None
        if self.use_caching:
            entries = self._cache.get(sender_key)
        if entries is None:
            entries = tuple(entry for (_, r_sender), entry in self.receivers
                            if r_sender is None or r_sender == sender_key)
            if self.use_caching:
                self._cache[sender_key] = entries or _NO_RECEIVERS
        live = []
        for entry in entries:
            if isinstance(entry, weakref.ReferenceType):
                entry = entry()
                if entry is None:
                    continue
            live.append(entry)
        return live

    def send(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every matching receiver; return ``[(receiver, response)]``.

        A receiver that raises is logged, its exception is returned as its
        response, and the remaining receivers still run.
        """
        if not self.receivers:
            return []
        responses = []
        for receiver in self._live_receivers(sender):
            try:
                response = receiver(signal=self, sender=sender, **named)
            except Exception as exc:  # noqa: BLE001 - isolate receivers
                logger.exception('Signal handler %r raised: %r', receiver, exc)
                responses.append((receiver, exc))
            else:
                responses.append((receiver, response))
        return responses

    #: Same as :meth:`send` (which already isolates receiver errors).
    send_robust = send

    def __repr__(self) -> str:
        return (f'<{type(self).__name__}: {self.name} '
                f'providing_args={self.providing_args!r}>')

    __str__ = __repr__


class _RetryingReceiver:
    """Wrap a receiver so a failing call is retried until it succeeds.

    Delays start at :attr:`interval_start` seconds and grow by
    :attr:`interval_step` up to :attr:`interval_max` seconds between tries.
    """

    interval_start: float = 2
    interval_step: float = 2
    interval_max: float = 30

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from kombu.utils.functional import retry_over_time

        def on_error(exc: Exception, intervals: Any, retries: int) -> float:
            interval = next(intervals)
            logger.error('Could not process signal receiver %r. '
                         'Retrying in %.2f seconds...', self.receiver, interval)
            return interval

        return retry_over_time(self.receiver, Exception, args, kwargs,
                               errback=on_error,
                               interval_start=self.interval_start,
                               interval_step=self.interval_step,
                               interval_max=self.interval_max)

    def __repr__(self) -> str:
        return f'<retrying {self.receiver!r}>'

"""Threading primitives: background service threads and context locals.

* :class:`bgThread` -- a daemon thread that calls :meth:`bgThread.body` in a
  loop until :meth:`bgThread.stop`; a crash in the body is reported and ends
  the process (a worker with a dead service thread must not linger).
* :class:`Local`, :class:`LocalStack`, :class:`LocalManager` -- storage
  private to the current context (thread, or greenlet under a monkey-patched
  eventlet/gevent), used for the current app and task stacks.

Each context only touches its own entry of a local's storage, so locals are
safe to share between threads without a lock.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import traceback
from contextlib import contextmanager
from threading import TIMEOUT_MAX as THREAD_TIMEOUT_MAX
from typing import Any, Callable, Iterable, Iterator

from _thread import get_ident

from celery.local import Proxy

__all__ = (
    'bgThread', 'Local', 'LocalStack', 'LocalManager',
    'get_ident', 'default_socket_timeout', 'release_local',
)


class bgThread(threading.Thread):
    """Background service thread.

    Subclasses implement :meth:`body`, called repeatedly until :meth:`stop`.
    """

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Not ``_is_stopped``: threading.Thread uses that name internally.
        self._is_shutdown = threading.Event()
        self._has_stopped = threading.Event()
        self.daemon = True
        self.name = name or type(self).__name__

    def body(self) -> None:
        """One iteration of the thread's work; must be overridden."""
        raise NotImplementedError('subclass responsibility')

    def on_crash(self, msg: str, *fmt: Any, **kwargs: Any) -> None:
        """Report a crash of :meth:`body` (with traceback) on stderr."""
        print(msg.format(*fmt), file=sys.stderr)
        traceback.print_exc(None, sys.stderr)

    def run(self) -> None:
        body = self.body
        is_shutdown = self._is_shutdown.is_set
        try:
            while not is_shutdown():
                try:
                    body()
                except Exception as exc:  # noqa: BLE001 - report and die
                    try:
                        self.on_crash('{0!r} crashed: {1!r}', self.name, exc)
                        self._set_stopped()
                    finally:
                        sys.stderr.flush()
                        os._exit(1)  # a broken service thread ends the process
        finally:
            self._set_stopped()

    def _set_stopped(self) -> None:
        self._has_stopped.set()

    def stop(self) -> None:
        """Ask the loop to end, and wait until it has."""
        self._is_shutdown.set()
        if self.ident is None or threading.current_thread() is self:
            return  # never started, or called from body(): the loop ends
        self._has_stopped.wait()
        if self.is_alive():
            self.join(THREAD_TIMEOUT_MAX)


def release_local(local: Local | _LocalStack) -> None:
    """Drop the data ``local`` holds for the current context."""
    local.__release_local__()


class Local:
    """Attributes private to the current context (thread or greenlet)."""

    __slots__ = ('__storage__', '__ident_func__')

    def __init__(self) -> None:
        object.__setattr__(self, '__storage__', {})
        object.__setattr__(self, '__ident_func__', get_ident)

    def __iter__(self) -> Iterator[tuple[Any, dict]]:
        return iter(list(self.__storage__.items()))

    def __call__(self, name: str) -> Proxy:
        """Return a proxy to attribute ``name`` of this local."""
        return Proxy(self, name=name)

    def __release_local__(self) -> None:
        self.__storage__.pop(self.__ident_func__(), None)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__storage__[self.__ident_func__()][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == '__ident_func__':
            object.__setattr__(self, name, value)
            return
        ident = self.__ident_func__()
        storage = self.__storage__
        try:
            storage[ident][name] = value
        except KeyError:
            storage[ident] = {name: value}

    def __delattr__(self, name: str) -> None:
        try:
            del self.__storage__[self.__ident_func__()][name]
        except KeyError:
            raise AttributeError(name) from None


class _LocalStack:
    """A stack of objects private to the current context.

    ``push``/``pop``/``top`` are on the task execution path, so the stack of
    each context is a plain list kept in a dict keyed by context id.
    """

    def __init__(self) -> None:
        self._stacks: dict[Any, list] = {}
        self.__ident_func__: Callable[[], Any] = get_ident

    def _get__ident_func__(self) -> Callable[[], Any]:
        return self.__ident_func__

    def _set__ident_func__(self, value: Callable[[], Any]) -> None:
        self.__ident_func__ = value

    def __release_local__(self) -> None:
        self._stacks.pop(self.__ident_func__(), None)

    def __call__(self) -> Proxy:
        """Return a proxy to the current top of the stack."""
        def _lookup() -> Any:
            top = self.top
            if top is None:
                raise RuntimeError('object unbound')
            return top
        return Proxy(_lookup)

    def push(self, obj: Any) -> list:
        """Push ``obj`` on the stack of the current context."""
        ident = self.__ident_func__()
        stack = self._stacks.get(ident)
        if stack is None:
            stack = self._stacks[ident] = []
        stack.append(obj)
        return stack

    def pop(self) -> Any:
        """Remove and return the top item, or None if the stack is empty."""
        ident = self.__ident_func__()
        stack = self._stacks.get(ident)
        if not stack:
            return None
        if len(stack) == 1:
            del self._stacks[ident]  # don't keep empty stacks of dead threads
        return stack.pop()

    def __len__(self) -> int:
        stack = self._stacks.get(self.__ident_func__())
        return len(stack) if stack else 0

    @property
    def stack(self) -> list:
        """The stack of the current context (a list, bottom first)."""
        return self._stacks.get(self.__ident_func__()) or []

    @property
    def top(self) -> Any:
        """The topmost item, or None if the stack is empty."""
        stack = self._stacks.get(self.__ident_func__())
        return stack[-1] if stack else None


LocalStack = _LocalStack


class LocalManager:
    """Clean up a group of locals at once, e.g. at the end of a request.

    ``ident_func`` replaces the context id function of every managed local.
    """

    def __init__(self, locals: Iterable[Any] | Local | _LocalStack | None = None,
                 ident_func: Callable[[], Any] | None = None) -> None:
        if locals is None:
            self.locals: list = []
        elif isinstance(locals, (Local, _LocalStack)):
            self.locals = [locals]
        else:
            self.locals = list(locals)
        if ident_func is not None:
            self.ident_func = ident_func
            for local in self.locals:
                if isinstance(local, Local):
                    object.__setattr__(local, '__ident_func__', ident_func)
                else:
                    local.__ident_func__ = ident_func
        else:
            self.ident_func = get_ident

    def get_ident(self) -> Any:
        """Return the id of the current context, as the locals see it."""
        return self.ident_func()

    def cleanup(self) -> None:
        """Drop the data of every managed local for the current context."""
        for local in self.locals:
            release_local(local)

    def __repr__(self) -> str:
        return f'<{type(self).__name__} storages: {len(self.locals)}>'


@contextmanager
def default_socket_timeout(timeout: float | None) -> Iterator[None]:
    """Set the default socket timeout for the duration of the block."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)

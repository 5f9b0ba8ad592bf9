"""Stand-ins for unit tests: task messages without a broker, and context mocks.

:func:`TaskMessage` and :func:`TaskMessage1` return :class:`~unittest.mock.Mock`
objects shaped like received kombu messages (``headers``, ``properties``,
``delivery_info``, ``body``, ``content_type``, ``payload``), built by the
app's real message factory (:meth:`celery.app.amqp.AMQP.as_task_v2` /
``as_task_v1``), so their headers are complete. Extra keyword arguments
become headers (protocol 2) or body fields (protocol 1) verbatim.
"""
from __future__ import annotations

import numbers
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence
from unittest.mock import Mock

from kombu.serialization import dumps

if TYPE_CHECKING:  # pragma: no cover
    from celery import Celery
    from celery.canvas import Signature

__all__ = ('TaskMessage', 'TaskMessage1', 'task_message_from_sig', 'ContextMock')

_factory_lock = threading.Lock()
_factory_app: Celery | None = None


def _message_app(app: Celery | None) -> Celery:
    """The app whose ``amqp`` builds messages: ``app``, else a private default one.

    The private app never becomes current, so the mocks work under the app trap.
    """
    global _factory_app
    if app is not None:
        return app
    with _factory_lock:
        if _factory_app is None:
            from celery import Celery
            _factory_app = Celery('celery.contrib.testing.mocks', set_as_current=False,
                                  fixups=[], broker='memory://')
        return _factory_app


def _mock_message(task_id: str, headers: dict, properties: dict, payload: Any) -> Mock:
    message = Mock(name=f'TaskMessage-{task_id}')
    message.headers = headers
    message.properties = properties
    message.delivery_info = {'exchange': '', 'routing_key': 'celery',
                             'priority': 0, 'redelivered': False}
    message.content_type, message.content_encoding, message.body = dumps(
        payload, serializer='json')
    message.payload = payload
    message.decode.return_value = payload
    return message


def TaskMessage(name: str, id: str | None = None, args: Sequence = (),
                kwargs: Mapping | None = None, callbacks: Sequence | None = None,
                errbacks: Sequence | None = None, chain: Sequence | None = None,
                shadow: str | None = None, utc: bool | None = None,
                app: Celery | None = None, **options: Any) -> Mock:
    """Return a mock protocol 2 task message for task ``name``.

    ``options`` are set as headers as given (``eta=...``, ``retries=...``,
    ``timelimit=(hard, soft)``, ``group=...``); ``utc`` is accepted for
    compatibility and ignored (protocol 2 has no such field).
    """
    from celery.utils.uuid import uuid
    task_id = id or uuid()
    built = _message_app(app).amqp.as_task_v2(
        task_id, name, args, kwargs or {}, callbacks=callbacks, errbacks=errbacks,
        chain=chain, shadow=shadow)
    headers = dict(built.headers, **options)
    return _mock_message(task_id, headers, dict(built.properties), built.body)


_default_task_message = TaskMessage


def TaskMessage1(name: str, id: str | None = None, args: Sequence = (),
                 kwargs: Mapping | None = None, callbacks: Sequence | None = None,
                 errbacks: Sequence | None = None, chain: Sequence | None = None,
                 app: Celery | None = None, **options: Any) -> Mock:
    """Return a mock protocol 1 task message (all fields in the body, no headers)."""
    from celery.utils.uuid import uuid
    task_id = id or uuid()
    built = _message_app(app).amqp.as_task_v1(
        task_id, name, args, kwargs or {}, callbacks=callbacks, errbacks=errbacks)
    payload = dict(built.body, **options)
    if chain is not None:
        payload['chain'] = chain
    return _mock_message(task_id, {}, dict(built.properties), payload)


def _as_list(value: Any) -> list | None:
    if not value:
        return None
    return list(value) if isinstance(value, (list, tuple)) else [value]


def task_message_from_sig(app: Celery, sig: Signature, utc: bool = True,
                          TaskMessage: Callable[..., Mock] = TaskMessage) -> Mock:
    """Return a mock task message calling the signature ``sig``.

    ``countdown`` and numeric ``expires`` options become absolute ISO 8601
    times; ``link``/``link_error`` become the callbacks/errbacks.
    """
    sig.freeze()
    options = dict(sig.options)
    callbacks = _as_list(options.pop('link', None))
    errbacks = _as_list(options.pop('link_error', None))
    countdown = options.pop('countdown', None)
    eta = app.now() + timedelta(seconds=countdown) if countdown else options.pop('eta', None)
    if isinstance(eta, datetime):
        eta = eta.isoformat()
    expires = options.pop('expires', None)
    if isinstance(expires, numbers.Real) and not isinstance(expires, bool):
        expires = app.now() + timedelta(seconds=expires)
    if isinstance(expires, datetime):
        expires = expires.isoformat()
    options.pop('task_id', None)
    # Our own factory builds the message with ``app``; a custom one gets
    # exactly the arguments Celery passes.
    extra = {'app': app} if TaskMessage is _default_task_message else {}
    return TaskMessage(
        sig.task, id=sig.id, args=sig.args, kwargs=sig.kwargs,
        callbacks=[dict(s) for s in callbacks] if callbacks else None,
        errbacks=[dict(s) for s in errbacks] if errbacks else None,
        eta=eta, expires=expires, utc=utc, **extra, **options)


class _ContextMock(Mock):
    """A Mock usable in ``with`` (the protocol methods must be on the class)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None


def ContextMock(*args: Any, **kwargs: Any) -> Mock:
    """Return a Mock that works as a context manager and records enter/exit.

    ``with m as x`` gives ``x is m``; ``__exit__`` returns None so
    exceptions propagate.
    """
    obj = _ContextMock(*args, **kwargs)
    obj.attach_mock(_ContextMock(), '__enter__')
    obj.attach_mock(_ContextMock(), '__exit__')
    obj.__enter__.return_value = obj
    obj.__exit__.return_value = None
    return obj

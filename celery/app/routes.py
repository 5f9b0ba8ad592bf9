"""Task routing: decide the queue, exchange and routing key of a task message.

``task_routes`` holds routers; :func:`prepare` turns that setting into a list
of callables and :class:`Router` asks them in order, the first answer wins.
A router may be

* a mapping of task name (exact, glob pattern like ``'feed.*'``, or a
  compiled regex) to a route, wrapped in a :class:`MapRoute`;
* a list of ``(pattern, route)`` pairs, also a :class:`MapRoute` that keeps
  the order of the pairs;
* a callable ``(name, args, kwargs, options, task=None, **kw)``;
* an object with a ``route_for_task(task, args, kwargs)`` method (old style);
* a dotted string naming one of the above, imported on first use.

A route is a queue name or a dict of publish options (``queue``,
``exchange``, ``routing_key``, ``priority``, ``serializer``...). A ``queue``
name is expanded to the :class:`kombu.Queue` declared in ``task_queues``
(created on the fly when ``task_create_missing_queues`` is on).

The router runs in the calling process for every message sent; routers are
prepared once, so routing costs one dict lookup when ``task_routes`` is empty.
"""
from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Iterable

from kombu import Exchange, Queue
from kombu.utils.imports import symbol_by_name

from celery.exceptions import QueueNotFound

if TYPE_CHECKING:  # pragma: no cover
    from celery.app.base import Celery

__all__ = ('MapRoute', 'Router', 'expand_router_string', 'prepare', 'glob_to_re')

_Pattern = re.Pattern
_GLOB_QUOTE = frozenset(string.punctuation) - {'*'}


def glob_to_re(glob: str) -> str:
    """Turn a task-name glob (``*`` matches one or more characters) into a regex."""
    escaped = ''.join('\\' + c if c in _GLOB_QUOTE else c for c in glob)
    return escaped.replace('*', '.+?')


def _as_route(route: Any) -> dict:
    """Return a fresh options dict for ``route`` (a queue name becomes ``{'queue': name}``)."""
    if isinstance(route, (str, Queue)):
        return {'queue': route}
    return dict(route)


class MapRoute:
    """A router made of a mapping (or ordered pairs) of task names to routes.

    Exact names are looked up first, then patterns (globs and regexes) in
    the order given.
    """

    def __init__(self, map: Mapping | Iterable[tuple[Any, Any]]) -> None:
        items = map.items() if isinstance(map, Mapping) else map
        self.map: dict[str, Any] = {}
        self.patterns: dict[_Pattern, Any] = {}
        for key, route in items:
            if isinstance(key, _Pattern):
                self.patterns[key] = route
            elif '*' in key:
                self.patterns[re.compile(glob_to_re(key))] = route
            else:
                self.map[key] = route

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> dict | None:
        route = self.map.get(name)
        if route is not None:
            return _as_route(route)
        for regex, route in self.patterns.items():
            if regex.match(name):
                return _as_route(route)
        return None

    def __repr__(self) -> str:
        return f'<MapRoute: {len(self.map)} names, {len(self.patterns)} patterns>'


class _LazyRouter:
    """A router named by a dotted string, imported the first time it is used."""

    __slots__ = ('name', '_router')

    def __init__(self, name: str) -> None:
        self.name = name
        self._router: Any = None

    def __call__(self) -> Any:
        if self._router is None:
            self._router = expand_router_string(self.name)
        return self._router

    def __repr__(self) -> str:
        return f'<router {self.name!r}>'


def expand_router_string(router: str) -> Any:
    """Import the router named ``router``; old-style router classes are instantiated."""
    obj = symbol_by_name(router)
    if isinstance(obj, type) and hasattr(obj, 'route_for_task'):
        obj = obj()
    return obj


def prepare(routes: Any) -> list:
    """Turn the ``task_routes`` setting into a list of routers."""
    if routes is None:
        return []
    if not isinstance(routes, (list, tuple)):
        routes = (routes,)
    return [_expand_route(route) for route in routes]


def _expand_route(route: Any) -> Any:
    if isinstance(route, (Mapping, list, tuple)):
        return MapRoute(route)
    if isinstance(route, str):
        return _LazyRouter(route)
    return route


def _merge(route: dict, options: Mapping) -> dict:
    """Options override the route, except where an option is ``None``."""
    for key, value in options.items():
        if value is not None:
            route[key] = value
    return route


class Router:
    """Pick the destination of a task from call options, routers and queues."""

    def __init__(self, routes: Iterable | None = None, queues: Mapping | None = None,
                 create_missing: bool = False, app: Celery | None = None) -> None:
        self.app = app
        self.queues = {} if queues is None else queues
        self.routes = [] if routes is None else list(routes)
        self.create_missing = create_missing

    def route(self, options: Mapping, name: str, args: Any = (),
              kwargs: Mapping | None = None, task_type: Any = None) -> dict:
        """Return the publish options for task ``name``.

        The options given with the call win over the router's answer; when
        neither names a queue, the default queue (``task_default_queue``)
        is used. A ``queue`` name is replaced by its :class:`kombu.Queue`.
        """
        kwargs = {} if not kwargs else kwargs
        options = self.expand_destination(options)
        if self.routes:
            route = self.lookup_route(name, args, kwargs, options, task_type)
            if route:
                return _merge(self.expand_destination(route), options)
        if 'queue' not in options:
            default = self._default_queue_name()
            if default:
                options = _merge({'queue': self._lookup_queue(default)}, options)
        return options

    def _default_queue_name(self) -> str | None:
        if self.app is None:
            return None
        return self.app.conf.get('task_default_queue')

    def expand_destination(self, route: Any) -> dict:
        """Return a copy of ``route`` with its ``queue`` name made a :class:`kombu.Queue`."""
        if isinstance(route, str):
            queue, route = route, {}
        else:
            route = dict(route)
            queue = route.pop('queue', None)
        if queue:
            if isinstance(queue, Queue):
                route['queue'] = queue
            else:
                route['queue'] = self._lookup_queue(queue)
        return route

    def _lookup_queue(self, name: str) -> Queue:
        # A ``celery.app.amqp.Queues`` mapping creates missing queues itself
        # when told to; ``create_missing`` here covers plain dicts of queues.
        try:
            return self.queues[name]
        except KeyError:
            if not self.create_missing:
                raise QueueNotFound(f'Queue {name!r} missing from task_queues') from None
        queue = Queue(name, Exchange(name), name)
        if isinstance(self.queues, dict):
            self.queues[name] = queue
        return queue

    def lookup_route(self, name: str, args: Any = None, kwargs: Mapping | None = None,
                     options: Mapping | None = None, task_type: Any = None) -> Any:
        """Ask each router in turn; return the first answer that is not ``None``."""
        query = self.query_router
        for router in self.routes:
            route = query(router, name, args, kwargs, options, task_type)
            if route is not None:
                return route
        return None

    def query_router(self, router: Any, task: str, args: Any, kwargs: Mapping | None,
                     options: Mapping | None, task_type: Any) -> Any:
        """Ask one router for the route of ``task``."""
        if isinstance(router, _LazyRouter):
            router = router()
        route_for_task: Callable | None = getattr(router, 'route_for_task', None)
        if route_for_task is not None:
            return route_for_task(task, args, kwargs)
        return router(task, args, kwargs, options, task=task_type)

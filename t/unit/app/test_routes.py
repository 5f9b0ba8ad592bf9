"""Tests for celery.app.routes: routers, MapRoute and destination expansion."""
from __future__ import annotations

import re

import pytest
from kombu import Exchange, Queue

from celery.app import routes
from celery.app.routes import MapRoute, Router, expand_router_string, prepare
from celery.exceptions import QueueNotFound


def route_to_video(name, args, kwargs, options, task=None, **kw):
    """A router function used by the tests (also imported by name)."""
    if name == 'media.compress':
        return {'queue': 'video', 'routing_key': 'video.compress'}
    return None


class OldStyleRouter:
    """A pre-4.0 router: an object with route_for_task."""

    def route_for_task(self, task, args=None, kwargs=None):
        if task == 'old.task':
            return {'queue': 'old'}
        return None


@pytest.fixture
def queues():
    return {
        'celery': Queue('celery', Exchange('celery'), 'celery'),
        'video': Queue('video', Exchange('media', type='topic'), 'media.video'),
        'feeds': Queue('feeds', Exchange('feeds'), 'feeds'),
        'old': Queue('old', Exchange('old'), 'old'),
    }


class test_MapRoute:

    def test_exact_name_dict_route(self):
        r = MapRoute({'proj.add': {'queue': 'math', 'priority': 3}})
        assert r('proj.add') == {'queue': 'math', 'priority': 3}

    def test_returns_a_copy(self):
        route = {'queue': 'math'}
        r = MapRoute({'proj.add': route})
        r('proj.add')['queue'] = 'changed'
        assert route == {'queue': 'math'}

    def test_string_route_is_queue_name(self):
        assert MapRoute({'proj.add': 'math'})('proj.add') == {'queue': 'math'}

    def test_no_match_returns_none(self):
        assert MapRoute({'proj.add': 'math'})('proj.mul') is None

    def test_glob_pattern(self):
        r = MapRoute({'feed.tasks.*': {'queue': 'feeds'}})
        assert r('feed.tasks.import_feed') == {'queue': 'feeds'}
        assert r('feed.other') is None
        # The dot is literal, not "any character".
        assert r('feedxtasksximport') is None

    def test_regex_key(self):
        r = MapRoute({re.compile(r'(video|image)\.tasks\..*'): 'media'})
        assert r('video.tasks.encode') == {'queue': 'media'}
        assert r('image.tasks.resize') == {'queue': 'media'}
        assert r('audio.tasks.mix') is None

    def test_exact_name_wins_over_pattern(self):
        r = MapRoute([('feed.*', 'feeds'), ('feed.special', 'special')])
        assert r('feed.special') == {'queue': 'special'}

    def test_items_keep_their_order(self):
        r = MapRoute([
            ('feed.tasks.*', {'queue': 'feeds'}),
            (re.compile(r'feed\..*'), {'queue': 'other'}),
        ])
        assert r('feed.tasks.x') == {'queue': 'feeds'}
        assert r('feed.y') == {'queue': 'other'}

    def test_queue_object_route(self, queues):
        r = MapRoute({'proj.add': queues['video']})
        assert r('proj.add') == {'queue': queues['video']}


class test_prepare:

    def test_none(self):
        assert prepare(None) == []

    def test_single_dict_becomes_maproute(self):
        out = prepare({'a': 'b'})
        assert len(out) == 1
        assert isinstance(out[0], MapRoute)

    def test_tuple_of_list_is_ordered_items(self):
        out = prepare(([('a.*', 'x'), ('a.b', 'y')],))
        assert isinstance(out[0], MapRoute)
        assert out[0]('a.c') == {'queue': 'x'}

    def test_callable_kept(self):
        assert prepare([route_to_video]) == [route_to_video]

    def test_string_is_lazy(self):
        out = prepare(f'{__name__}.route_to_video')
        assert len(out) == 1
        assert out[0] is not route_to_video
        assert out[0]() is route_to_video

    def test_unknown_string_fails_on_first_use(self):
        out = prepare(['no.such.module.router'])
        with pytest.raises(ImportError):
            out[0]()


class test_expand_router_string:

    def test_function(self):
        assert expand_router_string(
            f'{__name__}.route_to_video') is route_to_video

    def test_old_style_class_is_instantiated(self):
        r = expand_router_string(f'{__name__}.OldStyleRouter')
        assert isinstance(r, OldStyleRouter)

    def test_colon_syntax(self):
        assert expand_router_string(
            f'{__name__}:route_to_video') is route_to_video


class test_Router:

    def test_options_queue_expanded(self, queues):
        router = Router([], queues)
        out = router.route({'queue': 'video'}, 'x')
        assert out == {'queue': queues['video']}

    def test_router_function(self, queues):
        router = Router(prepare([route_to_video]), queues)
        out = router.route({}, 'media.compress')
        assert out == {'queue': queues['video'], 'routing_key': 'video.compress'}

    def test_call_options_win_over_route(self, queues):
        router = Router(prepare([route_to_video]), queues)
        out = router.route({'routing_key': 'mine', 'priority': 5}, 'media.compress')
        assert out['routing_key'] == 'mine'
        assert out['priority'] == 5
        assert out['queue'] is queues['video']

    def test_none_options_do_not_override_route(self, queues):
        router = Router(prepare([route_to_video]), queues)
        out = router.route({'routing_key': None}, 'media.compress')
        assert out['routing_key'] == 'video.compress'

    def test_first_router_with_answer_wins(self, queues):
        router = Router(prepare([{'x': 'feeds'}, {'x': 'video'}]), queues)
        assert router.route({}, 'x')['queue'] is queues['feeds']

    def test_router_returning_string(self, queues):
        router = Router(prepare([lambda *a, **k: 'feeds']), queues)
        assert router.route({}, 'anything') == {'queue': queues['feeds']}

    def test_router_gets_all_arguments(self, queues):
        seen = {}

        def spy(name, args, kwargs, options, task=None, **kw):
            seen.update(name=name, args=args, kwargs=kwargs, options=options, task=task)

        sentinel = object()
        Router([spy], queues).route({'priority': 1}, 'n', (1,), {'k': 2}, sentinel)
        assert seen == {'name': 'n', 'args': (1,), 'kwargs': {'k': 2},
                        'options': {'priority': 1}, 'task': sentinel}

    def test_old_style_router(self, queues):
        router = Router(prepare([OldStyleRouter()]), queues)
        assert router.route({}, 'old.task') == {'queue': queues['old']}

    def test_lazy_string_router_resolved_once(self, queues):
        prepared = prepare([f'{__name__}.route_to_video'])
        router = Router(prepared, queues)
        assert router.route({}, 'media.compress')['queue'] is queues['video']
        assert prepared[0]() is route_to_video

    def test_unknown_queue_raises_queue_not_found(self, queues):
        router = Router([], queues, create_missing=False)
        with pytest.raises(QueueNotFound) as excinfo:
            router.route({'queue': 'nope'}, 'x')
        assert 'nope' in str(excinfo.value)
        assert isinstance(excinfo.value, KeyError)

    def test_unknown_queue_created_when_create_missing(self):
        qs = {}
        router = Router([], qs, create_missing=True)
        q = router.route({'queue': 'fresh'}, 'x')['queue']
        assert (q.name, q.exchange.name, q.routing_key) == ('fresh', 'fresh', 'fresh')
        assert q.exchange.type == 'direct'
        assert qs['fresh'] is q

    def test_queue_object_in_options_kept(self, queues):
        custom = Queue('custom', Exchange('c'), 'c')
        out = Router([], queues).route({'queue': custom}, 'x')
        assert out['queue'] is custom

    def test_does_not_mutate_options(self, queues):
        options = {'queue': 'video'}
        Router([], queues).route(options, 'x')
        assert options == {'queue': 'video'}

    def test_no_route_and_no_app_leaves_options(self, queues):
        assert Router([], queues).route({'priority': 2}, 'x') == {'priority': 2}

    def test_lookup_route_none_when_nobody_answers(self, queues):
        assert Router(prepare([{'a': 'b'}]), queues).lookup_route('x') is None

    def test_expand_destination_string(self, queues):
        assert Router([], queues).expand_destination('feeds') == {'queue': queues['feeds']}

    def test_glob_to_re(self):
        assert re.match(routes.glob_to_re('a.*.c'), 'a.bb.c')
        assert not re.match(routes.glob_to_re('a.*.c') + '$', 'axbb.c')

"""Stamping: custom headers on every signature of a canvas."""
from __future__ import annotations

from uuid import uuid4

import pytest

from celery.canvas import StampingVisitor, chain, chord, group, signature
from celery.exceptions import CPendingDeprecationWarning


class CustomStampingVisitor(StampingVisitor):
    def on_signature(self, sig, **headers):
        return {'header': 'value'}

    def on_callback(self, callback, **header):
        return {'on_callback': True}

    def on_errback(self, errback, **header):
        return {'on_errback': True}


class MonitoringIdStampingVisitor(StampingVisitor):
    def on_signature(self, sig, **headers):
        return {'monitoring_id': uuid4().hex}


class InGroupVisitor(StampingVisitor):
    def __init__(self):
        self.in_group = False

    def on_group_start(self, group, **headers):
        self.in_group = True
        return {'in_group': [self.in_group], 'stamped_headers': ['in_group']}

    def on_group_end(self, group, **headers):
        self.in_group = False

    def on_chain_start(self, chain, **headers):
        return {'in_group': [self.in_group], 'stamped_headers': ['in_group']}

    def on_signature(self, sig, **headers):
        return {'in_group': [self.in_group], 'stamped_headers': ['in_group']}


def test_visitor_needs_on_signature():
    with pytest.raises(TypeError):
        StampingVisitor()


def test_plain_stamp_on_a_group(tasks):
    s1 = tasks.add.si(2, 2)
    g = group(s1, tasks.add.si(3, 3))
    g.stamp(stamp='your_custom_stamp')
    for task in g.tasks:
        assert task.options['stamp'] == 'your_custom_stamp'
        assert task.options['stamped_headers'] == ['stamp']


def test_chord_with_links_as_documented(tasks):
    c = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s())
    c.link(signature('sig_link'))
    with pytest.warns(CPendingDeprecationWarning):
        c.link_error(signature('sig_link_error'))
    c.stamp(visitor=CustomStampingVisitor())
    stamped = {'header': 'value', 'stamped_headers': ['header']}
    assert c.options == stamped
    assert c.tasks.tasks[0].options == stamped
    assert c.tasks.tasks[1].options == stamped
    body = {k: v for k, v in c.body.options.items() if k not in ('link', 'link_error')}
    assert body == stamped
    assert c.body.options['link'][0].options == {
        'header': 'value', 'on_callback': True, 'stamped_headers': ['header', 'on_callback']}
    assert c.body.options['link_error'][0].options == {
        'header': 'value', 'on_errback': True, 'stamped_headers': ['header', 'on_errback']}


def test_unique_stamps_per_signature(tasks):
    c = chain(signature('t1'), group(signature('t2'), signature('t3')), signature('t4'))
    c.stamp(visitor=MonitoringIdStampingVisitor())
    sigs = [c.tasks[0], *c.tasks[1].tasks.tasks, c.tasks[1].body]
    ids = [s.options['monitoring_id'] for s in sigs]
    assert len(set(ids)) == 4


def test_in_group_visitor(tasks):
    c = chain(signature('t1'), group(signature('t2'), signature('t3')))
    c.stamp(visitor=InGroupVisitor())
    first, g = c.tasks
    assert first.options['in_group'] == [False]
    assert [t.options['in_group'] for t in g.tasks] == [[True], [True]]
    assert all(t.options['stamped_headers'] == ['in_group'] for t in g.tasks)


def test_stamped_headers_limit_what_is_a_stamp(tasks):
    class Visitor(StampingVisitor):
        def on_signature(self, sig, **headers):
            return {'monitoring_id': 'x', 'other_data': 'value',
                    'stamped_headers': ['monitoring_id']}
    s = tasks.add.s(1, 1)
    s.stamp(visitor=Visitor())
    assert s.options['stamped_headers'] == ['monitoring_id']
    assert s.options['other_data'] == 'value'


def test_restamping_replaces_or_appends(tasks):
    s = tasks.add.s(1, 1)
    s.stamp(mark='a')
    s.stamp(mark='b')
    assert s.options['mark'] == 'b'
    s.stamp(append_stamps=True, mark='c')
    assert s.options['mark'] == ['b', 'c']


def test_stamps_are_immutable_options(tasks):
    s = tasks.add.s(1, 1)
    s.stamp(mark='a')
    _, _, options = s._merge((), {}, {'mark': 'other'})
    assert options['mark'] == 'a'


def test_stamps_are_sent_in_the_headers(tasks, worker):
    g = group(tasks.add.s(1, 1), tasks.add.s(2, 2))
    g.stamp(mark='m')
    res = g.delay()
    worker.drain()
    assert res.get(timeout=1) == [2, 4]
    for headers in worker.headers:
        assert headers['stamped_headers'] == ['mark']
        assert headers['stamps'] in ({'mark': 'm'}, {'mark': ['m']})

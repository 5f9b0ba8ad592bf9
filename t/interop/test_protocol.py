"""Task messages between real Celery 5 and this project, both ways.

Real Celery runs in its own venv (see ``conftest.py``). It publishes task
messages to a unique Redis queue with no worker attached; we read them with
kombu and :func:`celery.app.amqp.hybrid_to_proto2` and check every request
field. The other way, our messages must carry the same headers, properties
and body as the ones real Celery builds for the same call.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Connection, Queue

from celery.app.amqp import hybrid_to_proto2

pytestmark = pytest.mark.interop

# -- snippets run by real Celery --------------------------------------------------

#: Publish the calls of $INTEROP_SPEC with app.send_task; print the task ids.
REAL_PUBLISH = r'''
import json, os
from celery import Celery
spec = json.loads(os.environ['INTEROP_SPEC'])
app = Celery('proj', broker=spec['broker'], set_as_current=False)
app.conf.task_protocol = spec['protocol']
app.conf.task_send_sent_event = False

def sigs(items):
    return [app.signature(name, tuple(args)) for name, args in items]

ids = []
for call in spec['calls']:
    options = dict(call.get('options') or {})
    for key in ('link', 'link_error', 'chain'):
        if key in options:
            options[key] = sigs(options[key])
    result = app.send_task(call['name'], call.get('args'), call.get('kwargs'),
                           queue=spec['queue'], **options)
    ids.append(result.id)
print(json.dumps(ids))
'''

#: Build messages with app.amqp.create_task_message (fixed now/origin); print them.
REAL_BUILD = r'''
import json, os
from datetime import datetime
from celery import Celery
spec = json.loads(os.environ['INTEROP_SPEC'])
app = Celery('proj', set_as_current=False)
app.conf.task_protocol = spec['protocol']
now = datetime.fromisoformat(spec['now'])
out = []
for call in spec['calls']:
    kw = dict(call['kw'])
    for key in ('eta', 'expires'):
        if isinstance(kw.get(key), str) and kw.pop(key + '_is_datetime', False):
            kw[key] = datetime.fromisoformat(kw[key])
    m = app.amqp.create_task_message(call['id'], call['name'], call['args'], call['kwargs'],
                                     now=now, **kw)
    out.append({'headers': m.headers, 'properties': m.properties,
                'body': m.body, 'sent_event': m.sent_event})
print(json.dumps(out))
'''

# -- helpers ----------------------------------------------------------------------


def _unique_queue() -> str:
    return f'interop.{uuid.uuid4().hex}'


def _drain(url: str, qname: str, count: int, timeout: float = 10.0) -> list:
    """Return ``count`` raw messages of ``qname`` (polling until ``timeout``)."""
    messages = []
    deadline = time.monotonic() + timeout
    with Connection(url) as conn:
        queue = Queue(qname, routing_key=qname)(conn.default_channel)
        try:
            while len(messages) < count and time.monotonic() < deadline:
                message = queue.get(no_ack=True, accept=['json'])
                if message is None:
                    time.sleep(0.05)  # poll interval, bounded by the deadline
                    continue
                messages.append(message)
        finally:
            queue.delete()
    assert len(messages) == count, f'got {len(messages)} of {count} messages from {qname}'
    return messages


def _publish_with_real_celery(real_celery, redis_url: str, protocol: int,
                              calls: list) -> tuple[list, dict]:
    qname = _unique_queue()
    ids = real_celery.run(REAL_PUBLISH, {
        'broker': redis_url, 'queue': qname, 'protocol': protocol, 'calls': calls,
    })
    messages = _drain(redis_url, qname, len(calls))
    by_id = {}
    for message in messages:
        body, headers, decoded, utc = hybrid_to_proto2(message, message.decode())
        assert decoded is True
        by_id[headers['id']] = (message, body, headers, utc)
    assert sorted(by_id) == sorted(ids)
    return ids, by_id


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


CALLS = [
    {'name': 'proj.add', 'args': [2, 2], 'kwargs': {}},
    {'name': 'proj.add', 'args': [1], 'kwargs': {'y': 5},
     'options': {
         'countdown': 30, 'expires': 120, 'priority': 3, 'shadow': 'add-alias',
         'link': [['proj.cb', [1]]], 'link_error': [['proj.err', []]],
         'time_limit': 10, 'soft_time_limit': 5, 'retries': 2,
         'headers': {'x-custom': 'yes'},
         'group_id': 'g-1', 'group_index': 4,
         'root_id': 'root-1', 'parent_id': 'parent-1',
     }},
    {'name': 'proj.mul', 'args': [3, 4], 'kwargs': {},
     'options': {'chain': [['proj.add', [10]], ['proj.mul', [2]]],
                 'argsrepr': '<hidden>', 'kwargsrepr': '{...}'}},
]


class test_RealCeleryToUs:
    """Real Celery publishes; our reader sees the same request."""

    @pytest.mark.parametrize('protocol', [2, 1])
    def test_request_fields(self, real_celery, redis_url, protocol):
        # Given real Celery publishes three calls with many options
        before = datetime.now(timezone.utc)
        ids, by_id = _publish_with_real_celery(real_celery, redis_url, protocol, CALLS)
        after = datetime.now(timezone.utc)

        # Then the plain call reads back as a plain request
        message, (args, kwargs, embed), headers, utc = by_id[ids[0]]
        assert headers['task'] == 'proj.add'
        assert list(args) == [2, 2] and kwargs == {}
        assert headers['eta'] is None and headers['expires'] is None
        assert headers['retries'] == 0
        assert list(headers['timelimit']) == [None, None]
        assert embed == {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}
        assert message.properties['correlation_id'] == ids[0]
        assert utc is True
        if protocol == 2:
            assert headers['lang'] == 'py'
            assert headers['root_id'] == ids[0]
            assert headers['argsrepr'] == '[2, 2]'  # JSON gave real Celery a list
            assert headers['kwargsrepr'] == '{}'
            assert headers['origin'].startswith('gen') and '@' in headers['origin']

        # And the call with options keeps every one of them
        message, (args, kwargs, embed), headers, utc = by_id[ids[1]]
        assert list(args) == [1] and kwargs == {'y': 5}
        eta = _parse(headers['eta'])
        assert before + timedelta(seconds=29) <= eta <= after + timedelta(seconds=31)
        expires = _parse(headers['expires'])
        assert before + timedelta(seconds=119) <= expires <= after + timedelta(seconds=121)
        assert headers['retries'] == 2
        assert headers['group'] == 'g-1'
        assert [cb['task'] for cb in embed['callbacks']] == ['proj.cb']
        assert list(embed['callbacks'][0]['args']) == [1]
        assert [eb['task'] for eb in embed['errbacks']] == ['proj.err']
        assert message.properties['priority'] == 3
        assert message.headers['x-custom'] == 'yes'
        if protocol == 2:
            assert headers['shadow'] == 'add-alias'
            assert list(headers['timelimit']) == [10, 5]
            assert headers['group_index'] == 4
            assert headers['root_id'] == 'root-1'
            assert headers['parent_id'] == 'parent-1'
            assert eta.utcoffset() is not None
        else:
            # Protocol 1 puts (hard, soft) limits in the body and knows no shadow.
            assert list(headers['timelimit']) == [10, 5]
            assert headers['group_index'] == 4

        # And the chain (protocol 2 only) and custom reprs survive
        message, (args, kwargs, embed), headers, utc = by_id[ids[2]]
        if protocol == 2:
            assert [s['task'] for s in embed['chain']] == ['proj.add', 'proj.mul']
            assert headers['argsrepr'] == '<hidden>'
            assert headers['kwargsrepr'] == '{...}'
        else:
            assert embed['chain'] is None


FIXED_NOW = '2024-03-01T12:00:00+00:00'


def _sig(name: str, *args) -> dict:
    """A signature as it travels (embedded signatures are opaque to the message layer)."""
    return {'task': name, 'args': list(args), 'kwargs': {}, 'options': {},
            'subtask_type': None, 'immutable': False}


BUILD_CALLS = [
    {'id': 'id-plain', 'name': 'proj.add', 'args': [2, 2], 'kwargs': {},
     'kw': {'origin': 'me@host'}},
    {'id': 'id-full', 'name': 'proj.add', 'args': [1, 'x', [1, 2]], 'kwargs': {'k': {'n': None}},
     'kw': {'countdown': 15, 'expires': 60, 'group_id': 'g', 'group_index': 1,
            'retries': 3, 'reply_to': 'reply.q', 'time_limit': 30, 'soft_time_limit': 20,
            'create_sent_event': True, 'root_id': 'r', 'parent_id': 'p', 'shadow': 'sh',
            'origin': 'me@host', 'ignore_result': True,
            'callbacks': [_sig('proj.cb', 1)], 'errbacks': [_sig('proj.err')],
            'chain': [_sig('proj.next', 2)], 'chord': _sig('proj.body'),
            'replaced_task_nesting': 2}},
    {'id': 'id-eta', 'name': 'proj.mul', 'args': [], 'kwargs': {},
     'kw': {'eta': '2024-03-02T08:30:00+00:00', 'eta_is_datetime': True,
            'expires': '2024-03-03T00:00:00+00:00', 'expires_is_datetime': True,
            'origin': 'me@host', 'argsrepr': 'A', 'kwargsrepr': 'K'}},
    {'id': 'id-stamped', 'name': 'proj.mul', 'args': [1], 'kwargs': {},
     'kw': {'stamped_headers': ['mystamp'], 'mystamp': 'value', 'origin': 'me@host'}},
]


def _build_ours(app, protocol: int) -> list:
    app.conf.task_protocol = protocol
    now = datetime.fromisoformat(FIXED_NOW)
    out = []
    for call in BUILD_CALLS:
        kw = dict(call['kw'])
        for key in ('eta', 'expires'):
            if kw.pop(key + '_is_datetime', False):
                kw[key] = datetime.fromisoformat(kw[key])
        m = app.amqp.create_task_message(call['id'], call['name'], call['args'],
                                         call['kwargs'], now=now, **kw)
        out.append({'headers': m.headers, 'properties': m.properties,
                    'body': m.body, 'sent_event': m.sent_event})
    return json.loads(json.dumps(out))


class test_UsToRealCelery:
    """We build the same message real Celery builds for the same call."""

    @pytest.mark.parametrize('protocol', [2, 1])
    def test_create_task_message_matches(self, real_celery, app, protocol):
        theirs = real_celery.run(REAL_BUILD, {
            'protocol': protocol, 'now': FIXED_NOW, 'calls': BUILD_CALLS,
        })
        ours = _build_ours(app, protocol)
        for call, mine, real in zip(BUILD_CALLS, ours, theirs):
            assert sorted(mine['headers']) == sorted(real['headers']), call['id']
            assert mine['headers'] == real['headers'], call['id']
            assert mine['properties'] == real['properties'], call['id']
            assert mine['body'] == real['body'], call['id']
            assert mine['sent_event'] == real['sent_event'], call['id']

    def test_naive_eta_same_instant(self, real_celery, app):
        # Real Celery leaves a naive eta naive; we send it with its UTC offset
        # (protocol 2 reads naive times as UTC, so both mean the same instant).
        call = {'id': 'id-naive', 'name': 'proj.add', 'args': [], 'kwargs': {},
                'kw': {'eta': '2024-03-02T08:30:00', 'eta_is_datetime': True,
                       'origin': 'me@host'}}
        real, = real_celery.run(REAL_BUILD, {'protocol': 2, 'now': FIXED_NOW,
                                             'calls': [call]})
        ours = app.amqp.create_task_message(
            'id-naive', 'proj.add', [], {}, eta=datetime(2024, 3, 2, 8, 30), origin='me@host')
        theirs = datetime.fromisoformat(real['headers']['eta']).replace(tzinfo=timezone.utc)
        assert datetime.fromisoformat(ours.headers['eta']) == theirs
        assert ours.headers['eta'] == '2024-03-02T08:30:00+00:00'
        assert {k: v for k, v in ours.headers.items() if k != 'eta'} == {
            k: v for k, v in real['headers'].items() if k != 'eta'}

    def test_send_task_wire_matches(self, real_celery, app, redis_url):
        # Given the same two calls sent by real Celery and by us to Redis
        calls = [
            {'name': 'proj.add', 'args': [2, 2], 'kwargs': {}},
            {'name': 'proj.add', 'args': [1], 'kwargs': {'y': 2},
             'options': {'priority': 5, 'shadow': 's', 'headers': {'x-h': 1},
                         'time_limit': 3, 'retries': 1, 'group_id': 'g',
                         'ignore_result': True}},
        ]
        real_ids, theirs = _publish_with_real_celery(real_celery, redis_url, 2, calls)

        app.conf.broker_url = redis_url
        app.conf.task_send_sent_event = False
        qname = _unique_queue()
        our_ids = []
        for call in calls:
            options = dict(call.get('options') or {})
            our_ids.append(app.send_task(call['name'], call['args'], call['kwargs'],
                                         queue=qname, **options).id)
        ours = {}
        for message in _drain(redis_url, qname, len(calls)):
            ours[message.headers['id']] = message

        # Then headers, properties and body agree, except ids, node names and times
        volatile_headers = {'id', 'root_id', 'origin', 'eta', 'expires'}
        volatile_props = {'correlation_id', 'reply_to', 'delivery_tag', 'delivery_info'}
        for real_id, our_id in zip(real_ids, our_ids):
            real_msg = theirs[real_id][0]
            our_msg = ours[our_id]
            assert sorted(our_msg.headers) == sorted(real_msg.headers)
            assert ({k: v for k, v in our_msg.headers.items() if k not in volatile_headers}
                    == {k: v for k, v in real_msg.headers.items() if k not in volatile_headers})
            assert ({k: v for k, v in our_msg.properties.items() if k not in volatile_props}
                    == {k: v for k, v in real_msg.properties.items() if k not in volatile_props})
            assert our_msg.properties['correlation_id'] == our_id
            assert our_msg.decode() == real_msg.decode()
            assert our_msg.content_type == real_msg.content_type
            assert our_msg.content_encoding == real_msg.content_encoding


def test_failed_venv_build_is_reported_and_cleaned(monkeypatch):
    # Given a requirement pip cannot install (no network needed to fail)
    import celery_venv
    version = f'broken-{uuid.uuid4().hex[:8]}'
    monkeypatch.setattr(celery_venv, 'requirements',
                        lambda v=version: ('/nonexistent/interop-test-package.whl',))
    path = celery_venv.venv_dir(version)
    try:
        # Then the build fails with pip's own words, and leaves no half-built venv
        with pytest.raises(celery_venv.InteropVenvError, match='pip install') as excinfo:
            celery_venv.ensure_venv(version)
        assert 'interop-test-package' in str(excinfo.value)
        assert not path.exists()
    finally:
        lock = path.parent / f'{path.name}.lock'
        if lock.exists():
            lock.unlink()

from __future__ import annotations

import json
from datetime import datetime

import pytest

from celery.contrib.testing.app import set_trap
from celery.contrib.testing.mocks import (ContextMock, TaskMessage, TaskMessage1,
                                          task_message_from_sig)


class test_TaskMessage:

    def test_protocol2_shape(self):
        m = TaskMessage('proj.add', id='id1', args=(2, 2), kwargs={'z': 1})
        assert m.headers['task'] == 'proj.add'
        assert m.headers['id'] == m.headers['root_id'] == 'id1'
        assert m.headers['lang'] == 'py'
        assert m.headers['retries'] == 0
        assert m.headers['timelimit'] == [None, None]
        assert m.headers['argsrepr'] == '(2, 2)'
        assert m.properties == {'correlation_id': 'id1', 'reply_to': ''}
        assert m.content_type == 'application/json'
        args, kwargs, embed = json.loads(m.body)
        assert (args, kwargs) == ([2, 2], {'z': 1})
        assert embed['callbacks'] is embed['errbacks'] is embed['chain'] is None
        assert m.payload == ((2, 2), {'z': 1}, embed)
        assert m.decode() == m.payload
        assert m.delivery_info['redelivered'] is False

    def test_generates_an_id(self):
        a, b = TaskMessage('x'), TaskMessage('x')
        assert a.headers['id'] and a.headers['id'] != b.headers['id']

    def test_options_become_headers(self):
        m = TaskMessage('x', eta='2030-01-01T00:00:00+00:00', retries=3,
                        timelimit=(10, 5), group='g', custom='c', shadow='alias')
        assert m.headers['eta'] == '2030-01-01T00:00:00+00:00'
        assert m.headers['retries'] == 3
        assert m.headers['timelimit'] == (10, 5)
        assert m.headers['group'] == 'g'
        assert m.headers['custom'] == 'c'
        assert m.headers['shadow'] == 'alias'

    def test_utc_is_not_a_header(self):
        assert 'utc' not in TaskMessage('x', utc=True).headers

    def test_embed(self):
        m = TaskMessage('x', callbacks=[{'task': 'cb'}], errbacks=[{'task': 'eb'}],
                        chain=[{'task': 'next'}])
        embed = m.payload[2]
        assert embed['callbacks'] == [{'task': 'cb'}]
        assert embed['errbacks'] == [{'task': 'eb'}]
        assert embed['chain'] == [{'task': 'next'}]

    def test_bad_args(self):
        with pytest.raises(TypeError):
            TaskMessage('x', args=42)

    def test_works_with_the_app_trap(self, app):
        with set_trap(app):
            assert TaskMessage('x').headers['task'] == 'x'

    def test_with_app(self, app):
        app.conf.task_protocol = 2
        m = TaskMessage('x', app=app, args=(1,))
        assert m.payload[0] == (1,)


class test_TaskMessage1:

    def test_protocol1_shape(self):
        m = TaskMessage1('proj.add', id='id1', args=(2, 2), kwargs={'z': 1}, eta='soon')
        assert m.headers == {}
        assert m.payload['task'] == 'proj.add'
        assert m.payload['id'] == 'id1'
        assert m.payload['args'] == (2, 2)
        assert m.payload['kwargs'] == {'z': 1}
        assert m.payload['eta'] == 'soon'
        assert json.loads(m.body)['task'] == 'proj.add'
        assert m.content_type == 'application/json'

    def test_chain(self):
        assert TaskMessage1('x', chain=[{'task': 'y'}]).payload['chain'] == [{'task': 'y'}]


class test_task_message_from_sig:

    def test_from_signature(self, app):
        add = app.task(name='proj.add', shared=False)(lambda x, y: x + y)
        cb = app.signature('proj.cb')
        sig = add.s(2, 3).set(countdown=10, expires=60, link=cb, queue='q')
        before = app.now()
        m = task_message_from_sig(app, sig)
        assert m.headers['task'] == 'proj.add'
        assert m.headers['id'] == sig.id
        assert m.payload[0] == (2, 3)
        eta = datetime.fromisoformat(m.headers['eta'])
        expires = datetime.fromisoformat(m.headers['expires'])
        assert 9 <= (eta - before).total_seconds() <= 11
        assert 59 <= (expires - before).total_seconds() <= 61
        assert m.payload[2]['callbacks'][0]['task'] == 'proj.cb'
        assert m.headers['queue'] == 'q'
        assert 'task_id' not in m.headers

    def test_datetime_eta(self, app):
        eta = datetime(2030, 1, 1)
        m = task_message_from_sig(app, app.signature('x', eta=eta))
        assert m.headers['eta'] == eta.isoformat()

    def test_custom_factory(self, app):
        seen = {}

        def factory(name, **kwargs):
            seen.update(kwargs, name=name)
            return 'message'
        assert task_message_from_sig(app, app.signature('x', (1,)),
                                     TaskMessage=factory) == 'message'
        assert seen['name'] == 'x' and seen['args'] == (1,) and 'app' not in seen


class test_ContextMock:

    def test_with(self):
        m = ContextMock()
        with m as entered:
            assert entered is m
        m.__enter__.assert_called_once_with()
        m.__exit__.assert_called_once_with(None, None, None)

    def test_exceptions_propagate(self):
        with pytest.raises(KeyError):
            with ContextMock():
                raise KeyError()


class test_with_the_worker_request:
    """The mocks are what the worker's Request is built from in unit tests."""

    def test_request_from_task_message(self, app):
        from celery.worker.request import Request
        add = app.task(name='proj.add', shared=False)(lambda x, y: x + y)
        message = TaskMessage(add.name, id='rid', args=(2, 3), retries=2,
                              timelimit=(10, 5))
        request = Request(message, app=app, task=add)
        assert request.id == 'rid'
        assert request.task_name == 'proj.add'
        assert request.time_limits == (10, 5)
        assert request.execute() == 5

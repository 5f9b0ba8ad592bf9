"""Tests for celery.utils.serialization."""
from __future__ import annotations

import json
import pickle
import threading
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from celery.utils.serialization import (UnpickleableExceptionWrapper,
                                        b64decode, b64encode,
                                        create_exception_cls,
                                        ensure_serializable,
                                        find_pickleable_exception,
                                        get_pickleable_etype,
                                        get_pickleable_exception,
                                        get_pickled_exception, itermro,
                                        jsonify, raise_with_context,
                                        strtobool, subclass_exception)


class PickleableError(Exception):
    pass


class ParentError(ValueError):
    pass


class LockHoldingError(ParentError):
    """Pickling fails: one of the attributes is a lock."""

    def __init__(self, message):
        super().__init__(message)
        self.lock = threading.Lock()


class UnpickleableArgError(Exception):
    pass


def test_pickleable_exception_is_returned_as_is():
    exc = PickleableError('fine')
    assert get_pickleable_exception(exc) is exc


def test_nearest_pickleable_parent_is_used():
    exc = LockHoldingError('msg')
    result = get_pickleable_exception(exc)
    assert type(result) is ParentError
    assert result.args == ('msg',)
    assert find_pickleable_exception(exc).args == ('msg',)


def test_unpickleable_exception_is_wrapped():
    exc = UnpickleableArgError(threading.Lock(), 'text')
    wrapped = get_pickleable_exception(exc)
    assert isinstance(wrapped, UnpickleableExceptionWrapper)
    assert wrapped.exc_module == __name__
    assert wrapped.exc_cls_name == 'UnpickleableArgError'
    assert wrapped.exc_args[1] == 'text'
    assert isinstance(wrapped.exc_args[0], str)  # repr of the lock
    assert 'UnpickleableArgError' in str(wrapped)
    restored = get_pickled_exception(pickle.loads(pickle.dumps(wrapped)))
    assert type(restored).__name__ == 'UnpickleableArgError'
    assert type(restored).__module__ == __name__
    assert restored.args[1] == 'text'


def test_wrapper_from_exception_and_restore():
    wrapper = UnpickleableExceptionWrapper.from_exception(KeyError('k'))
    assert (wrapper.exc_module, wrapper.exc_cls_name) == ('builtins', 'KeyError')
    assert wrapper.text == "KeyError('k')"
    restored = wrapper.restore()
    assert isinstance(restored, Exception)
    assert restored.args == ('k',)


def test_get_pickled_exception_passes_others_through():
    exc = KeyError()
    assert get_pickled_exception(exc) is exc


def test_exception_class_factories():
    cls = create_exception_cls('MyError', 'my.module')
    assert issubclass(cls, Exception)
    assert (cls.__name__, cls.__module__) == ('MyError', 'my.module')
    sub = create_exception_cls('Sub', 'm', parent=KeyError)
    assert issubclass(sub, KeyError)
    assert issubclass(subclass_exception('X', ValueError, 'm'), ValueError)


def test_itermro():
    assert list(itermro(LockHoldingError, (Exception,))) == [ParentError, ValueError]


def test_get_pickleable_etype():
    assert get_pickleable_etype(KeyError) is KeyError
    local_cls = type('Local', (Exception,), {'__module__': 'nowhere.at.all'})
    assert get_pickleable_etype(local_cls) is Exception


@pytest.mark.parametrize('term,expected', [
    ('yes', True), ('Yes', True), ('1', True), ('on', True), ('true', True),
    ('no', False), ('0', False), ('OFF', False), ('False', False),
    (True, True), (0, 0), (None, None),
])
def test_strtobool(term, expected):
    assert strtobool(term) == expected


def test_strtobool_unknown():
    with pytest.raises(TypeError, match="Cannot coerce 'maybe' to type bool"):
        strtobool('maybe')
    assert strtobool('maybe', {'maybe': True}) is True


def test_b64():
    assert b64encode('hello') == 'aGVsbG8='
    assert b64encode(b'\x00\xff') == 'AP8='
    assert b64decode('aGVsbG8=') == b'hello'
    assert b64decode(b'AP8=') == b'\x00\xff'


def test_jsonify():
    uid = uuid.uuid4()
    value = {
        'dt': datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
        'naive': datetime(2024, 1, 2, 3, 4, 5),
        'd': date(2024, 1, 2),
        't': time(1, 2, 3, 500000),
        'td': timedelta(seconds=90),
        'uuid': uid,
        'dec': Decimal('1.50'),
        'tuple': (1, 'a'),
        'scalars': [1, 1.5, None, True, 's'],
    }
    result = jsonify(value)
    assert result == {
        'dt': '2024-01-02T03:04:05.123Z',
        'naive': '2024-01-02T03:04:05',
        'd': '2024-01-02',
        't': '01:02:03.500',
        'td': '0:01:30',
        'uuid': str(uid),
        'dec': '1.50',
        'tuple': [1, 'a'],
        'scalars': [1, 1.5, None, True, 's'],
    }
    json.dumps(result)


def test_jsonify_keyfilter_and_unknown():
    assert jsonify({'a': 1, '_b': 2}, keyfilter=lambda k: not k.startswith('_')) == {'a': 1}

    class Odd:
        pass

    with pytest.raises(ValueError, match='Unsupported type'):
        jsonify({'k': Odd()})
    assert jsonify([Odd()], unknown_type_filter=lambda o: 'odd') == ['odd']

    class WithJson:
        def __json__(self):
            return {'x': (1,)}

    assert jsonify(WithJson()) == {'x': [1]}


def test_ensure_serializable():
    lock = threading.Lock()
    result = ensure_serializable([1, 'a', lock], json.dumps)
    assert result[:2] == (1, 'a')
    assert isinstance(result[2], str) and 'lock' in result[2]


def test_raise_with_context():
    with pytest.raises(ValueError) as info:
        raise_with_context(ValueError('plain'))
    assert info.value.__cause__ is None

    with pytest.raises(ValueError) as info:
        try:
            raise KeyError('cause')
        except KeyError:
            raise_with_context(ValueError('new'))
    assert isinstance(info.value.__cause__, KeyError)

    with pytest.raises(KeyError) as info:
        try:
            raise KeyError('same')
        except KeyError as exc:
            raise_with_context(exc)
    assert info.value.args == ('same',)

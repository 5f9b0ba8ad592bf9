"""Bad input: thousands of malformed task messages, published raw, among valid ones.

Hypothesis draws batches of messages of every kind a broken or hostile
client could send: random bytes, a content type the worker does not
accept, truncated JSON, headers of the wrong types, unknown task names, a
huge ``argsrepr``, a body that is not an ``(args, kwargs, embed)`` triple, a
missing id, pickle (not accepted), an ETA that is not a date, and messages
with no task headers at all.  Valid tasks are mixed in.

The worker must never die (nor any pool child), every valid task must run
exactly once, every bad message must be logged (WARNING or worse) with its
task id (or, when it has none, something of its body) and what was wrong,
and must be handled as Celery does: rejected or acknowledged, so nothing
is left unacknowledged when the worker stops.  Each message carries a
unique *mark* (a uuid): its id, and the first task argument, which
``rel.echo`` records when it runs.
"""
from __future__ import annotations

import json
import pickle
import re
import uuid
from collections import Counter
from datetime import datetime
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kombu import Connection, Producer

from t.reliability._helpers import Figures, Ledger, WorkerProcess, wait_for

#: Batches Hypothesis draws, and messages per batch: ~1,500 messages in all.
FUZZ_BATCHES = 50
BATCH_SIZE = (20, 40)
#: Keeps a message's headers within one AMQP frame (frame_max is 128 KiB).
HUGE_ARGSREPR = (20_000, 100_000)
EMBED = {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}
UUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
RECORD = re.compile(r'^\[\d{4}-\d\d-\d\d [\d:,]+: (\w+)/', re.M)

#: What must be in the log about each kind: words naming what was wrong.
REASONS = {
    'random_bytes': ('decode', 'invalid', 'json', 'utf', 'codec', 'expecting', 'unknown'),
    'truncated_json': ('decode', 'invalid', 'json', 'expecting', 'unterminated', 'delimiter'),
    'content_type': ('untrusted', 'refusing', 'disallowed', 'content', 'serializer'),
    'pickle': ('untrusted', 'refusing', 'disallowed', 'pickle'),
    'unknown_task': ('unregistered', 'notregistered', 'not registered'),
    'not_a_triple': ('invalid', 'unpack', 'values', 'tuple', 'body', 'not iterable',
                     'protocol', 'unknown'),
    'missing_id': ('unknown message', 'invalid', 'id'),
    'bad_eta': ('eta',),
    'no_headers': ('unknown message', 'unregistered'),
}
#: Kinds that may also be run (they are odd, not wrong); the others must not run.
MAY_RUN = {'wrong_header_types', 'not_a_triple'}
MUST_RUN = {'valid', 'huge_argsrepr'}

_text = st.text(alphabet=st.characters(blacklist_categories=('Cs',)), max_size=24)
_wrong_value = st.one_of(
    st.integers(min_value=-2 ** 62, max_value=2 ** 62), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(), _text, st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.text(alphabet='abc', max_size=3), st.integers(0, 9), max_size=2))
_HEADER_FIELDS = ['id', 'task', 'retries', 'eta', 'expires', 'timelimit', 'argsrepr',
                  'kwargsrepr', 'group', 'group_index', 'root_id', 'parent_id', 'lang',
                  'shadow', 'ignore_result', 'origin', 'stamps', 'stamped_headers']


def _headers(mark: str, body_mark: str, task: str) -> dict:
    return {'lang': 'py', 'task': task, 'id': mark, 'shadow': None, 'eta': None,
            'expires': None, 'group': None, 'group_index': None, 'retries': 0,
            'timelimit': [None, None], 'root_id': mark, 'parent_id': None,
            'argsrepr': repr((body_mark,)), 'kwargsrepr': '{}', 'origin': 'fuzz@rel',
            'ignore_result': True}


def _body(body_mark: str) -> bytes:
    return json.dumps([[body_mark], {}, EMBED]).encode()


class Message:
    """One message to publish: ``mark`` is its id, ``body_mark`` its first argument."""

    def __init__(self, kind: str, mark: str, body_mark: str, task: str,
                 **parts: Any) -> None:
        self.kind, self.mark, self.body_mark = kind, mark, body_mark
        self.body = parts.get('body', _body(body_mark))
        self.headers = parts.get('headers', _headers(mark, body_mark, task))
        self.content_type = parts.get('content_type', 'application/json')
        self.content_encoding = parts.get('content_encoding', 'utf-8')

    @property
    def has_id(self) -> bool:
        """Whether its headers carry its (string) id: the log must then name it."""
        return self.headers.get('id') == self.mark


def _not_a_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return bool(text)
    return False


Builder = Callable[[str, str, str], Message]


@st.composite
def messages(draw: Callable) -> Builder:
    """One message: valid (a quarter of them), or broken in one of many ways.

    Hypothesis draws the shape; the returned builder makes the message from
    fresh uuids at publish time, so that every message is told apart even
    when shapes repeat.
    """
    kind = draw(st.sampled_from(['valid'] * 4 + sorted(REASONS) + sorted(MAY_RUN)
                                + ['huge_argsrepr']))
    headers_with: dict[str, Any] = {}
    headers_without: tuple = ()
    parts: dict[str, Any] = {}
    body_of: Callable[[str], Any] | None = None
    task_of: Callable[[str], str] = lambda task: task  # noqa: E731
    if kind == 'random_bytes':
        parts['body'] = draw(st.binary(max_size=300))
    elif kind == 'truncated_json':
        cut = draw(st.floats(0.0, 1.0, exclude_max=True))
        body_of = lambda m: _body(m)[:max(1, int(cut * len(_body(m))))]  # noqa: E731
    elif kind == 'content_type':
        parts['content_type'] = draw(st.sampled_from([
            'application/x-yaml', 'text/plain', 'application/octet-stream', 'image/png',
            'application/x-msgpack', 'application/xml']))
    elif kind == 'pickle':
        body_of = lambda m: pickle.dumps(([m], {}, EMBED))  # noqa: E731
        parts.update(content_type='application/x-python-serialize',
                     content_encoding='binary')
    elif kind == 'unknown_task':
        name = 'fuzz.unknown.' + draw(st.text(alphabet='abcxyz._', min_size=1, max_size=20))
        task_of = lambda task: name  # noqa: E731
    elif kind == 'huge_argsrepr':
        headers_with['argsrepr'] = 'x' * draw(st.integers(*HUGE_ARGSREPR))
    elif kind == 'not_a_triple':
        shape = draw(st.sampled_from([
            lambda m: [], lambda m: [[m]], lambda m: [[m], {}], lambda m: [[m], {}, EMBED, 1],
            lambda m: {'args': [m]}, lambda m: m, lambda m: [m, {}, {}],
            lambda m: [[m], [], EMBED], lambda m: [[m], {}, 'embed'], lambda m: [[m], {}, 7]]))
        body_of = lambda m: json.dumps(shape(m)).encode()  # noqa: E731
    elif kind == 'missing_id':
        headers_without = ('id',)
    elif kind == 'bad_eta':
        headers_with['eta'] = draw(st.one_of(
            st.sampled_from(['tomorrow', '2024-13-45T99:99:99', 'not-a-date', '12:00',
                             '2024-02-30', 'NaN']),
            _text.filter(_not_a_date)))
    elif kind == 'no_headers':
        shape = draw(st.sampled_from([lambda m: {'hello': m}, lambda m: [m], lambda m: m,
                                      lambda m: {'mark': m, 'task': None}]))
        body_of = lambda m: json.dumps(shape(m)).encode()  # noqa: E731
        parts['headers'] = {}
    elif kind == 'wrong_header_types':  # one to three fields get a value of a wrong type
        headers_with.update({field: draw(_wrong_value) for field in draw(
            st.lists(st.sampled_from(_HEADER_FIELDS), min_size=1, max_size=3, unique=True))})

    def build(mark: str, body_mark: str, task: str) -> Message:
        made = dict(parts)
        if body_of is not None:
            made['body'] = body_of(body_mark)
        if 'headers' not in made:
            headers = dict(_headers(mark, body_mark, task_of(task)), **headers_with)
            made['headers'] = {k: v for k, v in headers.items() if k not in headers_without}
        return Message(kind, mark, body_mark, task_of(task), **made)

    return build


def _log_records(text: str) -> dict[str, list[str]]:
    """Each uuid in a WARNING-or-worse log record -> the text of those records."""
    found: dict[str, list[str]] = {}
    starts = [m.start() for m in RECORD.finditer(text)] + [len(text)]
    for begin, end in zip(starts, starts[1:]):
        record = text[begin:end]
        level = RECORD.match(record).group(1)
        if level in ('WARNING', 'ERROR', 'CRITICAL'):
            for mark in set(UUID.findall(record)):
                found.setdefault(mark, []).append(record)
    return found


@pytest.mark.parametrize('task', ['rel.echo', 'rel.echo_late'])
def test_malformed_messages_never_kill_the_worker(
        task: str, amqp_url: str, amqp_queues: list[str], queue_name: str, ledger: Ledger,
        start_worker: Callable[..., WorkerProcess]) -> None:
    amqp_queues.append(queue_name)
    conf = {'broker_url': amqp_url, 'task_ignore_result': True}
    figures = Figures(f'bad input fuzzing [amqp, {task}, hypothesis]')
    worker = start_worker(queue_name, conf, '-c', '2')
    children = worker.children()
    sent: list[Message] = []
    conn = Connection(amqp_url)
    producer = Producer(conn.default_channel)

    @settings(max_examples=FUZZ_BATCHES, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(messages(), min_size=BATCH_SIZE[0], max_size=BATCH_SIZE[1]))
    def survive(batch: list[Builder]) -> None:
        # When a batch of messages is published raw
        made = [build(str(uuid.uuid4()), str(uuid.uuid4()), task) for build in batch]
        for message in made:
            producer.publish(message.body, exchange='', routing_key=queue_name,
                             headers=message.headers, content_type=message.content_type,
                             content_encoding=message.content_encoding,
                             correlation_id=message.mark, retry=False)
            sent.append(message)
        # Then its valid tasks run, and the worker and its children live on
        valid = [m.mark for m in made if m.kind in MUST_RUN]
        wait_for(lambda: ledger.done_count(valid) == len(valid) or not worker.alive(),
                 timeout=30, what='the valid tasks of the batch', detail=worker.tail)
        assert worker.alive(), worker.tail()
        assert worker.children() == children, f'a pool child died\n{worker.tail()}'

    try:
        survive()
    finally:
        conn.release()
    # When the worker stops (warm), nothing may be left unacknowledged
    code = worker.stop(60)
    depth = _queue_depth(amqp_url, queue_name)
    records = _log_records(worker.output())
    done = ledger.read()[1]
    kinds = Counter(m.kind for m in sent)
    problems: dict[str, list] = {'valid task not run once': [], 'bad message run': [],
                                 'not logged with its id': [], 'no reason given': []}
    for message in sent:
        kind, mark = message.kind, message.mark
        ran = done[mark] or done[message.body_mark]
        if kind in MUST_RUN:
            if done[mark] != 1:
                problems['valid task not run once'].append((kind, mark, done[mark]))
            continue
        if ran:
            if kind not in MAY_RUN:
                problems['bad message run'].append((kind, mark))
            continue
        key = mark if message.has_id else message.body_mark
        if key not in records:
            problems['not logged with its id'].append(
                (kind, mark, message.headers, message.body[:200],
                 records.get(message.body_mark, [''])[0][:400]))
            continue
        words = REASONS.get(kind)
        text = ' '.join(records[key]).lower()
        if words and not any(w in text for w in words):
            problems['no reason given'].append((kind, mark, records[key][0][:400]))
    valid = [m.mark for m in sent if m.kind in MUST_RUN]
    bad = [m for m in sent if m.kind not in MUST_RUN]
    tally = ledger.tally(valid)
    figures.take(tally)
    figures.extra.update(bad_messages=len(bad), kinds=dict(sorted(kinds.items())),
                         bad_run=sum(1 for m in bad if done[m.mark] or done[m.body_mark]),
                         left_in_queue=depth, exit_code=code,
                         **{k.replace(' ', '_'): len(v) for k, v in problems.items()})
    figures.report()
    assert code == 0, worker.tail()
    assert depth == 0, (f'{depth} messages were neither acked nor rejected: '
                        f'{_leftovers(amqp_url, queue_name, sent)}')
    summary = {problem: {kind: f'{count}x, e.g. ' + repr(next(e for e in found
                                                             if e[0] == kind)[1:])[:600]
                         for kind, count in Counter(e[0] for e in found).items()}
               for problem, found in problems.items() if found}
    assert summary == {}, json.dumps(summary, indent=1)


def _leftovers(url: str, queue: str, sent: list[Message]) -> list:
    """The kinds (and headers) of the messages still in the queue."""
    by_id = {m.mark: m for m in sent}
    found = []
    with Connection(url) as conn:
        channel = conn.default_channel
        while True:
            raw = channel.basic_get(queue, no_ack=True)
            if raw is None:
                return found
            headers = raw.properties.get('application_headers') or {}
            message = by_id.get(raw.properties.get('correlation_id'))
            found.append((message.kind if message else '?', headers, raw.body[:120]))


def _queue_depth(url: str, queue: str) -> int:
    with Connection(url) as conn:
        return conn.default_channel.queue_declare(queue, passive=True).message_count

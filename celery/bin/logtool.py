"""The ``celery logtool`` command: what happened to tasks, read from worker logs.

Sub-commands, each taking one or more log files written by ``celery worker``
(the default log formats, ``[date: LEVEL/process] message``):

* ``stats``: how many tasks were received, succeeded, failed, per task name;
* ``traces``: the tracebacks in the logs;
* ``errors``: the task failures, with their tracebacks;
* ``incomplete``: tasks received but never reported finished;
* ``debug``: every log entry as parsed, one per line (to check the parser).

A log entry is a line starting with ``[`` and a date, plus the lines that
follow it without one (tracebacks).  Lines before the first entry are
skipped.  Reads the files once, in order; memory grows with the number of
distinct task ids.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import IO, Any, Callable, Iterable, Iterator, NamedTuple

import click

__all__ = ('logtool', 'Audit', 'LogEntry', 'parse_entries')

#: ``[2024-05-01 12:00:00,123: INFO/MainProcess] message``
RE_ENTRY = re.compile(
    r'^\[(?P<time>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?)'
    r': (?P<level>[A-Z]+)(?:/(?P<process>[^\]]*))?\] ?(?P<message>.*)$')
_TASK = r'(?P<name>[^\s\[\]]+)\[(?P<id>[^\]]+)\]'
RE_RECEIVED = (re.compile(rf'^Task {_TASK} received'),
               re.compile(rf'^Received task: {_TASK}'))
RE_SUCCEEDED = re.compile(rf'^Task {_TASK} succeeded in (?P<runtime>[\d.e+-]+)s: (?P<result>.*)',
                          re.S)
RE_FAILED = re.compile(
    rf'^Task {_TASK} (?:raised (?:unexpected|expected)|INTERNAL ERROR): (?P<exc>.*)', re.S)
RE_RETRY = re.compile(rf'^Task {_TASK} retry: ')
RE_IGNORED = re.compile(rf'^Task {_TASK} ignored')


class LogEntry(NamedTuple):
    """One log entry: its header fields and the full text (with tracebacks)."""

    time: str
    level: str
    process: str
    message: str
    lineno: int
    filename: str

    @property
    def first_line(self) -> str:
        return self.message.split('\n', 1)[0]

    @property
    def has_traceback(self) -> bool:
        return 'Traceback (most recent call last)' in self.message

    def text(self) -> str:
        """The entry as it appeared in the log."""
        where = f'{self.level}/{self.process}' if self.process else self.level
        return f'[{self.time}: {where}] {self.message}'


def parse_entries(fh: IO[str], filename: str = '<stream>') -> Iterator[LogEntry]:
    """Yield the log entries of an open worker log file."""
    current: dict | None = None
    lines: list[str] = []
    for lineno, line in enumerate(fh, 1):
        line = line.rstrip('\n')
        match = RE_ENTRY.match(line)
        if match is None:
            if current is not None:
                lines.append(line)
            continue
        if current is not None:
            yield _entry(current, lines, filename)
        current = dict(match.groupdict(), lineno=lineno)
        lines = [current.pop('message')]
    if current is not None:
        yield _entry(current, lines, filename)


def _entry(fields: dict, lines: list[str], filename: str) -> LogEntry:
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return LogEntry(fields['time'], fields['level'], fields['process'] or '',
                    '\n'.join(lines), fields['lineno'], filename)


class Audit:
    """Follow tasks through log entries and count what became of them.

    The ``on_*`` callbacks receive the entries of interest as they are met.
    """

    def __init__(self, on_task_error: Callable[[LogEntry], None] | None = None,
                 on_trace: Callable[[LogEntry], None] | None = None,
                 on_debug: Callable[[LogEntry], None] | None = None) -> None:
        self.on_task_error = on_task_error
        self.on_trace = on_trace
        self.on_debug = on_debug
        self.received: dict[str, str] = {}  # id -> name, in order received
        self.ready: set[str] = set()
        self.task_types: Counter = Counter()
        self.succeeded = 0
        self.errors = 0
        self.retries = 0
        self.entries = 0

    def run(self, files: Iterable[str]) -> Audit:
        for filename in files:
            with open(filename, encoding='utf-8', errors='replace') as fh:
                self.feed(parse_entries(fh, filename))
        return self

    def feed(self, entries: Iterable[LogEntry]) -> None:
        for entry in entries:
            self.entries += 1
            if self.on_debug is not None:
                self.on_debug(entry)
            if entry.has_traceback and self.on_trace is not None:
                self.on_trace(entry)
            self._classify(entry)

    def _classify(self, entry: LogEntry) -> None:
        message = entry.message
        if not message.startswith(('Task ', 'Received task')):
            return
        for pattern in RE_RECEIVED:
            match = pattern.match(message)
            if match:
                if match['id'] not in self.received:  # a retry comes back, same id
                    self.received[match['id']] = match['name']
                    self.task_types[match['name']] += 1
                return
        match = RE_SUCCEEDED.match(message)
        if match:
            self.succeeded += 1
            self.ready.add(match['id'])
            return
        match = RE_FAILED.match(message)
        if match:
            self.errors += 1
            self.ready.add(match['id'])
            if self.on_task_error is not None:
                self.on_task_error(entry)
            return
        if RE_RETRY.match(message):
            self.retries += 1  # the retried task is received again under its id
            return
        match = RE_IGNORED.match(message)
        if match:
            self.ready.add(match['id'])

    def incomplete_tasks(self) -> list[tuple[str, str]]:
        """``(name, id)`` of the tasks received that never finished."""
        return [(name, task_id) for task_id, name in self.received.items()
                if task_id not in self.ready]

    def report(self) -> str:
        lines = [
            'Report', '======',
            f'Task total: {len(self.received)}',
            f'Task errors: {self.errors}',
            f'Task success: {self.succeeded}',
            f'Task retries: {self.retries}',
            f'Task completed: {len(self.ready)}',
            '', 'Tasks', '=====',
        ]
        width = max((len(name) for name in self.task_types), default=0)
        lines.extend(f'{name:<{width}}  {count}'
                     for name, count in self.task_types.most_common())
        return '\n'.join(lines)


_FILES = click.argument('files', nargs=-1, required=True,
                        type=click.Path(exists=True, dir_okay=False))


@click.group(name='logtool')
def logtool(**kwargs: Any) -> None:
    """Read worker log files: stats, traces, errors, incomplete tasks."""


@logtool.command()
@_FILES
def stats(files: tuple[str, ...]) -> None:
    """Count the tasks received, succeeded and failed, per task name."""
    click.echo(Audit().run(files).report())


@logtool.command()
@_FILES
def traces(files: tuple[str, ...]) -> None:
    """Print the tracebacks found in the logs."""
    Audit(on_trace=lambda entry: click.echo(entry.text())).run(files)


@logtool.command()
@_FILES
def errors(files: tuple[str, ...]) -> None:
    """Print the task failures (with their tracebacks)."""
    Audit(on_task_error=lambda entry: click.echo(entry.text())).run(files)


@logtool.command()
@_FILES
def incomplete(files: tuple[str, ...]) -> None:
    """Print the tasks received that were never reported finished."""
    for name, task_id in Audit().run(files).incomplete_tasks():
        click.echo(f'Did not complete: {name}[{task_id}]')


@logtool.command()
@_FILES
def debug(files: tuple[str, ...]) -> None:
    """Print every log entry as parsed (file:line level process: first line)."""
    def show(entry: LogEntry) -> None:
        click.echo(f'{entry.filename}:{entry.lineno} {entry.level} '
                   f'{entry.process or "-"}: {entry.first_line}')
    Audit(on_debug=show).run(files)

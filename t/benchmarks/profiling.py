"""Profile our worker on the drain scenarios with cProfile and summarise it.

``python -m t.benchmarks.profiling [--only NAME[,NAME]] [-n 20000] [--top 25]``

The worker main process runs under ``python -m cProfile -o FILE -m celery
worker`` (the drain scenario of :mod:`t.benchmarks._scenarios` with a
``profile`` path), stops with a warm shutdown so the profile is written,
and the profile is summarised with :mod:`pstats`: time per group of code
(kombu and the client libraries, our consumer/strategy/request, the tracer,
the result backend, pool IPC, logging, ...), then the top functions by own
time and by cumulative time.  With the solo pool the whole hot path
(message in -> request -> tracer -> ack) is in that one process; with
prefork only the parent (consumer and pool IPC) is profiled.

Profiling slows Python code about twice, unevenly: read the shares, not the
rates.  Writes ``.cache/bench-profiles/<name>.prof`` and ``.txt``.
"""
from __future__ import annotations

import argparse
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from t.benchmarks.runner import REPO, SCRIPT, _env

__all__ = ('PROFILES', 'group_of', 'summarize', 'main')

OUT = REPO / '.cache' / 'bench-profiles'

#: name -> (scenario kind, parameters); ``n`` is added for the drain and enqueue kinds.
PROFILES: dict[str, tuple[str, dict]] = {
    'drain-amqp-solo': ('drain', {'broker': 'amqp', 'pool': 'solo', 'concurrency': 2}),
    'drain-redis-solo': ('drain', {'broker': 'redis', 'pool': 'solo', 'concurrency': 2}),
    'drain-amqp-prefork': ('drain', {'broker': 'amqp', 'pool': 'prefork', 'concurrency': 2}),
    'drain-redis-prefork': ('drain', {'broker': 'redis', 'pool': 'prefork', 'concurrency': 2}),
    'enqueue-amqp': ('enqueue', {'broker': 'amqp'}),
    'enqueue-redis': ('enqueue', {'broker': 'redis'}),
    'roundtrip-redis-solo': ('roundtrip', {'n': 1000, 'pool': 'solo'}),
    'chord-redis-solo': ('chord', {'size': 1000, 'pool': 'solo'}),
    'coldstart': ('coldstart', {'lean': False, 'idle_s': 0.5}),
    'coldstart-lean': ('coldstart', {'lean': True, 'idle_s': 0.5}),
}
#: Kinds that can profile the client side too, and the worker side.
CLIENT_SIDE = {'enqueue', 'roundtrip', 'chord'}
WORKER_SIDE = {'drain', 'roundtrip', 'chord', 'coldstart'}

#: (group, substrings of the file path), first match wins.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ('tracer', ('celery/app/trace.py', 'celery/app/task.py')),
    ('backend', ('celery/backends/',)),
    ('pool IPC', ('celery/concurrency/', '/billiard/')),
    ('consumer/strategy/request', ('celery/worker/',)),
    ('logging', ('celery/utils/log.py', '/logging/')),
    ('celery other', ('celery/',)),
    ('kombu', ('/kombu/',)),
    ('py-amqp', ('/amqp/',)),
    ('redis-py', ('/redis/',)),
    ('vine', ('/vine/',)),
    ('stdlib', ('/lib/python3',)),
)


def group_of(filename: str, funcname: str) -> str:
    """The group a profiled function belongs to (C functions are grouped by name)."""
    if filename == '~':
        if any(word in funcname for word in ('poll', 'select', 'epoll')):
            return 'C: waiting (poll/select)'
        if any(word in funcname for word in ('recv', 'send', 'read', 'write', 'sock')):
            return 'C: socket/pipe I/O'
        return 'C: other builtins'
    for group, needles in GROUPS:
        if any(needle in filename for needle in needles):
            return group
    return 'other'


def _where(func: tuple) -> str:
    filename, line, name = func
    if filename == '~':
        return name
    path = filename
    for marker in ('/site-packages/', str(REPO) + '/', '/lib/python3.11/'):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f'{path}:{line}({name})'


def summarize(path: Path, top: int = 25) -> str:
    """A text summary of one profile: groups by own time, top own, top cumulative."""
    stats = pstats.Stats(str(path))
    total = stats.total_tt
    groups: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        groups[group_of(func[0], func[2])] += tt
    lines = [f'total own time {total:.2f} s', '', 'own time by group:']
    for group, tt in sorted(groups.items(), key=lambda kv: -kv[1]):
        lines.append(f'  {tt:7.2f} s {100 * tt / total:5.1f}%  {group}')
    rows = [(func, cc, nc, tt, ct) for func, (cc, nc, tt, ct, _) in stats.stats.items()]
    for title, key in (('top own time (tottime)', 3), ('top cumulative time', 4)):
        lines += ['', f'{title}:', f'  {"calls":>9} {"own s":>7} {"cum s":>7}  function']
        for func, _cc, nc, tt, ct in sorted(rows, key=lambda r: -r[key])[:top]:
            lines.append(f'  {nc:9d} {tt:7.3f} {ct:7.3f}  {_where(func)}')
    return '\n'.join(lines)


def profile(name: str, n: int, timeout: float = 600.0) -> tuple[dict, dict[str, Path]]:
    """Run one scenario of ours with the worker and/or the client under cProfile."""
    OUT.mkdir(parents=True, exist_ok=True)
    kind, params = PROFILES[name]
    args = dict(params)
    if kind in ('drain', 'enqueue'):
        args['n'] = n
    profs: dict[str, Path] = {}
    if kind in WORKER_SIDE:
        profs['worker'] = OUT / f'{name}.prof'
        args['profile'] = str(profs['worker'])
    if kind in CLIENT_SIDE:
        profs['client'] = OUT / f'{name}-client.prof'
        args['client_profile'] = str(profs['client'])
    for path in profs.values():
        path.unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix='celery-bench-prof-'))
    try:
        script = scratch / 'bench_scenarios.py'
        shutil.copyfile(SCRIPT, script)
        args.update(timeout=timeout, workdir=str(scratch))
        proc = subprocess.run([sys.executable, str(script), kind, json.dumps(args)],
                              cwd=scratch, env=_env('ours'), capture_output=True, text=True,
                              timeout=timeout + 60)
        lines = [line for line in proc.stdout.splitlines() if line.startswith('{')]
        report = json.loads(lines[-1]) if lines else {'ok': False, 'error': proc.stderr}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report, profs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m t.benchmarks.profiling',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--only', help=f'comma-separated, of: {", ".join(PROFILES)}')
    parser.add_argument('-n', type=int, default=20000)
    parser.add_argument('--top', type=int, default=25)
    args = parser.parse_args(argv)
    names = args.only.split(',') if args.only else list(PROFILES)
    for name in names:
        report, profs = profile(name, args.n)
        shown = ', '.join(f'{k}={v:.4g}' for k, v in report.get('metrics', {}).items())
        parts = [f'== {name}: ' + (f'{shown} under the profiler' if report.get('ok')
                                   else f'ERROR {report.get("error")}')]
        for side, prof in profs.items():
            parts.append(f'-- {side} side ({prof.name})')
            parts.append(summarize(prof, args.top) if prof.exists() else 'no profile written')
        text = '\n'.join(parts)
        (OUT / f'{name}.txt').write_text(text + '\n')
        print(text, '\n', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())

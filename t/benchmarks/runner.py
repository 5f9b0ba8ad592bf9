"""Run every benchmark for our package and for real Celery 5.7, side by side.

``python -m t.benchmarks [--quick] [--only NAME[,NAME]] [--repeat N] [--impl ours|celery|both]``
(also ``make benchmark ARGS=...``).

Each scenario of :mod:`t.benchmarks._scenarios` runs in a subprocess from a
fresh scratch directory: with this venv's interpreter for our package, and
with the interop venv's (built or found by :mod:`t.interop.celery_venv`,
run as ``python -I`` with a cleaned environment) for Celery 5.7.  Repeats
alternate the order of the two implementations; the reported number is the
median of the repeats.  Results (samples, medians, ratios, the issue's
reference and target, machine, versions, load) go to
``t/benchmarks/RESULTS.json`` (``RESULTS-quick.json`` with ``--quick``); a
run with ``--only`` updates its rows there and keeps the others.  Rows
without a target (issue #5's other pools) report only the ratio to Celery.

The machine has few cores and other work may run on it: look at the load
averages and the spread (min..max of the repeats) before trusting a ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ('Metric', 'Scenario', 'SCENARIOS', 'machine_info', 'run_scenario', 'main')

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = HERE / '_scenarios.py'
RESULTS = HERE / 'RESULTS.json'
#: Where ``--quick`` runs go, so that they never mix with full runs' rows.
RESULTS_QUICK = HERE / 'RESULTS-quick.json'
IMPLS = ('ours', 'celery')


@dataclass(frozen=True)
class Metric:
    """One number of a scenario, with the issue's reference and target."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    reference: float | None = None
    reference_text: str = ''
    target: float | None = None

    def ratio(self, ours: float, theirs: float) -> float:
        """How many times better ours is (> 1: better than Celery)."""
        return ours / theirs if self.higher_is_better else theirs / ours

    def meets(self, value: float) -> bool | None:
        if self.target is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target


@dataclass(frozen=True)
class Scenario:
    """A named run of one scenario function with its parameters."""

    name: str
    kind: str
    params: dict
    quick: dict
    metrics: tuple[Metric, ...]
    timeout: float = 300.0
    notes: str = ''
    extra: dict = field(default_factory=dict)

    def arguments(self, quick: bool) -> dict:
        return {**self.params, **(self.quick if quick else {}), 'timeout': self.timeout}


def _rate(label: str, ref: float | None = None,
          target: float | None = None) -> tuple[Metric, ...]:
    """A tasks/s metric; without ``ref``/``target`` only the ratio to Celery is reported."""
    text = f'{ref:,.0f}/s' if ref is not None else ''
    return (Metric('tasks_per_s', label, 'tasks/s', True, ref, text, target),)


def _drain(broker: str, pool: str, ref: float | None = None, target: float | None = None,
           notes: str = '') -> Scenario:
    """A drain of 20k no-op tasks (5k with ``--quick``) by one worker with ``-c 2``."""
    where = {'amqp': 'RabbitMQ', 'redis': 'Redis'}[broker]
    shown = pool if pool == 'solo' else f'{pool} -c 2'
    return Scenario(f'drain-{broker}-{pool}', 'drain',
                    {'broker': broker, 'pool': pool, 'concurrency': 2, 'n': 20000},
                    {'n': 5000}, _rate(f'drain 20k no-op, {where}, {shown}', ref, target),
                    notes=notes)


#: Notes of the solo rows (they run with -c 2, like the others) and of the
#: rows issue #5 asks for without a target.
_SOLO_NOTES = ('-c 2 (the default on 2 cores) only sets the prefetch count to 8; '
               'Celery 5.7 solo with -c 1 (prefetch 4) stalls to 100-400/s here')
_ISSUE5_NOTES = 'issue #5 row without a target: compare with Celery 5.7 (ratio)'


SCENARIOS: tuple[Scenario, ...] = (
    _drain('amqp', 'prefork', 1680, 5000),
    _drain('redis', 'prefork', 660, 2000),
    _drain('amqp', 'solo', 2920, 6000, notes=_SOLO_NOTES),
    _drain('redis', 'solo', notes=f'{_ISSUE5_NOTES}; {_SOLO_NOTES}'),
    _drain('amqp', 'threads', notes=_ISSUE5_NOTES),
    _drain('redis', 'threads', notes=_ISSUE5_NOTES),
    Scenario('enqueue-amqp', 'enqueue', {'broker': 'amqp', 'n': 20000}, {'n': 5000},
             _rate('enqueue delay(), one client, RabbitMQ', 2410, 9000)),
    Scenario('enqueue-redis', 'enqueue', {'broker': 'redis', 'n': 20000}, {'n': 5000},
             _rate('enqueue delay(), one client, Redis', 1340, 3500)),
    Scenario('roundtrip-redis', 'roundtrip', {'n': 1000}, {'n': 300},
             (Metric('p50_ms', 'round trip delay().get() p50, Redis', 'ms', False,
                     3.1, '3.0-3.2 ms', 1.5),)),
    Scenario('chord-redis', 'chord', {'size': 1000}, {},
             (Metric('seconds', 'chord 1,000 add + tsum, Redis', 's', False,
                     4.3, '4.1-4.5 s', 1.5),)),
    Scenario('coldstart', 'coldstart', {'lean': False}, {},
             (Metric('startup_s', 'cold start to first result, prefork -c 2', 's', False,
                     1.6, '1.6 s', 0.5),
              Metric('idle_rss_mb', 'idle RSS, prefork -c 2 (all processes)', 'MB', False,
                     135, '135 MB', 85)),
             notes='default worker flags (mingle waits up to 1 s for neighbours)'),
    Scenario('coldstart-lean', 'coldstart', {'lean': True}, {},
             (Metric('startup_s', 'cold start, --without-mingle/gossip/heartbeat', 's',
                     False),
              Metric('idle_rss_mb', 'idle RSS, lean flags', 'MB', False)),
             notes='not a row of the issue: start-up without the mingle wait'),
    Scenario('coldstart-amqp', 'coldstart', {'lean': False, 'broker': 'amqp'}, {},
             (Metric('startup_s', 'cold start, RabbitMQ broker, prefork -c 2', 's', False),
              Metric('idle_rss_mb', 'idle RSS, RabbitMQ broker', 'MB', False)),
             notes='issue #5 row: the same start-up with RabbitMQ as the broker'),
)


# -- machine -------------------------------------------------------------------

def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ''


def _service_versions() -> dict:
    sys.path.insert(0, str(SCRIPT.parent))
    out: dict[str, Any] = {}
    try:
        import redis
        url = os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379/14')
        out['redis_server'] = redis.Redis.from_url(url).info('server')['redis_version']
    except Exception as exc:  # noqa: BLE001
        out['redis_server'] = f'unavailable: {exc!r}'
    try:
        from kombu import Connection
        url = os.environ.get('BENCH_AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672//')
        with Connection(url, connect_timeout=3) as conn:
            conn.connect()
            props = conn.connection.server_properties
            out['rabbitmq_server'] = props.get('version')
    except Exception as exc:  # noqa: BLE001
        out['rabbitmq_server'] = f'unavailable: {exc!r}'
    return out


def machine_info() -> dict:
    """Cores, RAM, CPU model, OS and load of this machine."""
    model = next((line.split(':', 1)[1].strip() for line in _read('/proc/cpuinfo').splitlines()
                  if line.startswith('model name')), platform.processor())
    mem_kb = next((int(line.split()[1]) for line in _read('/proc/meminfo').splitlines()
                   if line.startswith('MemTotal:')), 0)
    return {'cores': os.cpu_count(), 'ram_gb': round(mem_kb / 1024 / 1024, 1),
            'cpu_model': model, 'platform': platform.platform(),
            'loadavg': os.getloadavg(), **_service_versions()}


def _cpu_ticks() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine since boot."""
    fields = [int(x) for x in _read('/proc/stat').splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait, total


def cpu_idle(seconds: float = 1.0) -> float:
    """Share of CPU time (0..1) the whole machine spent idle over ``seconds``."""
    idle0, total0 = _cpu_ticks()
    time.sleep(seconds)
    idle1, total1 = _cpu_ticks()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(min_idle: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until the CPU is at least ``min_idle`` idle."""
    deadline = time.monotonic() + max_wait
    idle = cpu_idle()
    while idle < min_idle and time.monotonic() < deadline:
        idle = cpu_idle()
    return idle


def _git_commit() -> str | None:
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# -- running -------------------------------------------------------------------

def _env(impl: str) -> dict:
    keep = {k: v for k, v in os.environ.items()
            if k not in {'PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP', 'VIRTUAL_ENV'}
            and not k.startswith('CELERY_')}
    keep['PYTHONDONTWRITEBYTECODE'] = '1'
    if impl == 'ours':
        keep['PYTHONPATH'] = str(REPO)
    return keep


def compile_ours() -> None:
    """Byte-compile our package, as pip does for the installed Celery.

    Runs set ``PYTHONDONTWRITEBYTECODE``; without ``.pyc`` files every
    worker start would compile our modules from source while Celery's load
    theirs compiled, which is not the start-up a user of either sees.
    """
    subprocess.run([sys.executable, '-m', 'compileall', '-q', str(REPO / 'celery')],
                   check=True, capture_output=True)


def interpreter(impl: str) -> list[str]:
    """The command prefix that runs a script with ``impl``'s Celery."""
    if impl == 'ours':
        return [sys.executable]
    from t.interop import celery_venv
    return [str(celery_venv.ensure_venv()), '-I']


def run_scenario(scenario: Scenario, impl: str, quick: bool = False,
                 overrides: dict | None = None) -> dict:
    """Run one scenario once with ``impl``; returns the scenario's JSON report."""
    scratch = Path(tempfile.mkdtemp(prefix=f'celery-bench-{impl}-'))
    script = scratch / 'bench_scenarios.py'
    shutil.copyfile(SCRIPT, script)
    args = {**scenario.arguments(quick), **(overrides or {}), 'workdir': str(scratch)}
    cmd = [*interpreter(impl), str(script), scenario.kind, json.dumps(args)]
    started = time.monotonic()
    ticks0, usage0 = _cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(cmd, cwd=scratch, env=_env(impl), capture_output=True,
                              text=True, timeout=scenario.timeout + 60)
        lines = [line for line in proc.stdout.splitlines() if line.startswith('{')]
        report = json.loads(lines[-1]) if lines else {
            'ok': False, 'error': f'exit {proc.returncode}: {proc.stderr[-2000:]}'}
    except subprocess.TimeoutExpired:
        report = {'ok': False, 'error': f'timed out after {scenario.timeout + 60:.0f}s'}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    wall = time.monotonic() - started
    ticks1, usage1 = _cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    busy = (ticks1[1] - ticks0[1]) - (ticks1[0] - ticks0[0])
    report['wall_s'] = round(wall, 2)
    # CPU seconds: the scenario and its workers (all waited for), and the whole machine
    # (which also counts the broker and anything else running meanwhile).
    report['cpu_s'] = {'scenario_tree': round(own, 2),
                       'machine_busy': round(busy / os.sysconf('SC_CLK_TCK'), 2),
                       'machine_capacity': round(wall * (os.cpu_count() or 1), 2)}
    return report


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(scenario: Scenario, runs: dict[str, list[dict]]) -> dict:
    """Medians, spread, ratio and target check of one scenario's runs."""
    row: dict[str, Any] = {'scenario': scenario.name, 'kind': scenario.kind,
                           'notes': scenario.notes, 'metrics': {}, 'runs': runs}
    for metric in scenario.metrics:
        entry: dict[str, Any] = {
            'label': metric.label, 'unit': metric.unit,
            'higher_is_better': metric.higher_is_better,
            'issue_reference': metric.reference, 'issue_reference_text': metric.reference_text,
            'target': metric.target,
        }
        for impl, reports in runs.items():
            samples = [r['metrics'][metric.key] for r in reports if r.get('ok')]
            entry[impl] = {'median': _median(samples), 'samples': samples,
                           'errors': [r['error'] for r in reports if not r.get('ok')]}
        ours = entry.get('ours', {}).get('median')
        theirs = entry.get('celery', {}).get('median')
        entry['ratio_vs_celery'] = metric.ratio(ours, theirs) if ours and theirs else None
        entry['meets_target'] = metric.meets(ours) if ours is not None else None
        row['metrics'][metric.key] = entry
    return row


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return '-'
    if unit == 'tasks/s':
        return f'{value:,.0f}/s'
    if unit == 'ms':
        return f'{value:.2f} ms'
    if unit == 's':
        return f'{value:.2f} s'
    return f'{value:.0f} {unit}'


def _spread(entry: dict, unit: str) -> str:
    samples = entry.get('samples') or []
    if len(samples) < 2:
        return ''
    return f' [{_fmt(min(samples), unit)}..{_fmt(max(samples), unit)}]'


def format_table(rows: list[dict]) -> str:
    """The human table: ours vs Celery 5.7 (measured now), ratio, issue reference, target."""
    header = ('scenario', 'Celery 5.7 (now)', 'ours', 'ours vs Celery',
              'issue ref', 'target', 'met')
    lines = [header]
    for row in rows:
        for entry in row['metrics'].values():
            unit = entry['unit']
            ours, theirs = entry.get('ours', {}), entry.get('celery', {})
            ratio = entry['ratio_vs_celery']
            met = entry['meets_target']
            lines.append((
                entry['label'],
                _fmt(theirs.get('median'), unit) + _spread(theirs, unit)
                if theirs.get('median') is not None else ('ERROR' if theirs.get('errors') else '-'),
                _fmt(ours.get('median'), unit) + _spread(ours, unit)
                if ours.get('median') is not None else ('ERROR' if ours.get('errors') else '-'),
                f'{ratio:.2f}x' if ratio else '-',
                entry['issue_reference_text'] or '-',
                ('>= ' if entry['higher_is_better'] else '<= ') + _fmt(entry['target'], unit)
                if entry['target'] is not None else '-',
                {True: 'yes', False: 'NO', None: '-'}[met],
            ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = [' | '.join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines]
    out.insert(1, '-+-'.join('-' * w for w in widths))
    return '\n'.join(out)


def _pct(value: float | None) -> str:
    return '-' if value is None else f'{100 * value:.0f}%'


def _select(only: str | None) -> list[Scenario]:
    if not only:
        return list(SCENARIOS)
    wanted = [w.strip() for w in only.split(',') if w.strip()]
    chosen = [s for s in SCENARIOS
              if any(s.name == w or s.name.startswith(w + '-') or s.kind == w for w in wanted)]
    if not chosen:
        names = ', '.join(s.name for s in SCENARIOS)
        raise SystemExit(f'--only {only!r} matches no scenario (have: {names})')
    return chosen


def _write(path: Path, document: dict, partial: bool) -> None:
    if partial and path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
        rows = {row['scenario']: row for row in old.get('rows', [])}
        rows.update({row['scenario']: row for row in document['rows']})
        order = [s.name for s in SCENARIOS]
        document['rows'] = sorted(rows.values(), key=lambda r: order.index(r['scenario'])
                                  if r['scenario'] in order else len(order))
    path.write_text(json.dumps(document, indent=1) + '\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m t.benchmarks',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='smaller task counts and one repeat')
    parser.add_argument('--only', metavar='NAME',
                        help='comma-separated scenario names or kinds (drain, enqueue, ...)')
    parser.add_argument('--repeat', type=int, help='runs per scenario and implementation '
                        '(default 3, 1 with --quick); the median is reported')
    parser.add_argument('--impl', choices=('both', *IMPLS), default='both')
    parser.add_argument('--output', type=Path, help=f'JSON results file (default '
                        f'{RESULTS.name}, {RESULTS_QUICK.name} with --quick)')
    parser.add_argument('--list', action='store_true', help='list the scenarios and exit')
    parser.add_argument('--min-idle', type=float, default=0.6, metavar='FRACTION',
                        help='before each run wait until the CPU is this idle over 1 s '
                             '(default 0.6; 0 to not wait)')
    parser.add_argument('--max-wait', type=float, default=30.0, metavar='SECONDS',
                        help='longest wait for --min-idle before running anyway')
    args = parser.parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f'{s.name:20} {s.kind:10} {s.params}')
        return 0
    scenarios = _select(args.only)
    output = args.output or (RESULTS_QUICK if args.quick else RESULTS)
    repeat = args.repeat or (1 if args.quick else 3)
    impls = IMPLS if args.impl == 'both' else (args.impl,)
    if 'celery' in impls:
        print('interop venv:', interpreter('celery')[0], flush=True)
    if 'ours' in impls:
        compile_ours()
    started_at = datetime.now(timezone.utc).isoformat(timespec='seconds')
    started = time.monotonic()
    info = machine_info()
    runs: dict[str, dict[str, list[dict]]] = {s.name: {i: [] for i in impls} for s in scenarios}
    versions: dict[str, dict] = {}
    for rep in range(repeat):
        order = impls if rep % 2 == 0 else tuple(reversed(impls))
        for scenario in scenarios:
            for impl in order:
                idle = wait_for_quiet(args.min_idle, args.max_wait) if args.min_idle else None
                report = run_scenario(scenario, impl, args.quick)
                report['cpu_idle_before'] = idle
                report['loadavg_after'] = os.getloadavg()[0]
                versions.setdefault(impl, report.pop('versions', None) or {})
                report.pop('versions', None)
                runs[scenario.name][impl].append(report)
                shown = ', '.join(f'{k}={v:.4g}' for k, v in report.get('metrics', {}).items())
                print(f'[{rep + 1}/{repeat}] {scenario.name:20} {impl:6} '
                      f'{shown or "ERROR " + report.get("error", "")[:300]} '
                      f'({report["wall_s"]}s, idle before {_pct(idle)}, '
                      f'load after {report["loadavg_after"]:.2f})', flush=True)
    rows = [summarize(s, runs[s.name]) for s in scenarios]
    for row in rows:
        row['measured_at'] = started_at
        row['quick'] = args.quick
        row['repeat'] = repeat
    document = {
        'benchmark': 'celery reimplementation vs Celery 5.7',
        'started_at': started_at, 'duration_s': round(time.monotonic() - started, 1),
        'quick': args.quick, 'repeat': repeat, 'only': args.only,
        'git_commit': _git_commit(), 'machine': info,
        'loadavg_end': os.getloadavg(), 'versions': versions,
        'method': (SCRIPT.read_text().split('"""')[1]).strip(),
        'rows': rows,
    }
    _write(output, document, partial=bool(args.only))
    print()
    print(f'{info["cores"]} cores, {info["ram_gb"]} GB, {info["cpu_model"]}; '
          f'load {info["loadavg"][0]:.2f} -> {os.getloadavg()[0]:.2f}; '
          f'median of {repeat} run(s); ratio > 1 means ours is better')
    print(format_table(rows))
    print(f'\nwritten to {output}')
    failed = any(not r.get('ok') for s in runs.values() for rs in s.values() for r in rs)
    return 1 if failed else 0

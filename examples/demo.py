"""The demo that ``make demo`` runs: a real worker and a small workflow.

Starts ``python -m celery -A proj worker`` (the project in ``examples/proj``)
on the embedded broker -- kombu's filesystem transport, its folders in a
temporary directory -- with a SQLite result store, sends some work, prints
the results, and stops the worker with SIGTERM (a warm shutdown).  Needs no
service.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def start_worker(env: dict) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'celery', '-A', 'proj', 'worker', '-l', 'INFO',
           '-c', '2', '-n', 'demo@%h', '--without-mingle', '--without-gossip']
    log = open(Path(env['PROJ_DATA_DIR']) / 'worker.log', 'wb')
    return subprocess.Popen(cmd, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_worker(proc: subprocess.Popen, deadline: float = 30.0) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(deadline)
    except subprocess.TimeoutExpired:
        print('worker did not stop in time: killing it')
        proc.kill()
        return proc.wait()


def wait_until_ready(add: object, proc: subprocess.Popen, timeout: float = 30.0) -> float:
    started = time.monotonic()
    result = add.delay(0, 0)
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f'the worker exited with status {proc.returncode}')
        if result.ready():
            return time.monotonic() - started
        time.sleep(0.05)
    raise SystemExit('the worker did not answer in time')


def workflow() -> None:
    from celery import chain, chord, group
    from proj.tasks import add, flaky, mul, xsum

    print('add(2, 2)               =', add.delay(2, 2).get(timeout=20))
    print('mul(6, 7)               =', mul.delay(6, 7).get(timeout=20))
    print('add(i, i) for i < 10    =',
          [r.get(timeout=20) for r in [add.delay(i, i) for i in range(10)]])
    print('group(mul(i, i))        =',
          group(mul.s(i, i) for i in range(6)).apply_async().get(timeout=20))
    print('chain add(2,2)|mul(10)  =', chain(add.s(2, 2), mul.s(10)).apply_async().get(timeout=20))
    print('chord xsum(add(i, i))   =',
          chord((add.s(i, i) for i in range(5)), xsum.s()).apply_async().get(timeout=30))
    print('flaky(2) (retries)      =', flaky.delay(2).get(timeout=30))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix='celery-demo-') as data_dir:
        env = dict(os.environ, PROJ_DATA_DIR=data_dir,
                   PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
        os.environ['PROJ_DATA_DIR'] = data_dir
        sys.path.insert(0, str(HERE))
        from proj.tasks import add

        print(f'starting a worker (broker and results under {data_dir})')
        proc = start_worker(env)
        try:
            took = wait_until_ready(add, proc)
            print(f'worker ready, first task answered after {took:.2f}s')
            workflow()
        except BaseException:
            print('--- worker log ---')
            print((Path(data_dir) / 'worker.log').read_text(errors='replace')[-4000:])
            raise
        finally:
            status = stop_worker(proc)
            print(f'worker stopped (warm shutdown), exit status {status}')
        return status


if __name__ == '__main__':
    sys.exit(main())

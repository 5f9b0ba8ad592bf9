"""``import celery`` must stay cheap: no broker client, no click."""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ('click', 'redis', 'amqp', 'kombu', 'sqlalchemy', 'billiard', 'pytz')


def imported_after(statement: str) -> set:
    code = f'import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))'
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out))


def test_import_celery_loads_no_broker_client_and_no_click():
    modules = imported_after('import celery')
    assert not {name for name in modules if name.split('.')[0] in HEAVY}


def test_public_names_resolve_lazily():
    modules = imported_after('import celery; celery.__version__; celery.VERSION')
    assert 'celery.app.base' not in modules


def test_public_api_names():
    import celery
    for name in ('Celery', 'Task', 'shared_task', 'current_app', 'current_task',
                 'group', 'chain', 'chord', 'chunks', 'xmap', 'xstarmap',
                 'signature', 'Signature', 'maybe_signature', 'uuid'):
        assert getattr(celery, name) is not None, name
    assert celery.VERSION[:2] >= (5, 3)
    assert celery.__version__.startswith('5.')

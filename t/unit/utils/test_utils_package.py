"""Tests for the helpers re-exported by the celery.utils package."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import celery.utils


def test_uuid_is_the_function_even_after_submodule_import():
    import celery.utils.uuid  # noqa: F401 - would shadow the function
    from celery.utils import gen_unique_id, uuid
    assert callable(uuid) and uuid is gen_unique_id
    assert len(uuid()) == 36


@pytest.mark.parametrize('name,module,attr', [
    ('nodename', 'celery.utils.nodenames', 'nodename'),
    ('nodesplit', 'celery.utils.nodenames', 'nodesplit'),
    ('worker_direct', 'celery.utils.nodenames', 'worker_direct'),
    ('noop', 'celery.utils.functional', 'noop'),
    ('chunks', 'celery.utils.functional', 'chunks'),
    ('memoize', 'celery.utils.functional', 'memoize'),
    ('get_cls_by_name', 'celery.utils.imports', 'symbol_by_name'),
    ('get_full_cls_name', 'celery.utils.imports', 'qualname'),
    ('instantiate', 'celery.utils.imports', 'instantiate'),
    ('gen_task_name', 'celery.utils.imports', 'gen_task_name'),
    ('import_from_cwd', 'celery.utils.imports', 'import_from_cwd'),
    ('cached_property', 'kombu.utils.objects', 'cached_property'),
    ('LOG_LEVELS', 'celery.utils.log', 'LOG_LEVELS'),
])
def test_lazy_reexports(name, module, attr):
    mod = importlib.import_module(module)
    assert getattr(celery.utils, name) is getattr(mod, attr)


def test_unknown_name():
    with pytest.raises(AttributeError):
        celery.utils.does_not_exist


def test_importing_a_submodule_loads_no_heavy_modules():
    code = ('import sys, celery.utils.text, celery.utils.saferepr; '
            'print(sorted(m for m in ("kombu", "click", "amqp") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == '[]'

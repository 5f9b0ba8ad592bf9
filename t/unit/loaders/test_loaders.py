"""Loaders: the default ``celeryconfig`` loader and the helpers they share."""
from __future__ import annotations

import sys
import textwrap

import pytest

from celery.loaders import get_loader_cls
from celery.loaders.app import AppLoader
from celery.loaders.base import BaseLoader, find_related_module
from celery.loaders.default import Loader
from celery.utils.imports import NotAPackage


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    names = []

    def write(relpath: str, source: str) -> None:
        target = tmp_path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source))
        names.append(relpath.replace('/', '.').rsplit('.py', 1)[0].replace('.__init__', ''))
    yield write
    for name in names:
        sys.modules.pop(name, None)


def test_aliases():
    assert get_loader_cls('app') is AppLoader
    assert get_loader_cls('default') is Loader


def test_default_loader_reads_celeryconfig(app, on_path, monkeypatch):
    on_path('celeryconfig.py', "task_default_queue = 'from-celeryconfig'\n")
    monkeypatch.delenv('CELERY_CONFIG_MODULE', raising=False)
    conf = Loader(app).read_configuration()
    assert conf['task_default_queue'] == 'from-celeryconfig'


def test_default_loader_honours_env(app, on_path, monkeypatch):
    on_path('otherconfig.py', "task_default_queue = 'other'\n")
    monkeypatch.setenv('CELERY_CONFIG_MODULE', 'otherconfig')
    assert Loader(app).read_configuration()['task_default_queue'] == 'other'


def test_default_loader_missing_module_is_silent(app, monkeypatch):
    monkeypatch.setenv('CELERY_CONFIG_MODULE', 'no_such_config_module_42')
    assert dict(Loader(app).read_configuration()) == {}
    with pytest.raises(ImportError):
        Loader(app).read_configuration(fail_silently=False)


def test_config_name_with_py_suffix_suggests_module_name(app, on_path):
    on_path('settings_mod.py', 'x = 1\n')
    with pytest.raises(NotAPackage, match='settings_mod'):
        BaseLoader(app)._import_config_module('settings_mod.py')


def test_cmdline_config_parser(app):
    parsed = BaseLoader(app).cmdline_config_parser(
        ['task_default_queue=q1', 'worker_prefetch_multiplier=8', 'custom=(json)[1, 2]'],
        namespace='')
    assert parsed['task_default_queue'] == 'q1'
    assert parsed['worker_prefetch_multiplier'] == 8
    assert parsed['custom'] == [1, 2]


def test_find_related_module(on_path):
    on_path('relpkg/__init__.py', '')
    on_path('relpkg/tasks.py', 'VALUE = 1\n')
    on_path('nopkg/__init__.py', '')
    assert find_related_module('relpkg', 'tasks').VALUE == 1
    assert find_related_module('nopkg', 'tasks') is None


def test_find_related_module_does_not_hide_import_errors(on_path):
    on_path('errpkg/__init__.py', '')
    on_path('errpkg/tasks.py', 'import module_that_is_not_there_at_all\n')
    with pytest.raises(ModuleNotFoundError):
        find_related_module('errpkg', 'tasks')


def test_import_default_modules(app, on_path):
    on_path('included_tasks_mod.py', 'LOADED = True\n')
    app.conf.include = ['included_tasks_mod']
    modules = app.loader.import_default_modules()
    assert [m.__name__ for m in modules] == ['included_tasks_mod']
    assert 'included_tasks_mod' in app.loader.task_modules


def test_cmdline_config_parser_with_namespace(app):
    parsed = BaseLoader(app).cmdline_config_parser(
        ['broker.url=memory://cli', 'task_always_eager=True', '_default_queue=q2'],
        namespace='task')
    assert parsed['broker_url'] == 'memory://cli'
    assert parsed['task_always_eager'] is True
    assert parsed['task_default_queue'] == 'q2'

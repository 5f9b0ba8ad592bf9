"""The Sphinx extension, exercised by building a small documentation project."""
from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest

from celery.contrib.sphinx import TaskDocumenter, autodoc_skip_member_handler

TASKS_MODULE = '''
from celery import Celery

app = Celery('docproj', set_as_current=False, fixups=[])


@app.task
def add(x: int, y: int = 2) -> int:
    """Add two numbers."""
    return x + y


@app.task(bind=True)
def bound(self, a, *, b=None):
    """A bound task."""


def plain(z):
    """A plain function."""
'''


def build(tmp_path: Path, index: str, conf: str = '') -> str:
    from sphinx.application import Sphinx
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'conf.py').write_text(
        "extensions = ['sphinx.ext.autodoc', 'celery.contrib.sphinx']\n" + conf)
    (src / 'index.rst').write_text(textwrap.dedent(index))
    warnings = io.StringIO()
    app = Sphinx(str(src), str(src), str(tmp_path / 'out'), str(tmp_path / 'doctrees'),
                 'text', status=None, warning=warnings, freshenv=True)
    app.build()
    assert 'ERROR' not in warnings.getvalue(), warnings.getvalue()
    return (tmp_path / 'out' / 'index.txt').read_text()


@pytest.fixture
def docproj(tmp_path, monkeypatch):
    module_name = f'docproj_tasks_{tmp_path.name.replace("-", "_")}'
    (tmp_path / f'{module_name}.py').write_text(TASKS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module_name
    sys.modules.pop(module_name, None)


def test_autotask(tmp_path, docproj):
    text = build(tmp_path, f'''
        Tasks
        =====

        .. autotask:: {docproj}.add

        .. autotask:: {docproj}.bound

        .. py:task:: proj.mul(x, y)

           Multiply.
    ''')
    assert f'(task) {docproj}.add(x: int, y: int = 2) -> int' in text
    assert 'Add two numbers.' in text
    # ``self`` of a bound task is not part of the documented signature
    assert f'(task) {docproj}.bound(a, *, b=None)' in text
    # and the py:task directive renders like a function with the prefix
    assert '(task) proj.mul(x, y)' in text


def test_task_prefix_option(tmp_path, docproj):
    text = build(tmp_path, f'''
        .. autotask:: {docproj}.add
    ''', conf="celery_task_prefix = '[celery]'\n")
    assert f'[celery] {docproj}.add(' in text


def test_automodule_members_legacy_autodoc(tmp_path, docproj):
    text = build(tmp_path, f'''
        .. automodule:: {docproj}
           :members:
    ''', conf='autodoc_use_legacy_class_based = True\n')
    assert f'(task) {docproj}.add(x: int, y: int = 2) -> int' in text
    assert f'{docproj}.plain(z)' in text


class test_units:

    def test_can_document_member(self, app):
        task = app.task(shared=False)(lambda: None)
        assert TaskDocumenter.can_document_member(task, 'x', False, None)
        assert not TaskDocumenter.can_document_member(lambda: None, 'x', False, None)
        assert not TaskDocumenter.can_document_member(object(), 'x', False, None)

    def test_skip_handler(self, app):
        task = app.task(shared=False)(lambda: None)
        assert autodoc_skip_member_handler(None, 'module', 'x', task, True, {}) is False
        assert autodoc_skip_member_handler(None, 'module', 'x', task, False, {}) is None
        assert autodoc_skip_member_handler(None, 'module', 'x', len, True, {}) is None

"""Tests for ``celery shell`` (celery.bin.shell)."""
from __future__ import annotations

import sys

import pytest

import celery
from celery.bin import shell as shell_module


@pytest.fixture
def shells(monkeypatch):
    """Replace the interpreters: record which one ran and with what namespace."""
    ran = []

    def fake(name, installed=True):
        def run(namespace):
            if not installed:
                raise ImportError(f'No module named {name!r}')
            ran.append((name, namespace))
        return run

    def install(ipython=True, bpython=True):
        monkeypatch.setattr(shell_module, '_SHELLS', {
            'ipython': fake('IPython', ipython),
            'bpython': fake('bpython', bpython),
            'python': fake('python'),
        })
        monkeypatch.setattr(shell_module, '_run_python', fake('python'))
        return ran

    monkeypatch.setattr(sys, 'path', list(sys.path))
    return install


class Test_shell:

    def test_namespace(self, cli_app, celery_cli, shells):
        @cli_app.task(name='celery.t_unit_builtin_like')
        def builtin_like():
            pass

        ran = shells()
        result = celery_cli('shell', '--python')
        assert result.exit_code == 0, result.output
        [(name, namespace)] = ran
        assert name == 'python'
        assert namespace['app'] is cli_app
        assert namespace['celery'] is cli_app
        for helper in ('Task', 'chord', 'group', 'chain', 'chunks', 'xmap',
                       'xstarmap', 'subtask', 'signature'):
            assert namespace[helper] is getattr(celery, helper)
        assert namespace['cli_add'] is cli_app.tasks['t.unit.bin.cli_add']
        assert not any(name.startswith('celery.') for name in namespace)
        assert 't_unit_builtin_like' not in namespace  # Celery's own tasks stay out

    def test_without_tasks(self, celery_cli, shells):
        ran = shells()
        result = celery_cli('shell', '--python', '-T')
        assert result.exit_code == 0, result.output
        [(_, namespace)] = ran
        assert 'cli_add' not in namespace
        assert 'app' in namespace

    def test_prefers_ipython(self, celery_cli, shells):
        ran = shells()
        assert celery_cli('shell').exit_code == 0
        assert [name for name, _ in ran] == ['IPython']

    def test_then_bpython(self, celery_cli, shells):
        ran = shells(ipython=False)
        assert celery_cli('shell').exit_code == 0
        assert [name for name, _ in ran] == ['bpython']

    def test_then_plain_python(self, celery_cli, shells):
        ran = shells(ipython=False, bpython=False)
        assert celery_cli('shell').exit_code == 0
        assert [name for name, _ in ran] == ['python']

    @pytest.mark.parametrize('flag,name', [('-I', 'IPython'), ('--ipython', 'IPython'),
                                           ('-B', 'bpython'), ('--bpython', 'bpython')])
    def test_forced_shell(self, celery_cli, shells, flag, name):
        ran = shells()
        assert celery_cli('shell', flag).exit_code == 0
        assert [n for n, _ in ran] == [name]

    def test_forced_shell_not_installed(self, celery_cli, shells):
        shells(ipython=False)
        result = celery_cli('shell', '--ipython')
        assert result.exit_code == 1
        assert 'ipython is not installed' in result.output
        assert 'Traceback' not in result.output

    def test_two_shells_is_a_usage_error(self, celery_cli, shells):
        shells()
        result = celery_cli('shell', '--ipython', '--python')
        assert result.exit_code == 2
        assert 'choose one of' in result.output

    def test_gevent_missing(self, celery_cli, shells, monkeypatch):
        shells()

        def no_gevent(name):
            raise ImportError("No module named 'gevent'")

        monkeypatch.setattr(shell_module, 'import_module', no_gevent)
        result = celery_cli('shell', '--gevent')
        assert result.exit_code == 1
        assert 'cannot use gevent' in result.output

    def test_real_plain_shell(self, cli_app, monkeypatch):
        seen = {}

        def interact(local, banner):
            seen.update(local)

        import code
        monkeypatch.setattr(code, 'interact', interact)
        monkeypatch.delenv('PYTHONSTARTUP', raising=False)
        shell_module._run_python(shell_module.shell_namespace(cli_app))
        assert seen['app'] is cli_app
        assert seen['cli_add'].name == 't.unit.bin.cli_add'

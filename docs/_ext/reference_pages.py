"""Which API reference pages can be built now, decided when the build starts.

Each page under ``docs/reference/`` documents modules named in its
``automodule`` and ``click`` directives. A page whose module does not import
is left out of the build (the glob toctree then simply does not list it), so
the documentation builds while modules are still being written; the pages
left out are printed on stderr. This runs in conf.py, before Sphinx reads
anything, because it decides ``exclude_patterns``.
"""
from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

__all__ = ('page_modules', 'import_problem', 'unavailable_pages', 'register_lazy_commands')

_DIRECTIVE = re.compile(r'^\.\. (?:automodule|click)::\s*([\w.]+)', re.M)


def page_modules(page: Path) -> list[str]:
    """Modules a reference page documents."""
    return _DIRECTIVE.findall(page.read_text(encoding='utf-8'))


def import_problem(module: str) -> str | None:
    """None if ``module`` imports cleanly, else a one-line reason."""
    try:
        importlib.import_module(module)
    except Exception as exc:  # any import failure keeps the page out
        return f'{type(exc).__name__}: {exc}'.splitlines()[0]
    return None


def unavailable_pages(reference: Path) -> dict[str, str]:
    """Pages (``reference/<name>.rst``) whose module cannot be imported, with why."""
    missing = {}
    for page in sorted(reference.glob('*.rst')):
        for module in page_modules(page):
            reason = import_problem(module)
            if reason:
                missing[f'{reference.name}/{page.name}'] = f'{module}: {reason}'
                break
    return missing


def register_lazy_commands() -> None:
    """Make every sub-command of ``celery`` visible to sphinx-click.

    The ``celery`` group imports its sub-commands on first use. sphinx-click
    asks a group to list them only when it has none registered eagerly, so
    here, in the documentation build only, each one is loaded and registered.
    A sub-command whose module fails to import is left out and reported.
    """
    import click

    from celery.bin.celery import celery as group
    ctx = click.Context(group, info_name='celery')
    for name in group.list_commands(ctx):
        if name in group.commands:
            continue
        try:
            command = group.get_command(ctx, name)
        except Exception as exc:  # a broken command must not hide the others
            print(f'docs: CLI command {name!r} left out ({type(exc).__name__}: {exc})',
                  file=sys.stderr)
            continue
        if command is not None:
            group.add_command(command, name)

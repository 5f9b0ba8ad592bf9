"""The ``celery upgrade`` command: move configuration files to current setting names.

``celery upgrade settings FILE`` rewrites the old upper-case setting names
of Celery 3 (``CELERY_ALWAYS_EAGER``, ``BROKER_URL``, ``CELERYD_CONCURRENCY``
...) to the lower-case names used since Celery 4 (``task_always_eager``,
``broker_url``, ``worker_concurrency``), using the table of
:mod:`celery.app.defaults`.  With ``--django`` (or ``--compat``) the new
names are written upper-case behind a ``CELERY_`` prefix instead
(``CELERY_TASK_ALWAYS_EAGER``), as read by ``config_from_object(...,
namespace='CELERY')``.  The original is kept as ``FILE.orig`` unless
``--no-backup``.

Names are replaced as whole words only, anywhere on a line (comments and
strings included).
"""
from __future__ import annotations

import re
import shutil
import sys
from functools import lru_cache
from typing import Any, Callable

import click

__all__ = ('upgrade', 'rename_settings')


def _plain(new: str) -> str:
    return new


def _namespaced(new: str, namespace: str = 'CELERY') -> str:
    key = new.upper()
    return key if key.startswith(f'{namespace}_') else f'{namespace}_{key}'


@lru_cache(maxsize=1)
def _old_names() -> tuple[re.Pattern, dict[str, str]]:
    from celery.app.defaults import _TO_NEW_KEY
    table = {old: new for old, new in _TO_NEW_KEY.items() if old != new}
    # longest first, so BROKER_TRANSPORT_OPTIONS wins over BROKER_TRANSPORT
    names = sorted(table, key=len, reverse=True)
    pattern = re.compile(r'(?<![\w])(' + '|'.join(map(re.escape, names)) + r')(?![\w])')
    return pattern, table


def rename_settings(text: str, keyfilter: Callable[[str], str] = _plain) -> tuple[str, int]:
    """Return ``text`` with old setting names replaced, and how many were."""
    pattern, table = _old_names()
    changes = 0

    def replace(match: re.Match) -> str:
        nonlocal changes
        new = keyfilter(table[match.group(1)])
        if new != match.group(1):
            changes += 1
        return new

    return pattern.sub(replace, text), changes


@click.group(name='upgrade')
def upgrade(**kwargs: Any) -> None:
    """Upgrade files to the conventions of this version of Celery."""


@upgrade.command()
@click.argument('filename', type=click.Path(exists=True, dir_okay=False, writable=True))
@click.option('--django', is_flag=True, default=False,
              help='Django settings module: write CELERY_ prefixed upper-case names.')
@click.option('--compat', is_flag=True, default=False,
              help='Keep the upper-case style: write CELERY_ prefixed upper-case names.')
@click.option('--no-backup', is_flag=True, default=False,
              help='Do not keep a copy of the original as FILENAME.orig.')
def settings(filename: str, django: bool, compat: bool, no_backup: bool) -> None:
    """Rename the old (Celery 3) setting names in FILENAME to the current ones."""
    keyfilter = _namespaced if django or compat else _plain
    click.echo(f'processing {filename}...', err=True)
    try:
        with open(filename, encoding='utf-8') as fh:
            original = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f'cannot read {filename}: {exc}') from None
    text, changes = rename_settings(original, keyfilter)
    if not changes:
        click.echo('Does not seem to require any changes :-)')
        return
    if not no_backup:
        backup = f'{filename}.orig'
        click.echo(f'writing backup to {backup}...', err=True)
        shutil.copyfile(filename, backup)
    with open(filename, 'w', encoding='utf-8') as fh:
        fh.write(text)
    click.echo('Changes to your setting have been made!', file=sys.stdout)

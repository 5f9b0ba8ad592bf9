"""``python -m celery``: the ``celery`` command."""
from __future__ import annotations

import sys

__all__ = ('main',)


def main() -> None:
    """Start the ``celery`` command (eventlet/gevent patches first, if asked)."""
    if 'multi' not in sys.argv:
        from celery import maybe_patch_concurrency
        maybe_patch_concurrency()
    from celery.bin.celery import main as _main
    sys.exit(_main())


if __name__ == '__main__':  # pragma: no cover
    main()

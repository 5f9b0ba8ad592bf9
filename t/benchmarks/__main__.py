"""``python -m t.benchmarks``: run the benchmark suite (see :mod:`t.benchmarks.runner`)."""
from __future__ import annotations

import sys

from t.benchmarks.runner import main

__all__ = ('main',)

if __name__ == '__main__':
    sys.exit(main())

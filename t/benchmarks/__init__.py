"""Benchmarks: our package against real Celery 5.7 (not part of the test run).

``python -m t.benchmarks`` runs them all (see :mod:`t.benchmarks.runner`);
the older single-purpose scripts in this folder can still be run by hand.
"""
from __future__ import annotations

__all__: tuple[str, ...] = ()

"""Draw the worker's bootstep graph for the docs, when Graphviz is installed.

``images/bootsteps.svg`` is committed, so the docs build anywhere; where the
``dot`` program exists, the build redraws it from ``celery graph bootsteps``
so the picture follows the code.  The file is rewritten only when the drawing
changed, which then shows up as a change to commit.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

SVG = Path(__file__).resolve().parents[1] / 'images' / 'bootsteps.svg'


def draw_bootsteps() -> bytes | None:
    """The graph as SVG, or None without Graphviz."""
    dot = shutil.which('dot')
    if dot is None:
        return None
    source = subprocess.run([sys.executable, '-m', 'celery', 'graph', 'bootsteps'],
                            check=True, capture_output=True).stdout
    return subprocess.run([dot, '-Tsvg'], input=source, check=True,
                          capture_output=True).stdout


def _redraw(app: Any) -> None:
    svg = draw_bootsteps()
    if svg is not None and (not SVG.exists() or SVG.read_bytes() != svg):
        SVG.write_bytes(svg)


def setup(app: Any) -> dict:
    app.connect('builder-inited', _redraw)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}

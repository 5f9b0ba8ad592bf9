"""Sphinx configuration of the documentation (``make docs`` builds it with -W).

Local extensions live in ``_ext/``: ``settings_table`` generates the settings
reference from ``celery.app.defaults``, ``build_fixes`` holds the hooks that
keep the warning-free build honest. API reference pages (``reference/``, one
module per page, gathered by a glob toctree) whose module does not import at
build time are left out and listed on stderr; with ``CELERY_DOCS_STRICT=1``
that is an error instead.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / '_ext'))

import celery  # noqa: E402  (needs the path above)
from reference_pages import register_lazy_commands, unavailable_pages  # noqa: E402

# -- project -------------------------------------------------------------------

project = 'celery'
author = 'The project authors'
copyright = 'the project authors'
version = '.'.join(celery.__version__.split('.')[:2])
release = celery.__version__

# -- general -------------------------------------------------------------------

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'sphinx_click',
    'settings_table',       # _ext/: the settings reference, generated
    'build_fixes',          # _ext/: hooks for an honest -W build
    'bootstep_graph',       # _ext/: images/bootsteps.svg redrawn with Graphviz
]

root_doc = 'index'
source_suffix = {'.rst': 'restructuredtext'}
language = 'en'
nitpicky = False
pygments_style = 'sphinx'
highlight_language = 'python3'
default_role = 'literal'

# No warning category is suppressed: each warning is fixed, or the page that
# shows it is held back below until its module's docstrings are fixed, so a
# broken docstring is seen, never hidden.
suppress_warnings: list[str] = []

#: Reference pages held back because their module's docstrings break the -W
#: build (reported to the module's owner).
HELD_BACK_PAGES: list[str] = []

#: Pages whose module does not import now, with the reason.
UNAVAILABLE_PAGES = unavailable_pages(DOCS / 'reference')
if UNAVAILABLE_PAGES:
    print('docs: API pages left out (module not importable yet):', file=sys.stderr)
    for _page, _reason in UNAVAILABLE_PAGES.items():
        print(f'  {_page}  ({_reason})', file=sys.stderr)
    if os.environ.get('CELERY_DOCS_STRICT') == '1':
        raise SystemExit('CELERY_DOCS_STRICT=1: every reference page must build')

if 'reference/cli.rst' not in UNAVAILABLE_PAGES:
    register_lazy_commands()

exclude_patterns = [
    '_build', 'examples', '_ext', 'Thumbs.db', '.DS_Store',
    *HELD_BACK_PAGES, *UNAVAILABLE_PAGES,
]

# -- autodoc -------------------------------------------------------------------

autodoc_member_order = 'bysource'
autodoc_typehints = 'signature'
autodoc_default_options = {'members': True, 'show-inheritance': True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# Parameter types shown as text, not links: Sphinx looks names in typed
# fields up fuzzily, so ``x (type)`` would match every attribute ``type``.
napoleon_use_param = False

# -- HTML ----------------------------------------------------------------------

html_theme = 'alabaster'
html_title = f'celery {release}'
html_static_path: list[str] = []
html_theme_options = {
    'description': 'Distributed task queue, a drop-in replacement for Celery 5',
    'fixed_sidebar': True,
    'show_relbars': True,
}
html_sidebars = {'**': ['about.html', 'navigation.html', 'searchbox.html']}

"""Sphinx extension: the settings reference, generated from ``celery.app.defaults``.

The tables are built from :data:`celery.app.defaults.NAMESPACES` each time the
documentation is built, so they cannot drift from the code. The extension adds:

* a ``setting`` object type: the tables make one target per setting, and
  ``:setting:`broker_url``` links to it from any page;
* the ``settings-table`` directive, which renders one section per namespace
  (``broker_*``, ``task_*``, ...) with a row per setting: its name, type,
  default and old upper-case name(s);
* the ``pypi`` role (``:pypi:`redis```), a link to a package on PyPI, which
  docstrings use as Celery's do.

If a name in :data:`~celery.app.defaults.DEFAULTS` is missing from the tables
(the two disagree), the directive reports it as a warning, which fails the
``-W`` build.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_id

__all__ = ('SettingRow', 'setting_rows', 'SettingsTable', 'pypi_role', 'setup')

#: Section titles of the namespaces; others are titled by their prefix.
TITLES = {
    '': 'General',
    'beat': 'Periodic tasks (beat)',
    'broker': 'Broker',
    'cache': 'Cache result backend',
    'cassandra': 'Cassandra result backend',
    's3': 'S3 result backend',
    'azureblockblob': 'Azure Block Blob result backend',
    'gcs': 'Google Cloud Storage result backend',
    'control': 'Remote control',
    'couchbase': 'Couchbase result backend',
    'arangodb': 'ArangoDB result backend',
    'mongodb': 'MongoDB result backend',
    'cosmosdbsql': 'Cosmos DB result backend',
    'event': 'Events',
    'events': 'The events command',
    'redis': 'Redis result backend',
    'result': 'Results',
    'elasticsearch': 'Elasticsearch result backend',
    'security': 'Message signing',
    'database': 'Database result backend',
    'task': 'Tasks',
    'worker': 'Worker',
}


class SettingRow(NamedTuple):
    """One row of the table."""

    namespace: str
    name: str
    type: str
    default: Any
    old_names: tuple[str, ...]


def _old_names(prefix: str, key: str, option: Any) -> tuple[str, ...]:
    """Old names by the rule of ``celery.app.defaults``: formats, else upper case."""
    if option.old:
        names = (fmt.format(key).upper() for fmt in option.old)
        return tuple(dict.fromkeys(names))
    return ((prefix + key).upper(),)


def setting_rows() -> list[SettingRow]:
    """Every setting of ``NAMESPACES``, in namespace order, sorted by name within one."""
    from celery.app.defaults import NAMESPACES, flatten

    def keyfilter(prefix: str, key: str, option: Any) -> Iterable[SettingRow]:
        yield SettingRow(prefix.rstrip('_'), prefix + key, option.type,
                         option.default, _old_names(prefix, key, option))

    rows = list(flatten(NAMESPACES, keyfilter=keyfilter))
    order = {ns: i for i, ns in enumerate(dict.fromkeys(row.namespace for row in rows))}
    return sorted(rows, key=lambda row: (order[row.namespace], row.name))


def format_default(value: Any) -> str:
    """The default as a reader would write it in a configuration module."""
    if isinstance(value, float) and value == float('inf'):
        return "float('inf')"
    text = repr(value)
    return text.replace('datetime.timedelta', 'timedelta')


def _table(headers: Iterable[str], widths: Iterable[int],
           rows: Iterable[list[nodes.Node]]) -> nodes.table:
    table = nodes.table(classes=['settings-table'])
    headers = list(headers)
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    header_row = nodes.row()
    for text in headers:
        header_row += nodes.entry('', nodes.paragraph(text=text))
    head += header_row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry('', *cell)
        body += row
    return table


class SettingsTable(SphinxDirective):
    """``.. settings-table::``: every setting, one section per namespace."""

    has_content = False
    required_arguments = 0
    optional_arguments = 0

    def run(self) -> list[nodes.Node]:
        from celery.app.defaults import DEFAULTS

        rows = setting_rows()
        missing = sorted(set(DEFAULTS) - {row.name for row in rows})
        if missing:
            self.reporter.warning(
                'settings-table: settings in DEFAULTS but not in NAMESPACES: '
                + ', '.join(missing), line=self.lineno)
        by_namespace: dict[str, list[SettingRow]] = {}
        for row in rows:
            by_namespace.setdefault(row.namespace, []).append(row)

        summary = nodes.paragraph(text=(
            f'{len(rows)} settings in {len(by_namespace)} groups, read from '
            f'celery.app.defaults when this page was built.'))
        result: list[nodes.Node] = [summary]
        for namespace, group in by_namespace.items():
            result.append(self._section(namespace, group))
        return result

    def _section(self, namespace: str, group: list[SettingRow]) -> nodes.section:
        title = TITLES.get(namespace, f'{namespace}_* settings')
        section_id = make_id(self.env, self.state.document, 'settings', namespace or 'general')
        section = nodes.section('', ids=[section_id],
                                names=[nodes.fully_normalize_name(title)])
        section += nodes.title(text=title)
        cells = [self._cells(row) for row in group]
        section += _table(('Setting', 'Type', 'Default', 'Old name'), (30, 8, 32, 30), cells)
        return section

    def _cells(self, row: SettingRow) -> list[list[nodes.Node]]:
        std: Any = self.env.get_domain('std')
        node_id = make_id(self.env, self.state.document, 'setting', row.name)
        target = nodes.target('', '', ids=[node_id])
        self.state.document.note_explicit_target(target)
        std.note_object('setting', row.name, node_id, location=target)
        index = addnodes.index(entries=[
            ('pair', f'{row.name}; setting', node_id, '', None),
            *(('single', f'{old} (old name of {row.name})', node_id, '', None)
              for old in row.old_names),
        ])
        name = nodes.paragraph('', '', index, target, nodes.literal(text=row.name))
        kind = nodes.paragraph(text=row.type)
        default = nodes.paragraph('', '', nodes.literal(text=format_default(row.default)))
        old = nodes.paragraph()
        for i, old_name in enumerate(row.old_names):
            if i:
                old += nodes.Text(', ')
            old += nodes.literal(text=old_name)
        return [[name], [kind], [default], [old]]


def pypi_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
              options: Mapping[str, Any] | None = None,
              content: Any = None) -> tuple[list[nodes.Node], list[Any]]:
    """``:pypi:`redis``` links to the package's page on PyPI (used in docstrings)."""
    package = text.strip()
    ref = nodes.reference(rawtext, package, refuri=f'https://pypi.org/project/{package}/')
    return [ref], []


def setup(app: Sphinx) -> Mapping[str, Any]:
    """Register the ``setting`` type, the ``settings-table`` directive, ``:pypi:``."""
    app.add_crossref_type('setting', 'setting', indextemplate='pair: %s; setting')
    app.add_role('pypi', pypi_role)
    app.add_directive('settings-table', SettingsTable)
    return {'version': '1.0', 'parallel_read_safe': True, 'parallel_write_safe': True}

"""Tests for celery.apps.multi: parsing multi command lines, nodes and clusters."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from celery.apps.multi import (Cluster, MultiError, MultiParser, NamespacedOptionParser, Node,
                               build_expander, build_nodename, format_opt, process_alive)


def parse(*argv, **kwargs):
    p = NamespacedOptionParser(argv).parse()
    return list(MultiParser(**kwargs).parse(p))


def dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


class Test_NamespacedOptionParser:

    def test_values_options_and_namespaces(self):
        p = NamespacedOptionParser(
            ['start', 'w1', '-c', '3', '--loglevel=INFO', '-E', '--purge',
             '-c:w2', '4', '--logfile:w1=w1.log']).parse()
        assert p.values == ['start', 'w1']
        assert p.options == {'-c': '3', '--loglevel': 'INFO', '-E': None, '--purge': None}
        assert dict(p.namespaces) == {'w2': {'-c': '4'}, 'w1': {'--logfile': 'w1.log'}}

    def test_short_option_does_not_take_an_option_as_value(self):
        p = NamespacedOptionParser(['-E', '-c', '2']).parse()
        assert p.options == {'-E': None, '-c': '2'}

    def test_passthrough(self):
        p = NamespacedOptionParser(['3', '--', 'broker.url=x', '-c', '9']).parse()
        assert p.values == ['3']
        assert p.options == {}
        assert p.passthrough == ['--', 'broker.url=x', '-c', '9']

    def test_optmerge(self):
        p = NamespacedOptionParser(['-c', '1', '-Q', 'a', '-c:x', '2']).parse()
        assert p.optmerge('x') == {'-c': '2', '-Q': 'a'}
        assert p.optmerge('y') == {'-c': '1', '-Q': 'a'}
        assert p.optmerge('x', {'-l': 'INFO'}) == {'-l': 'INFO', '-c': '2'}


class Test_helpers:

    def test_format_opt(self):
        assert format_opt('--logfile', 'x.log') == ['--logfile=x.log']
        assert format_opt('-c', 3) == ['-c', '3']
        assert format_opt('-E', None) == ['-E']

    def test_build_nodename(self):
        assert build_nodename('w1', '', 'example.com') == ('w1', 'w1@example.com', 'example.com')
        assert build_nodename('2', 'celery', 'h') == ('2', 'celery2@h', 'h')
        assert build_nodename('w1@other', '', 'h') == ('w1', 'w1@other', 'other')

    def test_expander(self):
        expand = build_expander('w1@box.example.com', 'w1', 'box.example.com')
        assert expand('%n.pid') == 'w1.pid'
        assert expand('%h|%d|%N|%p') == \
            'w1@box.example.com|box.example.com|w1|w1@box.example.com'
        # the worker expands the pool process index itself
        assert expand('/var/log/%n%I.log') == '/var/log/w1%I.log'
        assert expand('%i') == '%i'
        assert expand('100%%') == '100%'
        assert expand('%Y-unknown') == '%Y-unknown'


class Test_MultiParser:

    def test_count(self):
        nodes = parse('3', '--hostname=box')
        assert [n.name for n in nodes] == ['celery1@box', 'celery2@box', 'celery3@box']

    def test_range_prefix(self):
        nodes = parse('2', '--range-prefix=worker', '-n', 'box')
        assert [n.name for n in nodes] == ['worker1@box', 'worker2@box']

    def test_names_and_full_names(self):
        nodes = parse('images', 'video@elsewhere', '--hostname=box')
        assert [n.name for n in nodes] == ['images@box', 'video@elsewhere']

    def test_default_hostname(self):
        from celery.utils.nodenames import gethostname
        [node] = parse('w1')
        assert node.name == f'w1@{gethostname()}'

    def test_per_node_options_by_range_list_and_name(self):
        nodes = parse('5', '-n', 'h', '-c', '2', '-c:1-2', '8', '-Q:3,5', 'slow',
                      '--loglevel:celery4@h=DEBUG')
        by = {n.name: n.options for n in nodes}
        assert [by[f'celery{i}@h']['-c'] for i in range(1, 6)] == ['8', '8', '2', '2', '2']
        assert by['celery3@h']['-Q'] == 'slow' and by['celery5@h']['-Q'] == 'slow'
        assert '-Q' not in by['celery1@h']
        assert by['celery4@h']['--loglevel'] == 'DEBUG'

    def test_index_refers_to_the_list_of_names(self):
        nodes = parse('foo', 'bar', 'baz', '-n', 'h', '-c:2', '7', '-c:baz', '1')
        assert [n.options.get('-c') for n in nodes] == [None, '7', '1']

    def test_index_out_of_range(self):
        with pytest.raises(MultiError, match='No node at index 4'):
            parse('3', '-c:4', '1')

    def test_unknown_names_are_ignored(self):
        # a shared configuration may mention nodes this host does not run
        [node] = parse('worker1', '-c:worker2', '4', '-Ofair:worker1')
        assert '-c' not in node.options
        assert node.options['-Ofair'] is None

    def test_multi_options_are_not_passed_on(self):
        [node] = parse('w1', '--hostname=h', '--range-prefix=x', '--cmd=-m celery worker')
        for opt in ('--hostname', '--range-prefix', '--cmd', '--prefix', '--suffix'):
            assert opt not in node.options


class Test_Node:

    def test_argv(self, tmp_path):
        node = Node('w1@h', options={'-c': '3', '--pidfile': str(tmp_path / '%n.pid'),
                                     '--logfile': str(tmp_path / '%n%I.log'),
                                     '-A': 'proj', '--workdir': str(tmp_path)},
                    extra_args=['--', 'x=1'], append='--purge')
        argv = node.argv
        # global options of the celery command come before ``worker``
        assert argv[:6] == ('-m', 'celery', '-A', 'proj', f'--workdir={tmp_path}', 'worker')
        assert argv[6] == '--detach'
        assert '-n' in argv and argv[argv.index('-n') + 1] == 'w1@h'
        assert f'--pidfile={tmp_path}/w1.pid' in argv
        assert f'--logfile={tmp_path}/w1%I.log' in argv
        assert argv[-3:] == ('--', 'x=1', '--purge')
        assert node.argv_with_executable[0] == sys.executable
        assert node.pidfile == str(tmp_path / 'w1.pid')
        assert node.logfile == str(tmp_path / 'w1%I.log')

    def test_default_files(self):
        node = Node('w1@h')
        assert node.pidfile == '/var/run/celery/w1.pid'
        assert node.logfile == '/var/log/celery/w1%I.log'

    def test_short_file_options_are_respected(self, tmp_path):
        node = Node('w1@h', options={'-p': 'run/%n.pid', '-f': 'log/%n.log'})
        assert '--pidfile' not in node.options and '--logfile' not in node.options
        assert node.pidfile == os.path.join(os.getcwd(), 'run', 'w1.pid')
        assert node.logfile == os.path.join(os.getcwd(), 'log', 'w1.log')

    def test_relative_files_follow_workdir(self, tmp_path):
        node = Node('w1@h', options={'--workdir': str(tmp_path), '--pidfile': '%n.pid'})
        assert node.pidfile == str(tmp_path / 'w1.pid')

    def test_executable(self):
        node = Node('w1@h', options={'--executable': '/opt/py/bin/python'})
        assert node.executable == '/opt/py/bin/python'
        assert '--executable' not in ' '.join(node.argv)

    def test_from_kwargs(self):
        node = Node.from_kwargs('w1@h', concurrency=2, Q='a', max_tasks_per_child=9)
        assert node.options['--concurrency'] == 2
        assert node.options['-Q'] == 'a'
        assert node.options['--max-tasks-per-child'] == 9

    def test_getopt(self):
        node = Node('w1@h', options={'-c': '2'})
        assert node.getopt('--concurrency', '-c') == '2'
        with pytest.raises(KeyError):
            node.getopt('--nope')

    def test_pid_alive_and_send(self, tmp_path):
        node = Node('w1@h', options={'--pidfile': str(tmp_path / 'w1.pid')})
        assert node.pid is None and not node.alive()
        proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
        try:
            (tmp_path / 'w1.pid').write_text(f'{proc.pid}\n')
            assert node.pid == proc.pid
            assert node.alive()
            assert node.send(signal.SIGTERM)
            proc.wait(timeout=10)
        finally:
            proc.kill()
            proc.wait()
        assert not node.alive()
        gone = []
        assert not node.send(signal.SIGTERM, on_error=gone.append)
        assert gone == [node]

    def test_broken_pidfile(self, tmp_path):
        (tmp_path / 'w1.pid').write_text('garbage')
        node = Node('w1@h', options={'--pidfile': str(tmp_path / 'w1.pid')})
        with pytest.raises(ValueError):
            node.pid
        assert not node.alive()
        assert node.remove_stale_pidfile()
        assert not (tmp_path / 'w1.pid').exists()

    def test_start_reports_exit_status(self, tmp_path):
        node = Node('w1@h', cmd='-c "import sys; sys.exit(3)"',
                    options={'--pidfile': str(tmp_path / 'p' / '%n.pid'),
                             '--logfile': str(tmp_path / 'l' / '%n.log')})
        failures, spawned = [], []
        status = node.start(on_failure=lambda n, code: failures.append(code),
                            on_spawn=lambda n, argstr, env: spawned.append(argstr))
        assert status == 3
        assert failures == [3]
        assert spawned and spawned[0].startswith(sys.executable)
        # the directories of the pid and log files are created
        assert (tmp_path / 'p').is_dir() and (tmp_path / 'l').is_dir()

    def test_start_with_uncreatable_directory(self, tmp_path):
        blocker = tmp_path / 'file'
        blocker.write_text('')
        node = Node('w1@h', options={'--pidfile': str(blocker / 'sub' / '%n.pid')})
        with pytest.raises(MultiError, match='cannot create'):
            node.start()

    def test_signalled_child(self):
        node = Node('w1@h', cmd='-c "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"',
                    options={'--pidfile': os.devnull, '--logfile': os.devnull})
        signalled = []
        assert node.start(on_signalled=lambda n, sig: signalled.append(sig)) == signal.SIGTERM
        assert signalled == [signal.SIGTERM]


class Test_Cluster:

    def nodes(self, tmp_path, *names):
        return [Node(f'{name}@h', options={'--pidfile': str(tmp_path / f'{name}.pid')})
                for name in names]

    def test_getpids_skips_and_cleans_dead_nodes(self, tmp_path):
        a, b, c = self.nodes(tmp_path, 'a', 'b', 'c')
        (tmp_path / 'a.pid').write_text(f'{os.getpid()}\n')
        (tmp_path / 'b.pid').write_text(f'{dead_pid()}\n')
        down = []
        cluster = Cluster([a, b, c])
        assert list(cluster.getpids(on_down=down.append)) == [a]
        assert down == [b, c]
        assert not (tmp_path / 'b.pid').exists()  # stale: removed
        assert (tmp_path / 'a.pid').exists()

    def test_stop_waits_for_the_processes(self, tmp_path):
        a, b = self.nodes(tmp_path, 'a', 'b')
        procs = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
                 for _ in range(2)]
        try:
            for node, proc in zip((a, b), procs):
                with open(node.pidfile, 'w') as fh:
                    fh.write(f'{proc.pid}\n')
            events = []
            cluster = Cluster(
                [a, b],
                on_send_signal=lambda node, sig: events.append(('signal', node.name, sig)),
                on_node_shutdown_ok=lambda node: events.append(('ok', node.name)),
                # reap our children while waiting (a zombie still has a pid)
                on_still_waiting_progress=lambda nodes: [proc.poll() for proc in procs],
            )
            stopped = list(cluster.shutdown_nodes(list(cluster.getpids()), retry=0.01))
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
        assert sorted(n.name for n in stopped) == ['a@h', 'b@h']
        assert ('signal', 'a@h', 'TERM') in events
        assert sorted(e for e in events if e[0] == 'ok') == [('ok', 'a@h'), ('ok', 'b@h')]
        assert not os.path.exists(a.pidfile) and not os.path.exists(b.pidfile)

    def test_find(self, tmp_path):
        a, b = self.nodes(tmp_path, 'a', 'b')
        cluster = Cluster([a, b])
        assert cluster.find('b') is b
        assert cluster.find('a@h') is a
        with pytest.raises(KeyError):
            cluster.find('c')
        assert len(cluster) == 2 and list(cluster) == [a, b] and cluster[1] is b

    def test_unknown_callback(self):
        with pytest.raises(TypeError, match='on_bogus'):
            Cluster([], on_bogus=print)


def test_process_alive():
    assert process_alive(os.getpid())
    assert not process_alive(dead_pid())

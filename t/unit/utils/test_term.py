"""Tests for celery.utils.term."""
from __future__ import annotations

from celery.utils import term
from celery.utils.term import RESET_SEQ, colored, fg


def test_colored_text():
    c = colored(enabled=True)
    assert str(c.red('x')) == f'{fg(31)}x{RESET_SEQ}'
    assert str(c.green('a', 'b')) == f'{fg(32)}ab{RESET_SEQ}'
    assert str(c.ired('x')) == f'{fg(41)}x{RESET_SEQ}'
    assert str(c.bold('x')) == f'\033[1mx{RESET_SEQ}'
    assert str(colored('y', enabled=True).blue()) == f'{fg(34)}y{RESET_SEQ}'


def test_disabled_has_no_escapes():
    c = colored(enabled=False)
    assert str(c.red('x', c.blue('y'))) == 'xy'
    assert c.red('x').embed() == 'x'


def test_nested_and_no_color():
    c = colored(enabled=True)
    nested = c.red('a', c.blue('b'))
    assert nested.no_color() == 'ab'
    assert '\033[' in str(nested)
    assert repr(nested) == "'ab'"


def test_add_and_names():
    c = colored(enabled=False)
    assert c.red('a') + 'b' == 'ab'
    assert 'b' + c.red('a') == 'ba'
    assert set(c.names) == {'black', 'red', 'green', 'yellow', 'blue',
                            'magenta', 'cyan', 'white'}
    assert str(c.names['red']('z')) == 'z'


def test_reset():
    assert str(colored(enabled=True).reset()) == RESET_SEQ + RESET_SEQ


def test_supports_images(monkeypatch):
    monkeypatch.setattr(term, 'ITERM_PROFILE', None)
    assert term.supports_images() is False


def test_imgcat(tmp_path):
    path = tmp_path / 'img.png'
    path.write_bytes(b'\x89PNG')
    out = term.imgcat(str(path))
    assert '1337;File=inline=1;preserveAspectRatio=0:iVBORw==' in out

"""Terminal colours (ANSI escape sequences) for banners and log output.

:class:`colored` builds coloured text lazily: ``str(colored().red('x'))``
gives ``'\\x1b[1;31mx\\x1b[0m'``, or plain ``'x'`` when created with
``enabled=False`` (no terminal, ``--no-color``).
"""
from __future__ import annotations

import base64
import os
import platform
import sys
from typing import Any

__all__ = ('colored', 'fg', 'supports_images', 'print_image', 'imgcat')

BLACK, RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, WHITE = range(8)
OP_SEQ = '\033[%dm'
RESET_SEQ = '\033[0m'
COLOR_SEQ = '\033[1;%dm'

IS_WINDOWS = platform.system() == 'Windows'

ITERM_PROFILE = os.environ.get('ITERM_PROFILE')
TERM = os.environ.get('TERM')
TERM_IS_SCREEN = bool(TERM and TERM.startswith('screen'))

#: Escape sequences for iTerm2's inline images (wrapped for GNU screen).
_IMG_PRE = '\033Ptmux;\033\033]' if TERM_IS_SCREEN else '\033]'
_IMG_POST = '\a\033\\' if TERM_IS_SCREEN else '\a'


def fg(s: int) -> str:
    """Escape sequence selecting (bold) colour code ``s``."""
    return COLOR_SEQ % s


class colored:
    """Text with terminal colours, nestable.

    ``colored('a', 'b').red()`` / ``colored().red('a', 'b')`` / ``c.bold(...)``
    return new objects; ``str()`` renders them.
    """

    def __init__(self, *s: Any, **kwargs: Any) -> None:
        self.s = s
        self.enabled = not IS_WINDOWS and kwargs.get('enabled', True)
        self.op = kwargs.get('op', '')
        #: colour name -> method, e.g. to colour log levels.
        self.names = {
            'black': self.black, 'red': self.red, 'green': self.green,
            'yellow': self.yellow, 'blue': self.blue,
            'magenta': self.magenta, 'cyan': self.cyan, 'white': self.white,
        }

    def node(self, s: tuple, op: str) -> colored:
        """Return ``s`` wrapped with escape sequence ``op``."""
        return type(self)(*s, enabled=self.enabled, op=op)

    def _color(self, s: tuple, code: int) -> colored:
        return self.node(s or self.s, fg(30 + code))

    def _background(self, s: tuple, code: int) -> colored:
        return self.node(s or self.s, fg(40 + code))

    def black(self, *s: Any) -> colored:
        return self._color(s, BLACK)

    def red(self, *s: Any) -> colored:
        return self._color(s, RED)

    def green(self, *s: Any) -> colored:
        return self._color(s, GREEN)

    def yellow(self, *s: Any) -> colored:
        return self._color(s, YELLOW)

    def blue(self, *s: Any) -> colored:
        return self._color(s, BLUE)

    def magenta(self, *s: Any) -> colored:
        return self._color(s, MAGENTA)

    def cyan(self, *s: Any) -> colored:
        return self._color(s, CYAN)

    def white(self, *s: Any) -> colored:
        return self._color(s, WHITE)

    def iblack(self, *s: Any) -> colored:
        return self._background(s, BLACK)

    def ired(self, *s: Any) -> colored:
        return self._background(s, RED)

    def igreen(self, *s: Any) -> colored:
        return self._background(s, GREEN)

    def iyellow(self, *s: Any) -> colored:
        return self._background(s, YELLOW)

    def iblue(self, *s: Any) -> colored:
        return self._background(s, BLUE)

    def imagenta(self, *s: Any) -> colored:
        return self._background(s, MAGENTA)

    def icyan(self, *s: Any) -> colored:
        return self._background(s, CYAN)

    def iwhite(self, *s: Any) -> colored:
        return self._background(s, WHITE)

    def bold(self, *s: Any) -> colored:
        return self.node(s or self.s, OP_SEQ % 1)

    def underline(self, *s: Any) -> colored:
        return self.node(s or self.s, OP_SEQ % 4)

    def blink(self, *s: Any) -> colored:
        return self.node(s or self.s, OP_SEQ % 5)

    def reverse(self, *s: Any) -> colored:
        return self.node(s or self.s, OP_SEQ % 7)

    def bright(self, *s: Any) -> colored:
        return self.node(s or self.s, OP_SEQ % 8)

    def reset(self, *s: Any) -> colored:
        return self.node(s or ('',), RESET_SEQ)

    def no_color(self) -> str:
        """The text without any escape sequence."""
        return ''.join(
            part.no_color() if isinstance(part, colored) else str(part)
            for part in self.s)

    def embed(self) -> str:
        """The text with the opening sequence but no final reset."""
        if not self.enabled:
            return self.no_color()
        return self.op + ''.join(str(part) for part in self.s)

    def __str__(self) -> str:
        if not self.enabled:
            return self.no_color()
        return self.embed() + RESET_SEQ

    def __repr__(self) -> str:
        return repr(self.no_color())

    def __add__(self, other: Any) -> str:
        return str(self) + str(other)

    def __radd__(self, other: Any) -> str:
        return str(other) + str(self)


def supports_images() -> bool:
    """Return True if the terminal can show inline images (iTerm2)."""
    try:
        return bool(sys.stdin and sys.stdin.isatty() and ITERM_PROFILE)
    except (AttributeError, ValueError):  # closed or replaced stdin
        return False


def imgcat(path: str, inline: int = 1, preserve_aspect_ratio: int = 0,
           **kwargs: Any) -> str:
    """Return the escape sequence showing the image file ``path`` inline."""
    with open(path, 'rb') as fh:
        data = base64.b64encode(fh.read()).decode('ascii')
    options = {'inline': inline,
               'preserveAspectRatio': preserve_aspect_ratio, **kwargs}
    args = ';'.join(f'{key}={value}' for key, value in options.items())
    return f'\n{_IMG_PRE}1337;File={args}:{data}{_IMG_POST}\n'


def print_image(path: str, **kwargs: Any) -> None:
    """Print the image at ``path`` when the terminal supports it."""
    if supports_images():
        print(imgcat(path, **kwargs))

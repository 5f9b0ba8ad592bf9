"""Run a function in a forked child and read what it returns (for fork-safety tests)."""
from __future__ import annotations

import os
from typing import Callable


def in_forked_child(function: Callable[[], str]) -> tuple[int, str]:
    """``(child pid, function())`` with ``function`` called in a fork of this process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, function().encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, 'rb') as pipe:
        return pid, pipe.read().decode()

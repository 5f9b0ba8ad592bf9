"""``celery events``: a small live terminal monitor (curses).

A background thread feeds received events into a
:class:`~celery.events.state.State`; the main thread redraws the screen a
few times a second from :func:`render`, a pure function of the state (so it
is tested without a terminal).  Keys: up/down (or k/j) select a task,
``c`` clears finished tasks, ``q`` quits.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from celery import _state, states
from celery.utils.text import abbr, abbrtask

__all__ = ('CursesMonitor', 'render', 'evtop')

BORDER = '-'
TITLE = 'celery events: live monitor   (q: quit, c: clear, up/down: select)'
#: Widths of the fixed columns; the task column takes the rest, and the
#: uuid column gives way on narrow screens.
UUID_WIDTH, WORKER_WIDTH, TIME_WIDTH, STATE_WIDTH = 36, 16, 8, 9
MIN_UUID_WIDTH, MIN_TASK_WIDTH = 8, 10
FOOTER_LINES = 4


def _cell(text: Any, width: int) -> str:
    return abbr(str(text), width, False).ljust(width)


def _widths(width: int) -> tuple[int, int]:
    """Return the (uuid, task) column widths for a screen ``width`` wide."""
    others = WORKER_WIDTH + TIME_WIDTH + STATE_WIDTH + 4 + 2  # separators, marker
    uuid_width = UUID_WIDTH
    task_width = width - others - uuid_width
    if task_width < MIN_TASK_WIDTH:
        uuid_width = max(MIN_UUID_WIDTH, uuid_width - (MIN_TASK_WIDTH - task_width))
        task_width = max(MIN_TASK_WIDTH, width - others - uuid_width)
    return uuid_width, task_width


def _row(cells: tuple, uuid_width: int, task_width: int) -> str:
    uuid, task, worker, when, state = cells
    return ' '.join((_cell(uuid, uuid_width), abbrtask(task, task_width).ljust(task_width),
                     _cell(worker, WORKER_WIDTH), _cell(when, TIME_WIDTH),
                     _cell(state, STATE_WIDTH)))


def render(state: Any, width: int, height: int, selected: int = 0) -> list[str]:
    """Return the screen as lines (each at most ``width`` wide).

    Lists the newest tasks first; ``selected`` (an index into that list) is
    marked with ``>`` and detailed in the footer.
    """
    width = max(width, 40)
    uuid_width, task_width = _widths(width)
    lines = [abbr(TITLE, width, False), BORDER * width,
             '  ' + _row(('UUID', 'TASK', 'WORKER', 'TIME', 'STATE'), uuid_width, task_width)]
    room = max(0, height - len(lines) - FOOTER_LINES)
    rows = list(state.tasks_by_time(limit=room))
    chosen = None
    for index, (uuid, task) in enumerate(rows):
        marker = '  '
        if index == selected:
            marker, chosen = '> ', task
        when = (datetime.fromtimestamp(task.timestamp).strftime('%H:%M:%S')
                if task.timestamp else '')
        worker = task.worker.hostname if task.worker is not None else ''
        lines.append(marker + _row((uuid, task.name or '?', worker or '', when,
                                    task.state or ''), uuid_width, task_width))
    lines.extend([''] * (room - len(rows)))
    lines.append(BORDER * width)
    if chosen is not None:
        info = ' '.join(f'{key}={value}' for key, value in chosen.info().items())
        lines.append(f'Selected: {chosen.uuid} {info}')
    else:
        lines.append('Selected: none')
    names = ', '.join(sorted(w.hostname for w in state.alive_workers())) or 'none'
    lines.append(f'Workers online: {names}')
    lines.append(f'Events: {state.event_count}   Tasks: {state.task_count}   '
                 f'Finished: {_count_ready(state)}')
    return [abbr(line, width, False) for line in lines]


def _count_ready(state: Any) -> int:
    return sum(1 for _, task in state.itertasks() if task.state in states.READY_STATES)


class CursesMonitor:
    """Draw :func:`render` on a curses screen and handle keys."""

    #: Milliseconds between redraws.
    screen_delay = 250

    def __init__(self, state: Any, app: Any) -> None:
        self.app = app
        self.state = state
        self.selected = 0
        self.screen: Any = None

    def draw(self) -> None:
        screen = self.screen
        height, width = screen.getmaxyx()
        lines = self.state.freeze_while(render, self.state, width - 1, height,
                                        self.selected)
        screen.erase()
        for y, line in enumerate(lines[:height]):
            try:
                screen.addstr(y, 0, line)
            except Exception:  # writing the last cell of a screen fails
                pass
        screen.refresh()

    def handle_key(self, key: int) -> bool:
        """Act on ``key``; return False to quit."""
        if key in (ord('q'), ord('Q')):
            return False
        if key in (ord('j'), 258):  # KEY_DOWN
            self.selected = min(self.selected + 1, max(self.state.task_count - 1, 0))
        elif key in (ord('k'), 259):  # KEY_UP
            self.selected = max(self.selected - 1, 0)
        elif key in (ord('c'), ord('C')):
            self.state.clear_tasks(ready=True)
            self.selected = 0
        return True

    def run(self, screen: Any) -> None:
        """Main loop on a curses screen (see :func:`curses.wrapper`)."""
        import curses
        self.screen = screen
        try:
            curses.curs_set(0)
        except curses.error:
            pass
        screen.timeout(self.screen_delay)
        while True:
            self.draw()
            key = screen.getch()
            if key != -1 and not self.handle_key(key):
                return


def _capture(app: Any, state: Any, receivers: list) -> None:
    while True:
        try:
            with app.connection_for_read() as conn:
                recv = app.events.Receiver(conn, handlers={'*': state.event})
                receivers.append(recv)
                recv.capture(limit=None, timeout=None, wakeup=True)
        except Exception:  # the broker went away: try again
            time.sleep(1.0)


def evtop(app: Any = None) -> None:
    """Run the live monitor until ``q`` is pressed."""
    import curses
    app = _state.app_or_default(app)
    state = app.events.State()
    receivers: list = []
    thread = threading.Thread(target=_capture, args=(app, state, receivers),
                              name='celery-events-capture', daemon=True)
    thread.start()
    try:
        curses.wrapper(CursesMonitor(state, app).run)
    except KeyboardInterrupt:
        pass
    finally:
        for recv in receivers:
            recv.should_stop = True

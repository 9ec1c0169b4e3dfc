"""The live region: the block still being written, redrawn in place below everything printed for good.

rich's `Live` leaves the cursor at the end of what it drew and, to redraw, moves up by the number of
rows it drew. When the window narrows, a terminal that reflows its lines (tmux, VTE, kitty, iTerm2,
Windows Terminal, ...) re-wraps those rows into more rows, keeping the cursor on its cell: the rows it
adds land *above* the cursor, out of reach of that movement (tmux pushes them into the scrollback),
and a stale copy of the text stays above the answer.

So between frames the cursor rests at the region's top-left corner. Whatever a reflow does, all of
the region is then at or below the cursor, and "erase to the end of the screen" removes it; a terminal
that does not reflow (it crops) keeps everything where it was, which the same erase handles too. The
region never holds more rows than the screen minus one, so it never scrolls the screen itself.

Each frame is one write (erase, the finished blocks above, the region, the cursor back to its top).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType

from .. import interrupts

ERASE_BELOW = "\r\x1b[J"  # to the start of the row, then erase from the cursor to the end of the screen
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


class Region:
    def __init__(self, console: Console):
        self._console = console
        self._shown = False  # the region is on the screen, the cursor at its top-left corner
        self._started = False

    def show(self, frame: RenderableType, above: Sequence[RenderableType] = ()) -> None:
        """Print `above` for good, then draw `frame` as the region (replacing the last one)."""
        console = self._console
        out = console.file
        with _one_write(out):
            if not self._started:
                out.write(HIDE_CURSOR)  # the cursor rests at the region's top: not to be seen there
                self._started = True
            if self._shown:
                out.write(ERASE_BELOW)
            if above:
                console.print(Group(*above))
            lines = console.render_lines(frame, console.options, pad=False)
            console.print(_Rows(lines), end="")
            if len(lines) > 1:
                out.write(f"\x1b[{len(lines) - 1}A")
            out.write("\r")
            if not self._shown:  # ending at once (a second Ctrl-C) erases the region, not writes into it
                interrupts.set_exit_epilogue((ERASE_BELOW + SHOW_CURSOR).encode())
            self._shown = True

    def clear(self) -> None:
        """Erase the region; the cursor stays where it began (what is printed next takes its place)."""
        out = self._console.file
        with _one_write(out):
            if self._shown:
                out.write(ERASE_BELOW)
                self._shown = False
                interrupts.set_exit_epilogue(None)
            if self._started:
                out.write(SHOW_CURSOR)
                self._started = False


class _Rows:
    """Rendered lines, printed as they are, without a newline after the last."""

    def __init__(self, lines: list[list[Any]]):
        self.lines = lines

    def __rich_console__(self, console: Console, options: Any):
        from rich.segment import Segment

        last = len(self.lines) - 1
        for i, line in enumerate(self.lines):
            yield from line
            if i < last:
                yield Segment.line()


class _one_write:
    """Holds back the flushes of the terminal file (markdown._TerminalFile) until the block ends, so a
    frame reaches the terminal in one write and is never seen half drawn."""

    def __init__(self, out: Any):
        self._out = out

    def __enter__(self) -> None:
        hold = getattr(self._out, "hold", None)
        if hold is not None:
            hold(True)

    def __exit__(self, *exc: object) -> None:
        hold = getattr(self._out, "hold", None)
        if hold is not None:
            hold(False)
        self._out.flush()

"""The live region: the block still being written, redrawn in place below everything printed for good.

rich's `Live` leaves the cursor at the end of what it drew and, to redraw, moves up by the number of
rows it drew. When the window narrows, a terminal that reflows its lines (tmux, VTE, kitty, iTerm2,
Windows Terminal, ...) re-wraps those rows into more rows, keeping the cursor on its cell: the rows it
adds land *above* the cursor, out of reach of that movement (tmux pushes them into the scrollback),
and a stale copy of the text stays above the answer.

So between frames the cursor rests at the region's top-left corner. Whatever a reflow does, all of
the region is then at or below the cursor, and erasing from there down (ERASE_BELOW) removes it; a terminal
that does not reflow (it crops) keeps everything where it was, which the same erase handles too. The
region holds at most a third of the screen's rows (markdown.py: what a narrowed window reflows it to
must still fit), and none of its rows reaches the last column (see `show`).

Each frame is one write (erase, the finished blocks above, the region, the cursor back to its top).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.segment import Segment

from .. import interrupts

# Erase the cursor's row and every row below it, and come back: the row by itself (EL), then, from the
# next row down (if there is one), the rest of the screen (ED), the cursor saved and restored around it.
# Never ED from the screen's top-left corner: that clears the whole screen, which tmux (scroll-on-clear)
# and VTE keep in the scrollback — a copy of the region for every frame.
ERASE_BELOW = "\r\x1b[2K\x1b7\x1b[1B\x1b[J\x1b8"
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
            # Never into the last column: a row that fills the width leaves the cursor waiting to wrap,
            # and terminals differ in where the next CR or cursor movement then lands (tmux on its
            # first row moves on to the next one), which would leave the frame behind. rich pads
            # justified text to the full width, so this mostly drops padding.
            limit = max(1, console.width - 1)
            lines = [Segment.adjust_line_length(line, limit, pad=False) for line in lines]
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

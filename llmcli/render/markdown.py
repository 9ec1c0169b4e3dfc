"""The terminal sink: markdown rendered while it streams, at a cost per token bounded by the current
block, ending exactly as a one-shot render of the whole answer would look.

Re-rendering the whole answer on every token is quadratic and, with rich's `Live`, leaves duplicated
lines in the scrollback once the answer is taller than the screen. But as text arrives, only the last
top-level block of a markdown document can still change: a paragraph may turn into a setext heading, a
list may get more items, a table more rows. Every block before it is final. So:

- Text is split into lines; block boundaries are decided on complete lines only, by parsing the
  unfinished tail (never the whole answer) with the same markdown-it configuration rich uses.
- Finished blocks are rendered once and printed for good, above a live region (`region.py`) that holds
  only the unfinished block: cropped to a third of the terminal height (showing its newest lines),
  transient (erased when the answer ends, then the last block is printed for good as well), and
  resting the cursor at its top so that a window narrowed mid-answer leaves no stale copy of it.
- Repaints are coalesced: a painter thread takes whatever arrived since the last frame, at most ~20
  frames a second, fewer when a frame is expensive (a frame may use a quarter of the time at most).
- A long open code fence (the one block that is often huge) is printed line by line as its lines
  complete, in batches whose syntax highlighting has been checked against the lines after them.

Why the result is a one-shot render: rich renders a document as its top-level blocks in order, with a
blank line before each one unless it follows a horizontal rule. A block parsed alone gives the same
tokens as it does inside the whole document (link reference definitions seen earlier are carried
along), so it renders the same; the blank lines are added here by the same rule. The test-suite checks
this over random chunkings of awkward markdown and through a terminal emulator.

Known limit: a reference-style link used *before* its definition (`[x]` ... `[x]: url` further down)
stays literal text, because the text before the definition was already printed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, BinaryIO

from rich.console import Console, Group, RenderableType
from rich.text import Text

from ..core.tty import isatty
from ..errors import OutputClosed, OutputError
from .blocks import StreamRenderer
from .region import Region
from .sink import neutralise, write_out

MAX_FPS = 20.0
FRAME_SHARE = 0.25  # a frame may take at most this share of the time between frames


class _TerminalFile:
    """What rich writes to: UTF-8 bytes on the sink's stream, one write per print, errors as llmcli's."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._parts: list[str] = []
        self._held = False

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def hold(self, held: bool) -> None:
        """While held, flushes wait (region.py draws a frame in one write)."""
        self._held = held

    def flush(self) -> None:
        if self._parts and not self._held:
            data = "".join(self._parts).encode("utf-8", "replace")
            self._parts = []
            write_out(self._out, data)

    def isatty(self) -> bool:
        return isatty(self._out)

    def fileno(self) -> int:
        return self._out.fileno()


def _console(file: _TerminalFile, tty: bool) -> Console:
    """On a terminal the console follows the terminal's real size, frame by frame: rich would take an
    exported COLUMNS/LINES as a fixed size instead (bash refreshes them after every command in scripts
    that inherit them), and a window resized mid-answer would then be drawn at its old width. Into a
    pipe or file, COLUMNS still chooses the width."""
    if not tty:
        return Console(file=file, force_terminal=True, highlight=False)
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    try:
        return Console(file=file, highlight=False, _environ=environ)
    except TypeError:  # a rich without the _environ hook: its own rules apply
        return Console(file=file, highlight=False)


class MarkdownSink:
    """The Sink for terminals (or `--markdown`): see the module docstring.

    The turn's thread only hands deltas over; a painter thread owns the renderer, the console and the
    live region, so terminal output is never cut in half by a signal (signals go to the main thread)
    and the network is read while a frame is drawn. Errors from writing (a closed pipe, a full disk)
    come back to the turn on its next call.
    """

    def __init__(
        self,
        out: BinaryIO | None = None,
        *,
        console: Console | None = None,
        live: bool | None = None,
        spinner: Any = None,
        reasoning: Any = None,
        max_fps: float = MAX_FPS,
    ):
        out = out if out is not None else sys.stdout.buffer
        tty = isatty(out)
        if console is None:
            # `--markdown` into a pipe or file still renders (styles included, e.g. for `less -R`).
            console = _console(_TerminalFile(out), tty)
        self.console = console
        self._out = out
        self._live_wanted = (tty and not console.is_dumb_terminal) if live is None else live
        self._spinner = spinner
        self._reasoning = reasoning
        self._min_interval = 1.0 / max_fps
        self._cond = threading.Condition()
        self._inbox: list[str] = []
        self._closing = False
        self._painter: threading.Thread | None = None
        self._error: BaseException | None = None
        self._emitted: list[RenderableType] = []
        self._plain_last = "\n"
        self.frames = 0  # painted frames (for tests and benchmarks)

    # -- the Sink protocol (the turn's thread) ----------------------------------------------------

    def start(self) -> None:
        if self._spinner is not None:
            self._spinner.start()

    def text(self, delta: str) -> None:
        if self._error is not None:
            raise self._error
        if self._painter is None:
            self._quiet_stderr()
            self._painter = threading.Thread(target=self._paint, name="llmcli-painter", daemon=True)
            self._painter.start()
        with self._cond:
            self._inbox.append(delta)
            self._cond.notify()

    def reasoning(self, delta: str) -> None:
        if self._painter is None and self._reasoning is not None:
            if self._spinner is not None:
                self._spinner.stop()
            self._reasoning.write(delta)

    def end(self) -> None:
        self._quiet_stderr()
        if self._painter is not None:
            with self._cond:
                self._closing = True
                self._cond.notify()
            self._painter.join()
        if self._error is not None:
            raise self._error

    def _quiet_stderr(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
        if self._reasoning is not None:
            self._reasoning.close()

    # -- the painter thread -----------------------------------------------------------------------

    def _paint(self) -> None:
        renderer = StreamRenderer(self.console, self._emitted.append)
        live: Region | None = None
        fallback = False
        try:
            interval = self._min_interval
            last_frame = float("-inf")
            dirty = False
            while True:
                with self._cond:
                    # With something new on screen to show, sleep until the frame is due and take all
                    # that arrived meanwhile in one batch; otherwise wake for the next delta.
                    while not self._closing:
                        if dirty:
                            wait = last_frame + interval - time.monotonic()
                            if wait <= 0:
                                break
                            self._cond.wait(wait)
                        elif self._inbox:
                            break
                        else:
                            self._cond.wait()
                    batch = "".join(self._inbox)
                    self._inbox.clear()
                    closing = self._closing
                if fallback:
                    self._write_plain(batch)
                    if closing:
                        break
                    continue
                try:
                    if batch:
                        renderer.feed(batch)
                        dirty = True
                    if closing:
                        break
                    if live is None and self._live_wanted:
                        live = Region(self.console)
                    if live is None:
                        self._flush_emitted()
                        dirty = False
                        continue
                    # Finished blocks wait for the next frame too: printing above the live region
                    # redraws it, and that counts as a repaint.
                    if dirty and time.monotonic() - last_frame >= interval:
                        began = time.monotonic()
                        above, self._emitted[:] = list(self._emitted), []
                        live.show(self._frame(renderer), above)  # the finished blocks printed above it
                        self.frames += 1
                        last_frame = time.monotonic()
                        interval = max(self._min_interval, (last_frame - began) / FRAME_SHARE)
                        dirty = False
                except (OutputClosed, OutputError):
                    raise
                except Exception as exc:  # a rendering bug must not cost the user the answer
                    live = self._stop_live(live)
                    fallback = True
                    self._warn(f"markdown rendering failed ({type(exc).__name__}: {exc}); showing plain text")
                    self._emitted.clear()
                    self._write_plain(renderer.unprinted())  # the batch was fed: it is in there
                    if closing:
                        break
            if not fallback:
                live = self._stop_live(live)  # the region goes; what follows is printed in its place
                self._flush_emitted()
                renderer.finish()
                self._flush_emitted()
            elif not self._plain_last.endswith("\n"):
                write_out(self._out, b"\n")  # finish the line
        except (OutputClosed, OutputError) as exc:
            self._error = exc
        except Exception as exc:  # pragma: no cover - the fallback above catches rendering errors
            self._error = exc
        finally:
            self._stop_live(live)

    def _frame(self, renderer: StreamRenderer) -> RenderableType:
        # A third of the screen at most: when the window narrows while the answer streams, a terminal
        # that reflows makes the region up to width-ratio times taller, and the rows that then no longer
        # fit on the screen go to the scrollback, beyond erasing (see region.py). A third keeps a window
        # narrowed to a third of its width (100 → 40 columns) clean; the block is printed whole once done.
        rows = max(1, (self.console.size.height - 1) // 3)
        return renderer.frame(rows) or Text("")

    def _flush_emitted(self) -> None:
        if self._emitted:
            items, self._emitted[:] = list(self._emitted), []
            self.console.print(Group(*items))

    def _stop_live(self, live: Region | None) -> None:
        if live is not None:
            try:
                live.clear()  # the region is erased, the cursor is where it began
            except (OutputClosed, OutputError):
                pass
        return None

    def _write_plain(self, text: str) -> None:
        if text:
            write_out(self._out, neutralise(text).encode("utf-8", "replace"))
            self._plain_last = text

    def _warn(self, message: str) -> None:
        try:
            print(f"llmcli: warning: {message}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass

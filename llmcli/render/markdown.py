"""The terminal sink: markdown rendered while it streams, at a cost per token bounded by the current
block, ending exactly as a one-shot render of the whole answer would look.

Re-rendering the whole answer on every token is quadratic and, with rich's `Live`, leaves duplicated
lines in the scrollback once the answer is taller than the screen. But as text arrives, only the last
top-level block of a markdown document can still change: a paragraph may turn into a setext heading, a
list may get more items, a table more rows. Every block before it is final. So:

- Text is split into lines; block boundaries are decided on complete lines only, by parsing the
  unfinished tail (never the whole answer) with the same markdown-it configuration rich uses.
- Finished blocks are rendered once and printed for good, above a `rich.live.Live` region that holds
  only the unfinished block: cropped to the terminal height (showing its newest lines), transient
  (erased when the answer ends, then the last block is printed for good as well).
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

import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.console import Console, ConsoleOptions, Group, NewLine, RenderableType, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text

from ..errors import OutputClosed, OutputError
from .sink import neutralise, write_out

Line = list[Segment]
Emit = Callable[[RenderableType], None]

MAX_FPS = 20.0
FRAME_SHARE = 0.25  # a frame may take at most this share of the time between frames
EAGER = {"heading_open", "hr"}  # blocks that no later line can change, printed as soon as they end


def clean_line(line: str) -> str:
    """One line of model text as the terminal gets it: a CR before the newline dropped, controls inert."""
    if line.endswith("\r"):
        line = line[:-1]
    return neutralise(line)


def terminal_markdown(text: str) -> str:
    """The whole answer as this sink renders it (what a one-shot render is compared with)."""
    return "\n".join(clean_line(line) for line in text.split("\n"))


def parser() -> MarkdownIt:
    # Exactly rich.markdown.Markdown's configuration: the boundaries found here must be rich's.
    return MarkdownIt().enable("strikethrough").enable("table")


class _Parsed(Markdown):
    """rich's Markdown over tokens parsed here (with the link references seen so far)."""

    def __init__(self, tokens: list[Token], **options: Any):
        super().__init__("", **options)
        self.parsed = tokens


class _Lines:
    """Rendered lines, printed as they are."""

    def __init__(self, lines: list[Line], *, end_newline: bool = True):
        self.lines = lines
        self.end_newline = end_newline

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        new_line = Segment.line()
        last = len(self.lines) - 1
        for i, line in enumerate(self.lines):
            yield from line
            if i < last or self.end_newline:
                yield new_line


def _top_blocks(tokens: list[Token]) -> list[Token]:
    """The opening token of each top-level block (its `map` is the block's [first, end) line range)."""
    return [t for t in tokens if t.level == 0 and t.nesting >= 0 and t.map]


def _settled(line: str) -> bool:
    """A code line a fence may be cut after: rich strips trailing whitespace from the end of a code block."""
    return bool(line.strip()) and line == line.rstrip()


@dataclass
class _Fence:
    """A top-level code fence still open: its lines are taken without parsing, until the closing line."""

    opener: str
    closing: re.Pattern[str]
    lines: list[str] = field(default_factory=list)
    done_lines: int = 0  # code lines printed for good
    done_out: int = 0  # rendered lines printed for good (the block's top padding included)
    next_try: int = 0

    @classmethod
    def open(cls, opener: str, markup: str) -> _Fence:
        # CommonMark: up to 3 spaces, the same character at least as many times, then only blanks.
        closing = re.compile(r" {0,3}" + re.escape(markup[0]) + "{" + str(len(markup)) + r",}[ \t]*\Z")
        return cls(opener, closing)


class StreamRenderer:
    """Markdown text in, finished blocks out (once, through `emit`), plus a frame of the unfinished one.

    No threads and no terminal control here: the sink drives it. `largest_parse` records the longest
    text parsed by one settling step, so a test can check the cost is bounded by the current block.
    """

    def __init__(self, console: Console, emit: Emit, *, code_theme: str = "monokai", hyperlinks: bool = True):
        self.console = console
        self.emit = emit
        self._options = {"code_theme": code_theme, "hyperlinks": hyperlinks}
        self._md = parser()
        self._lines: list[str] = []  # complete lines not printed yet, cleaned
        self._partial: list[str] = []  # pieces of the incomplete last line, raw
        self._refs: dict[str, Any] = {}  # link reference definitions printed so far
        self._sep = False  # a blank line goes before the next block (rich's rule: not after a rule)
        self._fence: _Fence | None = None
        self._prefix_rows: tuple[int, int] | None = None
        self.largest_parse = 0

    # -- input ------------------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        if "\n" not in text:
            self._partial.append(text)
            return
        self._partial.append(text)
        *complete, tail = "".join(self._partial).split("\n")
        self._partial = [tail] if tail else []
        self._lines.extend(clean_line(line) for line in complete)
        self._settle()

    def finish(self) -> None:
        """The answer is over: print everything not printed yet."""
        tail = "".join(self._partial)
        self._partial = []
        if tail:
            self._lines.append(clean_line(tail))
        self._settle()
        if self._fence is not None:
            self._close_fence(None)
        if self._lines:
            self._print(self._lines)
            self._lines = []

    def unprinted(self) -> str:
        """The text not yet printed for good (for a plain fallback)."""
        lines = list(self._lines)
        if self._fence is not None:
            lines = self._fence.lines[self._fence.done_lines :] + lines
            if not self._fence.done_out:
                lines.insert(0, self._fence.opener)
        text = "\n".join(lines)
        return (text + "\n" if lines else "") + neutralise("".join(self._partial))

    # -- deciding what is final -------------------------------------------------------------------

    def _settle(self) -> None:
        # A closing fence line hands the lines after it back to block parsing: hence the loop.
        while self._lines:
            if self._fence is None:
                self._settle_blocks()
                return
            if not self._take_fence_lines():
                return

    def _parse(self, lines: list[str], refs: bool = False) -> list[Token]:
        text = "\n".join(lines) + "\n"
        self.largest_parse = max(self.largest_parse, len(text))
        env: dict[str, Any] = {"references": dict(self._refs)} if refs and self._refs else {}
        return self._md.parse(text, env)

    def _settle_blocks(self) -> None:
        """Print the blocks that are final: all but the last, or all when the last cannot change."""
        lines = self._lines
        tops = _top_blocks(self._parse(lines))
        if not tops:
            return
        last = tops[-1]
        start, end = last.map  # type: ignore[misc]
        if last.type == "fence" and not (
            end - 1 > start and _Fence.open("", last.markup).closing.match(lines[end - 1])
        ):
            # An open fence: everything before it is final; its lines are followed without parsing.
            self._print(lines[:start])
            fence = _Fence.open(lines[start], last.markup)
            fence.lines = lines[start + 1 :]
            self._lines = []
            self._fence = fence
            self._print_fence_lines()
            return
        if last.type in EAGER or last.type == "fence":
            cut = end  # a heading, a rule or a closed fence cannot change any more
        else:
            cut = start
            # Definitions right before the last block stay with it (a definition's title may go on).
            floor = tops[-2].map[1] if len(tops) > 1 else 0  # type: ignore[index]
            while cut > floor and lines[cut - 1].strip():
                cut -= 1
        if cut:
            self._print(lines[:cut])
            del self._lines[:cut]

    def _print(self, lines: list[str]) -> None:
        """Render these lines as the next part of the document and emit them."""
        if not lines:
            return
        env: dict[str, Any] = {"references": dict(self._refs)} if self._refs else {}
        tokens = self._md.parse("\n".join([*self._prefix(), *lines]) + "\n", env)
        self._refs = env.get("references", self._refs)
        tops = _top_blocks(tokens)[1 if self._sep else 0 :]
        if not tops:
            return  # only blank lines or definitions
        if self._sep:
            self.emit(_Lines(self._without_prefix(tokens)))
        else:
            self.emit(_Parsed(tokens, **self._options))
        self._sep = tops[-1].type != "hr"

    # rich puts a blank line before an element when the element closed last wanted one (all but a
    # rule). Inside a list, quote or table the nested elements decide, so a part of the document cannot
    # simply get a blank line in front: it is rendered after a one-line paragraph that puts rich in the
    # same state the previous blocks left it in, and that paragraph's line is dropped.
    _PREFIX = ["x", ""]

    def _prefix(self) -> list[str]:
        return self._PREFIX if self._sep else []

    def _without_prefix(self, tokens: list[Token]) -> list[Line]:
        lines = self.console.render_lines(_Parsed(tokens, **self._options), self.console.options, pad=False)
        return lines[self._prefix_height() :]

    def _prefix_height(self) -> int:
        width = self.console.options.max_width
        if self._prefix_rows is None or self._prefix_rows[0] != width:
            tokens = self._md.parse("\n".join(self._PREFIX) + "\n")
            rows = len(self.console.render_lines(_Parsed(tokens, **self._options), self.console.options))
            self._prefix_rows = (width, rows)
        return self._prefix_rows[1]

    # -- a long open code fence -------------------------------------------------------------------

    def _take_fence_lines(self) -> bool:
        """Follow the open fence; True when it closed and lines after it are left."""
        fence = self._fence
        assert fence is not None
        for i, line in enumerate(self._lines):
            if fence.closing.match(line):
                fence.lines.extend(self._lines[:i])
                rest = self._lines[i + 1 :]
                self._lines = []
                self._close_fence(line)
                self._lines = rest
                return True
        fence.lines.extend(self._lines)
        self._lines = []
        self._print_fence_lines()
        return False

    def _render_lines(self, lines: list[str], refs: bool = False) -> list[Line]:
        tokens = self._parse(lines, refs)
        return self.console.render_lines(_Parsed(tokens, **self._options), self.console.options, pad=False)

    def _print_fence_lines(self) -> None:
        """Print the settled part of a long open fence.

        Highlighting is decided by lexing from the start of the block, as a one-shot render does. A batch
        is printed only when its lines render the same with and without the lines after it, so a
        construct still open (a string, a comment) is not printed in the wrong colour. Batches grow with
        the fence, which keeps the lexing done here proportional to the fence's length overall.
        """
        fence = self._fence
        assert fence is not None
        n = len(fence.lines)
        ahead = max(self.console.size.height, 8)
        if n < fence.next_try or n - fence.done_lines < max(2 * ahead, fence.done_lines // 2):
            return
        fence.next_try = n + ahead
        k = n - ahead
        while k > fence.done_lines and not _settled(fence.lines[k - 1]):
            k -= 1
        if k <= fence.done_lines:
            return
        upto_k = self._render_lines([fence.opener, *fence.lines[:k]])
        keep = len(upto_k) - 1  # without the block's bottom padding
        if keep <= fence.done_out:
            return
        upto_n = self._render_lines([fence.opener, *fence.lines])
        if upto_k[:keep] != upto_n[:keep]:
            return
        if fence.done_out == 0 and self._sep:
            self.emit(NewLine())
        self.emit(_Lines(upto_k[fence.done_out : keep]))
        fence.done_out, fence.done_lines = keep, k

    def _close_fence(self, closing: str | None) -> None:
        fence = self._fence
        assert fence is not None
        self._fence = None
        source = [fence.opener, *fence.lines, *([closing] if closing is not None else [])]
        if not fence.done_out:
            self._print(source)
            return
        self.emit(_Lines(self._render_lines(source)[fence.done_out :]))
        self._sep = True

    # -- the live view ----------------------------------------------------------------------------

    def frame(self, max_lines: int) -> RenderableType | None:
        """The unfinished block as it would look now: its last `max_lines` lines, or None."""
        partial = clean_line("".join(self._partial))
        fence = self._fence
        if fence is not None:
            first = max(fence.done_lines, len(fence.lines) - max_lines)
            source = [fence.opener, *fence.lines[first:], *([partial] if partial else [])]
            lines = self._render_lines(source)
            if first or fence.done_out:
                lines = lines[1:]  # the block's top padding is above already
            elif self._sep:
                lines.insert(0, [])
        else:
            source = [*self._lines, *([partial] if partial else [])]
            if not any(line.strip() for line in source):
                return None
            lines = self._render_lines([*self._prefix(), *source], refs=True)
            if self._sep:
                lines = lines[self._prefix_height() :]
        if not lines:
            return None
        return _Lines(lines[-max_lines:], end_newline=False)


class _TerminalFile:
    """What rich writes to: UTF-8 bytes on the sink's stream, one write per print, errors as llmcli's."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        if self._parts:
            data = "".join(self._parts).encode("utf-8", "replace")
            self._parts = []
            write_out(self._out, data)

    def isatty(self) -> bool:
        return _isatty(self._out)

    def fileno(self) -> int:
        return self._out.fileno()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


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
        tty = _isatty(out)
        if console is None:
            # `--markdown` into a pipe or file still renders (styles included, e.g. for `less -R`).
            console = Console(file=_TerminalFile(out), force_terminal=None if tty else True, highlight=False)
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
        live: Live | None = None
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
                        live = Live(
                            console=self.console,
                            auto_refresh=False,
                            transient=True,
                            vertical_overflow="crop",
                            redirect_stdout=False,
                            redirect_stderr=False,
                        )
                        live.start()
                    if live is None:
                        self._flush_emitted()
                        dirty = False
                        continue
                    # Finished blocks wait for the next frame too: printing above the live region
                    # redraws it, and that counts as a repaint.
                    if dirty and time.monotonic() - last_frame >= interval:
                        began = time.monotonic()
                        live.update(self._frame(renderer), refresh=not self._emitted)
                        self._flush_emitted()  # printed above the live region, which is redrawn below
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
                self._flush_emitted()
                live = self._stop_live(live)
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
        rows = max(1, self.console.size.height - 1)  # one row spare: the live region never scrolls
        return renderer.frame(rows) or Text("")

    def _flush_emitted(self) -> None:
        if self._emitted:
            items, self._emitted[:] = list(self._emitted), []
            self.console.print(Group(*items))

    def _stop_live(self, live: Live | None) -> None:
        if live is not None:
            try:
                live.update(Text(""), refresh=False)
                live.stop()  # transient: the region is erased, the cursor is where it began
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

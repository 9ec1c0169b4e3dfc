"""Streamed markdown → finished blocks printed once, plus a frame of the block still being written.

The sink (`markdown.py`) drives this from its painter thread; here are no threads and no terminal
control. How the result equals a one-shot render is explained in `markdown.py`'s docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.console import Console, ConsoleOptions, NewLine, RenderableType, RenderResult
from rich.markdown import Markdown
from rich.segment import Segment

from .sink import neutralise

Line = list[Segment]
Emit = Callable[[RenderableType], None]

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

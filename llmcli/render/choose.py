"""Which sink shows an answer: markdown on a terminal (or `--markdown`), the exact text elsewhere; a
spinner while waiting and the model's reasoning (dim) on stderr when it is a terminal. `ask` and the
REPL both pick here. The sinks themselves are imported only when chosen (rich is slow to import)."""

from __future__ import annotations

import os
import sys

from ..core.tty import isatty, stdout_is_tty
from .sink import Sink


class NullSink:
    """Shows nothing while the answer streams (`--format json` prints one object at the end)."""

    def start(self) -> None: ...
    def text(self, delta: str) -> None: ...
    def reasoning(self, delta: str) -> None: ...
    def end(self) -> None: ...


def choose_sink(fmt: str, plain: bool, *, markdown: bool = False, reasoning: bool = True) -> Sink:
    if fmt == "json":
        return NullSink()
    capable = os.environ.get("TERM", "") != "dumb"  # a dumb terminal cannot move the cursor
    stdout_tty = stdout_is_tty()
    spinner = shown_reasoning = None
    if capable and isatty(sys.stderr):
        from .spinner import Spinner

        spinner = Spinner()
        if reasoning:
            from .reasoning import ReasoningView

            shown_reasoning = ReasoningView()
    if markdown or (stdout_tty and capable and not plain):
        from .markdown import MarkdownSink  # rich.markdown / rich.live: terminals only

        return MarkdownSink(spinner=spinner, reasoning=shown_reasoning)
    from .plain import PlainSink

    return PlainSink(terminal=stdout_tty, spinner=spinner, reasoning=shown_reasoning)


class WaitingSink:
    """Collects nothing and shows nothing on stdout: the answer is printed whole at the end (`--schema`
    on a terminal prints the checked JSON indented). A spinner runs on stderr meanwhile, when stderr is
    a terminal."""

    def __init__(self) -> None:
        self._spinner = None
        if os.environ.get("TERM", "") != "dumb" and isatty(sys.stderr):
            from .spinner import Spinner

            self._spinner = Spinner()

    def start(self) -> None:
        if self._spinner is not None:
            self._spinner.start()

    def text(self, delta: str) -> None: ...
    def reasoning(self, delta: str) -> None: ...

    def end(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()

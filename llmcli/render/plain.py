"""The plain sink: deltas written and flushed as they arrive; exact text into a pipe."""

from __future__ import annotations

import sys
from typing import BinaryIO

from .sink import neutralise, write_out


class PlainSink:
    def __init__(self, out: BinaryIO | None = None, *, terminal: bool | None = None):
        self._out = out if out is not None else sys.stdout.buffer
        # On a terminal: neutralise control characters and end on a newline. In a pipe: exact bytes.
        self._terminal = terminal if terminal is not None else sys.stdout.isatty()
        self._last = ""

    def start(self) -> None:
        pass

    def text(self, delta: str) -> None:
        if self._terminal:
            delta = neutralise(delta)
        write_out(self._out, delta.encode("utf-8", "surrogatepass"))
        self._last = delta

    def reasoning(self, delta: str) -> None:
        pass  # never on stdout

    def end(self) -> None:
        if self._terminal and self._last and not self._last.endswith("\n"):
            write_out(self._out, b"\n")
            self._last = "\n"

"""The plain sink: deltas written and flushed as they arrive; exact text into a pipe."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

from ..core.tty import isatty
from .sink import neutralise, write_out


class PlainSink:
    def __init__(
        self,
        out: BinaryIO | None = None,
        *,
        terminal: bool | None = None,
        spinner: Any = None,
        reasoning: Any = None,
    ):
        self._out = out if out is not None else sys.stdout.buffer
        # On a terminal: neutralise control characters and end on a newline. In a pipe: exact bytes.
        self._terminal = terminal if terminal is not None else isatty(sys.stdout)
        self._last = ""
        # stderr helpers (spinner.py, reasoning.py), given when stderr is a terminal
        self._spinner = spinner
        self._reasoning = reasoning
        self._began = False

    def start(self) -> None:
        if self._spinner is not None:
            self._spinner.start()

    def _quiet_stderr(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
        if self._reasoning is not None:
            self._reasoning.close()

    def text(self, delta: str) -> None:
        if not self._began:
            self._began = True
            self._quiet_stderr()  # the spinner is gone and the reasoning ended before the answer shows
        if self._terminal:
            delta = neutralise(delta)
        write_out(self._out, delta.encode("utf-8", "surrogatepass"))
        self._last = delta

    def reasoning(self, delta: str) -> None:
        # never on stdout; on stderr (a terminal) until the answer begins
        if not self._began and self._reasoning is not None:
            if self._spinner is not None:
                self._spinner.stop()
            self._reasoning.write(delta)

    def end(self) -> None:
        self._quiet_stderr()
        if self._terminal and self._last and not self._last.endswith("\n"):
            write_out(self._out, b"\n")
            self._last = "\n"

"""Reasoning deltas shown dim on stderr (a terminal) while the model thinks; never on stdout.

The view closes when the answer begins: reasoning that arrives later is kept in the outcome but not
shown, so it can never land inside the answer's live region on the same terminal.
Standard library only: the plain (pipe) path uses it too.
"""

from __future__ import annotations

import sys
from typing import TextIO

from .sink import neutralise

DIM, RESET = "\x1b[2m", "\x1b[0m"


class ReasoningView:
    def __init__(self, stream: TextIO | None = None, *, styled: bool = True):
        self._stream = stream if stream is not None else sys.stderr
        self._styled = styled
        self._open = True
        self._last = ""

    def write(self, delta: str) -> None:
        if not self._open or not delta:
            return
        text = neutralise(delta)
        # Style each piece on its own, so an interrupted stream never leaves the terminal dim.
        self._put(f"{DIM}{text}{RESET}" if self._styled else text)
        self._last = text

    def close(self) -> None:
        """The answer begins (or the turn ends): finish the reasoning with a blank line."""
        if self._open and self._last:
            self._put("\n\n" if not self._last.endswith("\n") else "\n")
        self._open = False

    def _put(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._open = False

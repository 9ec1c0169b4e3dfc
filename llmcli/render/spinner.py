"""While waiting for the first piece of the answer: a spinner on stderr (a terminal), gone before it shows.

Standard library only: the plain (pipe) path uses it too.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
CLEAR_LINE = "\x1b[2K"


class Spinner:
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        label: str = "waiting for the answer",
        delay: float = 0.1,
        interval: float = 0.08,
    ):
        self._stream = stream if stream is not None else sys.stderr
        self._label = label
        self._delay = delay  # a fast answer never shows a spinner at all
        self._interval = interval
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # a frame being drawn is finished (or not begun) when stop() returns
        self._drawn = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and not self._stopped.is_set():
            self._thread = threading.Thread(target=self._run, name="llmcli-spinner", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Idempotent; the line is blank again when this returns."""
        self._stopped.set()
        with self._lock:
            if self._drawn:
                self._write(CLEAR_LINE)
                self._drawn = False

    def _run(self) -> None:
        if self._stopped.wait(self._delay):
            return
        began = time.monotonic() - self._delay
        for i in range(1 << 62):
            with self._lock:
                if self._stopped.is_set():
                    return
                waited = time.monotonic() - began
                text = f"{FRAMES[i % len(FRAMES)]} {self._label}"
                if waited >= 2:
                    text += f" ({waited:.0f} s)"
                # The cursor goes back to column 0 after each frame, so a message printed meanwhile (a
                # retry notice) overwrites the spinner instead of being glued to it.
                self._write(f"{CLEAR_LINE}{text}\r")
                self._drawn = True
            if self._stopped.wait(self._interval):
                return

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # stderr went away: the answer matters more than the spinner
            self._stopped.set()

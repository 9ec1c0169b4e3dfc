"""The seam between a turn and the screen: a sink receives deltas; the turn never formats output."""

from __future__ import annotations

import re
from typing import Protocol

from ..errors import OutputClosed, OutputError


class Sink(Protocol):
    def start(self) -> None:
        """The request is on its way (a TTY sink may show a spinner until the first delta)."""

    def text(self, delta: str) -> None: ...

    def reasoning(self, delta: str) -> None: ...

    def end(self) -> None:
        """The answer is over, however it ended: settle the screen (finish the line)."""


# C0 controls except \t and \n, DEL, and the C1 range: a model must not drive the user's terminal
# (screen clears, OSC 52 clipboard writes, hyperlinks, title changes, cursor moves, \r overwrites).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _picture(m: re.Match[str]) -> str:
    c = ord(m.group())
    if c < 0x20:
        return chr(0x2400 + c)  # ␛, ␍, ... visible and inert
    if c == 0x7F:
        return "\u2421"
    return "\ufffd"


def neutralise(text: str) -> str:
    """Make model text safe to show on a terminal. (Output to a pipe stays exact.)"""
    return _CONTROL.sub(_picture, text)


def write_out(stream, data: bytes) -> None:
    """Write and flush, turning the ways output can fail into llmcli's errors."""
    try:
        stream.write(data)
        stream.flush()
    except BrokenPipeError:
        raise OutputClosed() from None
    except OSError as exc:
        raise OutputError(
            f"cannot write to stdout: {exc.strerror or exc}", hint="check the disk or the output redirection"
        ) from None

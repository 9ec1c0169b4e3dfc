"""Server-sent events from raw bytes, incrementally: the framing only (what a chunk *means* is
transport/base.py's business).

The sync transport reads SSE through httpx-sse, whose decoder is private to it and works on text. Under
load the engine parses hundreds of streams at once, so this works on bytes as they come off the socket:
no decoding of the text (json.loads takes bytes), one `split` per network read, and a Python-level step
only per line. Follows the WHATWG rules that matter for chat streams: lines end in LF, CRLF or CR (also
split across reads), `data:` lines of one event are joined with LF, one space after the colon is
dropped, comments (`:`) and `id:`/`retry:` are ignored, a blank line ends the event, and an event
whose blank line never came is dropped at the end of the stream (as httpx-sse does).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Event:
    data: bytes
    event: bytes = b""


class SSEDecoder:
    """Feed bytes, get complete events. `comments` counts keep-alive comments (they are not progress)."""

    __slots__ = ("_buf", "_data", "_event", "_cr", "comments")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self._event = b""
        self._cr = False  # the last read ended in CR: an LF at the start of the next one belongs to it
        self.comments = 0

    def feed(self, piece: bytes) -> list[Event]:
        if self._cr:
            self._cr = False
            if piece.startswith(b"\n"):
                piece = piece[1:]
        if b"\r" in piece:
            if piece.endswith(b"\r"):
                self._cr = True  # the line is complete; a following LF must not make a blank line
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + piece if self._buf else piece
        lines = buf.split(b"\n")
        self._buf = lines.pop()  # the unfinished tail (b"" when the read ended on a line end)
        out: list[Event] = []
        for line in lines:
            if line[:6] == b"data: ":  # the usual line
                self._data.append(line[6:])
                continue
            if not line:
                if self._data:
                    out.append(Event(b"\n".join(self._data), self._event))
                    self._data = []
                self._event = b""
                continue
            if line[0] == 58:  # b":" a comment, typically a keep-alive
                self.comments += 1
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value
        return out

"""Server-sent events from raw bytes, incrementally: the framing only (what a chunk *means* is
transport/base.py's business).

The sync transport reads SSE through httpx-sse, whose decoder is private to it and works on text. Under
load the engine parses hundreds of streams at once, so this works on bytes as they come off the socket:
no decoding of the text (the JSON decoder gets it once), one `split` on the blank line that ends an
event per network read, and per event a single check for the usual one-line `data: {...}` event; only
other events are read line by line. Follows the WHATWG rules that matter for chat streams: lines end in
LF, CRLF or CR (also split across reads), the `data:` lines of one event are joined with LF, one space
after the colon is dropped, comments (`:`) and `id:`/`retry:` are ignored, a blank line ends the event,
and an event whose blank line never came is dropped at the end of the stream (as httpx-sse does).

Events are `(data, event)` tuples of bytes: `event` is the `event:` field, b"" when there was none.
"""

from __future__ import annotations

Event = tuple[bytes, bytes]


class SSEDecoder:
    """Feed bytes, get complete events. `comments` counts comments (keep-alives: not progress)."""

    __slots__ = ("_buf", "_cr", "comments")

    def __init__(self) -> None:
        self._buf = b""  # the unfinished event, raw
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
        if buf.startswith(b"\n"):
            buf = buf.lstrip(b"\n")  # blank lines between events
        blocks = buf.split(b"\n\n")
        self._buf = blocks.pop()  # what follows the last blank line: not an event yet
        out: list[Event] = []
        for block in blocks:
            if block.startswith(b"data: ") and b"\n" not in block:
                out.append((block[6:], b""))  # the usual event: one data line
            elif block:
                event = self._event(block)
                if event is not None:
                    out.append(event)
        return out

    def _event(self, block: bytes) -> Event | None:
        data: list[bytes] = []
        name = b""
        for line in block.split(b"\n"):
            if not line:
                continue  # more blank lines (\n\n\n): nothing
            if line[0] == 58:  # b":" a comment, typically a keep-alive
                self.comments += 1
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                name = value
        if not data:
            return None
        return (data[0] if len(data) == 1 else b"\n".join(data), name)

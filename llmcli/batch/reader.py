"""A JSONL input (a batch file, a prompt file, training data) read line by line, never whole.

`-` is stdin: it is copied once to a private temp file (0600, removed on close), so that every reader
can go over it twice — validation first, then the work — and an upload can send it from disk.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class Line:
    number: int  # 1-based, counting every physical line
    text: str | None  # without its line ending; None when the bytes are not UTF-8
    offset: int  # byte offset of the line's start in the file
    size: int  # bytes, line ending included
    problem: str | None = None  # why `text` is None (or suspicious: a byte-order mark)

    @property
    def blank(self) -> bool:
        return self.text is not None and not self.text.strip()


class Source:
    """A named input: a file path, or `-` for stdin (spooled). Use as a context manager."""

    def __init__(self, name: str | Path, *, stdin=None):
        self.name = str(name)
        self._spool: str | None = None
        if self.name == "-":
            self.path = Path(self._spool_stdin(stdin if stdin is not None else sys.stdin))
            self.label = "stdin"
        else:
            self.path = Path(self.name)
            self.label = self.name
            if not self.path.exists():
                raise UsageError(f"{self.name}: no such file", hint="check the path")
            if self.path.is_dir():
                raise UsageError(f"{self.name} is a folder, not a file", hint="give a JSONL file")
            try:
                with open(self.path, "rb"):
                    pass
            except OSError as exc:
                raise UsageError(
                    f"cannot read {self.name}: {exc.strerror}", hint="check its permissions"
                ) from None

    def _spool_stdin(self, stdin) -> str:
        if stdin is None or _isatty(stdin):
            raise UsageError("`-` reads the input from stdin, but stdin is a terminal", hint="pipe a file in")
        fd, self._spool = tempfile.mkstemp(prefix="llmcli-stdin-", suffix=".jsonl")  # 0600
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(getattr(stdin, "buffer", stdin), out, 1 << 20)
        return self._spool

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def lines(self) -> Iterator[Line]:
        """Every physical line, in order. A last line without a newline is a line like any other."""
        offset = 0
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                size = len(raw)
                body = raw[:-1] if raw.endswith(b"\n") else raw
                if body.endswith(b"\r"):
                    body = body[:-1]
                problem = None
                if number == 1 and body.startswith(BOM):
                    body = body[len(BOM) :]
                    problem = "starts with a byte-order mark (save the file as UTF-8 without BOM)"
                try:
                    text: str | None = body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    text, problem = None, f"not valid UTF-8 (byte {exc.start + 1} of the line)"
                yield Line(number, text, offset, size, problem)
                offset += size

    def close(self) -> None:
        if self._spool is not None:
            try:
                os.unlink(self._spool)
            except OSError:
                pass
            self._spool = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

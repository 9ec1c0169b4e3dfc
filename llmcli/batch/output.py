"""The local runner's output: one result line per request, in the Batch API's output format, that a rerun
can trust.

    {"id": "batch_req_…", "custom_id": "…", "response": {"status_code": 200, "request_id": "…", "body": {…}}, "error": null}
    {"id": "batch_req_…", "custom_id": "…", "response": {"status_code": 400, …}, "error": {"code": "rejected", "message": "…"}}
    {"id": "batch_req_…", "custom_id": "…", "response": null, "error": {"code": "connection", "message": "…"}}

A line is a success when `error` is null and `response.status_code` is 2xx; every other line is a failure
(with `response` when the server answered). Each line is written with one `write()` of the whole line
and reaches the operating system at once, so a crash leaves every line complete, or absent, or — only
when the disk filled up or the machine lost power mid-write — a torn last line.

On a rerun `scan()` reads the previous output: the custom_ids with a success line (kept as 64-bit hashes,
ids.py), the failure lines (their requests run again, so `compact()` drops them: the file keeps one
line per request), and a torn last line (dropped). A file that is not a result file — any other line
that is not a complete result object — is refused rather than appended to or rewritten.

`OutputLock` (fcntl) keeps two runs from writing one output. Standard library only.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OutputError, UsageError
from ..load.types import RequestRecord
from .ids import IdSet

RESULT_KEYS = ("custom_id", "response", "error")


def is_success(obj: dict[str, Any]) -> bool:
    response = obj.get("response")
    if obj.get("error") is not None or not isinstance(response, dict):
        return False
    status = response.get("status_code")
    return isinstance(status, int) and 200 <= status < 300


def _result(obj: Any) -> dict[str, Any] | None:
    """The object when it is a result line, else None."""
    if not isinstance(obj, dict) or not all(k in obj for k in RESULT_KEYS):
        return None
    cid = obj.get("custom_id")
    return obj if isinstance(cid, str) and cid else None


# --- writing -------------------------------------------------------------------------------------


class LineIds:
    """The `id` of each line: `batch_req_` + a random part per run + a counter (unique, and cheap)."""

    def __init__(self) -> None:
        self._prefix = f"batch_req_{secrets.token_hex(8)}"
        self._n = 0

    def __call__(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n:08x}"


def result_object(custom_id: str, rec: RequestRecord, line_id: str) -> dict[str, Any]:
    """The result line of a request that ended (not one that was cancelled: that one has no line)."""
    response = None
    if rec.status is not None:
        response = {"status_code": rec.status, "request_id": rec.request_id, "body": rec.body}
    error = None
    if not rec.ok:
        err = rec.error
        error = {"code": rec.kind or "error", "message": err.message if err is not None else "failed"}
    return {"id": line_id, "custom_id": custom_id, "response": response, "error": error}


def encode(obj: dict[str, Any]) -> bytes:
    """One line: compact JSON (newlines inside strings are escaped) and the newline."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _spliceable(raw: bytes | None) -> bool:
    """The server's own bytes can stand in the line for the body: JSON (it was parsed) in UTF-8 without a
    byte-order mark (no NUL: UTF-16/32 have them) and on one line."""
    return (
        raw is not None
        and b"\n" not in raw
        and b"\r" not in raw
        and b"\x00" not in raw
        and not raw.startswith(b"\xef\xbb\xbf")
    )


def success_line(custom_id: str, rec: RequestRecord, line_id: str) -> bytes:
    """The line of a request that succeeded. The answer's bytes go in as the server sent them (already
    checked as JSON): no second encoding of a body that may be long."""
    raw = rec.raw
    if not _spliceable(raw):
        return encode(result_object(custom_id, rec, line_id))
    dumps = json.dumps
    head = f'{{"id":{dumps(line_id)},"custom_id":{dumps(custom_id, ensure_ascii=False)},"response":{{"status_code":{rec.status},"request_id":{dumps(rec.request_id, ensure_ascii=False)},"body":'
    return b"".join((head.encode("utf-8"), raw, b'},"error":null}\n'))  # type: ignore[arg-type]


def write_error(path: Path | str, exc: OSError) -> OutputError:
    return OutputError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="free some space (or fix the folder's permissions), then run the same command again: "
        "every line written is kept and the run resumes after it",
    )


class ResultWriter:
    """Appends whole lines to a file (created 0600). A failed write is undone, so the file never keeps a
    part of a line; it raises OutputError."""

    def __init__(self, path: Path, *, truncate: bool = False):
        self.path = path
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            self.fd: int | None = os.open(path, flags | (os.O_TRUNC if truncate else 0), 0o600)
            self.size = os.fstat(self.fd).st_size
        except OSError as exc:
            raise write_error(path, exc) from None
        self.lines = 0

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                if n <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[n:]
        except OSError as exc:
            try:
                os.ftruncate(self.fd, self.size)  # no part of a line stays behind
            except OSError:
                pass
            raise write_error(self.path, exc) from None
        self.size += len(data)
        self.lines += 1

    def close(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


# --- reading a previous output -----------------------------------------------------------------------


@dataclass
class Previous:
    """What an earlier run left in an output file."""

    done: IdSet = field(default_factory=IdSet)  # custom_ids with a success line
    succeeded: int = 0  # success lines (a custom_id twice counts twice)
    failed: int = 0  # failure lines: their requests run again, the lines are dropped
    drop: array = field(default_factory=lambda: array("Q"))  # offset, size of each line to drop
    torn_at: int | None = None  # a torn last line starts here: the file is cut back to it
    open_end: bool = False  # the last line is complete but has no newline
    size: int = 0

    @property
    def clean(self) -> bool:
        return not self.drop and self.torn_at is None and not self.open_end


def not_a_result_file(label: str, number: int, why: str) -> UsageError:
    return UsageError(
        f"{label}:{number}: {why}; this is not a result file of `llmcli batch run`, "
        "so it is neither appended to nor rewritten",
        hint="choose another -o/--errors file (or move this one away)",
    )


def scan(path: Path, label: str | None = None) -> Previous:
    """Read a previous output file line by line (any size, bounded memory)."""
    label = label or str(path)
    prev = Previous()
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return prev
    except OSError as exc:
        raise UsageError(
            f"cannot read {label}: {exc.strerror or exc}", hint="check its permissions"
        ) from None
    offset = 0
    with fh:
        for number, raw in enumerate(fh, 1):
            size = len(raw)
            whole = raw.endswith(b"\n")
            obj: Any = None
            if raw.strip():
                try:
                    obj = _result(json.loads(raw))
                except ValueError:
                    obj = None
                if obj is None:
                    if not whole:  # the last line, cut short: a write that never finished
                        prev.torn_at = offset
                        offset += size
                        break
                    raise not_a_result_file(label, number, "not a complete result line")
            else:
                if not whole:
                    prev.torn_at = offset
                    offset += size
                    break
                prev.drop.extend((offset, size))  # a blank line: not ours, but nothing is lost
                offset += size
                continue
            if not whole:
                prev.open_end = True
            if is_success(obj):
                prev.succeeded += 1
                prev.done.add(obj["custom_id"])
            else:
                prev.failed += 1
                prev.drop.extend((offset, size))
            offset += size
    prev.size = offset
    return prev


def compact(path: Path, prev: Previous) -> None:
    """Make the file hold only its success lines, each ending with a newline: a torn end is cut off in
    place; failure lines (their requests run again) are dropped by an atomic rewrite."""
    from ..core.files import AtomicOutput

    if prev.clean:
        return
    try:
        if not prev.drop:
            end = prev.torn_at if prev.torn_at is not None else prev.size
            with open(path, "r+b") as fh:
                fh.truncate(end)
                if prev.open_end:
                    fh.seek(0, os.SEEK_END)
                    fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            return
        spans = iter(prev.drop)
        dropped = dict(zip(spans, spans, strict=True))  # offset → size
        with AtomicOutput(path, force=True) as out, open(path, "rb") as src:
            offset = 0
            for raw in src:
                here, offset = offset, offset + len(raw)
                if prev.torn_at is not None and here >= prev.torn_at:
                    break
                if here in dropped:
                    continue
                out.write(raw if raw.endswith(b"\n") else raw + b"\n")
    except OSError as exc:
        raise write_error(path, exc) from None


# --- one run per output ----------------------------------------------------------------------------


class OutputLock:
    """An exclusive lock on `OUTPUT.lock` (fcntl.flock), held for the whole run and removed at its end.

    The lock file holds the owner's pid, for the message a second run prints. A lock file left behind by
    a process that died is not a lock: the kernel released its flock, and the next run takes it over.
    """

    def __init__(self, output: Path):
        self.path = output.with_name(output.name + ".lock")
        self.output = output
        self.fd: int | None = None

    def acquire(self) -> OutputLock:
        import fcntl

        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            except OSError as exc:
                raise write_error(self.path, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_pid(fd)
                os.close(fd)
                who = f" (pid {owner})" if owner else ""
                raise UsageError(
                    f"{self.output} is being written by another `llmcli batch run`{who}",
                    hint="let that run finish (or stop it), or give this one another -o file",
                ) from None
            except OSError as exc:
                os.close(fd)
                raise OutputError(
                    f"cannot lock {self.path}: {exc.strerror or exc}",
                    hint="write the output to a local folder (this file system does not take locks)",
                ) from None
            # A run that was finishing may have removed the file we opened: lock the one at the path.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return self

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.unlink(self.path)  # while still holding it: a waiting run then locks a fresh file
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""

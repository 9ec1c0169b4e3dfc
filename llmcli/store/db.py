"""Opening the history file and writing to it safely.

- The folder is created 0700 and the file 0600 before SQLite touches it (SQLite gives its `-wal` and
  `-shm` files the database file's mode, so they are private too).
- WAL mode (readers never block the writer), a busy timeout, foreign keys on, `synchronous=FULL` (a
  committed turn survives a crash of the machine, not only of the process), `secure_delete` (deleted
  text is overwritten, not left in free pages).
- Every write is one `BEGIN IMMEDIATE` transaction: the write lock is taken first, so two processes
  never deadlock upgrading a read lock, and a killed process leaves either the whole write or nothing.
  SIGINT/SIGTERM arriving during a write are held until the transaction has ended, then delivered.
- Migrations run in order, one transaction each, and re-read the version after taking the write lock,
  so processes starting at the same moment (even of different llmcli versions) apply each migration
  exactly once. A file whose schema is newer than this llmcli knows is left alone.
- A file SQLite says is not a database (or is malformed) is renamed aside with a UTC timestamp and a
  fresh one is started; the caller is told through `notice`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..core.settings import ensure_private_dir
from ..errors import LlmcliError
from .migrations import MIGRATIONS, Migration

BUSY_TIMEOUT_S = 5.0

# SQLite primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


class StoreError(LlmcliError):
    """The history could not be read or written. `reason` is one line for "history not saved: ..."."""

    def __init__(self, reason: str, hint: str | None = None):
        super().__init__(f"history: {reason}", hint=hint)
        self.reason = reason


class StoreCorrupt(StoreError):
    """SQLite found the file damaged while in use (not at open, where it is moved aside at once)."""


class StoreTooNew(StoreError):
    """The file was migrated by a newer llmcli; this one does not touch it."""


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_corrupt(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and _code(exc) in (_CORRUPT, _NOTADB)


def reason_of(exc: BaseException, path: Path, timeout: float = BUSY_TIMEOUT_S) -> str:
    """One line a user can act on, for an sqlite3 or OS error on `path`."""
    if isinstance(exc, OSError):
        where = exc.filename or path
        return f"cannot use {where}: {exc.strerror or exc}"
    code = _code(exc)
    text = str(exc)
    if code in (_BUSY, _LOCKED) or "locked" in text:
        return f"{path} is locked by another process (waited {timeout:g} s)"
    if code == _READONLY or "readonly" in text:
        return f"{path} is read-only"
    if code == _FULL:
        return f"the disk is full (writing {path})"
    if code == _CANTOPEN:
        return f"cannot open {path}"
    if code in (_CORRUPT, _NOTADB):
        return f"{path} is damaged ({text})"
    if code == _IOERR:
        return f"disk I/O error writing {path} (disk full or file too large?)"
    return f"{path}: {text}"


def wrap(exc: BaseException, path: Path, timeout: float = BUSY_TIMEOUT_S) -> StoreError:
    cls = StoreCorrupt if is_corrupt(exc) else StoreError
    return cls(reason_of(exc, path, timeout), hint=_hint(exc))


def _hint(exc: BaseException) -> str | None:
    code = _code(exc)
    if code in (_BUSY, _LOCKED):
        return "try again when the other llmcli has finished"
    if code == _READONLY:
        return "make the file writable (chmod u+w), or use --no-save"
    if code in (_FULL, _IOERR):
        return "free some disk space"
    return None


# --- signals ---------------------------------------------------------------------------------------


@contextmanager
def shield_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then deliver them.

    The transaction would roll back cleanly anyway; holding the signal lets the partial answer that
    a Ctrl-C produced actually reach the file before the process exits. A Python handler is swapped
    in (rather than blocking the signal), because the kernel may hand a process signal to any thread.
    The cost: a second Ctrl-C during a write waits for it (at most the busy timeout).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if signum not in held:
            held.append(signum)

    previous: dict[int, object] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(sig)
        if current is None:  # installed outside Python: leave it alone
            continue
        try:
            signal.signal(sig, hold)
        except (ValueError, OSError):
            continue
        previous[sig] = current
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        for sig in held:
            signal.raise_signal(sig)


# --- transactions ----------------------------------------------------------------------------------


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE … COMMIT, rolled back on any error, signals held."""
    with shield_signals():
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            _rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite has already rolled back (e.g. after a disk-full error)


# --- migrations ------------------------------------------------------------------------------------


def schema_version(conn: sqlite3.Connection) -> int:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchall()
    if not found:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0])


def _too_new(version: int, known: int, path: Path) -> StoreTooNew:
    return StoreTooNew(
        f"{path} was written by a newer llmcli (schema version {version}; this one knows {known})",
        hint="upgrade llmcli",
    )


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the file to the newest version this llmcli knows; returns that version."""
    known = migrations[-1].version
    version = schema_version(conn)
    while version < known:
        with transaction(conn):
            version = schema_version(conn)  # re-read under the write lock: another process may be ahead
            if version >= known:
                break
            if version == 0:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)"
                )
            step = migrations[version]
            for statement in step.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                (step.version, step.name, utc_now()),
            )
        version = schema_version(conn)
    if version > known:
        raise _too_new(version, known, path)
    return version


# --- opening ---------------------------------------------------------------------------------------


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds; sorts as text."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _create_private(path: Path) -> None:
    ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        return  # another process was first: fine, it is the same empty database
    os.close(fd)


def move_aside(path: Path, identity: tuple[int, int] | None) -> Path | None:
    """Rename a damaged file (and its -wal/-shm) to `<name>.corrupt-<UTC stamp>`.

    Returns None when the file is no longer the one found damaged: another process already moved it
    aside and started a new one, which must not be moved in turn.
    """
    if identity is not None and _identity(path) != identity:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, aside)
    # A stale WAL must never be replayed into the new file: it goes with the file it belongs to.
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        try:
            os.replace(side, Path(f"{aside}{suffix}"))
        except FileNotFoundError:
            pass
    return aside


_MAGIC = b"SQLite format 3\x00"


def _not_sqlite(path: Path) -> str | None:
    """Why the file cannot be an SQLite database, or None when it may be one (an empty file is)."""
    with open(path, "rb") as fh:
        head = fh.read(len(_MAGIC))
    # Another process may be writing the first page right now: a short or zero-padded read of the
    # magic string is not damage (SQLite itself decides, under its locks).
    if _MAGIC.startswith(head.rstrip(b"\x00")):
        return None
    return "file is not a database"


def _set_aside(
    path: Path,
    identity: tuple[int, int] | None,
    why: str,
    notice: Callable[[str], None] | None,
    timeout: float,
) -> None:
    try:
        aside = move_aside(path, identity)
    except OSError as exc:
        raise wrap(exc, path, timeout) from None
    if aside is not None and notice is not None:
        notice(f"{path} was damaged ({why}); moved it to {aside.name} and started a new history")


def _set_wal(conn: sqlite3.Connection, timeout: float) -> None:
    # Switching to WAL needs an exclusive moment; when many processes create the file at once, one
    # may be told "busy" without the busy handler being consulted, so retry within the timeout.
    deadline = time.monotonic() + timeout
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchall()[0][0]
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if _code(exc) not in (_BUSY, _LOCKED) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _configure(conn: sqlite3.Connection, timeout: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    _set_wal(conn, timeout)
    conn.execute("PRAGMA synchronous = FULL")


def connect(
    path: Path,
    *,
    create: bool = True,
    timeout: float = BUSY_TIMEOUT_S,
    notice: Callable[[str], None] | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> tuple[sqlite3.Connection, tuple[int, int] | None] | None:
    """An open, migrated connection and the file's identity (for `move_aside`); None when `create`
    is false and there is no file yet. Raises StoreError (one-line reason) when the file is unusable.
    """
    for attempt in (1, 2):
        try:
            if _identity(path) is None:
                if not create:
                    return None
                _create_private(path)
            identity = _identity(path)
            damage = None if attempt == 2 else _not_sqlite(path)
            if damage is None:
                conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise wrap(exc, path, timeout) from None
        if damage is not None:
            # Checked before SQLite opens it: SQLite would delete the -wal of such a file on close.
            _set_aside(path, identity, damage, notice, timeout)
            continue
        try:
            _configure(conn, timeout)
            migrate(conn, path, migrations)
            return conn, identity
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            if attempt == 1 and is_corrupt(exc):
                _set_aside(path, identity, str(exc), notice, timeout)
                continue
            raise wrap(exc, path, timeout) from None
        except BaseException:
            conn.close()
            raise
    raise StoreError(f"{path} could not be opened")  # pragma: no cover - the loop always returns

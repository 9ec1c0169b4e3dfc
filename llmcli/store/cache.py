"""The response cache (docs/cache.md): answers kept by request, replayed instead of asking again.

- The key is a SHA-256 of the full request: the endpoint URL without credentials and the body as JSON
  with sorted keys. `stream`/`stream_options` are left out (they change how an answer arrives, not
  what it is). The API key is never part of it, nor stored anywhere here.
- Only deterministic requests are looked up or stored (temperature 0, or a seed given) unless
  `--cache-any`; only whole, proper answers are stored (turn.cacheable).
- One SQLite file beside the history (cache.db: 0600 in a 0700 folder, WAL, writes in BEGIN IMMEDIATE,
  like the history), bounded by `cache_max_mb`: after a write past the bound, the least recently used
  answers are dropped until it is 90 % full.
- A cache that cannot be used is a warning, never a failed answer: llmcli then simply asks the server.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.urls import strip_credentials
from .db import StoreError, connect, transaction, utc_now, wrap
from .migrations import Migration

DEFAULT_MAX_MB = 100.0

_V1 = (
    """
    CREATE TABLE responses (
        key      TEXT PRIMARY KEY,     -- sha256 of the canonical request
        url      TEXT NOT NULL,        -- the endpoint, without credentials
        value    TEXT NOT NULL,        -- JSON: content, reasoning, finish_reason, usage, model, logprobs
        size     INTEGER NOT NULL,     -- bytes of value, for the size bound
        created  TEXT NOT NULL,
        used     TEXT NOT NULL,        -- last stored or replayed (least recently used goes first)
        hits     INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX responses_by_used ON responses (used, key)",
)
MIGRATIONS: tuple[Migration, ...] = (Migration(1, "responses", _V1),)


def deterministic(body: dict[str, Any]) -> bool:
    """Would the same request give the same answer? temperature 0, or a fixed seed."""
    temperature = body.get("temperature")
    seed = body.get("seed")
    return (
        isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature == 0
    ) or (seed is not None and not isinstance(seed, bool))


def request_key(base_url: str, endpoint: str, body: dict[str, Any]) -> tuple[str, str]:
    """(key, url): the cache key of a request and the URL it names (without credentials)."""
    url = strip_credentials(base_url).rstrip("/") + "/" + endpoint
    shape = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    canonical = json.dumps(
        {"url": url, "body": shape}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest(), url


@dataclass(slots=True)
class Stats:
    path: str
    entries: int
    bytes: int
    file_bytes: int
    max_bytes: int
    hits: int
    oldest: str | None
    newest: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "entries": self.entries,
            "bytes": self.bytes,
            "file_bytes": self.file_bytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "oldest": self.oldest,
            "newest": self.newest,
        }


class CacheFile:
    """The cache file itself: get, put (with eviction), stats, clear. Raises StoreError."""

    def __init__(
        self, path: Path, *, max_bytes: int, create: bool = True, notice: Callable[[str], None] | None = None
    ):
        self.path = path
        self.max_bytes = max_bytes
        opened = connect(path, create=create, notice=notice, migrations=MIGRATIONS)
        self._conn: sqlite3.Connection | None = opened[0] if opened else None

    @property
    def exists(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        assert self._conn is not None
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise wrap(exc, self.path) from None

    def get(self, key: str) -> dict[str, Any] | None:
        if self._conn is None:
            return None
        rows = self._read("SELECT value FROM responses WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            value = json.loads(rows[0][0])
        except ValueError:
            return None
        try:
            with transaction(self._conn) as conn:
                conn.execute("UPDATE responses SET used = ?, hits = hits + 1 WHERE key = ?", (utc_now(), key))
        except sqlite3.Error as exc:
            raise wrap(exc, self.path) from None
        return value

    def put(self, key: str, url: str, value: dict[str, Any]) -> None:
        assert self._conn is not None
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        size = len(text.encode("utf-8"))
        now = utc_now()
        try:
            with transaction(self._conn) as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO responses (key, url, value, size, created, used, hits)"
                    " VALUES (?, ?, ?, ?, ?, ?, 0)",
                    (key, url, text, size, now, now),
                )
                self._evict(conn)
        except sqlite3.Error as exc:
            raise wrap(exc, self.path) from None

    def _evict(self, conn: sqlite3.Connection) -> None:
        total = conn.execute("SELECT coalesce(sum(size), 0) FROM responses").fetchall()[0][0]
        if total <= self.max_bytes:
            return
        target = int(self.max_bytes * 0.9)
        doomed: list[str] = []
        for key, size in conn.execute("SELECT key, size FROM responses ORDER BY used, key"):
            if total <= target:
                break
            doomed.append(key)
            total -= size
        conn.executemany("DELETE FROM responses WHERE key = ?", [(k,) for k in doomed])

    def stats(self) -> Stats:
        file_bytes = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        if self._conn is None:
            return Stats(str(self.path), 0, 0, 0, self.max_bytes, 0, None, None)
        entries, size, hits, oldest, newest = self._read(
            "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(hits), 0), min(created), max(created) FROM responses"
        )[0]
        return Stats(str(self.path), entries, size, file_bytes, self.max_bytes, hits, oldest, newest)

    def clear(self) -> int:
        if self._conn is None:
            return 0
        try:
            with transaction(self._conn) as conn:
                n = conn.execute("DELETE FROM responses").rowcount
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            self._conn.execute("VACUUM")
        except sqlite3.Error as exc:
            raise wrap(exc, self.path) from None
        return n


class ResponseCache:
    """What run_exchange uses: a key for a request (None when it may not be cached), get, put.

    Any trouble with the file is said once on stderr and turns the cache off for the run."""

    def __init__(
        self,
        path: Path,
        *,
        base_url: str,
        max_bytes: int,
        warn: Callable[[str], None],
        any_request: bool = False,
    ):
        self.path = path
        self.base_url = base_url
        self.max_bytes = max_bytes
        self.any_request = any_request
        self._warn = warn
        self._file: CacheFile | None = None
        self._failed = False
        self._urls: dict[str, str] = {}

    def _open(self) -> CacheFile | None:
        if self._failed:
            return None
        if self._file is None:
            try:
                self._file = CacheFile(self.path, max_bytes=self.max_bytes, notice=self._warn)
            except StoreError as exc:
                self._fail(exc)
                return None
        return self._file

    def _fail(self, exc: StoreError) -> None:
        self._failed = True
        self._warn(f"cache not used: {exc.message.removeprefix('history: ')}")

    def key_for(self, request: Any) -> str | None:
        body = request.body(stream=False)
        if not self.any_request and not deterministic(body):
            return None
        key, url = request_key(self.base_url, request.endpoint, body)
        self._urls[key] = url
        return key

    def get(self, key: str) -> dict[str, Any] | None:
        cache = self._open()
        if cache is None:
            return None
        try:
            return cache.get(key)
        except StoreError as exc:
            self._fail(exc)
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        cache = self._open()
        if cache is None:
            return
        try:
            cache.put(key, self._urls.get(key, ""), value)
        except StoreError as exc:
            self._fail(exc)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

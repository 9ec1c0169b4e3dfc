"""The Store: conversations and their messages, for `ask`, `chat` and `llmcli history`.

    store = open_store(paths().history_db, notice=warn)      # StoreError when the file is unusable
    conv_id, _ = store.start_exchange(None, "hi", system="be brief", profile="default",
                                      host="127.0.0.1:8080", model="m", params={"temperature": 0.2})
    ...                                                      # the request runs
    store.add_assistant_message(conv_id, content=..., status="interrupted", error="interrupted", ...)
    store.messages_for_request(conv_id)                      # what `-c` sends before the new prompt

Conversations: `get`, `resolve(id_or_prefix)`, `latest_conversation`, `conversations(limit)`,
`delete(ids)`, `delete_all()`. Messages: `start_exchange` (conversation if new + system prompt if
changed + user turn, one transaction), `add_assistant_message`, `drop_last_exchange` (undo/retry),
`messages(conv_id)`, `system_prompt(conv_id)`, `messages_for_request(conv_id)`. Search:
`search(text, limit)` (FTS5, best match first, snippets). The records these return, and their JSON
export form, are `records.py`.

Every write is one transaction (see db.py); errors come out as StoreError with a one-line reason
(ConversationGone when the conversation written to was deleted meanwhile), a user's reference to an
unknown or ambiguous conversation as UsageError (exit 2). The API key is never an
argument of anything here: a conversation records the profile's name and the server's host only.

What `messages_for_request` sends back (the rule for partial answers, also in the README):
the latest system prompt first, then every earlier exchange in order whose answer has text, the
answer as the text the user saw, whatever its status (complete, length, interrupted, cut, error).
An exchange whose answer has no text at all (an error before the answer began, or a process killed
before the answer was saved) is left out with its user turn, so the server never sees two user turns
in a row and never sees an empty assistant turn.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.types import Message
from ..errors import UsageError
from .db import BUSY_TIMEOUT_S, StoreError, connect, transaction, utc_now, wrap
from .migrations import STATUSES
from .records import (
    ID_PATTERN,
    MATCH_END,
    MATCH_START,
    Conversation,
    SearchHit,
    StoredMessage,
    new_id,
    title_of,
)


class UnknownConversation(UsageError):
    def __init__(self, ref: str):
        super().__init__(f"no conversation {ref!r}", hint="see the ids with: llmcli history list")


class ConversationGone(StoreError):
    """The conversation being written to was deleted meanwhile (`history rm` in another terminal)."""


class AmbiguousConversation(UsageError):
    def __init__(self, ref: str, candidates: list[str]):
        shown = ", ".join(candidates[:10]) + (", ..." if len(candidates) > 10 else "")
        super().__init__(
            f"conversation id {ref!r} is ambiguous: {shown}", hint="give more characters of the id"
        )
        self.candidates = candidates


# The columns in the order the records take them (records.py: from_row).
_CONV_COLS = "c.id, c.title, c.created, c.updated, c.profile, c.host, c.model"
_CONV_COUNT = "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), c.kind"
_MSG_COLS = (
    "id, conversation_id, role, content, reasoning, model, params, status, error, finish_reason, "
    "prompt_tokens, completion_tokens, total_tokens, usage_estimated, ttft_s, total_s, tokens_per_s, created, "
    "attachments"
)


def _system_prompt(conn: sqlite3.Connection, conv_id: str) -> str | None:
    """The system prompt in force in a conversation: its latest system message."""
    rows = conn.execute(
        "SELECT content FROM messages WHERE conversation_id = ? AND role = 'system' ORDER BY id DESC LIMIT 1",
        (conv_id,),
    ).fetchall()
    return rows[0][0] if rows else None


class Store:
    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        timeout: float = BUSY_TIMEOUT_S,
        identity: tuple[int, int] | None = None,
    ):
        self._conn = conn
        self.path = path
        self._timeout = timeout
        self.identity = identity  # (st_dev, st_ino) when opened: see db.move_aside

    # --- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            with transaction(self._conn) as conn:
                yield conn
        except sqlite3.Error as exc:
            raise wrap(exc, self.path, self._timeout) from None

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise wrap(exc, self.path, self._timeout) from None

    # --- conversations -------------------------------------------------------------------------

    def _insert_conversation(
        self,
        conn: sqlite3.Connection,
        title: str,
        profile: str | None,
        host: str | None,
        model: str | None,
        kind: str = "chat",
    ) -> str:
        now = utc_now()
        for _ in range(5):
            conv_id = new_id()
            try:
                conn.execute(
                    "INSERT INTO conversations (id, title, created, updated, profile, host, model, kind)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (conv_id, title_of(title), now, now, profile, host, model, kind),
                )
                return conv_id
            except sqlite3.IntegrityError:
                continue  # the same id drawn twice in one millisecond: draw again
        raise StoreError("could not allocate a conversation id")

    def get(self, conv_id: str) -> Conversation | None:
        rows = self._read(
            f"SELECT {_CONV_COLS}, {_CONV_COUNT} FROM conversations c WHERE c.id = ?", (conv_id,)
        )
        return Conversation.from_row(rows[0]) if rows else None

    def conversations(self, limit: int | None = None, *, kind: str | None = None) -> list[Conversation]:
        """Newest activity first (only those of `kind` when given)."""
        # Two writes in the same millisecond tie on `updated`: the later message id decides.
        where = " WHERE c.kind = ?" if kind is not None else ""
        args: tuple = (kind,) if kind is not None else ()
        sql = (
            f"SELECT {_CONV_COLS}, {_CONV_COUNT} FROM conversations c{where} ORDER BY c.updated DESC,"
            " (SELECT max(m.id) FROM messages m WHERE m.conversation_id = c.id) DESC, c.id DESC"
        )
        if limit is not None and limit > 0:
            sql += " LIMIT ?"
            args = (*args, limit)
        return [Conversation.from_row(r) for r in self._read(sql, args)]

    def latest_conversation(self, *, kind: str | None = None) -> Conversation | None:
        found = self.conversations(limit=1, kind=kind)
        return found[0] if found else None

    def resolve(self, ref: str) -> Conversation:
        """A full id or a unique prefix of one."""
        key = ref.strip().lower()
        if not key or not ID_PATTERN.match(key):
            raise UnknownConversation(ref)
        exact = self.get(key)
        if exact is not None:
            return exact
        rows = self._read(
            "SELECT id FROM conversations WHERE id >= ? AND id < ? ORDER BY id LIMIT 11", (key, key + "~")
        )
        if not rows:
            raise UnknownConversation(ref)
        if len(rows) > 1:
            raise AmbiguousConversation(ref, [r[0] for r in rows])
        conv = self.get(rows[0][0])
        if conv is None:  # deleted between the two reads
            raise UnknownConversation(ref)
        return conv

    def delete(self, conv_ids: Iterable[str]) -> int:
        ids = list(dict.fromkeys(conv_ids))
        with self._write() as conn:
            n = 0
            for conv_id in ids:
                n += conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,)).rowcount
            self._purge(conn)
        self._checkpoint()
        return n

    def delete_all(self) -> int:
        with self._write() as conn:
            n = conn.execute("DELETE FROM conversations").rowcount
            self._purge(conn)
        self._checkpoint()
        return n

    @staticmethod
    def _purge(conn: sqlite3.Connection) -> None:
        # Messages go with their conversation (ON DELETE CASCADE); merging the search index drops
        # the deleted messages' words from it instead of leaving them in old index segments.
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")

    def _checkpoint(self) -> None:
        # Deleted text should not linger in the WAL either; best effort (a reader may hold it).
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            pass

    # --- messages ------------------------------------------------------------------------------

    def _insert_message(self, conn: sqlite3.Connection, conv_id: str, role: str, **fields: Any) -> int:
        fields.setdefault("created", utc_now())
        status = fields.get("status", "complete")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if isinstance(fields.get("params"), Mapping):
            fields["params"] = json.dumps(fields["params"], ensure_ascii=False, sort_keys=True)
        if fields.get("attachments") is not None:
            fields["attachments"] = json.dumps(fields["attachments"], ensure_ascii=False)
        cols = ["conversation_id", "role", *fields]
        cur = conn.execute(
            f"INSERT INTO messages ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            (conv_id, role, *fields.values()),
        )
        model = fields.get("model")
        conn.execute(
            "UPDATE conversations SET updated = ?, model = coalesce(?, model) WHERE id = ?",
            (fields["created"], model, conv_id),
        )
        if cur.lastrowid is None:  # pragma: no cover
            raise StoreError("no row id for a new message")
        return cur.lastrowid

    def _require(self, conn: sqlite3.Connection, conv_id: str) -> None:
        if not conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)).fetchall():
            raise ConversationGone(f"conversation {conv_id} no longer exists (deleted meanwhile)")

    def start_exchange(
        self,
        conv_id: str | None,
        prompt: str,
        *,
        system: str | None = None,
        profile: str | None = None,
        host: str | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        kind: str = "chat",
        attachments: list[dict[str, Any]] | None = None,
    ) -> tuple[str, int]:
        """Before the request: the conversation (when conv_id is None), the system prompt (when new
        or changed), and the user's turn, in one transaction. Returns (conversation id, message id).
        `attachments`: the records of what went with the turn (core.attachments: no image bytes)."""
        with self._write() as conn:
            if conv_id is None:
                conv_id = self._insert_conversation(conn, prompt, profile, host, model, kind)
            else:
                self._require(conn, conv_id)
            if system and system != _system_prompt(conn, conv_id):
                self._insert_message(conn, conv_id, "system", content=system)
            msg_id = self._insert_message(
                conn,
                conv_id,
                "user",
                content=prompt,
                model=model,
                params=dict(params or {}),
                attachments=list(attachments) if attachments else None,
            )
        return conv_id, msg_id

    def add_assistant_message(
        self,
        conv_id: str,
        *,
        content: str,
        reasoning: str = "",
        model: str | None = None,
        status: str = "complete",
        error: str | None = None,
        finish_reason: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        usage_estimated: bool = False,
        ttft_s: float | None = None,
        total_s: float | None = None,
        tokens_per_s: float | None = None,
    ) -> int:
        with self._write() as conn:
            self._require(conn, conv_id)
            return self._insert_message(
                conn,
                conv_id,
                "assistant",
                content=content,
                reasoning=reasoning,
                model=model,
                status=status,
                error=error,
                finish_reason=finish_reason,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=total_tokens,
                usage_estimated=int(usage_estimated),
                ttft_s=ttft_s,
                total_s=total_s,
                tokens_per_s=tokens_per_s,
            )

    def drop_last_exchange(self, conv_id: str) -> bool:
        """Delete the latest user turn and what followed it (its answer). When no turn is left the
        conversation goes too; returns whether it still exists."""
        with self._write() as conn:
            last = conn.execute(
                "SELECT max(id) FROM messages WHERE conversation_id = ? AND role = 'user'", (conv_id,)
            ).fetchall()[0][0]
            if last is not None:
                conn.execute("DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (conv_id, last))
            left = conn.execute(
                "SELECT count(*) FROM messages WHERE conversation_id = ? AND role != 'system'", (conv_id,)
            ).fetchall()[0][0]
            if left == 0:
                conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))
                return False
            return True

    def messages(self, conv_id: str) -> list[StoredMessage]:
        rows = self._read(
            f"SELECT {_MSG_COLS} FROM messages WHERE conversation_id = ? ORDER BY id", (conv_id,)
        )
        return [StoredMessage.from_row(r) for r in rows]

    def system_prompt(self, conv_id: str) -> str | None:
        try:
            return _system_prompt(self._conn, conv_id)
        except sqlite3.Error as exc:
            raise wrap(exc, self.path, self._timeout) from None

    def messages_for_request(self, conv_id: str) -> list[Message]:
        """The earlier turns to send before a new prompt (the rule is in the module docstring)."""
        stored = self.messages(conv_id)
        out: list[Message] = []
        system = self.system_prompt(conv_id)
        if system:
            out.append(Message("system", system))
        waiting: StoredMessage | None = None
        for m in stored:
            if m.role == "user":
                waiting = m  # a user turn still waiting from before had no answer: it is dropped
            elif m.role == "assistant":
                if waiting is not None and m.content:
                    # attachments as stored records: core.attachments.restore_messages makes them sendable
                    out.append(Message("user", waiting.content, tuple(waiting.attachments or ())))
                    out.append(Message("assistant", m.content))
                waiting = None
        return out

    # --- search --------------------------------------------------------------------------------

    def search(self, text: str, limit: int = 20) -> list[SearchHit]:
        """Messages matching every word of `text` (stemmed, case and accent blind), best first."""
        words = text.split()
        if not words:
            raise UsageError("nothing to search for", hint='llmcli history search "some words"')
        # Each word becomes a quoted FTS5 string, so punctuation in user input is never query syntax.
        query = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = self._read(
            "SELECT m.conversation_id, c.title, m.id, m.role, m.created,"
            f" snippet(messages_fts, 0, '{MATCH_START}', '{MATCH_END}', '…', 16)"
            " FROM messages_fts"
            " JOIN messages m ON m.id = messages_fts.rowid"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE messages_fts MATCH ? ORDER BY rank, m.id DESC LIMIT ?",
            (query, max(1, limit)),
        )
        return [SearchHit(*r) for r in rows]


def open_store(
    path: Path,
    *,
    create: bool = True,
    notice: Callable[[str], None] | None = None,
    timeout: float = BUSY_TIMEOUT_S,
) -> Store | None:
    """The store at `path` (created private and migrated); None when create=False and no file exists.

    A damaged file is moved aside (`notice` says where) and a new one started.
    """
    opened = connect(path, create=create, timeout=timeout, notice=notice)
    if opened is None:
        return None
    conn, identity = opened
    return Store(conn, path, timeout, identity)

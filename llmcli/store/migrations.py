"""The schema, as an ordered list of migrations. Append only: never edit one that has shipped.

Each migration is a list of single SQL statements (run one by one inside one `BEGIN IMMEDIATE`
transaction: `executescript` would commit on its own). Version N is `MIGRATIONS[N - 1]`; the versions
applied to a file are rows of `schema_migrations`.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a message's status may be. v1 knew the first five; v3 added `filtered` (the provider stopped the
# answer: a content filter, or a finish reason other than stop/length).
_V1_STATUSES = ("complete", "length", "interrupted", "error", "cut")
STATUSES = (*_V1_STATUSES, "filtered")
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_V1_STATUS_LIST = ", ".join(f"'{s}'" for s in _V1_STATUSES)
_STATUS_LIST = ", ".join(f"'{s}'" for s in STATUSES)
_ROLE_LIST = ", ".join(f"'{r}'" for r in ROLES)

# v1: conversations and their messages.
_V1 = (
    """
    CREATE TABLE conversations (
        id       TEXT PRIMARY KEY,
        title    TEXT NOT NULL DEFAULT '',
        created  TEXT NOT NULL,          -- ISO 8601 UTC
        updated  TEXT NOT NULL,
        profile  TEXT,
        host     TEXT,                   -- host[:port] of the base URL: never userinfo, path or query
        model    TEXT                    -- the model of the latest answer
    )
    """,
    "CREATE INDEX conversations_by_updated ON conversations (updated, id)",
    f"""
    CREATE TABLE messages (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id   TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        role              TEXT NOT NULL CHECK (role IN ({_ROLE_LIST})),
        content           TEXT NOT NULL DEFAULT '',
        reasoning         TEXT NOT NULL DEFAULT '',
        model             TEXT,
        params            TEXT,          -- JSON: the request's parameters (user turns)
        status            TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ({_V1_STATUS_LIST})),
        error             TEXT,
        finish_reason     TEXT,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        total_tokens      INTEGER,
        usage_estimated   INTEGER NOT NULL DEFAULT 0,
        ttft_s            REAL,
        total_s           REAL,
        tokens_per_s      REAL,
        created           TEXT NOT NULL
    )
    """,
    "CREATE INDEX messages_by_conversation ON messages (conversation_id, id)",
)

# v2: full-text search over message text, kept in step with `messages` by triggers.
_V2 = (
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        content, content = 'messages', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END
    """,
    """
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END
    """,
    """
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END
    """,
    # index what earlier versions stored
    "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
)

# v3: what kind of exchange a conversation holds: chat (ask, chat) or a legacy text completion
# (`llmcli complete`: the user turn is the prompt, the assistant turn the text the model added).
KINDS = ("chat", "completion")
_KIND_LIST = ", ".join(f"'{k}'" for k in KINDS)
_V3 = (
    f"ALTER TABLE conversations ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ({_KIND_LIST}))",
)

# v4: what went with a user turn (-f): JSON, a list of core.attachments records — the text of text
# files, and for images a reference (path or URL, MIME type, size, sha256), never the image's bytes.
_V4 = ("ALTER TABLE messages ADD COLUMN attachments TEXT",)

# v5: the `filtered` status. SQLite cannot change a CHECK constraint in place, so the messages table is
# rebuilt (SQLite's documented procedure): a new table, the rows copied with their ids (the search
# index is keyed by them and stays valid), the old table dropped with its triggers, the new one renamed.
_MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, reasoning, model, params, status, error, finish_reason, "
    "prompt_tokens, completion_tokens, total_tokens, usage_estimated, ttft_s, total_s, tokens_per_s, created, "
    "attachments"
)
_V5 = (
    _V1[2]
    .replace("CREATE TABLE messages (", "CREATE TABLE messages_v5 (")
    .replace(f"CHECK (status IN ({_V1_STATUS_LIST}))", f"CHECK (status IN ({_STATUS_LIST}))"),
    _V4[0].replace("ALTER TABLE messages ", "ALTER TABLE messages_v5 "),
    f"INSERT INTO messages_v5 ({_MESSAGE_COLUMNS}) SELECT {_MESSAGE_COLUMNS} FROM messages",
    # AUTOINCREMENT's high-water mark too: ids of deleted messages are never given out again.
    "UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence"
    " WHERE name = 'messages')) WHERE name = 'messages_v5'",
    "DROP TRIGGER messages_fts_insert",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_update",
    "DROP TABLE messages",
    "ALTER TABLE messages_v5 RENAME TO messages",
    _V1[3],  # the index went with the old table
    *_V2[1:4],  # the triggers that keep the search index in step
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "conversations and messages", _V1),
    Migration(2, "full-text search", _V2),
    Migration(3, "conversation kind", _V3),
    Migration(4, "attachments", _V4),
    Migration(5, "status 'filtered'", _V5),
)

LATEST = MIGRATIONS[-1].version

"""What the history holds, as records: conversations, messages, search hits, and the JSON documents
`history show --format json` and `history export` write of them (the export format). Ids and titles
are made here too. Standard library only; the SQL that reads and writes them is `history.py`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: no i, l, o, u
ID_PATTERN = re.compile(r"^[0-9a-z]+$")
TITLE_MAX = 60
# Markers around matches in search snippets (control characters never appear in stored text from a
# prompt in a way that matters here; the commands turn them into styling or `**`).
MATCH_START, MATCH_END = "\x02", "\x03"


def new_id(now_ms: int | None = None) -> str:
    """16 characters: 9 of time in ms (so ids sort by creation), 7 random (35 bits)."""
    t = int(time.time() * 1000) if now_ms is None else now_ms
    head = []
    for _ in range(9):
        t, r = divmod(t, 32)
        head.append(_ALPHABET[r])
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(7))
    return "".join(reversed(head)) + tail


def title_of(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1].rstrip() + "…"


@dataclass(slots=True)
class Conversation:
    id: str
    title: str
    created: str
    updated: str
    profile: str | None
    host: str | None
    model: str | None
    messages: int = 0
    kind: str = "chat"  # or "completion" (llmcli complete)

    @classmethod
    def from_row(cls, row: tuple) -> Conversation:
        """id, title, created, updated, profile, host, model[, number of messages[, kind]]."""
        return cls(
            *row[:7],
            messages=int(row[7]) if len(row) > 7 else 0,
            kind=row[8] if len(row) > 8 and row[8] else "chat",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "model": self.model,
            "created": self.created,
            "updated": self.updated,
            "messages": self.messages,
            "profile": self.profile,
            "host": self.host,
            "kind": self.kind,
        }


@dataclass(slots=True)
class StoredMessage:
    id: int
    conversation_id: str
    role: str
    content: str
    reasoning: str
    model: str | None
    params: dict[str, Any] | None
    status: str
    error: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    usage_estimated: bool
    ttft_s: float | None
    total_s: float | None
    tokens_per_s: float | None
    created: str
    attachments: list[dict[str, Any]] | None = None  # user turns: core.attachments records

    @classmethod
    def from_row(cls, row: tuple) -> StoredMessage:
        """The columns in the order of the fields above; params and attachments as JSON text,
        usage_estimated as 0/1."""
        values = list(row)
        values[6] = json.loads(values[6]) if values[6] else None
        values[13] = bool(values[13])
        if len(values) > 18:
            values[18] = json.loads(values[18]) if values[18] else None
        return cls(*values)

    def to_dict(self) -> dict[str, Any]:
        answer = self.role == "assistant"
        return {
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "error": self.error,
            "reasoning": self.reasoning or None,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "params": self.params,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens,
                "estimated": self.usage_estimated,
            }
            if answer
            else None,
            "timing": {"ttft_s": self.ttft_s, "total_s": self.total_s, "tokens_per_s": self.tokens_per_s}
            if answer
            else None,
            "created": self.created,
            # what went with a user turn: text files with their text, images as references
            "attachments": self.attachments or [],
        }


@dataclass(slots=True)
class SearchHit:
    conversation_id: str
    title: str
    message_id: int
    role: str
    created: str
    snippet: str  # matches wrapped in MATCH_START / MATCH_END


def conversation_doc(conv: Conversation, messages: Sequence[StoredMessage]) -> dict[str, Any]:
    """One conversation with its messages: `history show --format json`, one line of `history export`."""
    doc = conv.to_dict()
    doc["messages"] = [m.to_dict() for m in messages]
    return doc

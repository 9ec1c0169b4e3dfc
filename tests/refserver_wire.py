"""Streamed bodies byte by byte, for wire framing the reference server's switches cannot make: SSE
`event:`/`id:` fields, empty `data:` heartbeats, JSON escapes the server's own encoder would never
write (half a surrogate pair), tool-call deltas. Use as `Scenario(raw_stream=stream(...))`.

Must not import llmcli (like refserver.py).
"""

from __future__ import annotations

import json
from typing import Any


def chunk(content: str | None = None, *, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    """One `chat.completion.chunk` with a content delta (and/or other delta fields) or a finish reason."""
    d = dict(delta)
    if content is not None:
        d["content"] = content
    return {
        "id": "chatcmpl-wire",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "ref-model",
        "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}],
    }


def event(data: Any, *, name: str | None = None, id: str | None = None, ascii_json: bool = True) -> bytes:
    """One SSE event; `data` as JSON unless it is a str (sent as it is)."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if name is not None:
        lines.append(f"event: {name}")
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=ascii_json)
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8", "surrogatepass")


DONE = b"data: [DONE]\n\n"


def stream(*parts: bytes | dict[str, Any] | str, done: bool = True) -> list[bytes]:
    """SSE pieces: bytes as they are, a dict as a data event (JSON, \\u escapes), a str as a data line."""
    out = [p if isinstance(p, bytes) else event(p) for p in parts]
    if done:
        out.append(DONE)
    return out


def answer(*pieces: str, finish: str = "stop") -> list[bytes]:
    """A well-formed stream of these content pieces, then the finish reason and [DONE]."""
    return stream(chunk("", role="assistant"), *(chunk(p) for p in pieces), chunk(finish=finish))

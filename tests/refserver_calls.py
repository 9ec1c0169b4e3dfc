"""The reference server's legacy completions (`/completions`) and embeddings (`/embeddings`).

Registered into refserver.EXTRA_ENDPOINTS on import. The same Scenario switches apply as for chat
where they make sense: text/chunks, finish_reason, usage, delay_first/delay_between, cut_after,
error_after, status (handled before these run). Must not import llmcli.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import secrets
import time
from typing import Any

from fastapi.responses import Response, StreamingResponse
from refserver import EXTRA_ENDPOINTS, Scenario, _AbortConnection, error_json, split_words


def _json(status: int, obj: Any, extra: dict[str, str]) -> Response:
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content=data, status_code=status, headers={**extra, "content-type": "application/json"})


def _bad(body: Any, body_ok: bool, extra: dict[str, str], field: str) -> Response | None:
    if not body_ok or not isinstance(body, dict):
        return _json(
            400,
            error_json("We could not parse the JSON body of your request.", "invalid_request_error"),
            extra,
        )
    if not isinstance(body.get("model"), str):
        return _json(
            400,
            error_json("you must provide a model parameter", "invalid_request_error", None, "model"),
            extra,
        )
    if field not in body:
        return _json(
            400,
            error_json(f"Missing required parameter: '{field}'.", "invalid_request_error", None, field),
            extra,
        )
    return None


def _logprobs(piece: str, offset: int, n: int) -> dict[str, Any]:
    """OpenAI's legacy form, one token: parallel lists."""
    return {
        "tokens": [piece],
        "token_logprobs": [-0.25],
        "top_logprobs": [{piece: -0.25, **{f"alt{i}": -1.0 - i for i in range(max(0, n - 1))}}],
        "text_offset": [offset],
    }


def completions(server: Any, sc: Scenario, extra: dict[str, str], body: Any, body_ok: bool) -> Response:
    bad = _bad(body, body_ok, extra, "prompt")
    if bad is not None:
        return bad
    prompt = body["prompt"] if isinstance(body["prompt"], str) else json.dumps(body["prompt"])
    pieces = list(sc.chunks) if sc.chunks is not None else split_words(sc.text)
    if body.get("echo"):
        pieces = [prompt, *pieces]
    n_logprobs = body.get("logprobs")
    want_logprobs = isinstance(n_logprobs, int) and not isinstance(n_logprobs, bool)
    cid = "cmpl-" + secrets.token_hex(8)
    model = sc.model or body["model"]
    created = int(time.time())
    usage = {
        "prompt_tokens": len(prompt.split()),
        "completion_tokens": len(pieces),
        "total_tokens": len(prompt.split()) + len(pieces),
    }

    def choice(text: str, offset: int, finish: str | None) -> dict[str, Any]:
        lp = _logprobs(text, offset, n_logprobs) if want_logprobs and text else None
        return {"text": text, "index": 0, "logprobs": lp, "finish_reason": finish}

    if body.get("stream") is not True:
        text = "".join(pieces)
        lp = None
        if want_logprobs:
            lp = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
            offset = 0
            for p in pieces:
                for k, v in _logprobs(p, offset, n_logprobs).items():
                    lp[k] += v
                offset += len(p)
        out = {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": lp, "finish_reason": sc.finish_reason}],
        }
        if sc.usage is not False:
            out["usage"] = usage
        return _json(200, out, extra)

    opts = body.get("stream_options")
    include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))

    def event(obj: Any) -> bytes:
        return f"data: {json.dumps(obj, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()

    def chunk(text: str, offset: int, finish: str | None) -> dict[str, Any]:
        return {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [choice(text, offset, finish)],
        }

    async def stream():
        if sc.delay_first:
            await asyncio.sleep(sc.delay_first)
        offset = 0
        for i, piece in enumerate(pieces):
            if sc.cut_after == i:
                raise _AbortConnection("cut_after")
            if sc.error_after == i:
                yield event({"error": {"message": sc.error_message, "type": "server_error"}})
                return
            if i and sc.delay_between:
                await asyncio.sleep(sc.delay_between)
            yield event(chunk(piece, offset, None))
            offset += len(piece)
        if sc.cut_after is not None and sc.cut_after >= len(pieces):
            raise _AbortConnection("cut_after")
        yield event(chunk("", offset, sc.finish_reason))
        if include_usage and sc.usage is not False:
            yield event(
                {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        if sc.send_done:
            yield b"data: [DONE]\n\n"

    headers = {**extra, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
    return StreamingResponse(stream(), status_code=200, headers=headers)


def vector_for(text: str, dims: int = 8) -> list[float]:
    """A deterministic unit vector for a text (tests compare against it)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


def embeddings(server: Any, sc: Scenario, extra: dict[str, str], body: Any, body_ok: bool) -> Response:
    bad = _bad(body, body_ok, extra, "input")
    if bad is not None:
        return bad
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    if any(not isinstance(t, str) or not t for t in texts):
        return _json(
            400,
            error_json("'$.input' is invalid: empty strings are not allowed", "invalid_request_error"),
            extra,
        )
    dims = body.get("dimensions") or 8
    data = [
        {"object": "embedding", "index": i, "embedding": vector_for(t, dims)} for i, t in enumerate(texts)
    ]
    tokens = sum(len(t.split()) for t in texts)
    out = {
        "object": "list",
        # Out of order on purpose: clients must sort by index.
        "data": list(reversed(data)),
        "model": sc.model or body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return _json(200, out, extra)


EXTRA_ENDPOINTS["/embeddings"] = embeddings
EXTRA_ENDPOINTS["/completions"] = completions

"""Wire → events: what the server sends (JSON chunks, whole completions, model lists) as core.types.

Both transports feed what they read through the functions here, so the same bytes on the wire give the
same events whichever one is chosen; `StreamTracker` decides, the same way for both, whether a stream
ended properly. No heavy imports.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..core.credentials import scrub
from ..core.types import (
    ChatEvent,
    ChatResult,
    Embeddings,
    Finished,
    Logprobs,
    ModelInfo,
    ModelSeen,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from ..errors import IncompleteAnswer, RequestRejected, TransportError
from .sse import SSEParser
from .status import html_page, is_html, json_error_on_stream, network_error, not_json, server_message

REASONING_FIELDS = ("reasoning_content", "reasoning")


_CLASS_HAS: dict[tuple[type, str], bool] = {}


def _class_has(cls: type, key: str) -> bool:
    """Whether `cls` defines `key` itself (a property, a method): looked up once per type and name."""
    found = _CLASS_HAS.get((cls, key))
    if found is None:
        found = _CLASS_HAS[(cls, key)] = any(key in vars(k) for k in cls.__mro__)
    return found


def read_field(obj: Any, key: str) -> Any:
    """Read a field from a JSON dict or from an SDK model (whose unknown fields live in model_extra)."""
    if type(obj) is dict:  # the hot path: one call per field of every chunk
        return obj.get(key)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    # An SDK (pydantic) model keeps its declared fields in __dict__ and the undeclared ones in
    # __pydantic_extra__: read them there. getattr of a missing name goes through pydantic's
    # __getattr__ and an AttributeError, which cost more per chunk than the rest of this together.
    fields = getattr(obj, "__dict__", None)
    if fields is not None and not _class_has(type(obj), key):  # (a property or class attribute: getattr)
        if key in fields:
            return fields[key]
        extra = getattr(obj, "__pydantic_extra__", None)
        if type(extra) is dict:
            return extra.get(key)
    value = getattr(obj, key, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if extra:
            value = extra.get(key)
    return value


def chunk_events(chunk: Any, tracker: StreamTracker | None = None) -> Iterable[ChatEvent]:
    """The events in one `chat.completion.chunk` (a dict from JSON, or the SDK's model).

    With a tracker, the model id is reported only when it changes, not once per chunk.
    """
    if type(chunk) is dict:
        return _dict_chunk_events(chunk, tracker)
    return _model_chunk_events(chunk, tracker)


def _model_chunk_events(chunk: Any, tracker: StreamTracker | None) -> Iterator[ChatEvent]:
    model = read_field(chunk, "model")
    if model and (tracker is None or model != tracker.model):
        if tracker is not None:
            tracker.model = model
        yield ModelSeen(model)
    choices = read_field(chunk, "choices")
    if choices:
        for choice in choices:
            if (read_field(choice, "index") or 0) != 0:
                continue  # n > 1 is not something a terminal client shows
            delta = read_field(choice, "delta")
            if delta is not None:
                for name in REASONING_FIELDS:
                    reasoning = read_field(delta, name)
                    if reasoning and isinstance(reasoning, str):
                        yield ReasoningDelta(reasoning)
                        break
                content = read_field(delta, "content")
                if content and isinstance(content, str):
                    yield TextDelta(content)
            reason = read_field(choice, "finish_reason")
            if reason:
                yield Finished(str(reason), model)
    usage = read_field(chunk, "usage")
    if usage:
        yield usage_from(usage)


def _dict_chunk_events(chunk: dict, tracker: StreamTracker | None) -> list[ChatEvent]:
    """chunk_events for parsed JSON, written out: it runs once per token of every answer (a list, not a
    generator: a generator's set-up costs more than the one event a chunk usually holds)."""
    events: list[ChatEvent] = []
    model = chunk.get("model")
    if model and (tracker is None or model != tracker.model):
        if tracker is not None:
            tracker.model = model
        events.append(ModelSeen(model))
    choices = chunk.get("choices")
    if choices and type(choices) is list:
        for choice in choices:
            if type(choice) is not dict or (choice.get("index") or 0) != 0:
                continue
            delta = choice.get("delta")
            if type(delta) is dict:
                if "reasoning_content" in delta or "reasoning" in delta:
                    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                    if reasoning and type(reasoning) is str:
                        events.append(ReasoningDelta(reasoning))
                content = delta.get("content")
                if content and type(content) is str:
                    events.append(TextDelta(content))
            reason = choice.get("finish_reason")
            if reason:
                events.append(Finished(str(reason), model))
    if chunk.get("usage"):
        events.append(usage_from(chunk["usage"]))
    return events


def usage_from(usage: Any) -> Usage:
    def num(key: str) -> int | None:
        v = read_field(usage, key)
        return int(v) if isinstance(v, int | float) else None

    return Usage(num("prompt_tokens"), num("completion_tokens"), num("total_tokens"))


def result_from_completion(body: Any) -> ChatResult:
    """A non-streamed `chat.completion` (dict or SDK model) → ChatResult."""
    choices = read_field(body, "choices") or []
    if not choices:
        raise ValueError("no choices")
    choice = choices[0]
    message = read_field(choice, "message") or {}
    content = read_field(message, "content") or ""
    reasoning = ""
    for name in REASONING_FIELDS:
        value = read_field(message, name)
        if isinstance(value, str) and value:
            reasoning = value
            break
    usage = read_field(body, "usage")
    return ChatResult(
        content=content if isinstance(content, str) else str(content),
        reasoning=reasoning,
        finish_reason=read_field(choice, "finish_reason"),
        usage=usage_from(usage) if usage else None,
        model=read_field(body, "model"),
    )


def result_events(result: ChatResult) -> Iterator[ChatEvent]:
    """A whole answer as the events a stream would have given."""
    if result.reasoning:
        yield ReasoningDelta(result.reasoning)
    if result.content:
        yield TextDelta(result.content)
    if result.logprobs:
        yield Logprobs(result.logprobs)
    if result.usage is not None:
        yield result.usage
    yield Finished(result.finish_reason or "stop", result.model)


def stream_error_from(data: Any) -> str | None:
    """The message of an error object sent inside a stream, or None when `data` is not one."""
    if type(data) is dict and "error" not in data:
        return None  # the hot path: an ordinary chunk
    if isinstance(data, Mapping) and data.get("error"):
        err = data["error"]
        if isinstance(err, Mapping):
            return scrub(str(err.get("message") or err.get("type") or "error"))
        return scrub(str(err))
    return None


class StreamTracker:
    """Decides, the same way for both transports, whether a stream ended properly."""

    def __init__(self, host: str):
        self.host = host
        self.saw_done = False
        self.saw_finish = False
        self.saw_data = False
        self.model: str | None = None

    def track(self, event: ChatEvent) -> bool:
        """Note an event; True when it is progress (anything but the model id)."""
        if type(event) is ModelSeen:
            return False
        if type(event) is Finished:
            self.saw_finish = True
        self.saw_data = True  # the answer has begun: from now on a timeout is a stall
        return True

    def error_event(self, message: str) -> IncompleteAnswer:
        message = scrub(message)  # servers echo request details, keys included
        return IncompleteAnswer(
            f"{self.host} reported an error mid-stream: {message}",
            reason="error",
            host=self.host,
            server_message=message,
            hint="the partial answer above is kept; try again",
        )

    def malformed(self, line: str) -> IncompleteAnswer:
        # The same words whichever transport read it (the SDK does not hand over the offending line).
        return IncompleteAnswer(
            f"{self.host} sent data in the stream that is not a JSON chunk",
            reason="cut",
            host=self.host,
            hint="what arrived is kept; check that the base URL is an OpenAI-compatible API, or try --no-stream",
        )

    def cut(self, detail: str = "") -> IncompleteAnswer:
        what = f"{self.host} closed the connection before the answer was complete"
        if detail:
            what += f" ({detail})"
        return IncompleteAnswer(
            what,
            reason="cut",
            host=self.host,
            hint="what arrived is kept; try again",
        )

    def no_answer(self) -> IncompleteAnswer:
        return IncompleteAnswer(
            f"the server at {self.host} closed the stream without sending an answer",
            reason="cut",
            host=self.host,
            hint="try again, or --no-stream",
        )

    def broken(self) -> IncompleteAnswer:
        """The connection failed while the stream was being read."""
        return self.cut() if self.saw_data else self.no_answer()

    def stalled(self, timeout: float) -> TransportError:
        """--timeout passed without progress: before the answer began that is a timeout (6), after, a stall (7)."""
        if not self.saw_data:
            return network_error(self.host, TimeoutError("Timeout"), timeout=timeout)
        return IncompleteAnswer(
            f"the answer from {self.host} stalled: nothing new for {timeout:g} s",
            reason="cut",
            host=self.host,
            hint="the partial answer is kept; raise --timeout for slow servers",
        )

    def finish(self) -> None:
        """Call when the stream ended without an exception."""
        if not self.saw_data:
            raise self.no_answer()
        if not (self.saw_done or self.saw_finish):
            raise self.cut("no [DONE] and no finish_reason")


def sse_chat_events(
    pieces: Iterable[bytes],
    tracker: StreamTracker,
    progress: Callable[[], None],
    events_of: Callable[[Any, StreamTracker], Iterable[ChatEvent]] | None = None,
) -> Iterator[ChatEvent]:
    """An event stream's network reads → chat events, by the rules of a chat stream. Both transports
    read their raw response through here, so they give the same answer for every stream.

    An event with no data (a heartbeat, an `id:`-only event) is skipped and is not progress; an
    `event: error` ends the stream with the server's words, whether its data is JSON or plain text;
    `[DONE]` ends it properly; any other data must be a JSON chunk (an error object in one ends it too).
    `progress()` is called for real progress (see StreamTracker.track). `events_of` turns a chunk into
    events (chunk_events for chat, text_chunk_events for legacy completions).

    This is the hot path, once per token: a whole network read is decoded once (an event stream is
    always UTF-8 — the SSE standard; a `charset` in the content type is ignored, as browsers do; bytes
    that are not UTF-8 become U+FFFD), split into events and parsed here, with no per-line or per-event
    generator between the socket and the caller. At the end of the body, a line without its line end
    (or half a character) completes no event.
    """
    events_of = events_of or chunk_events
    decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
    parser = SSEParser()
    loads = fast_json_reader()
    track = tracker.track
    for piece in pieces:
        for kind, data, _id, _retry in parser.feed(decode(piece)):
            stripped = data.strip()
            if not stripped:
                continue  # an empty event is not progress
            if kind == "error":  # the server's words, whether the data is JSON or plain text
                raise tracker.error_event(server_message(data) or "error")
            if stripped == "[DONE]":
                tracker.saw_done = tracker.saw_data = True
                return
            try:
                chunk = loads(data)
            except ValueError:
                chunk = parse_json_chunk(data, tracker)  # json.loads, or malformed
            message = stream_error_from(chunk)
            if message is not None:
                raise tracker.error_event(message)
            for event in events_of(chunk, tracker):
                if track(event):
                    progress()
                yield event


def not_a_stream(
    raw: bytes,
    content_type: str,
    tracker: StreamTracker,
    result_of: Callable[[Any], ChatResult] | None = None,
) -> Iterator[ChatEvent]:
    """A stream was asked for and a whole body came back (read in full): a completion from a server
    that ignores stream=true is the answer; an error object, an HTML page, nothing, or anything else
    is said as what it is."""
    ctype = content_type.lower()
    if "json" in ctype:
        try:
            data = json.loads(raw)
        except ValueError:
            raise not_json(tracker.host, "a response", content_type, raw) from None
        if isinstance(data, dict) and data.get("choices"):  # the server ignored stream=true: take it whole
            yield from result_events((result_of or result_from_completion)(data))
            return
        raise json_error_on_stream(tracker.host, server_message(raw, ctype))
    if is_html(raw, ctype):
        raise html_page(tracker.host, raw, ctype)
    if not raw.strip():
        tracker.finish()  # raises: nothing was sent
    raise tracker.malformed(raw.decode("utf-8", "replace")[:80])


def parse_json_chunk(data: str, tracker: StreamTracker) -> Any:
    """json.loads, or the stream's "not a JSON chunk" error. (The hot path tries fast_json_reader()
    first and comes here only with what it refused: see json_loads.)"""
    try:
        return json.loads(data)
    except ValueError:
        raise tracker.malformed(data) from None


def fast_json_reader() -> Callable[[str], Any]:
    """orjson.loads (a fifth of json.loads' cost per chunk), or json.loads without orjson.

    orjson refuses some JSON that json.loads reads (a lone surrogate such as "\ud83d", NaN/Infinity,
    1e400): what it refuses goes to json.loads, and only what json.loads refuses too is malformed. One
    difference remains: orjson reads an integer beyond 64 bits as a float rather than refusing it."""
    try:
        import orjson
    except ImportError:  # orjson is a dependency, but a platform without a wheel can still run llmcli
        return json.loads
    return orjson.loads


def json_loads() -> Callable[[str], Any]:
    """A function that reads JSON as json.loads does (see fast_json_reader), raising ValueError
    exactly where json.loads does."""
    fast, slow = fast_json_reader(), json.loads

    def loads(text: str) -> Any:
        try:
            return fast(text)
        except ValueError:
            return slow(text)

    return loads


def model_infos(data: Any) -> list[ModelInfo]:
    items = read_field(data, "data")
    if items is None and isinstance(data, list):
        items = data
    out = []
    for item in items or ():
        raw = item if isinstance(item, Mapping) else item.model_dump()
        mid = raw.get("id")
        if not mid:
            continue
        created = raw.get("created")
        out.append(
            ModelInfo(
                id=str(mid),
                owned_by=raw.get("owned_by"),
                created=created if isinstance(created, int) else None,
                raw=dict(raw),
            )
        )
    return out


# --- legacy text completions (/completions) ------------------------------------------------------


def text_chunk_events(chunk: Any, tracker: StreamTracker | None = None) -> Iterator[ChatEvent]:
    """The events in one `text_completion` chunk: `choices[0].text`, its logprobs, finish and usage."""
    model = read_field(chunk, "model")
    if model and (tracker is None or model != tracker.model):
        if tracker is not None:
            tracker.model = model
        yield ModelSeen(model)
    for choice in read_field(chunk, "choices") or ():
        if (read_field(choice, "index") or 0) != 0:
            continue
        text = read_field(choice, "text")
        if text and isinstance(text, str):
            yield TextDelta(text)
        logprobs = read_field(choice, "logprobs")
        if logprobs:
            yield Logprobs(_plain(logprobs))
        reason = read_field(choice, "finish_reason")
        if reason:
            yield Finished(str(reason), model)
    usage = read_field(chunk, "usage")
    if usage:
        yield usage_from(usage)


def result_from_text(body: Any) -> ChatResult:
    """A non-streamed `text_completion` (dict or SDK model) → ChatResult."""
    choices = read_field(body, "choices") or []
    if not choices:
        raise ValueError("no choices")
    choice = choices[0]
    text = read_field(choice, "text") or ""
    usage = read_field(body, "usage")
    logprobs = read_field(choice, "logprobs")
    return ChatResult(
        content=text if isinstance(text, str) else str(text),
        finish_reason=read_field(choice, "finish_reason"),
        usage=usage_from(usage) if usage else None,
        model=read_field(body, "model"),
        logprobs=_plain(logprobs) if logprobs else None,
    )


def _plain(value: Any) -> Any:
    """JSON-able data from a dict or an SDK model."""
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value


def merge_logprobs(pieces: list[Any]) -> Any:
    """The logprobs of a streamed answer, one object as a whole answer would carry it.

    OpenAI's legacy form (parallel lists: tokens, token_logprobs, top_logprobs, text_offset) and the
    chat form that llama.cpp and vLLM also use ({"content": [per token]}) are joined list by list;
    anything else is returned as the list of pieces, as sent."""
    if not pieces:
        return None
    if len(pieces) == 1:
        return pieces[0]
    if all(isinstance(p, Mapping) for p in pieces):
        keys = set().union(*(p.keys() for p in pieces))
        if all(isinstance(p.get(k), list) or p.get(k) is None for p in pieces for k in keys):
            return {k: [x for p in pieces for x in (p.get(k) or [])] for k in sorted(keys)}
    return list(pieces)


# --- embeddings (/embeddings) ------------------------------------------------------------------------


def embeddings_from(body: Any, expected: int) -> Embeddings:
    """An `/embeddings` answer → the vectors in input order (by `index`); base64 vectors are decoded."""
    items = read_field(body, "data")
    if not isinstance(items, list) and items is not None:
        items = list(items)
    if not items:
        raise ValueError("no data")
    rows: list[tuple[int, list[float]]] = []
    for pos, item in enumerate(items):
        index = read_field(item, "index")
        vector = read_field(item, "embedding")
        if isinstance(vector, str):
            vector = _from_base64(vector)
        if vector and isinstance(vector[0], list):  # llama.cpp without pooling: one vector per token
            raise ValueError("one vector per token (the server has no pooling)")
        rows.append((index if isinstance(index, int) else pos, [float(x) for x in vector or ()]))
    rows.sort(key=lambda r: r[0])
    if len(rows) != expected or [r[0] for r in rows] != list(range(expected)):
        raise ValueError(f"{len(rows)} vectors for {expected} texts")
    usage = read_field(body, "usage")
    return Embeddings(
        [r[1] for r in rows], model=read_field(body, "model"), usage=usage_from(usage) if usage else None
    )


def _from_base64(text: str) -> list[float]:
    import base64
    import struct

    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def embeddings_or_error(host: str, data: Any, expected: int) -> Embeddings:
    """The vectors of an `/embeddings` answer, or the error it carries (the same for both transports)."""
    message = stream_error_from(data)
    if message is not None:
        raise RequestRejected(
            f"{host} answered with an error: {message}",
            host=host,
            server_message=message,
            hint="check the model and the texts (`llmcli models` lists the models)",
        )
    try:
        return embeddings_from(data, expected)
    except (ValueError, TypeError, AttributeError) as exc:
        raise IncompleteAnswer(
            f"{host} sent embeddings llmcli cannot read: {exc}",
            reason="cut",
            host=host,
            hint="check that the base URL is an OpenAI-compatible API and the model an embedding model",
        ) from None


# Endpoints a server may simply not have: a 405/501 there means "not offered", never worth a retry.
OPTIONAL_ENDPOINTS = {
    "completions": (
        "legacy text completions (/completions)",
        "use `llmcli ask`, or a server that serves base models",
    ),
    "embeddings": (
        "embeddings (/embeddings)",
        "use a server and model that serve embeddings (llama.cpp: start llama-server with --embeddings)",
    ),
}


def not_offered(host: str, path: str, status: int, message: str | None) -> RequestRejected | None:
    """The error for a server that does not offer an optional endpoint (exit 4, not retried), or None."""
    known = OPTIONAL_ENDPOINTS.get(path)
    if known is None or status not in (405, 501):
        return None
    what, hint = known
    said = f": {message}" if message else ""
    return RequestRejected(
        f"{host} does not offer {what} (HTTP {status}){said}",
        host=host,
        status=status,
        server_message=message,
        hint=hint,
    )

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
    Finished,
    ModelInfo,
    ModelSeen,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from ..errors import IncompleteAnswer, TransportError
from .status import html_page, is_html, json_error_on_stream, network_error, not_json, server_message

REASONING_FIELDS = ("reasoning_content", "reasoning")


def read_field(obj: Any, key: str) -> Any:
    """Read a field from a JSON dict or from an SDK model (whose unknown fields live in model_extra)."""
    if type(obj) is dict:  # the hot path: one call per field of every chunk
        return obj.get(key)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    value = getattr(obj, key, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if extra:
            value = extra.get(key)
    return value


def chunk_events(chunk: Any, tracker: StreamTracker | None = None) -> Iterator[ChatEvent]:
    """The events in one `chat.completion.chunk` (a dict from JSON, or the SDK's model).

    With a tracker, the model id is reported only when it changes, not once per chunk.
    """
    if type(chunk) is dict:
        yield from _dict_chunk_events(chunk, tracker)
        return
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


def _dict_chunk_events(chunk: dict, tracker: StreamTracker | None) -> Iterator[ChatEvent]:
    """chunk_events for parsed JSON, written out: it runs once per token of every answer."""
    model = chunk.get("model")
    if model and (tracker is None or model != tracker.model):
        if tracker is not None:
            tracker.model = model
        yield ModelSeen(model)
    choices = chunk.get("choices")
    if choices and type(choices) is list:
        for choice in choices:
            if type(choice) is not dict or (choice.get("index") or 0) != 0:
                continue
            delta = choice.get("delta")
            if type(delta) is dict:
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and type(reasoning) is str:
                    yield ReasoningDelta(reasoning)
                content = delta.get("content")
                if content and type(content) is str:
                    yield TextDelta(content)
            reason = choice.get("finish_reason")
            if reason:
                yield Finished(str(reason), model)
    usage = chunk.get("usage")
    if usage:
        yield usage_from(usage)


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
    events: Iterable[Any], tracker: StreamTracker, progress: Callable[[], None]
) -> Iterator[ChatEvent]:
    """Server-sent events (httpx-sse's: `.event`, `.data`) → chat events, by the rules of a chat stream:

    an event with no data (a heartbeat, an `id:`-only event) is skipped and is not progress; an
    `event: error` ends the stream with the server's words, whether its data is JSON or plain text;
    `[DONE]` ends it properly; any other data must be a JSON chunk (an error object in one ends it too).
    `progress()` is called for real progress (see StreamTracker.track). The sdk transport reads its raw
    response through here, so both transports give the same answer for every stream.
    """
    for sse in events:
        data = sse.data
        if not data.strip():
            continue
        if sse.event == "error":
            raise tracker.error_event(server_message(data) or "error")
        if data.strip() == "[DONE]":
            tracker.saw_done = tracker.saw_data = True
            return
        chunk = parse_json_chunk(data, tracker)
        message = stream_error_from(chunk)
        if message is not None:
            raise tracker.error_event(message)
        for event in chunk_events(chunk, tracker):
            if tracker.track(event):
                progress()
            yield event


def pumped_text(pieces: Iterable[bytes]) -> Iterator[str]:
    """Network reads as text. An event stream is always UTF-8 (the SSE standard; a `charset` in the
    content type is ignored, as browsers do); bytes that are not UTF-8 become U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for piece in pieces:
        text = decoder.decode(piece)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def not_a_stream(raw: bytes, content_type: str, tracker: StreamTracker) -> Iterator[ChatEvent]:
    """A stream was asked for and a whole body came back (read in full): a completion from a server
    that ignores stream=true is the answer; an error object, an HTML page, nothing, or anything else
    is said as what it is."""
    ctype = content_type.lower()
    if "json" in ctype:
        try:
            data = json.loads(raw)
        except ValueError:
            raise not_json(tracker.host, "a response", content_type, raw) from None
        if isinstance(data, dict) and data.get("choices"):
            yield from result_events(result_from_completion(data))
            return
        raise json_error_on_stream(tracker.host, server_message(raw, ctype))
    if is_html(raw, ctype):
        raise html_page(tracker.host, raw, ctype)
    if not raw.strip():
        tracker.finish()  # raises: nothing was sent
    raise tracker.malformed(raw.decode("utf-8", "replace")[:80])


def parse_json_chunk(data: str, tracker: StreamTracker) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise tracker.malformed(data) from None


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

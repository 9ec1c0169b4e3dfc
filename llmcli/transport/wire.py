"""Wire → events: what the server sends (JSON chunks, whole completions, model lists) as core.types.

Both transports feed what they read through the functions here, so the same bytes on the wire give the
same events whichever one is chosen; `StreamTracker` decides, the same way for both, whether a stream
ended properly. No heavy imports.
"""

from __future__ import annotations

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
from .status import network_error

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


def parse_json_chunk(data: str, tracker: StreamTracker) -> Any:
    try:
        return _loads(data)
    except ValueError:
        raise tracker.malformed(data) from None


def _loads(text: str) -> Any:
    """json.loads through orjson where it can (a fifth of the cost per chunk); set up on first use."""
    global _loads
    _loads = json_loads()
    return _loads(text)


def json_loads() -> Callable[[str], Any]:
    """A function that reads JSON as json.loads does, through orjson where orjson agrees.

    Raises ValueError (json.JSONDecodeError) exactly where json.loads does."""
    try:
        import orjson
    except ImportError:  # orjson is a dependency, but a platform without a wheel can still run llmcli
        return json.loads
    fast, slow = orjson.loads, json.loads

    def loads(text: str) -> Any:
        try:
            return fast(text)
        except ValueError:
            # orjson refuses some JSON that json.loads takes (a lone surrogate such as "\ud83d",
            # NaN/Infinity, 1e400): only what json.loads refuses too is malformed. (One difference
            # remains: orjson reads an integer beyond 64 bits as a float rather than refusing it.)
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

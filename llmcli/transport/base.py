"""What every transport shares: the protocol, the wire-to-event mapping and the status-to-error mapping.

Both transports feed server behaviour through the functions here, so the same bytes on the wire give
the same events and the same errors whichever one is chosen. No heavy imports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..core.credentials import scrub
from ..core.types import (
    ChatEvent,
    ChatRequest,
    ChatResult,
    Finished,
    ModelInfo,
    ModelSeen,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from ..errors import (
    AuthFailed,
    IncompleteAnswer,
    NetworkFailed,
    RateLimited,
    RequestRejected,
    TransportError,
)

REASONING_FIELDS = ("reasoning_content", "reasoning")


class Transport(Protocol):
    def stream_chat(self, request: ChatRequest) -> Iterator[ChatEvent]:
        """Yield events as they arrive; close the response in `finally`."""
        ...

    def complete(self, request: ChatRequest) -> ChatResult: ...

    def list_models(self) -> list[ModelInfo]: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class TransportConfig:
    base_url: str
    api_key: str | None
    timeout: float = 600.0
    max_retries: int = 2
    debug: bool = False

    @property
    def host(self) -> str:
        return host_of(self.base_url)


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url


def endpoint(base_url: str, path: str) -> str:
    """The base URL is used as given: only a trailing slash is ignored."""
    return base_url.rstrip("/") + "/" + path


# --- chunks → events ---------------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
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
    model = _get(chunk, "model")
    if model and (tracker is None or model != tracker.model):
        if tracker is not None:
            tracker.model = model
        yield ModelSeen(model)
    choices = _get(chunk, "choices")
    if choices:
        for choice in choices:
            if (_get(choice, "index") or 0) != 0:
                continue  # n > 1 is not something a terminal client shows
            delta = _get(choice, "delta")
            if delta is not None:
                for name in REASONING_FIELDS:
                    reasoning = _get(delta, name)
                    if reasoning and isinstance(reasoning, str):
                        yield ReasoningDelta(reasoning)
                        break
                content = _get(delta, "content")
                if content and isinstance(content, str):
                    yield TextDelta(content)
            reason = _get(choice, "finish_reason")
            if reason:
                yield Finished(str(reason), model)
    usage = _get(chunk, "usage")
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
        v = _get(usage, key)
        return int(v) if isinstance(v, int | float) else None

    return Usage(num("prompt_tokens"), num("completion_tokens"), num("total_tokens"))


def result_from_completion(body: Any) -> ChatResult:
    """A non-streamed `chat.completion` (dict or SDK model) → ChatResult."""
    choices = _get(body, "choices") or []
    if not choices:
        raise ValueError("no choices")
    choice = choices[0]
    message = _get(choice, "message") or {}
    content = _get(message, "content") or ""
    reasoning = ""
    for name in REASONING_FIELDS:
        value = _get(message, name)
        if isinstance(value, str) and value:
            reasoning = value
            break
    usage = _get(body, "usage")
    return ChatResult(
        content=content if isinstance(content, str) else str(content),
        reasoning=reasoning,
        finish_reason=_get(choice, "finish_reason"),
        usage=usage_from(usage) if usage else None,
        model=_get(body, "model"),
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


def not_json(host: str, what: str, content_type: str = "") -> IncompleteAnswer:
    kind = f" ({content_type})" if content_type else ""
    return IncompleteAnswer(
        f"{host} sent {what} that is not JSON{kind}",
        reason="cut",
        host=host,
        hint="check the base URL (`llmcli config show`)",
    )


def parse_json_chunk(data: str, tracker: StreamTracker) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise tracker.malformed(data) from None


# --- HTTP status → domain error ------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def server_message(body: bytes | str | None, content_type: str = "") -> str | None:
    """The server's own words from an error body, scrubbed of any key it echoes back."""
    found = _server_message(body, content_type)
    return scrub(found) if found else found


def _server_message(body: bytes | str | None, content_type: str) -> str | None:
    """The server's own words from an error body: JSON error objects, FastAPI's detail, or HTML."""
    if body is None:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str) and err:
            return err
        for key in ("message", "detail"):
            if data.get(key):
                value = data[key]
                return value if isinstance(value, str) else json.dumps(value)
    if "<" in text and ("html" in content_type or text.lstrip().startswith("<")):
        m = _TITLE.search(text)
        text = m.group(1) if m else _TAG.sub(" ", text)
    text = scrub(" ".join(text.split()))  # before cutting: a cut must not leave half a key behind
    return text[:300] + ("…" if len(text) > 300 else "") if text else None


RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


def error_for_status(
    status: int, host: str, message: str | None, *, model: str | None = None
) -> TransportError:
    """The domain error for a final (not retried, or retries exhausted) HTTP status."""
    said = f": {message}" if message else ""
    kw: dict[str, Any] = {"host": host, "status": status, "server_message": message}
    if status in (401, 403):
        return AuthFailed(
            f"{host} refused the credentials (HTTP {status}){said}",
            hint="check the key: `llmcli auth status`; set LLMCLI_API_KEY or run `llmcli auth login`",
            **kw,
        )
    if status == 429:
        return RateLimited(
            f"{host} is rate limiting requests (HTTP 429){said}",
            hint="wait and try again, or raise --max-retries",
            **kw,
        )
    if status == 408 or status >= 500:
        return NetworkFailed(
            f"{host} failed to answer (HTTP {status}){said}",
            hint="the server had a problem; try again later (--max-retries N retries automatically)",
            **kw,
        )
    if status == 404:
        what = f"model {model!r} or the URL" if model else "the URL"
        return RequestRejected(
            f"{host} does not know {what} (HTTP 404){said}",
            hint="check the model with `llmcli models`, and that the base URL ends where the API begins (often /v1)",
            **kw,
        )
    return RequestRejected(
        f"{host} rejected the request (HTTP {status}){said}",
        hint="check the request options (-o, --max-tokens, the prompt's length)",
        **kw,
    )


def network_error(host: str, exc: BaseException, *, timeout: float | None = None) -> NetworkFailed:
    kind = type(exc).__name__
    if "Timeout" in kind:
        return NetworkFailed(
            f"timed out waiting for {host} ({timeout:g} s)" if timeout else f"timed out waiting for {host}",
            host=host,
            hint="is the server up and the base URL right? raise --timeout for slow servers",
        )
    detail = scrub(str(exc).strip()) or kind
    if "SSL" in detail or "CERTIFICATE" in detail.upper():
        return NetworkFailed(
            f"TLS failure talking to {host}: {detail}",
            host=host,
            hint="check the URL's scheme and the certificate (SSL_CERT_FILE points at a CA bundle)",
        )
    return NetworkFailed(
        f"could not connect to {host}: {detail}",
        host=host,
        hint="is the server running, and is the base URL right? (`llmcli config show`)",
    )


def json_error_on_stream(host: str, message: str | None) -> RequestRejected:
    said = f": {message}" if message else ""
    return RequestRejected(
        f"{host} answered with an error instead of a stream{said}",
        host=host,
        server_message=message,
        hint="check the model and request options",
    )


def model_infos(data: Any) -> list[ModelInfo]:
    items = _get(data, "data")
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

"""The domain: messages, requests, stream events, results. Pure Python, no heavy imports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(slots=True)
class Message:
    role: str
    content: str  # the text typed (a user turn's prompt, without its attachments)
    # core.attachments.Attachment: files and images that go with a user turn, before its text
    attachments: tuple[Any, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        if not self.attachments:
            return {"role": self.role, "content": self.content}
        from .attachments import wire_content

        return {"role": self.role, "content": wire_content(self.content, self.attachments)}


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    # Only the parameters the user gave; a parameter not given is never sent.
    params: dict[str, Any] = field(default_factory=dict)
    # Extra body fields from `-o KEY=VALUE`; they win over `params` on a clash.
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self, *, stream: bool) -> dict[str, Any]:
        """The exact JSON body both transports send."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_wire() for m in self.messages],
        }
        body.update(self.params)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        else:
            body["stream"] = False
        body.update(self.extra)
        if body.get("stream") is False:
            body.pop("stream_options", None)  # servers reject stream_options without streaming
        return body

    # The path under the base URL this request goes to (the transports and --show-request share it).
    endpoint: ClassVar[str] = "chat/completions"


@dataclass(slots=True)
class CompletionRequest:
    """A legacy text completion (`/completions`): one prompt, the model continues it."""

    model: str
    prompt: str
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    endpoint: ClassVar[str] = "completions"

    def body(self, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": self.prompt}
        body.update(self.params)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        else:
            body["stream"] = False
        body.update(self.extra)
        if body.get("stream") is False:
            body.pop("stream_options", None)
        return body


@dataclass(slots=True)
class EmbeddingRequest:
    """One batch of texts to embed (`/embeddings`)."""

    model: str
    texts: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    endpoint: ClassVar[str] = "embeddings"

    def body(self, *, stream: bool = False) -> dict[str, Any]:
        # encoding_format is always sent: the openai SDK would otherwise ask for base64 on its own, and
        # both transports must send the same request.
        body: dict[str, Any] = {"model": self.model, "input": list(self.texts), "encoding_format": "float"}
        body.update(self.params)
        body.update(self.extra)
        return body


@dataclass(slots=True)
class WireRequest:
    """A request exactly as a transport puts it on the wire (built by transport.base.wire_request).

    `headers` may hold the Authorization header: never print this object as it is (render/request.py
    shows it with the key replaced by an environment variable)."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None

    def content(self) -> bytes | None:
        """The body's bytes, as sent."""
        if self.body is None:
            return None
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
            "utf-8"
        )

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return f"WireRequest({self.method} {self.url})"


# --- stream events: what a transport yields ------------------------------------------------


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(slots=True)
class Finished:
    """The model said why it stopped (finish_reason), or the stream ended with [DONE]."""

    reason: str | None
    model: str | None = None


@dataclass(slots=True)
class Logprobs:
    """The log probabilities a server sent with a piece of the answer (`--logprobs N`), as it sent them."""

    data: Any


@dataclass(slots=True)
class ModelSeen:
    """The model id the server reports in its chunks (may differ from the one asked for)."""

    model: str


ChatEvent = TextDelta | ReasoningDelta | Usage | Finished | ModelSeen | Logprobs


@dataclass(slots=True)
class ChatResult:
    """A whole (non-streamed) answer."""

    content: str
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    logprobs: Any = None


@dataclass(slots=True)
class Embeddings:
    """One batch's vectors, in the order of the texts sent."""

    vectors: list[list[float]]
    model: str | None = None
    usage: Usage | None = None


@dataclass(slots=True)
class ModelInfo:
    id: str
    owned_by: str | None = None
    created: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


# The body fields the openai SDK's typed `create()` takes by name, per endpoint; the rest go in
# `extra_body`. The sdk transport and the openai snippet of --show-request both use these.
SDK_TYPED: dict[str, frozenset[str]] = {
    "chat/completions": frozenset(
        {
            "model",
            "messages",
            "stream",
            "stream_options",
            "temperature",
            "top_p",
            "max_tokens",
            "stop",
            "seed",
        }
    ),
    "completions": frozenset(
        {
            "model",
            "prompt",
            "stream",
            "stream_options",
            "temperature",
            "top_p",
            "max_tokens",
            "stop",
            "seed",
            "echo",
            "logprobs",
        }
    ),
    "embeddings": frozenset({"model", "input", "encoding_format", "dimensions"}),
}

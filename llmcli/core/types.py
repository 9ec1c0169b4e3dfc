"""The domain: messages, requests, stream events, results. Pure Python, no heavy imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
class ModelSeen:
    """The model id the server reports in its chunks (may differ from the one asked for)."""

    model: str


ChatEvent = TextDelta | ReasoningDelta | Usage | Finished | ModelSeen


@dataclass(slots=True)
class ChatResult:
    """A whole (non-streamed) answer."""

    content: str
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None


@dataclass(slots=True)
class ModelInfo:
    id: str
    owned_by: str | None = None
    created: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)

"""What every transport shares: the protocol and its configuration.

The wire → event mapping is `wire.py`, the status → error mapping `status.py`; both transports use them,
so the same server behaviour gives the same events and errors whichever one is chosen. No heavy imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from .. import __version__
from ..core.types import (
    ChatEvent,
    ChatRequest,
    ChatResult,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ModelInfo,
    WireRequest,
)
from ..core.urls import host_of

# Re-exported: commands and branches in flight import these from here; status.py owns them.
from .status import error_for_status, network_error, server_message

__all__ = [
    "Transport",
    "TransportConfig",
    "endpoint",
    "error_for_status",
    "host_of",
    "network_error",
    "server_message",
    "wire_request",
]


class Transport(Protocol):
    def stream_chat(self, request: ChatRequest) -> Iterator[ChatEvent]:
        """Yield events as they arrive; close the response in `finally`."""
        ...

    def complete(self, request: ChatRequest) -> ChatResult: ...

    def list_models(self) -> list[ModelInfo]: ...

    # Legacy text completions (`/completions`): the same events and results as chat.
    def stream_text(self, request: CompletionRequest) -> Iterator[ChatEvent]: ...

    def complete_text(self, request: CompletionRequest) -> ChatResult: ...

    def embed(self, request: EmbeddingRequest) -> Embeddings: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class TransportConfig:
    base_url: str
    api_key: str | None
    timeout: float = 600.0
    max_retries: int = 2
    debug: bool = False
    # Network (transport/tls.py): a CA bundle, no certificate checks, an explicit proxy.
    key_source: str = ""  # where the key came from ("env OPENAI_API_KEY", ...), never the key
    ca_bundle: str | None = None
    ca_bundle_source: str = ""  # where the bundle setting came from, for messages
    insecure: bool = False
    proxy: str | None = None

    @property
    def host(self) -> str:
        return host_of(self.base_url)

    def __repr__(self) -> str:  # never show the key
        return f"TransportConfig(base_url={self.base_url!r}, api_key={'<set>' if self.api_key else None})"


def endpoint(base_url: str, path: str) -> str:
    """The base URL is used as given: only a trailing slash is ignored."""
    return base_url.rstrip("/") + "/" + path


USER_AGENT = f"llmcli/{__version__}"


def wire_request(config: TransportConfig, method: str, path: str, body: dict | None = None) -> WireRequest:
    """The request as the http transport sends it: URL, every header it sets, and the body.

    The one place this is decided: the http transport sends what this returns, and `--show-request`
    prints it, so the two cannot differ. No key configured, no Authorization header.
    """
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    return WireRequest(method, endpoint(config.base_url, path), headers, body)

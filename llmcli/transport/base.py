"""What every transport shares: the protocol and its configuration.

The wire → event mapping is `wire.py`, the status → error mapping `status.py`; both transports use them,
so the same server behaviour gives the same events and errors whichever one is chosen. No heavy imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ..core.types import ChatEvent, ChatRequest, ChatResult, ModelInfo
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
]


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
    # For a 401/403: which key was sent and what was not tried (core.credentials.explain).
    auth_hint: str | None = None

    @property
    def host(self) -> str:
        return host_of(self.base_url)


def endpoint(base_url: str, path: str) -> str:
    """The base URL is used as given: only a trailing slash is ignored."""
    return base_url.rstrip("/") + "/" + path

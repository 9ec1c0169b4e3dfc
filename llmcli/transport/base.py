"""What every transport shares: the protocol and its configuration.

The wire → event mapping is `wire.py`, the status → error mapping `status.py`; both transports use them,
so the same server behaviour gives the same events and errors whichever one is chosen. No heavy imports.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

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
    "Proxy",
    "Transport",
    "TransportConfig",
    "endpoint",
    "error_for_status",
    "host_of",
    "network_error",
    "proxy_for",
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
    # For a 401/403: which key was sent and what was not tried (core.credentials.explain).
    auth_hint: str | None = None
    # Network (transport/tls.py): a CA bundle, no certificate checks, an explicit proxy.
    key_source: str = ""  # where the key came from ("env OPENAI_API_KEY", ...), never the key
    ca_bundle: str | None = None
    ca_bundle_source: str = ""  # where the bundle setting came from, for messages
    insecure: bool = False
    proxy: str | None = None

    @classmethod
    def from_settings(cls, settings: Any, api_key: str | None, **more: Any) -> TransportConfig:
        """The config for a core.settings.Settings: every client of the server (the transports, the
        load engine, the monitor's root client) gets the same timeout, TLS and proxy settings."""
        return cls(
            base_url=settings.base_url,
            api_key=api_key,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            debug=settings.debug,
            ca_bundle=settings.ca_bundle,
            ca_bundle_source=settings.sources.get("ca_bundle", ""),
            insecure=settings.insecure,
            proxy=settings.proxy,
            **more,
        )

    @property
    def host(self) -> str:
        return host_of(self.base_url)

    def __repr__(self) -> str:  # never show the key
        return f"TransportConfig(base_url={self.base_url!r}, api_key={'<set>' if self.api_key else None})"

    def proxy_in_use(self) -> Proxy | None:
        """The proxy requests to the base URL go through (for error messages; asked on the error path):
        --proxy (or the profile's / LLMCLI_PROXY) when given, else what both HTTP stacks (httpx, and the
        SDK's httpx2) take from the environment, so errors blame the same hop either way."""
        if self.proxy:
            return Proxy(self.proxy, "--proxy")
        return proxy_for(self.base_url, os.environ)


@dataclass(frozen=True, slots=True)
class Proxy:
    url: str
    source: str  # "HTTPS_PROXY", "all_proxy", ... or "the system's proxy settings"

    @property
    def shown(self) -> str:
        """host[:port] of the proxy, never its credentials."""
        return host_of(self.url if "://" in self.url else f"http://{self.url}")


def proxy_for(url: str, env: Mapping[str, str]) -> Proxy | None:
    """The proxy httpx (and httpx2) would use for `url`, by their rules for the environment: the
    scheme's `<scheme>_proxy`, else `all_proxy` (lower case first, as urllib reads them), unless
    `no_proxy` names the host (`*` = every host; `example.com` also covers its subdomains)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    found: Proxy | None = None
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if env.get(name, "").strip():
            found = Proxy(env[name].strip(), name)
            break
    if found is None:
        if not any(k.lower().endswith("_proxy") for k in env) and sys.platform in ("darwin", "win32"):
            from urllib.request import getproxies  # the system's settings, as urllib (and httpx) read them

            system = getproxies().get(scheme) or getproxies().get("all")
            found = Proxy(system, "the system's proxy settings") if system else None
        if found is None:
            return None
    no_proxy = env.get("no_proxy", env.get("NO_PROXY", ""))
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return None
        entry = entry.split("://", 1)[-1].rsplit("@", 1)[-1]
        name = entry.strip("[]") if entry.startswith("[") else entry.split(":", 1)[0]
        name = name.lstrip("*")
        if name.startswith("."):
            if host.endswith(name):
                return None
        elif host == name or host.endswith("." + name):
            return None
    return found


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

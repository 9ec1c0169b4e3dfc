"""Status → errors: an HTTP status, an error body or a failed connection as llmcli's domain error.

One mapping for both transports (and for every command that talks to a server), so the same server
behaviour gives the same message and exit code. Messages name the host, carry the server's own words
(scrubbed of any key it echoes back) and suggest the next step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..core.credentials import scrub
from ..errors import (
    AuthFailed,
    IncompleteAnswer,
    NetworkFailed,
    RateLimited,
    RequestRejected,
    TransportError,
)

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
    status: int, host: str, message: str | None, *, model: str | None = None, auth_hint: str | None = None
) -> TransportError:
    """The domain error for a final (not retried, or retries exhausted) HTTP status. `auth_hint` says,
    for a 401/403, which key was sent and what was not tried (core.credentials.explain)."""
    said = f": {message}" if message else ""
    kw: dict[str, Any] = {"host": host, "status": status, "server_message": message}
    if status in (401, 403):
        return AuthFailed(
            f"{host} refused the credentials (HTTP {status}){said}",
            hint=auth_hint
            or "check the key: `llmcli auth status`; set LLMCLI_API_KEY or run `llmcli auth login`",
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


def not_json(host: str, what: str, content_type: str = "") -> IncompleteAnswer:
    kind = f" ({content_type})" if content_type else ""
    return IncompleteAnswer(
        f"{host} sent {what} that is not JSON{kind}",
        reason="cut",
        host=host,
        hint="check the base URL (`llmcli config show`)",
    )

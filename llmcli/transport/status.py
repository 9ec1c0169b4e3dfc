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
from ..core.urls import display_url
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
    status: int,
    host: str,
    message: str | None,
    *,
    model: str | None = None,
    auth_hint: str | None = None,
    proxy: Any = None,
) -> TransportError:
    """The domain error for a final (not retried, or retries exhausted) HTTP status. `auth_hint` says,
    for a 401/403, which key was sent and what was not tried (core.credentials.explain).

    `proxy` (a base.Proxy, or None) is the proxy in the way, if any: a 407 is its answer, not the host's.
    """
    said = f": {message}" if message else ""
    kw: dict[str, Any] = {"host": host, "status": status, "server_message": message}
    if status == 407:
        return proxy_auth_required(host, proxy, message)
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


def network_error(
    host: str, exc: BaseException, *, timeout: float | None = None, proxy: Any = None
) -> NetworkFailed:
    """A request that got no HTTP answer. With a proxy in the way (`proxy`, a base.Proxy), a refused
    or failed connection is the proxy's, and the message says so."""
    kind = type(exc).__name__
    via = f" through the proxy {proxy.shown} (from {proxy.source})" if proxy else ""
    if "Timeout" in kind:
        return NetworkFailed(
            f"timed out waiting for {host}{via} ({timeout:g} s)"
            if timeout
            else f"timed out waiting for {host}{via}",
            host=host,
            hint="is the server up and the base URL right? raise --timeout for slow servers",
        )
    detail = scrub(_without_credentials(str(exc).strip())) or kind
    if proxy is not None and "Proxy" in kind:  # the proxy answered the tunnel request with an error
        if "407" in detail:
            return proxy_auth_required(host, proxy, None)
        return NetworkFailed(
            f"the proxy {proxy.shown} (from {proxy.source}) would not connect to {host}: {detail}",
            host=host,
            hint=f"check that the proxy lets you reach {host}, or exempt it with NO_PROXY",
        )
    if "SSL" in detail or "CERTIFICATE" in detail.upper():
        return NetworkFailed(
            f"TLS failure talking to {host}{via}: {detail}",
            host=host,
            hint="check the URL's scheme; trust a private CA with --ca-bundle PATH (or SSL_CERT_FILE)",
        )
    if proxy is not None:
        return NetworkFailed(
            f"could not connect to the proxy {proxy.shown} (from {proxy.source}) on the way to {host}: {detail}",
            host=host,
            hint=f"is the proxy running? check {proxy.source}, or exempt {host} with NO_PROXY",
        )
    return NetworkFailed(
        f"could not connect to {host}: {detail}",
        host=host,
        hint="is the server running, and is the base URL right? (`llmcli config show`)",
    )


def _without_credentials(text: str) -> str:
    """user:password@ in any URL an exception quotes (a proxy's, a base URL's) becomes ***@."""
    return _USERINFO.sub(r"\1***@", text)


_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


def proxy_auth_required(host: str, proxy: Any, message: str | None) -> NetworkFailed:
    """HTTP 407: the proxy between llmcli and the host wants credentials of its own."""
    who = f"the proxy {proxy.shown} (from {proxy.source})" if proxy else f"a proxy between llmcli and {host}"
    said = f": {message}" if message else ""
    where = proxy.source if proxy else "HTTPS_PROXY"
    return NetworkFailed(
        f"{who} requires authentication (HTTP 407){said}",
        host=host,
        status=407,
        server_message=message,
        hint=f"give the proxy's user and password in {where} (http://USER:PASSWORD@proxy:port), "
        "or ask your network admin",
    )


def redirected_post(host: str, status: int, to: str) -> RequestRejected:
    """A 301/302/303 answered the POST: following it would send a GET (without the request) elsewhere."""
    suggestion = to.split("?", 1)[0]
    for tail in ("/chat/completions", "/completions", "/embeddings"):
        if suggestion.endswith(tail):
            suggestion = suggestion[: -len(tail)]
            break
    return RequestRejected(
        f"{host} redirected the request (HTTP {status}) to {to}; following it would turn the POST into a "
        "GET without the request",
        host=host,
        status=status,
        hint=f"use the new address as the base URL: --base-url {suggestion}",
    )


def redirect_loop(host: str) -> NetworkFailed:
    return NetworkFailed(
        f"{host} redirected the request too many times (a redirect loop?)",
        host=host,
        hint="see where the base URL leads with `curl -IL URL`, and check the base URL (`llmcli config show`)",
    )


def method_changed(response: Any, method: str, host: str) -> RequestRejected | None:
    """After redirects were followed (httpx or httpx2 response): the error when a 301/302/303 turned
    `method` into another one, else None."""
    if not response.history or response.request.method == method:
        return None
    from urllib.parse import urljoin

    hop = next((r for r in response.history if r.status_code in (301, 302, 303)), response.history[0])
    to = urljoin(str(hop.request.url), hop.headers.get("location", ""))
    return redirected_post(host, hop.status_code, display_url(to))


def json_error_on_stream(host: str, message: str | None) -> RequestRejected:
    said = f": {message}" if message else ""
    return RequestRejected(
        f"{host} answered with an error instead of a stream{said}",
        host=host,
        server_message=message,
        hint="check the model and request options",
    )


def is_html(raw: bytes | str | None, content_type: str = "") -> bool:
    """An HTML page: by its content type, or by how it starts when the type says nothing useful."""
    if "html" in content_type.lower():
        return True
    if not raw:
        return False
    head = (raw[:64].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:64]).lstrip().lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body"))


def html_page(host: str, raw: bytes | str | None, content_type: str = "") -> RequestRejected:
    """A 200 with an HTML page where the API's JSON or event stream belongs: a captive portal, a proxy's
    sign-in page, or a base URL that points at a website or a web UI rather than the API."""
    title = server_message(raw, "text/html") if raw else None
    named = f" ({title})" if title else ""
    return RequestRejected(
        f"{host} answered with an HTML page{named} instead of the API's JSON",
        host=host,
        server_message=title,
        hint="a captive portal, a proxy's sign-in page or a web UI answered: check the network, and that "
        "the base URL is the API's (often ending in /v1; `llmcli config show`)",
    )


def not_json(
    host: str, what: str, content_type: str = "", raw: bytes | str | None = None
) -> IncompleteAnswer | RequestRejected:
    if is_html(raw, content_type):
        return html_page(host, raw, content_type)
    kind = f" ({content_type})" if content_type else ""
    return IncompleteAnswer(
        f"{host} sent {what} that is not JSON{kind}",
        reason="cut",
        host=host,
        hint="check the base URL (`llmcli config show`)",
    )

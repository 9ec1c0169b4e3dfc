"""One request over aiohttp, with the sync transport's error mapping and stream rules.

The only module of the engine that knows aiohttp (imported lazily by engine.py). aiohttp, not
httpx.AsyncClient: benchmarks/bench_load.py measures both against a zero-delay server, and httpx's
connection pool collapses at high concurrency (~120 requests/s at 64 in flight where aiohttp does
~4000 on the same machine).

What it shares with transport/http.py, by calling the same functions: HTTP status → error
(`error_for_status` + `server_message`), connection failures (`network_error`), what may be retried
(`should_retry`: the status or the server's x-should-retry, raised as `Retryable` with the server's `retry_after_seconds`), chunk → events
(`chunk_events`, `stream_error_from`), and how a stream must end (`StreamTracker`).

Network settings as the sync transports have them (docs/network.md), from the same TransportConfig:
the TLS context of transport/tls.py (`--ca-bundle`, `--insecure`, SSL_CERT_DIR, else certifi's store);
the proxy `--proxy` names for every request, else the one HTTP(S)_PROXY / ALL_PROXY / NO_PROXY name for
the base URL, resolved once (aiohttp's `trust_env` would do it, and a .netrc lookup, in a thread for
every request), its user:password sent as Proxy-Authorization; `--timeout` bounding the connect and each wait for progress (keep-alive comments are not progress) or,
without streaming, the whole response. The key goes only to the base URL's origin: aiohttp drops
Authorization on a redirect to another origin.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import warnings
from array import array
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from .. import __version__
from ..core.types import Finished, ReasoningDelta, TextDelta, Usage
from ..core.urls import redact_url, strip_credentials
from ..errors import TransportError, UsageError
from ..transport.base import TransportConfig, endpoint
from ..transport.retry import Retryable, retry_after_seconds, should_retry
from ..transport.status import (
    error_for_status,
    json_error_on_stream,
    network_error,
    not_json,
    server_message,
)
from ..transport.tls import ssl_context
from ..transport.wire import StreamTracker, chunk_events, result_from_completion, stream_error_from
from .sse import SSEDecoder
from .types import EngineOptions, LoadRequest, RequestRecord, text_tokens

MAX_ERROR_BODY = 64 * 1024
STALE_RESENDS = 3  # per request
STALE_SWITCH = 3  # stale connections seen in a run before asking the server to close each one
# json.loads minus its type checks, encoding sniffing and whitespace regexes: once per chunk
_raw_decode = json.JSONDecoder().raw_decode
_CLOSE = {"Connection": "close"}
_clock = time.perf_counter


class _Watch:
    __slots__ = ("task", "last", "fired")

    def __init__(self, task: asyncio.Task | None):
        self.task = task
        self.last = _clock()  # the latest progress
        self.fired = False

    def expired(self) -> bool:
        """After a CancelledError: was it ours? (True consumes the cancellation.)"""
        return self.fired and self.task is not None and self.task.uncancel() == 0


class _Watchdogs:
    """--timeout for every request in flight, with one timer for all: progress only notes the time, and
    a sweep every `step` seconds cancels a request whose last progress is older than the timeout (so it
    fires between timeout and timeout + step; step = timeout / 4, at most 1 s). A timer per request —
    or worse, per chunk — costs more than the rest of the bookkeeping together at thousands a second."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.step = min(1.0, timeout / 4)
        self.active: set[_Watch] = set()
        self._sweeper: asyncio.Task | None = None

    def watch(self, task: asyncio.Task | None) -> _Watch:
        w = _Watch(task)
        self.active.add(w)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return w

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.step)
            limit = _clock() - self.timeout
            for w in [w for w in self.active if w.last < limit and not w.fired]:
                w.fired = True
                if w.task is not None:
                    w.task.cancel()

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for this URL, as httpx would pick it, or None."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    if parts.hostname and proxy_bypass(parts.hostname):
        return None
    proxies = getproxies()
    return proxies.get(parts.scheme) or proxies.get("all") or None


def proxy_settings(config: TransportConfig) -> tuple[str | None, tuple[str, str] | None]:
    """The proxy for every request (None: straight to the server), and its user and password.

    `--proxy` (config.proxy) wins over the environment, NO_PROXY included, as on the sync transports."""
    url = config.proxy or env_proxy(config.base_url)
    if not url:
        return None, None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise UsageError(
            f"the load engine (bench, batch run) cannot use a {parts.scheme} proxy: {redact_url(url)}",
            hint="give an http:// or https:// proxy (--proxy), or run without one",
        )
    if parts.username is None:
        return url, None
    return strip_credentials(url), (unquote(parts.username), unquote(parts.password or ""))


def _connect_detail(exc: BaseException) -> BaseException:
    """aiohttp wraps the OS error in a long sentence; the sync transport shows the OS error's words (for a
    TLS failure, the ssl module's, which name the reason: CERTIFICATE_VERIFY_FAILED, ...)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return exc.certificate_error
    os_error = getattr(exc, "os_error", None)
    if isinstance(exc, aiohttp.ClientSSLError) and isinstance(os_error, OSError):
        return os_error
    if isinstance(os_error, OSError) and os_error.errno:
        return OSError(os_error.errno, os.strerror(os_error.errno))
    return exc


class Wire:
    def __init__(self, config: TransportConfig, options: EngineOptions):
        self.config = config
        self.options = options
        self.host = config.host
        self.timeout = config.timeout
        self.session: aiohttp.ClientSession | None = None
        self.stale = 0  # kept-alive connections found closed by the server
        self.watchdogs = _Watchdogs(config.timeout)
        self._headers: dict[str, str] | None = None

    async def open(self) -> None:
        # Every request sends JSON: one set of headers on the session, none to merge per request.
        headers = {
            "User-Agent": f"llmcli/{__version__}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        proxy, credentials = proxy_settings(self.config)
        connector = aiohttp.TCPConnector(
            limit=0,  # the engine's own limiter decides how many are in flight: no hidden queue here
            ttl_dns_cache=300,
            ssl=ssl_context(self.config),  # the sync transports' TLS settings, exactly
        )
        with warnings.catch_warnings():
            # aiohttp deprecates proxy_auth for proxy_headers, but sends proxy_headers only with a CONNECT
            # (https): a plain-http request through the proxy would go without its credentials.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.session = aiohttp.ClientSession(
                connector=connector,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                proxy=proxy,  # every request's, by default
                proxy_auth=aiohttp.BasicAuth(*credentials) if credentials else None,
            )

    async def close(self) -> None:
        self.watchdogs.close()
        if self.session is not None:
            await self.session.close()
            self.session = None

    # -- one attempt ------------------------------------------------------------------------------

    async def attempt(
        self, req: LoadRequest, rec: RequestRecord, data: bytes, t0: float, task: asyncio.Task | None = None
    ) -> None:
        """Send once and read the answer into `rec`. Raises Retryable before the first byte of an answer
        (connect errors, timeouts, 408/409/429/5xx), else the final TransportError."""
        assert self.session is not None
        url = endpoint(self.config.base_url, req.path)
        wd = self.watchdogs.watch(task or asyncio.current_task())
        phase = "connect"
        tracker = StreamTracker(self.host)
        try:
            stale = 0
            while True:
                try:
                    response = await self.session.request(
                        req.method,
                        url,
                        data=data,
                        headers=self._headers,
                        max_redirects=5,
                    )
                    break
                except aiohttp.ClientConnectorError as exc:
                    raise Retryable(network_error(self.host, _connect_detail(exc))) from None
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                    # A kept-alive connection the server had closed without saying so (llama.cpp's
                    # server closes after every streamed answer): the request could not be written or
                    # was never answered. Sent again at once on another connection — curl and httpx
                    # check an idle connection before reusing it; aiohttp cannot. Not a retry. A server
                    # that keeps doing this gets `Connection: close` from then on: no reuse to go wrong.
                    if stale < STALE_RESENDS:
                        stale += 1
                        self.stale += 1
                        if self.stale >= STALE_SWITCH:
                            self._headers = _CLOSE
                        continue
                    raise Retryable(_mark(network_error(self.host, exc, timeout=self.timeout), exc)) from None
                except (aiohttp.ClientError, OSError, ValueError) as exc:
                    err = _mark(network_error(self.host, exc, timeout=self.timeout), exc)
                    if isinstance(exc, aiohttp.TooManyRedirects | aiohttp.InvalidURL):
                        raise err from None
                    raise Retryable(err) from None
            try:
                rec.status = response.status
                headers = response.headers
                rec.request_id = headers.get("x-request-id") or headers.get("request-id")
                if response.status >= 400:
                    phase = "error body"
                    raw = await self._read_capped(response)
                    ctype = headers.get("content-type", "")
                    if self.options.keep_body:
                        rec.body = _json_or_text(raw)
                    err = error_for_status(
                        response.status,
                        self.host,
                        server_message(raw, ctype),
                        model=req.body.get("model"),
                        auth_hint=self.config.auth_hint,
                        proxy=self.config.proxy_in_use() if response.status == 407 else None,
                    )
                    if should_retry(response.status, headers):
                        raise Retryable(err, retry_after_seconds(headers))
                    raise err
                phase = "answer"
                if req.streaming:
                    await self._read_stream(req, response, rec, tracker, wd, t0)
                else:
                    await self._read_body(response, rec, t0)
            finally:
                response.release()
        except asyncio.CancelledError:
            if not wd.expired():
                raise
            if phase == "answer" and not req.streaming:
                raise _mark(network_error(self.host, TimeoutError("Timeout"), timeout=self.timeout)) from None
            if phase == "answer":
                raise _mark(tracker.stalled(self.timeout)) from None
            raise Retryable(
                _mark(network_error(self.host, TimeoutError("Timeout"), timeout=self.timeout))
            ) from None
        finally:
            self.watchdogs.active.discard(wd)

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        out = bytearray()
        try:
            async for piece in response.content.iter_any():
                out += piece
                if len(out) >= MAX_ERROR_BODY:
                    break
        except (aiohttp.ClientError, OSError):
            pass
        return bytes(out)

    async def _read_stream(
        self,
        req: LoadRequest,
        response: aiohttp.ClientResponse,
        rec: RequestRecord,
        tracker: StreamTracker,
        wd: _Watch,
        t0: float,
    ) -> None:
        ctype = response.headers.get("content-type", "").lower()
        if "text/event-stream" not in ctype:
            await self._not_a_stream(response, rec, tracker, ctype, t0)
            return
        keep = self.options.chunk_times
        times = array("d") if keep else None
        parts: list[str] | None = [] if self.options.keep_text else None
        legacy = not req.path.rstrip("/").endswith("chat/completions")
        decoder = SSEDecoder()
        usage: Usage | None = None
        done = False
        chunks = 0
        content = response.content
        try:
            async for piece in content.iter_any():
                now = _clock()
                at = now - t0
                for data, name in decoder.feed(piece):
                    if data[:1] != b"{":  # not the usual JSON chunk: [DONE], nothing, or junk
                        stripped = data.strip()
                        if stripped == b"[DONE]":
                            tracker.saw_done = tracker.saw_data = True
                            done = True
                            rec.end = at
                            break
                        if not stripped:
                            continue  # an empty event is not progress
                    try:
                        text = data.decode()
                        chunk, end = _raw_decode(text)
                        if end != len(text) and text[end:].strip():
                            raise ValueError("extra data")
                    except ValueError:
                        raise tracker.malformed(data.decode("utf-8", "replace")) from None
                    # The commonest chunk (answer text and nothing else) is read by plain_text; any
                    # other goes to chunk_events, the transports' own reading.
                    text = plain_text(chunk) if type(chunk) is dict and not name else None
                    if text is not None:
                        if not text:
                            continue  # an empty delta (the role chunk): not progress
                        tracker.saw_data = True  # what tracker.track(TextDelta) does
                        if parts is not None:
                            parts.append(text)
                    else:
                        message = stream_error_from(chunk)
                        if message is None and name == b"error":
                            message = server_message(data) or "error"
                        if message is not None:
                            raise tracker.error_event(message)
                        has_text = progressed = False
                        for ev in chunk_events(chunk, tracker):
                            if not tracker.track(ev):
                                continue
                            progressed = True
                            kind = type(ev)
                            if kind is TextDelta:
                                has_text = True
                                if parts is not None:
                                    parts.append(ev.text)
                            elif kind is ReasoningDelta:
                                has_text = True
                            elif kind is Usage:
                                usage = ev
                            elif kind is Finished:
                                rec.finish_reason = ev.reason
                        if legacy and not has_text:
                            text = _completion_text(chunk)
                            if text:
                                has_text = progressed = tracker.saw_data = True
                                if parts is not None:
                                    parts.append(text)
                        if not has_text:
                            if progressed:
                                wd.last = now
                                rec.end = at
                            continue
                    wd.last = now  # a chunk with text: progress, and a token's arrival
                    rec.end = at
                    if chunks == 0:
                        rec.first_token = at
                    chunks += 1
                    if times is not None and len(times) < keep:
                        times.append(at)
                if done:
                    break
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError):
            raise tracker.broken() from None
        finally:
            rec.chunks = chunks
            rec.chunk_times = times
            if parts is not None:
                rec.text = "".join(parts)
        tracker.finish()
        _set_usage(rec, usage, chunks)
        if done and not content.at_eof():
            await _drain(content)

    async def _not_a_stream(
        self,
        response: aiohttp.ClientResponse,
        rec: RequestRecord,
        tracker: StreamTracker,
        ctype: str,
        t0: float,
    ) -> None:
        """A stream was asked for and something else came back (the sync transport's rules)."""
        raw = await self._read_capped(response)
        rec.end = _clock() - t0
        if "json" in ctype:
            data = _json_or_none(raw)
            if isinstance(data, dict) and data.get("choices"):
                self._take_completion(rec, data)  # the server ignored stream=true: the whole answer
                return
            raise json_error_on_stream(self.host, server_message(raw, ctype))
        if not raw.strip():
            tracker.finish()  # raises: nothing was sent
        raise tracker.malformed(raw.decode("utf-8", "replace")[:80])

    async def _read_body(self, response: aiohttp.ClientResponse, rec: RequestRecord, t0: float) -> None:
        try:
            raw = await response.read()
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError):
            raise StreamTracker(self.host).cut() from None
        rec.end = _clock() - t0
        ctype = response.headers.get("content-type", "")
        data = _json_or_none(raw)
        if data is None:
            raise not_json(self.host, "a response", ctype or "no content type")
        message = stream_error_from(data)
        if message is not None:
            raise json_error_on_stream(self.host, message)
        self._take_completion(rec, data, raw)

    def _take_completion(self, rec: RequestRecord, data: Any, raw: bytes | None = None) -> None:
        """A whole (non-streamed) answer: chat, legacy completion, or anything else JSON (embeddings)."""
        rec.first_token = rec.end
        if self.options.keep_body:
            rec.body = data
            rec.raw = raw
        usage = data.get("usage") if isinstance(data, dict) else None
        if (
            not self.options.keep_text
            and isinstance(usage, dict)
            and type(usage.get("completion_tokens")) is int
        ):
            # The server counted the answer's tokens: its text is not needed (batch keeps the body whole).
            choices = data.get("choices")
            if type(choices) is list and choices and type(choices[0]) is dict:
                rec.finish_reason = choices[0].get("finish_reason")
            rec.chunks = 1 if usage["completion_tokens"] else 0
            _set_usage(rec, Usage(usage.get("prompt_tokens"), usage["completion_tokens"], None), 0)
            return
        text = ""
        if isinstance(data, dict) and data.get("choices"):
            try:
                result = result_from_completion(data)
                text = result.content + result.reasoning
                rec.finish_reason = result.finish_reason
            except (ValueError, TypeError, AttributeError):
                pass
            if not text:
                text = _completion_text(data)
        if self.options.keep_text:
            rec.text = text
        rec.chunks = 1 if text else 0
        got = (
            Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"))
            if isinstance(usage, dict)
            else None
        )
        _set_usage(rec, got, text_tokens(text))


def _mark(err: TransportError, cause: BaseException | None = None) -> TransportError:
    """Note a timeout on the error itself, so the report can tell it from a refused connection."""
    if cause is None or "Timeout" in type(cause).__name__:
        err.timed_out = True  # type: ignore[attr-defined]
    return err


async def _drain(content: aiohttp.StreamReader) -> None:
    """After [DONE], read the rest of the body (the chunked terminator, usually already here) for a short
    while, so the connection goes back to the pool instead of being closed."""
    try:
        async with asyncio.timeout(0.25):
            while await content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass


def plain_text(chunk: dict) -> str | None:
    """The text of the commonest chunk — one choice, index 0, a delta with `content` (and perhaps `role`)
    but no reasoning, no finish_reason, no usage, no error — or None for any other shape, which
    chunk_events then reads. Saves its generator and event objects on nearly every chunk;
    tests/test_load_engine.py checks that both read every shape alike."""
    if "error" in chunk or chunk.get("usage"):
        return None
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") or choice.get("index"):
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or delta.get("reasoning_content") or delta.get("reasoning"):
        return None
    content = delta.get("content")
    return content if type(content) is str else None


def _completion_text(chunk: Any) -> str:
    """The legacy /completions shape: choices[0].text."""
    if type(chunk) is dict:
        choices = chunk.get("choices")
        if choices and type(choices) is list and type(choices[0]) is dict:
            text = choices[0].get("text")
            if type(text) is str:
                return text
    return ""


def _set_usage(rec: RequestRecord, usage: Usage | None, counted: int) -> None:
    if usage is not None and usage.prompt_tokens is not None:
        rec.prompt_tokens = usage.prompt_tokens
    if usage is not None and usage.completion_tokens is not None:
        rec.output_tokens = usage.completion_tokens
    else:
        rec.output_tokens = counted
        rec.usage_estimated = True


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _json_or_text(raw: bytes) -> Any:
    data = _json_or_none(raw)
    return data if data is not None else raw.decode("utf-8", "replace")


__all__ = ["Wire", "TransportError", "env_proxy", "proxy_settings"]

"""The official openai SDK as a transport. Imported only when `--transport sdk` is chosen (~1.5 s of imports).

The SDK's own retries are turned off so that both transports share one policy (retry.py) and fail
with the same exit codes. The SDK builds and sends the requests (its HTTP stack, auth headers, request
types) and parses whole responses; a streamed body is read through the same event-stream rules as the
http transport (`wire.sse_chat_events`), so that every legal stream gives the same answer either way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx2
import openai

from .. import __version__
from ..core.types import (
    SDK_TYPED,
    ChatEvent,
    ChatRequest,
    ChatResult,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ModelInfo,
)
from ..core.urls import display_url
from ..errors import IncompleteAnswer, NetworkFailed
from .base import TransportConfig
from .deadline import DeadlineTimeout, within
from .retry import Retryable, call_with_retries, retry_after_seconds, should_retry, stderr_notify
from .status import (
    error_for_status,
    json_error_on_stream,
    method_changed,
    network_error,
    not_json,
    redirect_loop,
    server_message,
)
from .tls import build_client
from .watchdog import BytePump, watched
from .wire import (
    StreamTracker,
    chunk_events,
    embeddings_or_error,
    model_infos,
    not_a_stream,
    not_offered,
    read_field,
    result_from_completion,
    result_from_text,
    sse_chat_events,
    stream_error_from,
    text_chunk_events,
)

T = TypeVar("T")

# Request fields the SDK's typed `create()` takes by name; anything else goes in extra_body.
TYPED = SDK_TYPED["chat/completions"]
TYPED_TEXT = SDK_TYPED["completions"]
TYPED_EMBED = SDK_TYPED["embeddings"]


class _Entered:
    def __init__(self, manager: Any):
        self._manager = manager
        self.response = manager.__enter__()

    def close(self) -> None:
        self._manager.__exit__(None, None, None)


def _http_response(result: Any) -> Any:
    """The HTTP response of what a call returned (a raw response, or an entered streaming one); None
    for what the SDK has already parsed (a resource object, a page)."""
    if isinstance(result, _Entered):
        return result.response.http_response
    return getattr(result, "http_response", None)


def _close(result: Any) -> None:
    if isinstance(result, _Entered):
        result.close()
        return
    response = getattr(result, "http_response", None)
    if response is not None:
        response.close()


def _entered(manager: Any) -> _Entered:
    """Open a `with_streaming_response` call (sends the request, reads the status line) without `with`."""
    return _Entered(manager)


def openai_client(config: TransportConfig) -> tuple[openai.OpenAI, dict[str, Any]]:
    """The SDK client every llmcli use of the SDK shares, and the keyword arguments each call adds.

    The SDK's own retries are off (retry.py decides); without a key no Authorization header is sent at all
    (the placeholder key is never used: each call drops the header).
    """
    headers: dict[str, Any] = {"User-Agent": f"llmcli/{__version__} (openai-sdk)"}
    per_request: dict[str, Any] = (
        {} if config.api_key else {"extra_headers": {"Authorization": openai.Omit()}}
    )
    client = openai.OpenAI(
        api_key=config.api_key or "unused",
        base_url=config.base_url.rstrip("/"),
        timeout=config.timeout,
        max_retries=0,
        default_headers=headers,
        # The SDK's own client defaults (redirects, pool limits), with llmcli's TLS and proxy settings.
        http_client=build_client(openai.DefaultHttpxClient, config, timeout=config.timeout),
    )
    return client, per_request


def debug_line(config: TransportConfig, message: str) -> None:
    if config.debug:
        print(f"llmcli: debug: {message}", file=sys.stderr, flush=True)


def status_error(
    config: TransportConfig, exc: openai.APIStatusError, model: str | None = None, endpoint: str | None = None
) -> Exception:
    """The domain error for an HTTP error the SDK raised (wrapped in Retryable when it may be retried).
    `endpoint` names the call (`completions`, `embeddings`) so a server without it is said to lack it."""
    response = exc.response
    debug_line(config, f"HTTP {exc.status_code} {response.headers.get('content-type', '')}")
    try:
        raw: bytes | str | None = response.read()
    except Exception:
        raw = exc.body if isinstance(exc.body, str) else json.dumps(exc.body) if exc.body else None
    said = server_message(raw, response.headers.get("content-type", ""))
    missing = not_offered(config.host, endpoint or "", exc.status_code, said)
    if missing is not None:
        return missing
    err = error_for_status(
        exc.status_code,
        config.host,
        said,
        model=model,
        auth_hint=config.auth_hint,
        proxy=config.proxy_in_use() if exc.status_code == 407 else None,
    )
    if should_retry(exc.status_code, response.headers):
        return Retryable(err, retry_after_seconds(response.headers))
    return err


def sdk_call(
    config: TransportConfig,
    fn: Callable[[], T],
    *,
    model: str | None = None,
    endpoint: str | None = None,
    method: str = "POST",
) -> T:
    """Call the SDK under llmcli's retry policy, its errors turned into llmcli's (same exit codes as http)."""

    def attempt() -> T:
        try:
            # --timeout bounds the wait for the headers as a whole (see deadline.py).
            result = within(fn, timeout=config.timeout, discard=_close)
        except DeadlineTimeout as exc:
            raise Retryable(sdk_network_error(config, exc, timeout=config.timeout)) from None
        except openai.APIStatusError as exc:
            changed = method_changed(exc.response, method, config.host)
            if changed is not None:
                raise changed from None
            raise status_error(config, exc, model, endpoint) from None
        except openai.APITimeoutError as exc:
            raise Retryable(sdk_network_error(config, exc.__cause__ or exc, timeout=config.timeout)) from None
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, httpx2.TooManyRedirects):
                raise redirect_loop(config.host) from None
            raise Retryable(sdk_network_error(config, exc.__cause__ or exc)) from None
        # A 301/302/303 that made the POST a GET: say so, not what the GET found.
        response = _http_response(result)
        changed = method_changed(response, method, config.host) if response is not None else None
        if changed is not None:
            _close(result)
            raise changed
        return result

    notify = stderr_notify if (config.debug or sys.stderr.isatty()) else None
    return call_with_retries(attempt, max_retries=config.max_retries, notify=notify)


def sdk_network_error(
    config: TransportConfig, exc: BaseException, *, timeout: float | None = None
) -> NetworkFailed:
    return network_error(config.host, exc, timeout=timeout, proxy=config.proxy_in_use())


class SdkTransport:
    def __init__(self, config: TransportConfig):
        self.config = config
        self.host = config.host
        self._client, self._per_request = openai_client(config)

    def _debug(self, message: str) -> None:
        debug_line(self.config, message)

    def _call(self, fn, *, model: str | None = None, endpoint: str | None = None, method: str = "POST"):
        return sdk_call(self.config, fn, model=model, endpoint=endpoint, method=method)

    def _kwargs(self, body: dict[str, Any], typed: frozenset[str] = TYPED) -> dict[str, Any]:
        kwargs = {k: v for k, v in body.items() if k in typed}
        kwargs.update(self._per_request)
        extra = {k: v for k, v in body.items() if k not in typed}
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    # -- the protocol -------------------------------------------------------------------------

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatEvent]:
        create = self._client.chat.completions.with_raw_response.create
        return self._stream(request, create, TYPED, chunk_events, result_from_completion)

    def stream_text(self, request: CompletionRequest) -> Iterator[ChatEvent]:
        create = self._client.completions.with_raw_response.create
        return self._stream(request, create, TYPED_TEXT, text_chunk_events, result_from_text)

    def _stream(self, request, create, typed, events_of, result_of) -> Iterator[ChatEvent]:
        kwargs = self._kwargs(request.body(stream=True), typed)
        self._debug(f"POST {display_url(self.config.base_url.rstrip('/'))}/{request.endpoint} (sdk)")
        raw = self._call(lambda: create(**kwargs), model=request.model, endpoint=request.endpoint)
        response = raw.http_response
        tracker = StreamTracker(self.host)
        ctype = response.headers.get("content-type", "").lower()
        if "text/event-stream" not in ctype:
            try:
                body = response.read()
            except httpx2.TimeoutException:
                raise tracker.stalled(self.config.timeout) from None
            except httpx2.HTTPError:  # e.g. a body shorter than its Content-Length
                raise tracker.cut() from None
            finally:
                response.close()
            yield from not_a_stream(body, ctype, tracker, result_of)
            return

        # The body is read through the project's own event-stream handling (wire.sse_chat_events), not
        # the SDK's Stream: that one decodes strictly as UTF-8, takes every event's data for JSON (an
        # empty `data:` heartbeat or an `id:`-only event fails it) and overlooks an `event: error`
        # whose data is not an error object — so the two transports would disagree on legal streams.
        # The network reads go through the watchdog's pump, as with the http transport.
        pump = BytePump(
            response.iter_bytes,
            timeout=self.config.timeout,
            on_stall=lambda: tracker.stalled(self.config.timeout),
        )
        try:
            yield from sse_chat_events(pump, tracker, pump.progress, events_of)
        except httpx2.TimeoutException:
            raise tracker.stalled(self.config.timeout) from None
        except (httpx2.HTTPError, httpx2.StreamError):
            raise tracker.broken() from None
        finally:
            pump.close()
            response.close()
        tracker.finish()

    def complete(self, request: ChatRequest) -> ChatResult:
        create = self._client.chat.completions.with_streaming_response.create
        return self._whole(request, create, TYPED, result_from_completion)

    def complete_text(self, request: CompletionRequest) -> ChatResult:
        create = self._client.completions.with_streaming_response.create
        return self._whole(request, create, TYPED_TEXT, result_from_text)

    def embed(self, request: EmbeddingRequest) -> Embeddings:
        create = self._client.embeddings.with_streaming_response.create
        return self._whole(
            request,
            create,
            TYPED_EMBED,
            lambda data: embeddings_or_error(self.host, data, len(request.texts)),
        )

    def _whole(self, request, create, typed, result_of):
        kwargs = self._kwargs(request.body(stream=False), typed)
        embeddings = isinstance(request, EmbeddingRequest)

        def produce():
            # Streamed raw response: only getting the status line is retried; a body cut after a 200
            # is an incomplete answer, as with the http transport.
            manager = self._call(
                lambda: _entered(create(**kwargs)), model=request.model, endpoint=request.endpoint
            )
            raw = manager.response
            try:
                raw.read()
            except (openai.APITimeoutError, httpx2.TimeoutException):
                raise network_error(self.host, TimeoutError("Timeout"), timeout=self.config.timeout) from None
            except (openai.APIConnectionError, httpx2.HTTPError):
                raise StreamTracker(self.host).cut() from None
            finally:
                manager.close()
            if embeddings:  # read as JSON, as the http transport does (the SDK would decode base64)
                try:
                    data = json.loads(raw.http_response.read())
                except ValueError:
                    ctype = raw.http_response.headers.get("content-type", "")
                    raise not_json(self.host, "embeddings", ctype) from None
                yield result_of(data)
                return
            ctype = raw.http_response.headers.get("content-type", "")
            try:
                completion = raw.parse()
            except ValueError:
                body = raw.http_response.content
                raise not_json(self.host, "a response", ctype or "no content type", body) from None
            if isinstance(completion, str | bytes):
                raise not_json(self.host, "a response", ctype, raw.http_response.content)
            message = stream_error_from({"error": read_field(completion, "error")})
            if message is not None:
                raise json_error_on_stream(self.host, message)
            try:
                yield result_of(completion)
            except (ValueError, TypeError, AttributeError):
                raise IncompleteAnswer(
                    f"{self.host} sent a completion without choices",
                    reason="cut",
                    host=self.host,
                    hint="check the base URL and model",
                ) from None

        for result in watched(
            produce,
            timeout=self.config.timeout,
            on_stall=lambda: network_error(self.host, TimeoutError("Timeout"), timeout=self.config.timeout),
            close=lambda: None,
        ):
            return result
        raise AssertionError("unreachable")

    def list_models(self) -> list[ModelInfo]:
        page = self._call(
            lambda: self._client.models.with_raw_response.list(**self._per_request), method="GET"
        )
        response = page.http_response
        try:
            return model_infos(response.json())
        except (ValueError, AttributeError):
            ctype = response.headers.get("content-type", "")
            raise not_json(self.host, "a model list", ctype, response.content) from None

    def close(self) -> None:
        self._client.close()

"""The official openai SDK as a transport. Imported only when `--transport sdk` is chosen (~1.5 s of imports).

The SDK's own retries are turned off so that both transports share one policy (retry.py) and fail
with the same exit codes; everything else — HTTP, auth headers, SSE decoding, typed chunks — is the SDK's.
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
from ..errors import IncompleteAnswer
from .base import TransportConfig
from .retry import Retryable, call_with_retries, retry_after_seconds, should_retry, stderr_notify
from .status import (
    error_for_status,
    json_error_on_stream,
    network_error,
    not_json,
    server_message,
)
from .tls import build_client
from .watchdog import BytePump, watched
from .wire import (
    StreamTracker,
    chunk_events,
    embeddings_or_error,
    model_infos,
    not_offered,
    read_field,
    result_events,
    result_from_completion,
    result_from_text,
    stream_error_from,
    text_chunk_events,
)

T = TypeVar("T")
_BOM = b"\xef\xbb\xbf"

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
    err = error_for_status(exc.status_code, config.host, said, model=model, auth_hint=config.auth_hint)
    if should_retry(exc.status_code, response.headers):
        return Retryable(err, retry_after_seconds(response.headers))
    return err


def sdk_call(
    config: TransportConfig, fn: Callable[[], T], *, model: str | None = None, endpoint: str | None = None
) -> T:
    """Call the SDK under llmcli's retry policy, its errors turned into llmcli's (same exit codes as http)."""

    def attempt() -> T:
        try:
            return fn()
        except openai.APIStatusError as exc:
            raise status_error(config, exc, model, endpoint) from None
        except openai.APITimeoutError as exc:
            raise Retryable(
                network_error(config.host, exc.__cause__ or exc, timeout=config.timeout)
            ) from None
        except openai.APIConnectionError as exc:
            raise Retryable(network_error(config.host, exc.__cause__ or exc)) from None

    notify = stderr_notify if (config.debug or sys.stderr.isatty()) else None
    return call_with_retries(attempt, max_retries=config.max_retries, notify=notify)


class SdkTransport:
    def __init__(self, config: TransportConfig):
        self.config = config
        self.host = config.host
        self._client, self._per_request = openai_client(config)

    def _debug(self, message: str) -> None:
        debug_line(self.config, message)

    def _call(self, fn, *, model: str | None = None, endpoint: str | None = None):
        return sdk_call(self.config, fn, model=model, endpoint=endpoint)

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
        self._debug(f"POST {self.config.base_url.rstrip('/')}/{request.endpoint} (sdk)")
        raw = self._call(lambda: create(**kwargs), model=request.model, endpoint=request.endpoint)
        response = raw.http_response
        tracker = StreamTracker(self.host)
        ctype = response.headers.get("content-type", "").lower()
        if "text/event-stream" not in ctype:
            try:
                body = response.read()
            finally:
                response.close()
            if "json" in ctype:
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None
                if isinstance(data, dict) and data.get("choices"):
                    yield from result_events(result_of(data))
                    return
                raise json_error_on_stream(self.host, server_message(body, ctype))
            if not body.strip():
                tracker.finish()
            raise tracker.malformed(body.decode("utf-8", "replace")[:80])

        stream = raw.parse()
        # The SDK reads the body through response.iter_bytes(): feed it from the watchdog's pump, and keep
        # the last bytes, since the SDK stops quietly at [DONE] and at a clean close alike.
        tail = bytearray()
        original_iter_bytes = stream.response.iter_bytes
        pump = BytePump(
            original_iter_bytes,
            timeout=self.config.timeout,
            on_stall=lambda: tracker.stalled(self.config.timeout),
        )

        def pumped_bytes(*args: Any, **kw: Any) -> Iterator[bytes]:
            head: bytes | None = b""  # the first bytes, until it is clear whether a BOM begins them
            for piece in pump:
                if head is not None:
                    # An event stream may begin with a byte order mark, which is not part of the first
                    # line (the SDK's decoder would make the first field unknown): drop it, as the
                    # http transport does.
                    head += piece
                    if len(head) < 3 and _BOM.startswith(head):
                        continue
                    piece = head[3:] if head.startswith(_BOM) else head
                    head = None
                    if not piece:
                        continue
                tail[:] = (bytes(tail) + piece[-64:])[-64:]
                yield piece
            if head:
                yield head

        stream.response.iter_bytes = pumped_bytes  # type: ignore[method-assign]
        try:
            for chunk in stream:
                for event in events_of(chunk, tracker):
                    if tracker.track(event):
                        pump.progress()
                    yield event
        except openai.APITimeoutError:
            raise tracker.stalled(self.config.timeout) from None
        except openai.APIConnectionError:
            raise tracker.broken() from None
        except openai.APIError as exc:
            raise tracker.error_event(exc.message) from None
        except ValueError as exc:  # json.JSONDecodeError from a malformed data line
            raise tracker.malformed(str(exc)) from None
        finally:
            pump.close()
            stream.close()
        if b"[DONE]" in tail:
            tracker.saw_done = tracker.saw_data = True
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
            try:
                completion = raw.parse()
            except ValueError:
                ctype = raw.http_response.headers.get("content-type", "")
                raise not_json(self.host, "a response", ctype or "no content type") from None
            if isinstance(completion, str | bytes):
                raise not_json(self.host, "a response")
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
        page = self._call(lambda: self._client.models.with_raw_response.list(**self._per_request))
        try:
            return model_infos(page.http_response.json())
        except (ValueError, AttributeError):
            raise not_json(self.host, "a model list") from None

    def close(self) -> None:
        self._client.close()

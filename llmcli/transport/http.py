"""The raw transport: httpx for HTTP, sse.py for the event-stream framing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import httpx  # without its command-line client: see transport/__init__.py

from ..core.types import (
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
from .base import TransportConfig, wire_request
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
    result_from_completion,
    result_from_text,
    sse_chat_events,
    stream_error_from,
    text_chunk_events,
)

MAX_ERROR_BODY = 64 * 1024


class HttpTransport:
    def __init__(self, config: TransportConfig):
        self.config = config
        self.host = config.host
        # Every request's headers come from base.wire_request (Authorization included: httpx drops it
        # when a redirect leaves the origin); TLS and proxy settings from tls.py.
        self._client = build_client(
            httpx.Client,
            config,
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=True,
            max_redirects=5,
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _debug(self, message: str) -> None:
        if self.config.debug:
            print(f"llmcli: debug: {message}", file=sys.stderr, flush=True)

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, *, stream: bool, model: str | None = None
    ) -> httpx.Response:
        wire = wire_request(self.config, method, path, body)
        url, content = wire.url, wire.content()

        def attempt() -> httpx.Response:
            self._debug(f"{method} {display_url(url)}")
            try:
                request = self._client.build_request(method, url, headers=wire.headers, content=content)
                # Always stream the body: a failure after the status line is not a connect error and
                # must not be retried (the server may have done the work already). --timeout bounds
                # the wait for the headers as a whole, not only each read (a trickle resets those).
                response = within(
                    lambda: self._client.send(request, stream=True),
                    timeout=self.config.timeout,
                    discard=lambda late: late.close(),
                )
            except (httpx.TimeoutException, DeadlineTimeout) as exc:
                raise Retryable(self._network_error(exc, timeout=self.config.timeout)) from None
            except httpx.TooManyRedirects:
                raise redirect_loop(self.host) from None
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                raise Retryable(self._network_error(exc)) from None
            self._debug(f"HTTP {response.status_code} {response.headers.get('content-type', '')}")
            changed = method_changed(response, method, self.host)
            if changed is not None:  # a 301/302/303 made the POST a GET: say so, not the GET's answer
                response.close()
                raise changed
            if response.status_code < 400:
                return response
            try:
                raw = self._read_capped(response)
            finally:
                response.close()
            said = server_message(raw, response.headers.get("content-type", ""))
            missing = not_offered(self.host, path, response.status_code, said)
            if missing is not None:
                raise missing
            err = error_for_status(
                response.status_code,
                self.host,
                said,
                model=model,
                auth_hint=self.config.auth_hint,
                proxy=self.config.proxy_in_use() if response.status_code == 407 else None,
            )
            if should_retry(response.status_code, response.headers):
                raise Retryable(err, retry_after_seconds(response.headers))
            raise err

        notify = stderr_notify if (self.config.debug or sys.stderr.isatty()) else None
        response = call_with_retries(attempt, max_retries=self.config.max_retries, notify=notify)
        if not stream:
            try:
                within(response.read, timeout=self.config.timeout, discard=lambda _: None)
            except (httpx.TimeoutException, DeadlineTimeout) as exc:
                raise self._network_error(exc, timeout=self.config.timeout) from None
            except httpx.HTTPError:
                raise StreamTracker(self.host).cut() from None
            finally:
                response.close()
        return response

    def _network_error(self, exc: BaseException, *, timeout: float | None = None) -> NetworkFailed:
        return network_error(self.host, exc, timeout=timeout, proxy=self.config.proxy_in_use())

    def _read_capped(self, response: httpx.Response) -> bytes:
        out = bytearray()
        try:
            for piece in response.iter_bytes():
                out += piece
                if len(out) >= MAX_ERROR_BODY:
                    break
        except httpx.HTTPError:
            pass
        return bytes(out)

    # -- the protocol -------------------------------------------------------------------------

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatEvent]:
        return self._stream(request, chunk_events, result_from_completion)

    def stream_text(self, request: CompletionRequest) -> Iterator[ChatEvent]:
        return self._stream(request, text_chunk_events, result_from_text)

    def _stream(self, request, events_of, result_of) -> Iterator[ChatEvent]:
        response = self._send(
            "POST", request.endpoint, request.body(stream=True), stream=True, model=request.model
        )
        tracker = StreamTracker(self.host)
        ctype = response.headers.get("content-type", "").lower()
        if "text/event-stream" not in ctype:
            try:
                yield from self._not_a_stream(response, ctype, tracker, result_of)
            finally:
                response.close()
            return

        pump = BytePump(
            response.iter_bytes,
            timeout=self.config.timeout,
            on_stall=lambda: tracker.stalled(self.config.timeout),
        )
        try:
            # The hot path (wire.sse_chat_events): the same event-stream rules as the sdk transport.
            yield from sse_chat_events(pump, tracker, pump.progress, events_of)
        except httpx.TimeoutException:
            raise tracker.stalled(self.config.timeout) from None
        except httpx.HTTPError:
            raise tracker.broken() from None
        finally:
            pump.close()
            response.close()
        tracker.finish()

    def _not_a_stream(
        self, response: httpx.Response, ctype: str, tracker: StreamTracker, result_of
    ) -> Iterator[ChatEvent]:
        """A stream was asked for and something else came back: read it whole, then see what it is."""
        try:
            raw = response.read()
        except httpx.TimeoutException:
            raise tracker.stalled(self.config.timeout) from None
        except httpx.HTTPError:  # e.g. a body shorter than its Content-Length
            raise tracker.cut() from None
        yield from not_a_stream(raw, ctype, tracker, result_of)

    def complete(self, request: ChatRequest) -> ChatResult:
        return self._whole(request, lambda response: self._completion(response, result_from_completion))

    def complete_text(self, request: CompletionRequest) -> ChatResult:
        return self._whole(request, lambda response: self._completion(response, result_from_text))

    def embed(self, request: EmbeddingRequest) -> Embeddings:
        def vectors(response: httpx.Response) -> Embeddings:
            try:
                data = response.json()
            except ValueError:
                raise not_json(self.host, "embeddings", response.headers.get("content-type", "")) from None
            return embeddings_or_error(self.host, data, len(request.texts))

        return self._whole(request, vectors)

    def _whole(self, request, read):
        """One non-streamed request; --timeout bounds the whole response."""

        def produce():
            response = self._send(
                "POST", request.endpoint, request.body(stream=False), stream=False, model=request.model
            )
            yield read(response)

        # --timeout bounds the whole response, not just each read.
        for result in watched(
            produce,
            timeout=self.config.timeout,
            on_stall=lambda: network_error(self.host, TimeoutError("Timeout"), timeout=self.config.timeout),
            close=lambda: None,
        ):
            return result
        raise AssertionError("unreachable")

    def _completion(self, response: httpx.Response, result_of) -> ChatResult:
        ctype = response.headers.get("content-type", "")
        try:
            data = response.json()
        except ValueError:
            raise not_json(self.host, "a response", ctype or "no content type", response.content) from None
        message = stream_error_from(data)
        if message is not None:
            raise json_error_on_stream(self.host, message)
        try:
            return result_of(data)
        except (ValueError, TypeError, AttributeError):
            raise IncompleteAnswer(
                f"{self.host} sent a completion without choices",
                reason="cut",
                host=self.host,
                hint="check the base URL and model",
            ) from None

    def list_models(self) -> list[ModelInfo]:
        response = self._send("GET", "models", None, stream=False)
        try:
            return model_infos(response.json())
        except (ValueError, AttributeError):
            ctype = response.headers.get("content-type", "")
            raise not_json(self.host, "a model list", ctype, response.content) from None

    def close(self) -> None:
        self._client.close()

"""The raw transport: httpx for HTTP, sse.py for the event-stream framing."""

from __future__ import annotations

import codecs
import json
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
from ..errors import IncompleteAnswer
from .base import TransportConfig, wire_request
from .retry import Retryable, call_with_retries, retry_after_seconds, should_retry, stderr_notify
from .sse import SSEParser
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
    fast_json_reader,
    model_infos,
    not_offered,
    parse_json_chunk,
    result_events,
    result_from_completion,
    result_from_text,
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
            self._debug(f"{method} {url}")
            try:
                request = self._client.build_request(method, url, headers=wire.headers, content=content)
                # Always stream the body: a failure after the status line is not a connect error and
                # must not be retried (the server may have done the work already).
                response = self._client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise Retryable(network_error(self.host, exc, timeout=self.config.timeout)) from None
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                raise Retryable(network_error(self.host, exc)) from None
            self._debug(f"HTTP {response.status_code} {response.headers.get('content-type', '')}")
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
                response.status_code, self.host, said, model=model, auth_hint=self.config.auth_hint
            )
            if should_retry(response.status_code, response.headers):
                raise Retryable(err, retry_after_seconds(response.headers))
            raise err

        notify = stderr_notify if (self.config.debug or sys.stderr.isatty()) else None
        response = call_with_retries(attempt, max_retries=self.config.max_retries, notify=notify)
        if not stream:
            try:
                response.read()
            except httpx.TimeoutException as exc:
                raise network_error(self.host, exc, timeout=self.config.timeout) from None
            except httpx.HTTPError:
                raise StreamTracker(self.host).cut() from None
            finally:
                response.close()
        return response

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
        # The hot path, once per token: a whole network read is decoded, split into events and parsed
        # here, with no per-line or per-event generators between the socket and the caller.
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        parser = SSEParser()
        loads = fast_json_reader()
        progress = pump.progress
        track = tracker.track
        try:
            for piece in pump:
                for kind, data, _id, _retry in parser.feed(decode(piece)):
                    stripped = data.strip()
                    if not stripped:
                        continue  # an empty event is not progress
                    if stripped == "[DONE]":
                        tracker.saw_done = tracker.saw_data = True
                        break
                    try:
                        chunk = loads(data)
                    except ValueError:
                        chunk = parse_json_chunk(data, tracker)  # json.loads, or malformed
                    message = stream_error_from(chunk)
                    if message is None and kind == "error":
                        message = server_message(data) or "error"
                    if message is not None:
                        raise tracker.error_event(message)
                    for event in events_of(chunk, tracker):
                        if track(event):
                            progress()
                        yield event
                if tracker.saw_done:
                    break
            # At the end of the body, a line without its line end (or half a character) completes no event.
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
        """A stream was asked for and something else came back."""
        raw = self._read_capped(response)
        if "json" in ctype:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("choices"):
                # The server ignored stream=true: take the whole answer as it is.
                yield from result_events(result_of(data))
                return
            raise json_error_on_stream(self.host, server_message(raw, ctype))
        if not raw.strip():
            tracker.finish()  # raises: nothing was sent
        raise tracker.malformed(raw.decode("utf-8", "replace")[:80])

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
            raise not_json(self.host, "a response", ctype or "no content type") from None
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
            raise not_json(self.host, "a model list") from None

    def close(self) -> None:
        self._client.close()

"""The raw transport: httpx for HTTP, httpx-sse for the event-stream framing."""

from __future__ import annotations

import codecs
import sys
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import EventSource

from .. import __version__
from ..core.types import ChatEvent, ChatRequest, ChatResult, ModelInfo
from ..core.urls import display_url
from ..errors import IncompleteAnswer, NetworkFailed
from .base import TransportConfig, endpoint
from .deadline import DeadlineTimeout, within
from .retry import Retryable, call_with_retries, retry_after_seconds, stderr_notify
from .status import (
    RETRYABLE_STATUS,
    error_for_status,
    json_error_on_stream,
    method_changed,
    network_error,
    not_json,
    redirect_loop,
    server_message,
)
from .watchdog import BytePump, watched
from .wire import (
    StreamTracker,
    chunk_events,
    model_infos,
    not_a_stream,
    parse_json_chunk,
    result_from_completion,
    stream_error_from,
)

MAX_ERROR_BODY = 64 * 1024


class _PumpedResponse:
    """What httpx-sse's EventSource reads: the response's headers, and its text as the pump hands it over."""

    def __init__(self, response: httpx.Response, pump: BytePump):
        self.headers = response.headers
        self._pump = pump

    def iter_text(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for piece in self._pump:
            text = decoder.decode(piece)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


class HttpTransport:
    def __init__(self, config: TransportConfig):
        self.config = config
        self.host = config.host
        headers = {"User-Agent": f"llmcli/{__version__}", "Accept": "application/json"}
        if config.api_key:
            # httpx drops Authorization when a redirect leaves the origin.
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._client = httpx.Client(
            headers=headers,
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
        url = endpoint(self.config.base_url, path)

        def attempt() -> httpx.Response:
            self._debug(f"{method} {display_url(url)}")
            try:
                request = self._client.build_request(method, url, json=body)
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
            err = error_for_status(
                response.status_code,
                self.host,
                server_message(raw, response.headers.get("content-type", "")),
                model=model,
                proxy=self.config.proxy() if response.status_code == 407 else None,
            )
            if response.status_code in RETRYABLE_STATUS:
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
        return network_error(self.host, exc, timeout=timeout, proxy=self.config.proxy())

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
        response = self._send(
            "POST", "chat/completions", request.body(stream=True), stream=True, model=request.model
        )
        tracker = StreamTracker(self.host)
        ctype = response.headers.get("content-type", "").lower()
        if "text/event-stream" not in ctype:
            try:
                yield from self._not_a_stream(response, ctype, tracker)
            finally:
                response.close()
            return

        pump = BytePump(
            response.iter_bytes,
            timeout=self.config.timeout,
            on_stall=lambda: tracker.stalled(self.config.timeout),
        )
        try:
            for sse in EventSource(_PumpedResponse(response, pump)).iter_sse():
                data = sse.data
                if not data.strip():
                    continue  # an empty event is not progress
                if data.strip() == "[DONE]":
                    tracker.saw_done = tracker.saw_data = True
                    break
                if sse.event == "error":  # the server's words, whether the data is JSON or plain text
                    raise tracker.error_event(server_message(data) or "error")
                chunk = parse_json_chunk(data, tracker)
                message = stream_error_from(chunk)
                if message is not None:
                    raise tracker.error_event(message)
                for event in chunk_events(chunk, tracker):
                    if tracker.track(event):
                        pump.progress()
                    yield event
        except httpx.TimeoutException:
            raise tracker.stalled(self.config.timeout) from None
        except httpx.HTTPError:
            raise tracker.broken() from None
        finally:
            pump.close()
            response.close()
        tracker.finish()

    def _not_a_stream(
        self, response: httpx.Response, ctype: str, tracker: StreamTracker
    ) -> Iterator[ChatEvent]:
        """A stream was asked for and something else came back: read it whole, then see what it is."""
        try:
            raw = response.read()
        except httpx.TimeoutException:
            raise tracker.stalled(self.config.timeout) from None
        except httpx.HTTPError:  # e.g. a body shorter than its Content-Length
            raise tracker.cut() from None
        yield from not_a_stream(raw, ctype, tracker)

    def complete(self, request: ChatRequest) -> ChatResult:
        def produce() -> Iterator[ChatResult]:
            response = self._send(
                "POST", "chat/completions", request.body(stream=False), stream=False, model=request.model
            )
            yield self._completion(response)

        # --timeout bounds the whole response, not just each read.
        for result in watched(
            produce,
            timeout=self.config.timeout,
            on_stall=lambda: network_error(self.host, TimeoutError("Timeout"), timeout=self.config.timeout),
            close=lambda: None,
        ):
            return result
        raise AssertionError("unreachable")

    def _completion(self, response: httpx.Response) -> ChatResult:
        ctype = response.headers.get("content-type", "")
        try:
            data = response.json()
        except ValueError:
            raise not_json(self.host, "a response", ctype or "no content type", response.content) from None
        message = stream_error_from(data)
        if message is not None:
            raise json_error_on_stream(self.host, message)
        try:
            return result_from_completion(data)
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

"""The official openai SDK as a transport. Imported only when `--transport sdk` is chosen (~1.5 s of imports).

The SDK's own retries are turned off so that both transports share one policy (retry.py) and fail
with the same exit codes. The SDK builds and sends the requests (its HTTP stack, auth headers, request
types) and parses whole responses; a streamed body is read through the same event-stream rules as the
http transport (`wire.sse_chat_events`), so that every legal stream gives the same answer either way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
from httpx_sse import EventSource

from .. import __version__
from ..core.types import ChatEvent, ChatRequest, ChatResult, ModelInfo
from ..core.urls import display_url
from ..errors import IncompleteAnswer, NetworkFailed
from .base import TransportConfig
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
    model_infos,
    not_a_stream,
    pumped_text,
    read_field,
    result_from_completion,
    sse_chat_events,
    stream_error_from,
)

# Request fields the SDK's typed `create()` takes by name; anything else goes in extra_body.
TYPED = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
}


class _PumpedText:
    """What httpx-sse's EventSource reads: the response's headers, and its text as the pump hands it over."""

    def __init__(self, headers: Any, pump: BytePump):
        self.headers = headers
        self._pump = pump

    def iter_text(self) -> Iterator[str]:
        return pumped_text(self._pump)


class _Entered:
    def __init__(self, manager: Any):
        self._manager = manager
        self.response = manager.__enter__()

    def close(self) -> None:
        self._manager.__exit__(None, None, None)


def _http_response(result: Any) -> Any:
    """The HTTP response of what a call returned (a raw response, or an entered streaming one)."""
    if isinstance(result, _Entered):
        return result.response.http_response
    return result.http_response


def _close(result: Any) -> None:
    if isinstance(result, _Entered):
        result.close()
    else:
        result.http_response.close()


def _entered(manager: Any) -> _Entered:
    """Open a `with_streaming_response` call (sends the request, reads the status line) without `with`."""
    return _Entered(manager)


class SdkTransport:
    def __init__(self, config: TransportConfig):
        self.config = config
        self.host = config.host
        headers: dict[str, Any] = {"User-Agent": f"llmcli/{__version__} (openai-sdk)"}
        if config.api_key:
            api_key = config.api_key
        else:
            # No key configured → no Authorization header at all (a placeholder that is never sent).
            api_key = "unused"
        self._per_request: dict[str, Any] = (
            {} if config.api_key else {"extra_headers": {"Authorization": openai.Omit()}}
        )
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=config.base_url.rstrip("/"),
            timeout=config.timeout,
            max_retries=0,
            default_headers=headers,
        )

    def _debug(self, message: str) -> None:
        if self.config.debug:
            print(f"llmcli: debug: {message}", file=sys.stderr, flush=True)

    def _call(self, fn, *, model: str | None = None, method: str = "POST"):
        def attempt():
            try:
                # --timeout bounds the wait for the headers as a whole (see deadline.py).
                result = within(fn, timeout=self.config.timeout, discard=_close)
            except DeadlineTimeout as exc:
                raise Retryable(self._network_error(exc, timeout=self.config.timeout)) from None
            except openai.APIStatusError as exc:
                changed = method_changed(exc.response, method, self.host)
                if changed is not None:
                    raise changed from None
                raise self._status_error(exc, model) from None
            except openai.APITimeoutError as exc:
                raise Retryable(
                    self._network_error(exc.__cause__ or exc, timeout=self.config.timeout)
                ) from None
            except openai.APIConnectionError as exc:
                if isinstance(exc.__cause__, httpx2.TooManyRedirects):
                    raise redirect_loop(self.host) from None
                raise Retryable(self._network_error(exc.__cause__ or exc)) from None
            # A 301/302/303 that made the POST a GET: say so, not what the GET found.
            changed = method_changed(_http_response(result), method, self.host)
            if changed is not None:
                _close(result)
                raise changed
            return result

        notify = stderr_notify if (self.config.debug or sys.stderr.isatty()) else None
        return call_with_retries(attempt, max_retries=self.config.max_retries, notify=notify)

    def _network_error(self, exc: BaseException, *, timeout: float | None = None) -> NetworkFailed:
        return network_error(self.host, exc, timeout=timeout, proxy=self.config.proxy())

    def _status_error(self, exc: openai.APIStatusError, model: str | None) -> Exception:
        response = exc.response
        self._debug(f"HTTP {exc.status_code} {response.headers.get('content-type', '')}")
        try:
            raw: bytes | str | None = response.read()
        except Exception:
            raw = exc.body if isinstance(exc.body, str) else json.dumps(exc.body) if exc.body else None
        err = error_for_status(
            exc.status_code,
            self.host,
            server_message(raw, response.headers.get("content-type", "")),
            model=model,
            proxy=self.config.proxy() if exc.status_code == 407 else None,
        )
        if exc.status_code in RETRYABLE_STATUS:
            return Retryable(err, retry_after_seconds(response.headers))
        return err

    def _kwargs(self, body: dict[str, Any]) -> dict[str, Any]:
        kwargs = {k: v for k, v in body.items() if k in TYPED}
        kwargs.update(self._per_request)
        extra = {k: v for k, v in body.items() if k not in TYPED}
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    # -- the protocol -------------------------------------------------------------------------

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatEvent]:
        kwargs = self._kwargs(request.body(stream=True))
        self._debug(f"POST {display_url(self.config.base_url.rstrip('/'))}/chat/completions (sdk)")
        raw = self._call(
            lambda: self._client.chat.completions.with_raw_response.create(**kwargs), model=request.model
        )
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
            yield from not_a_stream(body, ctype, tracker)
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
            events = EventSource(_PumpedText(response.headers, pump)).iter_sse()
            yield from sse_chat_events(events, tracker, pump.progress)
        except httpx2.TimeoutException:
            raise tracker.stalled(self.config.timeout) from None
        except (httpx2.HTTPError, httpx2.StreamError):
            raise tracker.broken() from None
        finally:
            pump.close()
            response.close()
        tracker.finish()

    def complete(self, request: ChatRequest) -> ChatResult:
        kwargs = self._kwargs(request.body(stream=False))

        def produce() -> Iterator[ChatResult]:
            # Streamed raw response: only getting the status line is retried; a body cut after a 200
            # is an incomplete answer, as with the http transport.
            manager = self._call(
                lambda: _entered(self._client.chat.completions.with_streaming_response.create(**kwargs)),
                model=request.model,
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
                yield result_from_completion(completion)
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

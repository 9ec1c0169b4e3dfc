"""Reference OpenAI-compatible chat server used by the llmcli test-suite.

A real FastAPI app served by uvicorn (h11) on 127.0.0.1, in a daemon thread of
the test process.  It speaks the OpenAI wire format, records every request it
receives, and has switches (:class:`Scenario`) to inject faults.

Usage in tests::

    srv = RefServer().start()
    srv.push(Scenario(text="hi", delay_between=0.1))
    ...  # talk to srv.base_url
    srv.stop()

Script mode (for manual checks and benchmarks)::

    python tests/refserver.py [--port N] [--text-file F] [--repeat K]
                              [--prebuilt] [--delay-between S]

prints ``http://127.0.0.1:PORT/v1`` on one line, then serves until SIGTERM or
SIGINT.

This module must not import anything from ``llmcli``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from refserver_jobs import JobsApi
from refserver_monitor import install as install_monitor

__all__ = ["RecordedRequest", "RefServer", "Scenario", "DEFAULT_MODELS", "EXTRA_ENDPOINTS", "split_words"]

# More POST endpoints, registered by other test modules (tests/refserver_calls.py): path suffix →
# handler(server, scenario, extra_headers, body, body_ok) -> Response. Checked after chat completions.
EXTRA_ENDPOINTS: dict[str, Any] = {}

_WORD_RE = re.compile(r"\S+\s*|\s+")
_PREBUILT_WRITE = 64 * 1024
_SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
_JSON_CONTENT_TYPE = "application/json"

DEFAULT_MODELS: list[dict[str, Any]] = [
    {"id": "ref-model", "object": "model", "created": 1700000000, "owned_by": "llmcli-tests"},
    {"id": "ref-model-large", "object": "model", "created": 1700000000, "owned_by": "llmcli-tests"},
    {"id": "ref-embed", "object": "model", "created": 1700000000, "owned_by": "llmcli-tests"},
]


def split_words(text: str) -> list[str]:
    """Split ``text`` into word-ish pieces whose concatenation is ``text``."""
    return _WORD_RE.findall(text)


@dataclass
class Scenario:
    """How the server answers one request (see the module docstring of the tests)."""

    status: int = 200
    error_body: dict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    text: str = "Hello from the reference server."
    chunks: list[str] | None = None
    reasoning: str = ""
    reasoning_field: str = "reasoning_content"
    model: str | None = None
    finish_reason: str | None = "stop"
    usage: bool | None = None
    send_done: bool = True
    delay_headers: float = 0.0
    delay_first: float = 0.0
    delay_between: float = 0.0
    keepalive_every: float | None = None
    keepalive_only: bool = False
    keepalive_max: float = 30.0
    empty_events_only: bool = False
    cut_after: int | None = None
    close_after: int | None = None
    error_after: int | None = None
    error_message: str = "The model crashed mid-stream"
    malformed_after: int | None = None
    crlf: bool = False
    no_space: bool = False
    multiline_data: bool = False
    empty_choices_first: bool = False
    role_chunk: bool = True
    split_bytes: int | None = None
    json_body_on_stream: dict | None = None
    close_immediately: bool = False
    empty_body: bool = False
    redirect_to: str | None = None
    prebuilt: bool = False
    # A streamed body sent verbatim, piece by piece (wire framing the switches above cannot make;
    # tests/refserver_wire.py builds them).
    raw_stream: list[bytes] | None = None

    def content_pieces(self) -> list[str]:
        return list(self.chunks) if self.chunks is not None else split_words(self.text)

    def reasoning_pieces(self) -> list[str]:
        return split_words(self.reasoning) if self.reasoning else []


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    query: str = ""
    received: float = field(default_factory=time.monotonic)  # arrival, for load tests (CLOCK_MONOTONIC)


class _AbortConnection(Exception):
    """Raised inside a body generator so uvicorn drops the connection mid-body."""


# --------------------------------------------------------------------------
# error bodies


_ERROR_TYPES = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to access this resource."),
    404: ("invalid_request_error", None, "The requested resource was not found."),
    405: ("invalid_request_error", None, "Method not allowed."),
    408: ("timeout_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict."),
    413: ("invalid_request_error", None, "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}


def error_json(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _default_error(status: int) -> dict:
    type_, code, message = _ERROR_TYPES.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}."),
    )
    return error_json(message, type_, code)


def _dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, **kw)


# --------------------------------------------------------------------------
# SSE framing


class _Framer:
    def __init__(self, sc: Scenario) -> None:
        self.eol = "\r\n" if sc.crlf else "\n"
        self.prefix = "data:" if sc.no_space else "data: "
        self.multiline = sc.multiline_data

    def event(self, obj: Any) -> bytes:
        if self.multiline:
            # indent=1 puts newlines only where JSON allows whitespace; the
            # client joins the data lines with "\n" and gets valid JSON back.
            # (split on "\n" only: ensure_ascii=False may leave U+2028 raw.)
            lines = _dumps(obj, indent=1).split("\n")
        else:
            lines = [_dumps(obj, separators=(",", ":"))]
        return self.raw_lines(lines)

    def raw_lines(self, lines: list[str]) -> bytes:
        out = "".join(self.prefix + line + self.eol for line in lines) + self.eol
        return out.encode("utf-8")

    def done(self) -> bytes:
        return self.raw_lines(["[DONE]"])

    def keepalive(self) -> bytes:
        return (": keep-alive" + self.eol + self.eol).encode("utf-8")


# Operations produced by the stream planner and executed by the driver.
_Op = tuple  # ("data", bytes) | ("sleep", seconds, keepalive_every|None) | ("abort",)


def _prompt_tokens(body: dict) -> int:
    total = 0
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        content = msg.get("content")
        if isinstance(content, str):
            total += len(content.split())
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(part["text"].split())
    return total


class _Completion:
    """Everything that describes one chat completion answer."""

    def __init__(self, sc: Scenario, body: dict) -> None:
        self.sc = sc
        self.body = body
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model = sc.model or body.get("model") or "ref-model"
        self.content = sc.content_pieces()
        self.reasoning = sc.reasoning_pieces()
        prompt = _prompt_tokens(body)
        completion = len(self.content) + len(self.reasoning)
        self.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        opts = body.get("stream_options")
        wants_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        self.stream_usage = wants_usage if sc.usage is None else bool(sc.usage)

    # ---- non-streaming ------------------------------------------------
    def message_body(self) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content)}
        if self.sc.reasoning:
            message[self.sc.reasoning_field] = self.sc.reasoning
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": self.sc.finish_reason}
            ],
        }
        if self.sc.usage is not False:
            out["usage"] = self.usage
        return out

    # ---- streaming ----------------------------------------------------
    def chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.stream_usage:
            # As OpenAI does with include_usage: every other chunk has "usage": null.
            out["usage"] = None
        return out

    def usage_chunk(self) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [],
            "usage": self.usage,
        }

    def plan(self) -> Iterator[_Op]:
        """Yield the operations that make up the SSE body."""
        sc = self.sc
        f = _Framer(sc)
        ka = sc.keepalive_every

        if sc.keepalive_only or sc.empty_events_only:
            interval = ka if ka and ka > 0 else 0.5
            elapsed = 0.0
            while elapsed < sc.keepalive_max:
                if sc.keepalive_only:
                    yield ("data", f.keepalive())
                else:
                    yield ("data", f.event(self.chunk({"content": ""})))
                step = min(interval, sc.keepalive_max - elapsed)
                yield ("sleep", step, None)
                elapsed += step
            return

        if sc.delay_first > 0:
            yield ("sleep", sc.delay_first, ka)

        if sc.empty_choices_first:
            yield (
                "data",
                f.event(
                    {
                        "choices": [],
                        "created": 0,
                        "id": "",
                        "model": "",
                        "object": "",
                        "prompt_filter_results": [],
                    }
                ),
            )

        if sc.role_chunk:
            yield ("data", f.event(self.chunk({"role": "assistant", "content": ""})))

        first_delta = True

        def between() -> Iterator[_Op]:
            nonlocal first_delta
            if not first_delta and sc.delay_between > 0:
                yield ("sleep", sc.delay_between, ka)
            first_delta = False

        for piece in self.reasoning:
            yield from between()
            yield ("data", f.event(self.chunk({sc.reasoning_field: piece})))

        n = len(self.content)
        for i in range(n + 1):
            # fault switches fire "after i content chunks"
            if sc.malformed_after == i:
                yield ("data", f.raw_lines(['{"choices": [{"delta": {"content": "x"']))
            if sc.error_after == i:
                err = {"error": {"message": sc.error_message, "type": "server_error", "code": None}}
                yield ("data", f.event(err))
                return
            if sc.close_after == i:
                return
            if sc.cut_after == i:
                yield ("abort",)
                return
            if i == n:
                break
            yield from between()
            yield ("data", f.event(self.chunk({"content": self.content[i]})))

        yield ("data", f.event(self.chunk({}, sc.finish_reason)))
        if self.stream_usage:
            yield ("data", f.event(self.usage_chunk()))
        if sc.send_done:
            yield ("data", f.done())


async def _sleep_with_keepalive(seconds: float, every: float | None, framer: _Framer) -> AsyncIterator[bytes]:
    if not every or every <= 0:
        await asyncio.sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        if remaining <= every:
            await asyncio.sleep(remaining)
            return
        await asyncio.sleep(every)
        yield framer.keepalive()


async def _drive(ops: Iterator[_Op], sc: Scenario) -> AsyncIterator[bytes]:
    """Execute planned operations as an async body iterator (bytes)."""
    framer = _Framer(sc)
    if sc.prebuilt:
        parts: list[bytes] = []
        abort = False
        for op in ops:
            if op[0] == "data":
                parts.append(op[1])
            elif op[0] == "abort":
                abort = True
                break
        blob = b"".join(parts)
        for start in range(0, len(blob), _PREBUILT_WRITE):
            yield blob[start : start + _PREBUILT_WRITE]
        if abort:
            raise _AbortConnection("cut_after")
        return

    step = sc.split_bytes if sc.split_bytes and sc.split_bytes > 0 else None
    for op in ops:
        kind = op[0]
        if kind == "sleep":
            async for ka in _sleep_with_keepalive(op[1], op[2], framer):
                yield ka
        elif kind == "abort":
            raise _AbortConnection("cut_after")
        else:
            data: bytes = op[1]
            if step is None:
                yield data
            else:
                for start in range(0, len(data), step):
                    yield data[start : start + step]
                    # let the event loop write this piece on its own
                    await asyncio.sleep(0)


async def _abort_immediately() -> AsyncIterator[bytes]:
    raise _AbortConnection("close_immediately")
    yield b""  # pragma: no cover  (makes this an async generator)


async def _raw(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece
        await asyncio.sleep(0)  # each piece its own write


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


# --------------------------------------------------------------------------
# the server


class RefServer:
    def __init__(self) -> None:
        self.port: int = 0
        self.default: Scenario = Scenario()
        self.requests: list[RecordedRequest] = []
        self.models: list[dict] = copy.deepcopy(DEFAULT_MODELS)
        self.require_key: str | None = None
        self._queue: deque[Scenario] = deque()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.scheme = "http"  # "https" with uvicorn_options' ssl_certfile/ssl_keyfile (tests/test_network.py)
        self.uvicorn_options: dict[str, Any] = {}
        self.jobs = JobsApi(self)  # /files, /batches, /fine_tuning (tests/refserver_jobs.py)
        self.extensions: list[Any] = [self.jobs]  # more endpoints: handle() -> Response | None, reset()
        self.app = self._build_app()

    # ---- public API ---------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def push(self, *scenarios: Scenario) -> None:
        with self._lock:
            self._queue.extend(scenarios)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.require_key = None
            self.default = Scenario()
            self.models = copy.deepcopy(DEFAULT_MODELS)
        for ext in self.extensions:
            ext.reset()
        self.monitor.reset()

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    def pending(self) -> int:
        """Number of scenarios still queued."""
        with self._lock:
            return len(self._queue)

    def start(self) -> RefServer:
        if self._thread is not None:
            raise RuntimeError("RefServer already started")
        # IPPROTO_TCP, not 0: asyncio then sets TCP_NODELAY on every accepted connection, as a real
        # server does; without it Nagle holds each small SSE write for the client's delayed ACK (~40 ms).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port or 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="critical",
            log_config=None,
            access_log=False,
            lifespan="off",
            http="h11",
            loop="asyncio",
            ws="none",
            timeout_graceful_shutdown=0.5,
            server_header=False,  # refserver_monitor sets it (a switch)
            **self.uvicorn_options,
        )
        server = uvicorn.Server(config)
        self._server = server
        errors: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # pragma: no cover - surfaced by start()
                errors.append(exc)

        self._thread = threading.Thread(target=run, name=f"refserver-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if errors or not self._thread.is_alive():
                raise RuntimeError(f"RefServer failed to start: {errors!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("RefServer did not start within 10 s")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=3)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> RefServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- internals ----------------------------------------------------
    def _pop(self) -> Scenario:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)

    def _build_app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        install_monitor(app, self)  # /health, /metrics, /props, ... (tests/refserver_monitor.py)
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

        @app.api_route("/{full_path:path}", methods=methods)
        async def handle(request: Request) -> Response:  # noqa: ARG001
            return await self._handle(request)

        return app

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        body: Any = None
        body_ok = True
        if raw:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                body_ok = False
        path = request.url.path
        method = request.method
        self._record(
            RecordedRequest(
                method=method,
                path=path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                raw_body=raw,
                query=request.url.query,
            )
        )
        sc = self._pop()
        extra = dict(sc.headers)

        if sc.delay_headers > 0:
            await asyncio.sleep(sc.delay_headers)

        if sc.redirect_to is not None:
            return Response(status_code=307, headers={**extra, "location": sc.redirect_to})

        key = self.require_key
        if key is not None:
            auth = request.headers.get("authorization", "")
            if auth != f"Bearer {key}":
                given = auth[7:] if auth.startswith("Bearer ") else auth
                err = error_json(
                    f"Incorrect API key provided: {given[:3]}***", "invalid_request_error", "invalid_api_key"
                )
                return self._json(401, err, extra, sc.content_type)

        if sc.status != 200:
            return self._error(sc, extra)

        for ext in self.extensions:
            response = await ext.handle(request, method, path, raw, body)
            if response is not None:
                return response

        is_chat = path.endswith("/chat/completions")
        is_models = path.endswith("/models")
        model_match = re.search(r"/models/([^/]+)$", path)

        if is_chat and method == "POST":
            return self._chat(sc, extra, body, body_ok)
        for suffix, handler in EXTRA_ENDPOINTS.items():
            if method == "POST" and path.endswith(suffix):
                return handler(self, sc, extra, body, body_ok)
        if is_models and method == "GET":
            return self._json(
                200, {"object": "list", "data": copy.deepcopy(self.models)}, extra, sc.content_type
            )
        if model_match and method == "GET":
            wanted = model_match.group(1)
            for m in self.models:
                if m.get("id") == wanted:
                    return self._json(200, copy.deepcopy(m), extra, sc.content_type)
            err = error_json(
                f"The model '{wanted}' does not exist", "invalid_request_error", "model_not_found", "model"
            )
            return self._json(404, err, extra, sc.content_type)
        if is_chat or is_models or model_match:
            err = error_json(f"Method not allowed ({method} {path})", "invalid_request_error")
            return self._json(405, err, extra, sc.content_type)
        err = error_json(f"Invalid URL ({method} {path})", "invalid_request_error")
        return self._json(404, err, extra, sc.content_type)

    # ---- responses ----------------------------------------------------
    @staticmethod
    def _json(status: int, obj: Any, extra: dict[str, str], content_type: str | None) -> Response:
        data = _dumps(obj, separators=(",", ":")).encode("utf-8")
        headers = {**extra, "content-type": content_type or _JSON_CONTENT_TYPE}
        return Response(content=data, status_code=status, headers=headers)

    def _error(self, sc: Scenario, extra: dict[str, str]) -> Response:
        body = sc.error_body
        if body is None:
            return self._json(sc.status, _default_error(sc.status), extra, sc.content_type)
        if isinstance(body, str):
            ctype = sc.content_type
            if ctype is None:
                if body.lstrip().startswith("<"):
                    ctype = "text/html; charset=utf-8"
                else:
                    try:
                        json.loads(body)
                        ctype = _JSON_CONTENT_TYPE
                    except ValueError:
                        ctype = "text/plain; charset=utf-8"
            return Response(
                content=body.encode("utf-8"), status_code=sc.status, headers={**extra, "content-type": ctype}
            )
        return self._json(sc.status, body, extra, sc.content_type)

    def _chat(self, sc: Scenario, extra: dict[str, str], body: Any, body_ok: bool) -> Response:
        if not body_ok or not isinstance(body, dict):
            err = error_json(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly. The OpenAI API expects a JSON payload.)",
                "invalid_request_error",
            )
            return self._json(400, err, extra, sc.content_type)
        if "model" not in body or not isinstance(body.get("model"), str):
            err = error_json("you must provide a model parameter", "invalid_request_error", None, "model")
            return self._json(400, err, extra, sc.content_type)
        if not isinstance(body.get("messages"), list):
            err = error_json(
                "Missing required parameter: 'messages'.", "invalid_request_error", None, "messages"
            )
            return self._json(400, err, extra, sc.content_type)

        stream = body.get("stream") is True
        comp = _Completion(sc, body)

        if not stream:
            if sc.close_immediately or sc.empty_body:
                gen = _abort_immediately() if sc.close_immediately else _nothing()
                headers = {**extra, "content-type": sc.content_type or _JSON_CONTENT_TYPE}
                return StreamingResponse(gen, status_code=200, headers=headers)
            return self._json(200, comp.message_body(), extra, sc.content_type)

        if sc.json_body_on_stream is not None:
            return self._json(200, sc.json_body_on_stream, extra, sc.content_type)

        headers = {**extra, "content-type": sc.content_type or _SSE_CONTENT_TYPE}
        headers.setdefault("cache-control", "no-cache")
        if sc.close_immediately:
            return StreamingResponse(_abort_immediately(), status_code=200, headers=headers)
        if sc.empty_body:
            return StreamingResponse(_nothing(), status_code=200, headers=headers)
        if sc.raw_stream is not None:
            return StreamingResponse(_raw(sc.raw_stream), status_code=200, headers=headers)
        return StreamingResponse(_drive(comp.plan(), sc), status_code=200, headers=headers)


# --------------------------------------------------------------------------
# script mode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Reference OpenAI-compatible chat server for llmcli tests.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free port)")
    parser.add_argument("--text-file", help="answer with the text of this file")
    parser.add_argument("--repeat", type=int, default=1, help="repeat the text this many times")
    parser.add_argument("--prebuilt", action="store_true", help="build the SSE body up front, large writes")
    parser.add_argument("--delay-between", type=float, default=0.0, help="seconds between content chunks")
    args = parser.parse_args(argv)

    srv = RefServer()
    srv.port = args.port
    scenario = Scenario(prebuilt=args.prebuilt, delay_between=args.delay_between)
    if args.text_file:
        with open(args.text_file, encoding="utf-8") as fh:
            scenario.text = fh.read() * max(1, args.repeat)
    elif args.repeat > 1:
        scenario.text = scenario.text * args.repeat
    srv.default = scenario

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    srv.start()
    print(srv.base_url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

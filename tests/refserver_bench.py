"""Load-test servers beside the reference server (standard library only, no llmcli imports).

* `LeanServer` / script mode: the same `chat.completion.chunk` stream as tests/refserver.py, from a raw
  asyncio protocol at ~20 µs of CPU a request instead of FastAPI/uvicorn's ~1 ms — for tests whose
  figures are timings and for benchmarks/, where the server must never be what is measured. Per request:
  headers and a role chunk at once, the first content chunk after `ttft` seconds (optionally drawn from
  0.5–1.5× that), then one chunk every `itl` seconds, a finish chunk, a usage chunk, `[DONE]`. With
  `stamp`, the first content chunk's text is the server's CLOCK_MONOTONIC time just before it is
  written (how benchmarks/bench_load.py measures the TTFT a client adds). With `quick` N, the first N
  requests are answered at once (a client's probe requests). With `json`, every POST is answered at
  once with one non-streamed `chat.completion` (benchmarks/bench_batch_run.py).

      python tests/refserver_bench.py [--tokens K] [--ttft-ms MS] [--itl-ms MS] [--jitter] [--stamp] [--quick N] [--json]

  prints the base URL and serves until SIGTERM/SIGINT. `ServerProcess` runs it in a child process at a
  raised scheduling priority where that is allowed.
* `ClosingServer`: answers once per connection, then closes it while announcing keep-alive (as
  llama.cpp's server does), to test the engine's reuse of pooled connections. In a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

_CHUNK = {
    "object": "chat.completion.chunk",
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}}],
}
_END = {
    "object": "chat.completion.chunk",
    "model": "m",
    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
}
_USAGE = {
    "object": "chat.completion.chunk",
    "model": "m",
    "choices": [],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
}


def _body() -> bytes:
    events = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in (_CHUNK, _END, _USAGE))
    events += b"data: [DONE]\n\n"
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(events), events)


class ClosingServer:
    """Answers each request with a short SSE stream, `Keep-Alive: timeout=5` — then closes."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[dict[str, str]] = []  # the headers of each request, lower-cased
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ClosingServer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(headers)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                b"Keep-Alive: timeout=5, max=100\r\n\r\n" + _body()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)


# -- the lean streaming server -----------------------------------------------------------------------

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
_MODELS = json.dumps({"object": "list", "data": [{"id": "lean-model", "object": "model"}]}).encode()


def _sse(obj: dict) -> bytes:
    data = b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-lean",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "lean-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class LeanServer:
    """The answer's parts, built once; `Http` serves them."""

    def __init__(
        self,
        tokens: int = 16,
        ttft: float = 0.0,
        itl: float = 0.0,
        jitter: bool = False,
        stamp: bool = False,
        quick: int = 0,
        json_answers: bool = False,
    ):
        self.tokens, self.ttft, self.itl, self.jitter, self.stamp = max(1, tokens), ttft, itl, jitter, stamp
        self.quick = quick  # this many requests first are answered at once (a client's probes)
        self.json = json_answers  # one non-streamed chat.completion per POST, at once
        usage = {"prompt_tokens": 8, "completion_tokens": self.tokens, "total_tokens": 8 + self.tokens}
        answer = {
            "id": "chatcmpl-lean",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "lean-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "w " * self.tokens},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        data = json.dumps(answer, separators=(",", ":")).encode()
        self.whole = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
            len(data),
            data,
        )
        self.role = _sse(_chunk({"role": "assistant", "content": ""}))
        self.token = _sse(_chunk({"content": "w "}))
        self.tail = (
            _sse(_chunk({}, "stop"))
            + _sse(
                {
                    "id": "chatcmpl-lean",
                    "object": "chat.completion.chunk",
                    "model": "lean-model",
                    "choices": [],
                    "usage": usage,
                }
            )
            + b"%x\r\n%s\r\n" % (len(b"data: [DONE]\n\n"), b"data: [DONE]\n\n")
            + b"0\r\n\r\n"
        )

    def first(self) -> bytes:
        if self.stamp:
            return _sse(_chunk({"content": f"{time.monotonic():.7f} "}))
        return self.token


class Http(asyncio.Protocol):
    def __init__(self, lean: LeanServer):
        self.lean = lean
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            method, path = head.split(" ", 2)[:2]
            self.respond(method, path)

    def respond(self, method: str, path: str) -> None:
        lean, t = self.lean, self.transport
        assert t is not None
        if method == "GET" and path.endswith("/models"):
            t.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(_MODELS), _MODELS)
            )
            return
        if lean.json:
            t.write(lean.whole)
            return
        if lean.quick > 0 or (lean.ttft <= 0 and lean.itl <= 0):
            lean.quick -= 1
            t.write(_HEAD + lean.role + lean.first() + lean.token * (lean.tokens - 1) + lean.tail)
            return
        t.write(_HEAD + lean.role)
        delay = lean.ttft * random.uniform(0.5, 1.5) if lean.jitter else lean.ttft
        loop = asyncio.get_running_loop()
        # Every chunk on an absolute schedule (first + i·itl): a late wake-up delays that chunk only, it
        # does not push back all the others, so the gaps average exactly what was asked.
        loop.call_at(loop.time() + delay, self._next, 0, loop.time() + delay)

    def _next(self, i: int, first: float) -> None:
        t, lean = self.transport, self.lean
        if t is None or t.is_closing():
            return
        if lean.itl <= 0:
            t.write(lean.first() + lean.token * (lean.tokens - 1) + lean.tail)
            return
        t.write(lean.first() if i == 0 else lean.token)
        if i + 1 < lean.tokens:
            asyncio.get_running_loop().call_at(first + (i + 1) * lean.itl, self._next, i + 1, first)
        else:
            t.write(lean.tail)


async def serve(lean: LeanServer) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(lean), "127.0.0.1", 0, backlog=4096)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A lean OpenAI-style streaming server for load tests.")
    parser.add_argument("--tokens", type=int, default=16, help="content chunks per answer")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before the first content chunk")
    parser.add_argument("--itl-ms", type=float, default=0.0, help="delay between content chunks")
    parser.add_argument("--jitter", action="store_true", help="draw each TTFT from 0.5-1.5x --ttft-ms")
    parser.add_argument("--stamp", action="store_true", help="first content = the server's monotonic time")
    parser.add_argument("--quick", type=int, default=0, help="answer this many requests first at once")
    parser.add_argument("--json", action="store_true", help="answer each POST with one chat.completion")
    a = parser.parse_args(argv)
    lean = LeanServer(a.tokens, a.ttft_ms / 1000, a.itl_ms / 1000, a.jitter, a.stamp, a.quick, a.json)
    asyncio.run(serve(lean))
    return 0


def raise_priority() -> None:
    """For a child about to exec: a higher scheduling priority when allowed (root, as in CI), so that a
    machine loaded by other work delays its wake-ups less. Silently nothing otherwise."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except (OSError, AttributeError):
        pass


class ServerProcess:
    """The lean server in a child process (at a raised priority when allowed): `with ServerProcess(
    "--ttft-ms", "300") as srv: srv.base_url`."""

    def __init__(self, *args: str):
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), *self.args],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=raise_priority,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url:
            raise RuntimeError("the lean server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())

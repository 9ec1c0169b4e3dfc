"""A zero-delay OpenAI-style streaming server for load benchmarks: raw asyncio, standard library only.

    python benchmarks/_fastserver.py [--tokens K] [--ttft-ms MS]

Prints ``http://127.0.0.1:PORT/v1`` and serves until SIGTERM/SIGINT.

Why not tests/refserver.py: FastAPI + uvicorn spends ~1 ms of CPU per request, so at a few thousand
requests a second *it* would be the bottleneck and the benchmark would measure the server. This one is
an `asyncio.Protocol` that parses just enough HTTP/1.1 (request line, headers, Content-Length body,
keep-alive) and answers every POST with a canned `chat.completion.chunk` stream in chunked transfer
encoding: a role chunk, K content chunks, a finish chunk, a usage chunk, `[DONE]`. Serving one
request costs ~20 µs, an order of magnitude below any Python client.

The first content chunk's text is the server's CLOCK_MONOTONIC time (`time.monotonic()`, the same clock
as the client's `time.perf_counter()` on Linux) taken just before that chunk is handed to the kernel:
a client that notes when it parsed that chunk knows how long the bytes spent between the server's write
and its own code — the TTFT the client adds. With `--ttft-ms`, the headers and role chunk go out at
once and the content after a delay drawn uniformly from 0.5–1.5× that (a server that "thinks", and
whose answers do not all land in the same instant), so the client is not saturated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import sys
import time

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
_MODELS = json.dumps({"object": "list", "data": [{"id": "fast-model", "object": "model"}]}).encode()


def _event(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chat_chunk(delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fast",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fast-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class Canned:
    def __init__(self, tokens: int):
        self.role = _chunk(_event(_chat_chunk({"role": "assistant", "content": ""})))
        rest = [_event(_chat_chunk({"content": " word"})) for _ in range(tokens - 1)]
        rest.append(_event(_chat_chunk({}, "stop")))
        rest.append(
            _event(
                {
                    "id": "chatcmpl-fast",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": "fast-model",
                    "choices": [],
                    "usage": {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens},
                }
            )
        )
        rest.append(b"data: [DONE]\n\n")
        self.rest = _chunk(b"".join(rest)) + b"0\r\n\r\n"

    def first(self) -> bytes:
        stamp = f"{time.monotonic():.7f}"
        return _chunk(_event(_chat_chunk({"content": stamp})))


class Http(asyncio.Protocol):
    def __init__(self, canned: Canned, ttft: float):
        self.canned = canned
        self.ttft = ttft
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self.respond(head.split(" ", 2))

    def respond(self, request_line: list[str]) -> None:
        assert self.transport is not None
        method, path = request_line[0], request_line[1]
        if method == "GET" and path.endswith("/models"):
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(_MODELS), _MODELS)
            )
            return
        if self.ttft <= 0:
            self.transport.write(_HEAD + self.canned.role + self.canned.first() + self.canned.rest)
            return
        self.transport.write(_HEAD + self.canned.role)
        asyncio.get_running_loop().call_later(self.ttft * random.uniform(0.5, 1.5), self._content)

    def _content(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.canned.first() + self.canned.rest)

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        self.transport = None


async def serve(tokens: int, ttft: float) -> None:
    canned = Canned(tokens)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(canned, ttft), "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16, help="content chunks per answer")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before the first content chunk")
    args = parser.parse_args()
    asyncio.run(serve(max(1, args.tokens), args.ttft_ms / 1000.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())

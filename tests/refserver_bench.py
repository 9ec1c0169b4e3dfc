"""Load-test helpers beside the reference server: a server that closes every connection after one
answer while announcing keep-alive (as llama.cpp's server does), to test the engine's reuse of pooled
connections. Raw asyncio in a thread of the test process; standard library only, no llmcli imports."""

from __future__ import annotations

import asyncio
import json
import threading

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

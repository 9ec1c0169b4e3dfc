"""Benchmark server: tests/refserver.py's RefServer, answering with a fixed, prebuilt body.

    python benchmarks/_server.py --tokens N     # streams N content chunks (see _corpus.py)
    python benchmarks/_server.py --oneshot      # the short answer used for the one-shot case

Prints the base URL (``http://127.0.0.1:PORT/v1``) on stdout and serves until SIGTERM/SIGINT.

RefServer's ``prebuilt`` mode builds the whole SSE body before the first byte and sends it in 64 KiB
writes; building 100k chunks still costs the server ~0.5 s of CPU per request, which would be counted
in the client's wall time. So an ASGI wrapper records the first response to each distinct POST body
and replays the recorded messages for identical later requests (the warm-up run fills it). The bytes
on the wire are exactly what RefServer produced; only the server's per-request work goes away.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


class ReplayCache:
    """ASGI middleware: replay the recorded response for a POST whose path and body were seen before."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.cache: dict[tuple[str, bytes], list[dict]] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        key = (scope.get("path", ""), body)
        hit = self.cache.get(key)
        if hit is not None:
            for message in hit:
                await send(message)
            return

        replayed = False

        async def replay_receive() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        recorded: list[dict] = []

        async def recording_send(message: dict) -> None:
            recorded.append(dict(message))
            await send(message)

        await self.app(scope, replay_receive, recording_send)
        if recorded and recorded[0].get("type") == "http.response.start" and recorded[0].get("status") == 200:
            self.cache[key] = recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--tokens", type=int, help="stream this many content chunks")
    group.add_argument("--oneshot", action="store_true", help="the short one-shot answer")
    args = parser.parse_args(argv)

    import _corpus
    from refserver import RefServer, Scenario

    srv = RefServer()
    if args.oneshot:
        srv.default = Scenario(text=_corpus.ONESHOT_TEXT, prebuilt=True)
    else:
        srv.default = Scenario(chunks=_corpus.tokens(args.tokens), prebuilt=True)
    srv.app = ReplayCache(srv.app)

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

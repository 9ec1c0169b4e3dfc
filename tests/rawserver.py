"""A tiny HTTP/1.1 server on a raw socket, for framing the reference server (FastAPI) cannot produce: a
proxy that answers 407, redirects of every kind, an HTML page with 200, a body shorter than its
Content-Length, headers trickled a byte at a time.

    with RawServer(lambda req: req.reply(200, b"{}")) as srv:
        ... srv.url ...           # http://127.0.0.1:PORT
        srv.requests              # what arrived: method, target, headers, body

Each connection is read (request line, headers, a Content-Length body), handed to the handler in its own
thread, and closed when the handler returns. Must not import llmcli.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RawRequest:
    method: str
    target: str  # as sent: a path, an absolute URL (to a proxy) or host:port (CONNECT)
    headers: dict[str, str]
    body: bytes
    conn: socket.socket = field(repr=False)
    server: RawServer = field(repr=False)

    def send(self, data: bytes) -> bool:
        try:
            self.conn.sendall(data)
            return True
        except OSError:
            return False

    def reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        reason: str = "",
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        """A whole response; `length` overrides Content-Length (a body cut short of it)."""
        head = [f"HTTP/1.1 {status} {reason or REASONS.get(status, 'Status')}"]
        fields = {"Content-Length": str(len(body) if length is None else length), "Connection": "close"}
        fields.update(headers or {})
        head += [f"{k}: {v}" for k, v in fields.items()]
        self.send(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def trickle(self, data: bytes, every: float) -> None:
        """Send `data` a byte at a time, `every` seconds apart, until the client goes away."""
        for i in range(len(data)):
            if self.server.stopping.is_set() or not self.send(data[i : i + 1]):
                return
            time.sleep(every)


REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
}


class RawServer:
    def __init__(self, handler: Callable[[RawRequest], None]):
        self.handler = handler
        self.requests: list[RawRequest] = []
        self.stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RawServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._sock = sock
        threading.Thread(target=self._accept, name=f"rawserver-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._sock is not None:
            self._sock.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            want = int(headers.get("content-length", "0") or 0)
            while len(body) < want:
                piece = conn.recv(65536)
                if not piece:
                    break
                body += piece
            req = RawRequest(method, target, headers, body, conn, self)
            with self._lock:
                self.requests.append(req)
            self.handler(req)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

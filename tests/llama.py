"""A real llama.cpp server (../shared/realserver) for the tests marked `real_server`.

The folder is found through LLMCLI_TEST_LLAMA_SERVER (.ci/run sets it). Without the variable the tests
that need the server skip, so the suite still runs on a machine without the folder; with the variable
set but the folder broken they fail, so CI never skips them silently.

    def test_x(llama_server):                  # -np 4, the common case
        base_url = llama_server().base_url
    def test_y(llama_server):
        srv = llama_server("--embeddings", "--pooling", "mean")   # one server per distinct flag set

Servers are started on a free 127.0.0.1 port on first use, shared by the whole test session (per
xdist worker), and stopped at its end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV = "LLMCLI_TEST_LLAMA_SERVER"
MODEL = "tiny-llama"
DEFAULT_FLAGS = ("-np", "4")


@dataclass
class LlamaServer:
    base_url: str  # http://127.0.0.1:PORT/v1
    root_url: str  # http://127.0.0.1:PORT
    port: int
    pid: int
    flags: tuple[str, ...]
    model: str = MODEL


def folder() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value).resolve() if value else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServers:
    def __init__(self, root: Path):
        self.root = root
        self.state = Path(tempfile.mkdtemp(prefix="llama-state-"))
        self.running: dict[tuple[str, ...], LlamaServer] = {}

    def get(self, *flags: str) -> LlamaServer:
        flags = tuple(flags) or DEFAULT_FLAGS
        if flags in self.running:
            return self.running[flags]
        start = self.root / "start.sh"
        if not start.exists():
            pytest.fail(f"{ENV}={self.root}: no start.sh there")
        env = dict(os.environ, LLAMA_SERVER_STATE=str(self.state))
        for _ in range(3):  # a port taken between choosing and binding: try another
            port = _free_port()
            proc = subprocess.run(
                ["bash", str(start), str(port), *flags], env=env, capture_output=True, text=True, timeout=120
            )
            ready = [line for line in proc.stdout.splitlines() if line.startswith("READY ")]
            if proc.returncode == 0 and ready:
                _, base_url, pid = ready[-1].split()
                srv = LlamaServer(base_url, base_url.removesuffix("/v1"), port, int(pid), flags)
                self.running[flags] = srv
                return srv
        pytest.fail(f"llama-server did not start: {proc.stdout}{proc.stderr}")

    def stop_all(self) -> None:
        env = dict(os.environ, LLAMA_SERVER_STATE=str(self.state))
        for srv in self.running.values():
            subprocess.run(
                ["bash", str(self.root / "start.sh"), "stop", str(srv.port)],
                env=env,
                capture_output=True,
                timeout=30,
            )
        self.running.clear()


@pytest.fixture(scope="session")
def _llama_servers():
    root = folder()
    if root is None:
        yield None
        return
    servers = LlamaServers(root)
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture
def llama_server(_llama_servers):
    """A factory: llama_server(*flags) -> LlamaServer (default flags: -np 4)."""
    if _llama_servers is None:
        pytest.skip(f"{ENV} is not set: no real llama.cpp server on this machine")
    return _llama_servers.get

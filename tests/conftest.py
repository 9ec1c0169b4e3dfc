"""Shared fixtures: a reference server on 127.0.0.1, a private LLMCLI_HOME, and the CLI as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import refserver_calls  # noqa: E402,F401  (registers /completions and /embeddings on the reference server)
from llama import _llama_servers, llama_server  # noqa: E402,F401  (the real llama.cpp server fixtures)
from refserver import RefServer  # noqa: E402

# Started in the background by a non-interactive shell (`pytest ... &`), the suite gets SIGINT ignored,
# and every llmcli it starts inherits that: the Ctrl-C tests would then test nothing. Let it through.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Variables a user's shell may carry that would change what llmcli does.
_SCRUB = ("LLMCLI_", "OPENAI_", "NO_COLOR", "FORCE_COLOR", "PYTHON_KEYRING_BACKEND")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if "llama_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_server)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """The reference server over https with a certificate from a private CA: (server, ca.pem)."""
    from certs import make_ca

    folder = tmp_path_factory.mktemp("tls")
    ca_pem, cert_pem, key_pem = make_ca(folder)
    srv = RefServer()
    srv.scheme = "https"
    srv.uvicorn_options = {"ssl_certfile": str(cert_pem), "ssl_keyfile": str(key_pem)}
    srv.start()
    yield srv, ca_pem
    srv.stop()


@pytest.fixture(scope="session")
def _refserver() -> Iterator[RefServer]:
    srv = RefServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def server(_refserver: RefServer) -> Iterator[RefServer]:
    _refserver.reset()
    yield _refserver
    _refserver.reset()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    return h


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env["LLMCLI_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    # Never the real keyring of whoever runs the tests: keyring's Null backend holds nothing and never
    # fails. Tests of the keyring itself choose their backend (tests/keyring_backends.py, or a real one).
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env.update(extra)
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    def __repr__(self) -> str:
        return f"Result(rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


class Cli:
    """Runs `python -m llmcli` as a user would: a real process, real pipes, a private home."""

    def __init__(self, home: Path, server: RefServer | None):
        self.home = home
        self.server = server
        self.env = clean_env(home)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "llmcli", *args]

    def __call__(
        self,
        *args: str,
        input: bytes | str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            self.argv(*args),
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            env=full_env,
            timeout=timeout,
        )
        return Result(
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            proc.stdout,
        )

    def ask(self, *args: str, **kw) -> Result:
        assert self.server is not None
        return self(*["ask", "--base-url", self.server.base_url, *args], **kw)


@pytest.fixture
def cli(home: Path, server: RefServer) -> Cli:
    return Cli(home, server)


@pytest.fixture
def offline_cli(home: Path) -> Cli:
    return Cli(home, None)


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


# An internal error planted where `ask` reads its prompt, i.e. after the command line was parsed.
CRASH = """
import sys, llmcli.cli.ask as ask, llmcli.__main__ as m
def boom(*a, **k):
    raise RuntimeError("kaboom sk-sentinel-key-000111")
ask.read_prompt = boom
sys.argv = ["llmcli", *sys.argv[1:]]
m.main()
"""


def crash(home, *args, **env_extra: str):
    """llmcli with an internal error planted where the prompt is read (after the command line is parsed)."""
    env = clean_env(home, LLMCLI_API_KEY="sk-sentinel-key-000111", **env_extra)
    return subprocess.run(
        [sys.executable, "-c", CRASH, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )

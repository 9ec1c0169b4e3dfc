"""No key ever leaks: a sentinel-key sweep over outputs, files and process arguments, and redirects.

The sentinel is a key no test would print by chance. Each run greps stdout, stderr and every file under
LLMCLI_HOME for it; a slow request lets /proc/PID/cmdline be sampled while llmcli runs.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import clean_env
from keyring_backends import keyring_env
from refserver import RefServer, Scenario

SENTINEL = "sk-SENTINEL-" + secrets.token_hex(12)
ECHO = {"error": {"message": f"Incorrect API key provided: {SENTINEL}. Find yours at example.invalid"}}
CLOSED = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, the connection is refused

# Runs llmcli with a bug planted in the transport that puts the key in an exception's text.
CRASH = """
import sys
import llmcli.__main__ as m
from llmcli.transport.http import HttpTransport

def boom(self, *a, **k):
    raise RuntimeError("kaboom: the request had Authorization: Bearer " + str(self.config.api_key))

HttpTransport.stream_chat = boom
HttpTransport.list_models = boom
sys.argv = ["llmcli", *sys.argv[1:]]
m.main()
"""


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_clean(home: Path, *texts: str | bytes) -> None:
    needle = SENTINEL.encode()
    for text in texts:
        blob = text.encode() if isinstance(text, str) else text
        assert needle not in blob, blob[-2000:]
    for path in files_under(home):
        assert needle not in path.read_bytes(), path


@pytest.fixture(params=["env", "keyring"])
def key_env(request, tmp_path, home, server) -> dict[str, str]:
    """The sentinel from LLMCLI_API_KEY, or stored with `auth login` in a keyring outside LLMCLI_HOME."""
    if request.param == "env":
        return {"LLMCLI_API_KEY": SENTINEL}
    store = tmp_path / "keyring.json"
    env = keyring_env("FileKeyring", store)
    r = subprocess.run(
        [sys.executable, "-m", "llmcli", "auth", "login", "--no-verify"],
        input=SENTINEL.encode(),
        capture_output=True,
        env=clean_env(home, **env),
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert SENTINEL in store.read_text()  # it is really there, so the sweep below means something
    assert_clean(home, r.stdout, r.stderr)
    return env


COMMANDS = {
    "ask": lambda url: ["ask", "--base-url", url, "-m", "m", "--debug", "hi"],
    "models": lambda url: ["models", "--base-url", url, "--debug"],
    "status": lambda url: ["auth", "status", "--check", "--base-url", url, "--debug"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("fault", ["401", "500", "refused", "internal"])
def test_sentinel_never_appears(cli, server, home, key_env, command, fault):
    url = server.base_url
    server.require_key = SENTINEL if fault != "401" else None
    if fault == "401":
        server.default = Scenario(status=401, error_body=ECHO)
    elif fault == "500":
        server.default = Scenario(status=500, error_body=ECHO)
    elif fault == "refused":
        url = CLOSED
    argv = COMMANDS[command](url) + ["--max-retries", "1"]
    env = clean_env(home, **key_env)
    if fault == "internal":
        proc = subprocess.run([sys.executable, "-c", CRASH, *argv], capture_output=True, env=env, timeout=60)
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "llmcli", *argv],
            capture_output=True,
            env=env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    expected = {"401": 3, "500": 6, "refused": 6, "internal": 1}[fault]
    if command == "status" and fault in ("500", "refused"):
        expected = 6
    assert proc.returncode == expected, proc
    if fault in ("401", "500"):
        assert server.requests and server.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"
        assert b"Incorrect API key provided" in proc.stderr + proc.stdout  # the server's words are shown...
    if fault == "internal":
        assert b"Traceback" in proc.stderr and b"kaboom" in proc.stderr  # --debug shows the traceback...
    assert_clean(home, proc.stdout, proc.stderr)  # ...but never the key


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_sentinel_echoed_mid_stream_and_by_the_sdk(cli, server, home, transport):
    env = clean_env(home, LLMCLI_API_KEY=SENTINEL)
    server.push(Scenario(error_after=1, error_message=f"upstream rejected {SENTINEL}"))
    server.push(Scenario(status=401, error_body=ECHO))
    outs = []
    for _ in range(2):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "llmcli",
                "ask",
                "--transport",
                transport,
                "--base-url",
                server.base_url,
                "-m",
                "m",
                "--debug",
                "hi",
            ],
            capture_output=True,
            env=env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        outs.append(proc)
    assert [p.returncode for p in outs] == [7, 3]
    assert b"upstream rejected" in outs[0].stderr
    assert_clean(home, *(p.stdout for p in outs), *(p.stderr for p in outs))


def sample_cmdlines(proc: subprocess.Popen) -> list[bytes]:
    """Read /proc/PID/cmdline until the process ends."""
    seen = []
    path = Path(f"/proc/{proc.pid}/cmdline")
    while proc.poll() is None:
        try:
            seen.append(path.read_bytes())
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.02)
    return seen


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc (Linux)")
def test_key_is_never_in_process_arguments(cli, server, home, key_env):
    server.require_key = SENTINEL
    server.push(Scenario(delay_first=1.5))
    env = clean_env(home, **key_env)
    ask = subprocess.Popen(
        [sys.executable, "-m", "llmcli", "ask", "--base-url", server.base_url, "-m", "m", "hi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    seen = sample_cmdlines(ask)
    out, err = ask.communicate(timeout=60)
    assert ask.returncode == 0, err
    assert len(seen) >= 10 and any(b"llmcli" in s for s in seen)  # it was really watched while running
    assert_clean(home, out, err, *seen)

    # `auth login` too, while it verifies the key (slowly) with the server.
    server.push(Scenario(delay_headers=1.5))
    login = subprocess.Popen(
        [sys.executable, "-m", "llmcli", "auth", "login", "--base-url", server.base_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(home, **keyring_env("FileKeyring", home.parent / "kr2.json")),
    )
    login.stdin.write(SENTINEL.encode() + b"\n")
    login.stdin.close()
    seen = sample_cmdlines(login)
    out, err = login.stdout.read(), login.stderr.read()
    assert login.wait(timeout=60) == 0, err
    assert len(seen) >= 10
    assert_clean(home, out, err, *seen)


# --- redirects -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def elsewhere():
    """A second server: another port is another origin."""
    srv = RefServer().start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("transport", ["http", "sdk"])
@pytest.mark.parametrize("what", ["ask", "models"])
def test_key_is_not_sent_to_another_origin_on_redirect(cli, server, elsewhere, transport, what):
    elsewhere.reset()
    path = "chat/completions" if what == "ask" else "models"
    server.push(Scenario(redirect_to=f"{elsewhere.base_url}/{path}"))
    args = ["-m", "m", "hi"] if what == "ask" else []
    r = cli(
        what, "--transport", transport, "--base-url", server.base_url, *args, env={"LLMCLI_API_KEY": SENTINEL}
    )
    assert r.returncode == 0, r  # the redirect was followed ...
    assert server.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"
    assert len(elsewhere.requests) == 1
    # ... and the other origin got no credentials in any header
    assert "authorization" not in elsewhere.requests[0].headers
    assert SENTINEL not in json.dumps(elsewhere.requests[0].headers)


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_key_is_kept_on_a_same_origin_redirect(cli, server, transport):
    server.push(Scenario(redirect_to=f"{server.base_url}/models"))
    r = cli(
        "models", "--transport", transport, "--base-url", server.base_url, env={"LLMCLI_API_KEY": SENTINEL}
    )
    assert r.returncode == 0, r
    assert [q.headers.get("authorization") for q in server.requests] == [f"Bearer {SENTINEL}"] * 2

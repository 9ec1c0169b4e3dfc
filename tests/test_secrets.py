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


# --- keys that cannot be a header value (issue 9, item 1) ------------------------------------------

SECOND = "sk-SECOND-" + secrets.token_hex(12)  # what follows the defect: e.g. the next line of a key file


def _bad(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")


MALFORMED = {
    # name: (key, what the message says)
    "line break": (f"{SENTINEL}\n{SECOND}", f"contains a line break at character {len(SENTINEL) + 1}"),
    "carriage return": (
        f"{SENTINEL}\r{SECOND}",
        f"contains a carriage return (CR) at character {len(SENTINEL) + 1}",
    ),
    "escape sequence": (
        f"{SENTINEL}\x1b[31m{SECOND}",
        f"contains a control character (U+001B) at character {len(SENTINEL) + 1}",
    ),
    "smart quotes": (f"\u201c{SENTINEL}\u201d", "contains a non-ASCII character (U+201C) at character 1"),
    "space": (f"{SENTINEL} {SECOND}", f"contains a space at character {len(SENTINEL) + 1}"),
    "not UTF-8": (
        SENTINEL + "\udcff" + SECOND,
        f"contains a byte that is not UTF-8 (0xff) at character {len(SENTINEL) + 1}",
    ),
}
SOURCES = [
    ("line break", "LLMCLI_API_KEY"),
    ("carriage return", "LLMCLI_API_KEY"),
    ("escape sequence", "LLMCLI_API_KEY"),
    ("smart quotes", "LLMCLI_API_KEY"),
    ("space", "LLMCLI_API_KEY"),
    ("not UTF-8", "LLMCLI_API_KEY"),
    ("line break", "OPENAI_API_KEY"),
    ("smart quotes", "OPENAI_API_KEY"),
    ("line break", "keyring"),
    ("escape sequence", "keyring"),
]


def assert_no_part_of(home: Path, *texts: str | bytes) -> None:
    """Neither half of a malformed key, anywhere (the masked form shows at most 7 characters)."""
    for needle in (SENTINEL.encode(), SECOND.encode(), SENTINEL[3:-4].encode()):
        for text in texts:
            blob = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
            assert needle not in blob, blob[-2000:]
        for path in files_under(home):
            assert needle not in path.read_bytes(), path


@pytest.mark.parametrize("defect,source", SOURCES, ids=[f"{d}-{s}" for d, s in SOURCES])
def test_a_malformed_key_is_refused_before_any_request(server, home, tmp_path, defect, source):
    key, says = MALFORMED[defect]
    if source == "keyring":
        store = tmp_path / "keyring.json"
        store.write_text(json.dumps({"llmcli/default": key}))
        # marked as `auth login` marks it, so runs read the keyring (the key itself was put there as is)
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text("[profiles.default]\nkey_in_keyring = true\n")
        env = clean_env(home, **keyring_env("FileKeyring", store))
        where = "the keyring (keyring backends FileKeyring) for profile 'default'"
    else:
        env = clean_env(home, **{source: key})
        where = source
    server.require_key = SENTINEL
    url = server.base_url

    def run(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "llmcli", *argv],
            capture_output=True,
            env=env,
            timeout=60,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )

    runs = {
        "ask": run("ask", "--base-url", url, "-m", "m", "hi"),
        "ask --debug sdk": run("ask", "--base-url", url, "-m", "m", "--transport", "sdk", "--debug", "hi"),
        "models --debug": run("models", "--base-url", url, "--debug"),
        "chat": run("chat", "--base-url", url, "-m", "m", stdin=b"hi\n"),
        "auth status --check": run("auth", "status", "--check", "--base-url", url),
        "config show": run("config", "show", "--format", "json"),
    }
    for name, proc in runs.items():
        err = proc.stderr.decode("utf-8", "replace")
        expected = 0 if name == "config show" else 3
        assert proc.returncode == expected, (name, proc)
        if name != "config show":
            assert f"the API key from {where}" in err and says in err, (name, err)
        assert "Traceback" not in err or "--debug" in name, (name, err)
    line = runs["ask"].stderr.decode()
    assert line.count("\n") == 1, line  # one line
    assert json.loads(runs["config show"].stdout)["api_key"]["value"].endswith(f"(unusable: it {says})")
    assert server.requests == []  # refused before any request: nothing sent, nothing retried
    assert not (home / "history.db").exists()  # and nothing recorded
    assert_no_part_of(home, *(p.stdout for p in runs.values()), *(p.stderr for p in runs.values()))


# --- a password in the base URL (item 9) -----------------------------------------------------------

PASSWORD = "pw-SENTINEL-" + secrets.token_hex(8)


def test_a_password_in_the_base_url_is_masked_wherever_it_is_shown(cli, server, home):
    url = server.base_url.replace("http://", f"http://alice:{PASSWORD}@")
    shown = url.replace(PASSWORD, "***")
    refused = f"http://alice:{PASSWORD}@127.0.0.1:9/v1"
    outs: list[bytes | str] = []

    def run(*argv: str, rc: int = 0, **kw) -> str:
        r = cli(*argv, **kw)
        assert r.returncode == rc, (argv, r)
        outs.extend([r.stdout, r.stderr])
        return r.stdout + r.stderr

    assert run("profile", "add", "work", "--base-url", url, "--use")
    assert shown in run("profile", "list")
    assert shown in run("profile", "list", "--format", "json")
    assert shown in run("profile", "show", "work")
    assert shown in run("config", "show")
    assert json.loads(cli("config", "show", "--format", "json").stdout)["base_url"]["value"] == shown
    for transport in ("http", "sdk"):
        debug = run("ask", "--transport", transport, "-m", "m", "--debug", "hi")
        assert f"POST {shown}/chat/completions" in debug, debug
    assert server.requests[0].headers["authorization"].startswith("Basic ")  # it was still used
    err = run("ask", "--base-url", refused, "-m", "m", "--max-retries", "0", "--debug", "hi", rc=6)
    assert "could not connect to 127.0.0.1:9" in err
    err = run("models", "--base-url", refused.replace("http", "ftp"), rc=2)
    assert "ftp://alice:***@127.0.0.1:9/v1" in err
    for text in outs:
        assert PASSWORD not in (text if isinstance(text, str) else text.decode())
    # The history names the host only; the config file keeps the URL as given (it is the user's own).
    for path in files_under(home):
        if path.name != "config.toml":
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_the_chat_banner_masks_the_password(home, server):
    import pexpect

    url = server.base_url.replace("http://", f"http://alice:{PASSWORD}@")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "chat", "--base-url", url, "-m", "m"],
        env=clean_env(home, TERM="xterm-256color"),
        dimensions=(30, 160),
        encoding="utf-8",
        timeout=30,
    )
    try:
        child.expect("Enter sends")  # the banner is written before the first prompt
        banner = child.before
    finally:
        child.terminate(force=True)  # only the banner matters here (the REPL itself: test_repl.py)
    assert "alice:***@127.0.0.1" in banner and PASSWORD not in banner

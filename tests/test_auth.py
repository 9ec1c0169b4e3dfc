"""`llmcli auth` and key resolution, against real keyring backends.

In the test process: keyring.set_keyring() with an in-memory backend, keyring's Null and fail backends,
keyrings.alt's plain-text file backend, and backends that hang or stay locked (tests/keyring_backends.py).
CLI subprocesses pick the same backends through PYTHON_KEYRING_BACKEND.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import keyring
import pytest
from conftest import assert_no_traceback, clean_env
from keyring_backends import HangingKeyring, LockedKeyring, MemoryKeyring, keyring_env
from refserver import Scenario

from llmcli import keystore
from llmcli.core.credentials import KeyLookup, resolve_key
from llmcli.errors import ExitCode

KEY = "sk-test-0123456789abcdefWXYZ"
OTHER = "sk-other-9876543210zyxwQRST"
MASKED = "sk-…WXYZ"


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def use_keyring(monkeypatch):
    """Install a backend in this process for the length of one test."""

    def install(backend):
        monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.core._keyring_backend)
        keyring.set_keyring(backend)
        return backend

    return install


@pytest.fixture
def store(tmp_path) -> Path:
    """The FileKeyring's file: outside LLMCLI_HOME, like a real keyring."""
    return tmp_path / "keyring" / "store.json"


@pytest.fixture
def kenv(store) -> dict[str, str]:
    store.parent.mkdir()
    return keyring_env("FileKeyring", store)


def stored(store: Path) -> dict[str, str]:
    return json.loads(store.read_text()) if store.exists() else {}


def config_text(home: Path) -> str:
    path = home / "config.toml"
    return path.read_text() if path.exists() else ""


def login(cli, env, *args, key: str | None = KEY, url: str | None = None):
    url = url or cli.server.base_url
    return cli(
        "auth", "login", "--base-url", url, *args, input=(key + "\n") if key is not None else "", env=env
    )


def sent_keys(server) -> list[str | None]:
    return [r.headers.get("authorization") for r in server.requests]


def modules_after(home, args: list[str], env: dict[str, str]) -> set[str]:
    """The modules loaded by one CLI run (in a subprocess)."""
    probe = (
        "import sys, json, atexit\n"
        "atexit.register(lambda: print(chr(10) + json.dumps(sorted(sys.modules))))\n"
        f"sys.argv = ['llmcli', *{args!r}]\n"
        "import llmcli.__main__ as m\n"
        "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
    )
    full = clean_env(home, **env)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=full, timeout=60)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


# --- resolution rule (pure) ----------------------------------------------------------------------


class Spy:
    def __init__(self, result: KeyLookup):
        self.result = result
        self.calls: list[str] = []

    def __call__(self, profile: str) -> KeyLookup:
        self.calls.append(profile)
        return self.result


def test_llmcli_api_key_wins_and_never_touches_the_keyring():
    spy = Spy(KeyLookup(KEY, "mem"))
    r = resolve_key("p", {"LLMCLI_API_KEY": OTHER, "OPENAI_API_KEY": "sk-x"}, spy, marked=True)
    assert (r.key, r.source, spy.calls) == (OTHER, "env LLMCLI_API_KEY", [])


def test_marked_profile_keyring_beats_openai_api_key():
    spy = Spy(KeyLookup(KEY, "mem"))
    r = resolve_key("p", {"OPENAI_API_KEY": OTHER}, spy, marked=True)
    assert (r.key, r.source, spy.calls) == (KEY, "keyring (mem)", ["p"])


def test_unmarked_profile_uses_openai_api_key_without_asking_the_keyring():
    spy = Spy(KeyLookup(KEY, "mem"))
    r = resolve_key("p", {"OPENAI_API_KEY": OTHER}, spy, marked=False)
    assert (r.key, r.source, spy.calls) == (OTHER, "env OPENAI_API_KEY", [])


def test_an_unmarked_profile_never_asks_the_keyring_even_without_any_key():
    """Keys cost nothing when there are none: only `auth login`'s mark sends llmcli to the keyring."""
    spy = Spy(KeyLookup(KEY, "mem"))
    r = resolve_key("p", {}, spy, marked=False)
    assert (r.key, r.source, r.warning, spy.calls) == (None, "none", None, [])
    r = resolve_key("p", {}, spy, marked=True)
    assert (r.key, r.source, spy.calls) == (KEY, "keyring (mem)", ["p"])


def test_unreadable_keyring_gives_a_warning_and_no_key():
    r = resolve_key("p", {}, Spy(KeyLookup(None, "fail Keyring", problem="no keyring")), marked=True)
    assert r.key is None and r.keyring_unusable
    assert "could not be read" in r.warning and "fail Keyring" in r.warning
    # marked + unreadable + OPENAI_API_KEY: that key is used, with the warning (it may not be the right one)
    r = resolve_key("p", {"OPENAI_API_KEY": OTHER}, Spy(KeyLookup(None, "x", problem="locked")), marked=True)
    assert r.key == OTHER and r.warning and "locked" in r.warning


def test_resolved_key_repr_hides_the_key():
    r = resolve_key("p", {"LLMCLI_API_KEY": KEY})
    assert KEY not in repr(r) and KEY not in str(r)


# --- keystore against backends in this process ---------------------------------------------------


def test_store_lookup_delete_round_trip_in_memory(use_keyring):
    mem = use_keyring(MemoryKeyring())
    name, spec = keystore.store("work", KEY, allow_plaintext=False)
    assert "MemoryKeyring" in name and spec == "keyring_backends.MemoryKeyring"
    assert mem.entries == {("llmcli", "work"): KEY}  # service llmcli, user name = profile
    found = keystore.lookup("work")
    assert (found.key, found.problem) == (KEY, None) and "MemoryKeyring" in found.backend
    assert keystore.lookup("other").key is None
    assert keystore.delete("work")[0] is True
    assert mem.entries == {}
    assert keystore.delete("work")[0] is False


def test_a_backend_that_keeps_nothing_is_caught_by_the_read_back(use_keyring):
    from keyring.backends.null import Keyring as Null

    class Forgetful(Null):  # like Null, but not recognisable by its module: only the read-back can tell
        pass

    use_keyring(Forgetful())
    with pytest.raises(keystore.KeyringProblem) as err:
        keystore.store("default", KEY, allow_plaintext=False)
    assert err.value.exit_code == ExitCode.AUTH
    assert "did not keep it" in err.value.message


def test_null_backend_is_refused_before_anything_is_asked(use_keyring):
    from keyring.backends.null import Keyring as Null

    use_keyring(Null())
    with pytest.raises(keystore.KeyringProblem) as err:
        keystore.check_usable(allow_plaintext=False)
    assert "keeps nothing" in err.value.message
    assert keystore.lookup("default") == KeyLookup(None, "null Keyring")  # readable, holds nothing


def test_fail_backend_explains_the_three_ways_out(use_keyring):
    from keyring.backends.fail import Keyring as Fail

    use_keyring(Fail())
    with pytest.raises(keystore.KeyringProblem) as err:
        keystore.store("default", KEY, allow_plaintext=False)
    assert err.value.exit_code == ExitCode.AUTH
    assert "no OS keyring is available" in err.value.message
    for way in ("LLMCLI_API_KEY", "Secret Service", "PYTHON_KEYRING_BACKEND"):
        assert way in err.value.hint
    found = keystore.lookup("default")  # reading never raises
    assert found.key is None and "no OS keyring" in found.problem
    with pytest.raises(keystore.KeyringProblem):
        keystore.delete("default")


def test_a_hanging_backend_times_out(use_keyring, monkeypatch):
    use_keyring(HangingKeyring())
    monkeypatch.setenv(keystore.TIMEOUT_ENV, "0.3")
    t0 = time.monotonic()
    found = keystore.lookup("default")
    assert found.key is None and "did not answer within 0.3 s" in found.problem
    with pytest.raises(keystore.KeyringProblem, match="did not answer"):
        keystore.store("default", KEY, allow_plaintext=False)
    assert time.monotonic() - t0 < 10  # generous: "does not hang", not a benchmark


def test_a_locked_collection_is_reported(use_keyring):
    use_keyring(LockedKeyring())
    found = keystore.lookup("default")
    assert found.key is None and "locked" in found.problem
    with pytest.raises(keystore.KeyringProblem, match="locked"):
        keystore.store("default", KEY, allow_plaintext=False)


def test_plaintext_backend_is_refused_unless_allowed(use_keyring, monkeypatch, tmp_path):
    from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    plain = use_keyring(PlaintextKeyring())
    encrypted = EncryptedKeyring.__new__(EncryptedKeyring)  # its __init__ needs pycryptodome
    assert keystore.is_plaintext(plain) and not keystore.is_plaintext(encrypted)
    with pytest.raises(keystore.KeyringProblem, match="plain-text file") as err:
        keystore.store("default", KEY, allow_plaintext=False)
    assert "LLMCLI_ALLOW_PLAINTEXT_KEYRING=1" in err.value.hint
    assert not Path(plain.file_path).exists()  # nothing written
    keystore.store("default", KEY, allow_plaintext=True)
    # base64 in a file anyone with the file can read: why it needs consent
    assert base64.b64encode(KEY.encode()).decode() in Path(plain.file_path).read_text()


def test_a_chain_never_falls_back_to_plaintext(use_keyring, monkeypatch, tmp_path):
    from keyring.backends.chainer import ChainerBackend
    from keyrings.alt.file import PlaintextKeyring

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    plain, mem = PlaintextKeyring(), MemoryKeyring()
    monkeypatch.setattr(ChainerBackend, "backends", [plain, mem])
    use_keyring(ChainerBackend())
    assert "MemoryKeyring" in keystore.store("default", KEY, allow_plaintext=False)[0]
    assert mem.entries and not Path(plain.file_path).exists()
    assert "MemoryKeyring" in keystore.lookup("default").backend


def test_secret_service_and_null_are_not_plaintext():
    from keyring.backends.null import Keyring as Null
    from keyring.backends.SecretService import Keyring as SecretService

    assert not keystore.is_plaintext(SecretService())
    assert not keystore.is_plaintext(Null())


# --- login ---------------------------------------------------------------------------------------


def test_login_from_a_pipe_verifies_stores_and_ask_sends_it(cli, server, home, kenv, store):
    server.require_key = KEY
    r = login(cli, kenv)
    assert r.returncode == 0, r
    assert r.stdout == "" and MASKED in r.stderr and "stored" in r.stderr and KEY not in r.stderr
    assert [(q.method, q.path) for q in server.requests] == [("GET", "/v1/models")]  # verified
    assert stored(store) == {"llmcli/default": KEY}
    assert "key_in_keyring = true" in config_text(home) and KEY not in config_text(home)
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700

    r = cli.ask("-m", "m", "hi", env=kenv)
    assert r.returncode == 0 and r.stderr == "", r
    assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {KEY}"


def test_login_strips_only_the_trailing_newline(cli, server, kenv, store):
    assert login(cli, kenv, key=KEY + "\r\n").returncode == 0
    assert stored(store)["llmcli/default"] == KEY


@pytest.mark.parametrize(
    "given,expect",
    [
        ("", "no key given"),
        ("   ", "no key given"),
        (f"{KEY}\nlogin: me", f"contains a line break at character {len(KEY) + 1}"),
        ("sk-with space-123456", "contains a space at character 8"),
        ("sk-ünïcode-1234567", "contains a non-ASCII character (U+00FC) at character 4"),
    ],
)
def test_login_rejects_bad_input_with_exit_2_and_stores_nothing(
    cli, server, home, kenv, store, given, expect
):
    r = login(cli, kenv, key=given)
    assert r.returncode == 2, r
    assert expect in r.stderr and r.stderr.count("\n") == 1
    assert server.requests == [] and stored(store) == {} and config_text(home) == ""
    if given.strip():
        assert given.split("\n")[0] not in r.stderr


def test_login_refused_key_is_exit_3_and_nothing_stored(cli, server, home, kenv, store):
    server.require_key = OTHER
    r = login(cli, kenv)
    assert r.returncode == 3, r
    assert "HTTP 401" in r.stderr and "nothing was stored" in r.stderr
    assert stored(store) == {} and "key_in_keyring" not in config_text(home)
    server.reset()
    server.push(Scenario(status=403))
    assert login(cli, kenv).returncode == 3
    assert stored(store) == {}


def test_login_network_failure_keeps_its_exit_code_and_stores_nothing(offline_cli, home, kenv, store):
    r = offline_cli(
        "auth", "login", "--base-url", "http://127.0.0.1:9/v1", "--max-retries", "0", input=KEY, env=kenv
    )
    assert r.returncode == 6, r
    assert "not stored" in r.stderr and stored(store) == {} and config_text(home) == ""


def test_login_no_verify_sends_nothing(cli, server, kenv, store):
    r = login(cli, kenv, "--no-verify")
    assert r.returncode == 0 and "not verified" in r.stderr
    assert server.requests == [] and stored(store) == {"llmcli/default": KEY}


def test_login_uses_the_profiles_base_url_and_name(cli, server, home, kenv, store):
    assert cli("profile", "add", "work", "--base-url", server.base_url).returncode == 0
    server.require_key = KEY
    r = cli("auth", "login", "-P", "work", input=KEY, env=kenv)
    assert r.returncode == 0, r
    assert stored(store) == {"llmcli/work": KEY}
    assert "[profiles.work]" in config_text(home) and "key_in_keyring = true" in config_text(home)
    r = cli("ask", "-P", "work", "-m", "m", "hi", env=kenv)
    assert r.returncode == 0, r
    assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {KEY}"


def test_login_to_an_unknown_profile_is_a_usage_error(cli, server, kenv, store):
    r = cli("auth", "login", "-P", "nope", input=KEY, env=kenv)
    assert r.returncode == 2 and "no profile named 'nope'" in r.stderr
    assert stored(store) == {}


def test_login_has_no_option_that_takes_the_key(offline_cli):
    r = offline_cli("auth", "login", "--help")
    assert r.returncode == 0
    assert "--key" not in r.stdout and "--api-key" not in r.stdout and "--token" not in r.stdout
    r = offline_cli("auth", "login", "--no-verify", KEY, input=KEY)
    assert r.returncode == 2, r  # an extra argument is refused, not echoed, and the user is warned
    assert KEY not in r.stderr and "shell history" in r.stderr and r.stderr.count("\n") == 1


def test_login_on_a_terminal_prompts_without_echo(home, server, kenv, store):
    import pexpect

    env = clean_env(home, **kenv)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "auth", "login", "--base-url", server.base_url],
        env=env,
        timeout=30,
        encoding="utf-8",
    )
    child.expect("API key for profile 'default' \\(input hidden\\): ")
    child.sendline(KEY)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert KEY not in child.before  # not echoed, not printed
    assert MASKED in child.before
    assert stored(store) == {"llmcli/default": KEY}


@pytest.mark.parametrize(
    "backend,expect",
    [
        ("keyring.backends.fail.Keyring", "no OS keyring is available"),
        ("keyring.backends.null.Keyring", "keeps nothing"),
        ("LockedKeyring", "locked"),
    ],
)
def test_login_with_an_unusable_keyring_is_exit_3_with_the_ways_out(cli, server, home, backend, expect):
    r = login(cli, keyring_env(backend))
    assert r.returncode == 3, r
    assert expect in r.stderr and r.stderr.count("\n") == 1
    for way in ("LLMCLI_API_KEY", "Secret Service", "PYTHON_KEYRING_BACKEND"):
        assert way in r.stderr
    assert "key_in_keyring" not in config_text(home)
    assert_no_traceback(r.stderr)
    if "fail" in backend or "null" in backend:  # found before the key is read or sent anywhere
        assert server.requests == []


def test_login_with_a_hanging_keyring_gives_up(cli, server, home):
    env = {**keyring_env("HangingKeyring"), keystore.TIMEOUT_ENV: "1"}
    t0 = time.monotonic()
    r = login(cli, env)
    assert r.returncode == 3, r
    assert "did not answer within 1 s" in r.stderr
    assert time.monotonic() - t0 < 20  # bounded, not a benchmark
    assert "key_in_keyring" not in config_text(home)


def test_plaintext_backend_needs_explicit_consent(cli, server, home, tmp_path):
    data = tmp_path / "xdg-data"
    env = {**keyring_env("keyrings.alt.file.PlaintextKeyring"), "XDG_DATA_HOME": str(data)}
    r = login(cli, env)
    assert r.returncode == 3 and "plain-text" in r.stderr and "LLMCLI_ALLOW_PLAINTEXT_KEYRING" in r.stderr
    assert not any(data.rglob("*.cfg")) and server.requests == []
    # opt in through the environment ...
    r = login(cli, {**env, "LLMCLI_ALLOW_PLAINTEXT_KEYRING": "1"})
    assert r.returncode == 0, r
    assert base64.b64encode(KEY.encode()).decode() in "".join(p.read_text() for p in data.rglob("*.cfg"))
    assert cli.ask("-m", "m", "hi", env=env).returncode == 0
    assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {KEY}"
    # ... or through config.toml
    assert cli("auth", "logout", env=env).returncode == 0
    (home / "config.toml").write_text("allow_plaintext_keyring = true\n")
    assert login(cli, env).returncode == 0


# --- logout --------------------------------------------------------------------------------------


def test_logout_removes_key_and_marker_and_is_idempotent(cli, server, home, kenv, store):
    assert login(cli, kenv).returncode == 0
    r = cli("auth", "logout", env=kenv)
    assert r.returncode == 0 and "removed" in r.stderr
    assert stored(store) == {} and "key_in_keyring" not in config_text(home)
    assert "[profiles.default]" not in config_text(home)  # the table existed only for the marker
    r = cli("auth", "logout", env=kenv)
    assert r.returncode == 0 and "no key stored for profile 'default'" in r.stderr


def test_logout_works_for_a_removed_profile(cli, server, kenv, store):
    assert cli("profile", "add", "old", "--base-url", server.base_url).returncode == 0
    assert cli("auth", "login", "-P", "old", "--no-verify", input=KEY, env=kenv).returncode == 0
    assert cli("profile", "remove", "old").returncode == 0
    assert stored(store) == {"llmcli/old": KEY}
    assert cli("auth", "logout", "-P", "old", env=kenv).returncode == 0
    assert stored(store) == {}


def test_logout_with_unusable_keyring_is_exit_3(offline_cli):
    r = offline_cli("auth", "logout", env=keyring_env("keyring.backends.fail.Keyring"))
    assert r.returncode == 3 and "LLMCLI_API_KEY" in r.stderr


# --- status --------------------------------------------------------------------------------------


def test_status_shows_source_and_masked_key(cli, server, kenv, store):
    r = cli("auth", "status", env=kenv)
    assert r.returncode == 3 and "default: no key" in r.stdout and "auth login" in r.stderr
    assert login(cli, kenv).returncode == 0
    r = cli("auth", "status", env=kenv)
    assert r.returncode == 0, r
    assert r.stdout == f"default: {MASKED} from keyring (keyring backends FileKeyring)\n"
    r = cli("auth", "status", env={**kenv, "LLMCLI_API_KEY": OTHER})
    assert r.returncode == 0
    assert "sk-…QRST from env LLMCLI_API_KEY (overrides the key stored in the keyring)" in r.stdout
    r = cli("auth", "status", env={**kenv, "OPENAI_API_KEY": OTHER})
    assert MASKED in r.stdout  # marked: the keyring outranks OPENAI_API_KEY
    for out in (r.stdout, r.stderr):
        assert KEY not in out and OTHER not in out


def test_status_all_and_check(cli, server, kenv, store):
    assert cli("profile", "add", "a", "--base-url", server.base_url).returncode == 0
    assert cli("profile", "add", "b", "--base-url", server.base_url).returncode == 0
    assert cli("auth", "login", "-P", "a", "--no-verify", input=KEY, env=kenv).returncode == 0
    r = cli("auth", "status", "--all", env=kenv)
    assert r.returncode == 3, r  # b has no key
    assert r.stdout.splitlines() == [
        f"a: {MASKED} from keyring (keyring backends FileKeyring)",
        "b: no key (none in the environment (LLMCLI_API_KEY, OPENAI_API_KEY) or stored by `llmcli auth login`, "
        "and nothing in the OS keyring (keyring backends FileKeyring))",
    ]
    assert cli("auth", "login", "-P", "b", "--no-verify", input=OTHER, env=kenv).returncode == 0
    server.require_key = KEY
    r = cli("auth", "status", "--all", "--check", env=kenv)
    assert r.returncode == 3, r  # b's key is refused
    lines = r.stdout.splitlines()
    assert lines[0].endswith(f"; accepted by 127.0.0.1:{server.port}")
    assert f"refused by 127.0.0.1:{server.port} (HTTP 401)" in lines[1]
    r = cli("auth", "status", "-P", "a", "--check", env=kenv)
    assert r.returncode == 0 and "accepted" in r.stdout
    assert cli("auth", "status", "-P", "a", "--all").returncode == 2


def test_status_check_network_failure_has_its_exit_code(offline_cli):
    r = offline_cli(
        "auth",
        "status",
        "--check",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--max-retries",
        "0",
        env={"LLMCLI_API_KEY": KEY},
    )
    assert r.returncode == 6, r
    assert "not checked" in r.stdout and KEY not in r.stdout + r.stderr


# --- ask and models with a keyring that cannot be read ------------------------------------------


def mark_default(home: Path) -> None:
    """What `auth login` leaves in the config file (without going through a keyring that is broken)."""
    home.mkdir(mode=0o700, exist_ok=True)
    (home / "config.toml").write_text("[profiles.default]\nkey_in_keyring = true\n")


@pytest.mark.parametrize("backend", ["keyring.backends.fail.Keyring", "LockedKeyring", "HangingKeyring"])
def test_a_keyring_is_not_asked_and_not_warned_about_when_no_profile_needs_it(cli, server, backend):
    env = {**keyring_env(backend), keystore.TIMEOUT_ENV: "0.5"}
    r = cli.ask("-m", "m", "hi", env=env)
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "Hello from the reference server.")
    assert sent_keys(server) == [None]


@pytest.mark.parametrize("backend", ["keyring.backends.fail.Keyring", "LockedKeyring"])
def test_unreadable_keyring_warns_once_and_goes_on(cli, server, home, backend):
    mark_default(home)
    r = cli.ask("-m", "m", "hi", env=keyring_env(backend))
    assert r.returncode == 0, r
    assert r.stdout == "Hello from the reference server."
    assert r.stderr.count("\n") == 1 and "warning" in r.stderr and "going on without a key" in r.stderr
    assert sent_keys(server) == [None]
    r = cli("models", "--base-url", server.base_url, env=keyring_env(backend))
    assert r.returncode == 0 and r.stderr.count("warning") == 1


def test_unreadable_keyring_then_401_exits_3_with_the_same_guidance(cli, server, home):
    mark_default(home)
    server.require_key = KEY
    r = cli.ask("-m", "m", "hi", env=keyring_env("keyring.backends.fail.Keyring"))
    assert r.returncode == 3, r
    warning, error = r.stderr.splitlines()
    assert "could not be read" in warning
    assert "HTTP 401" in error and "could not be read" in error
    for way in ("LLMCLI_API_KEY", "Secret Service", "PYTHON_KEYRING_BACKEND"):
        assert way in error


def test_hanging_keyring_does_not_hang_ask(cli, server, home):
    mark_default(home)
    env = {**keyring_env("HangingKeyring"), keystore.TIMEOUT_ENV: "0.5"}
    t0 = time.monotonic()
    r = cli.ask("-m", "m", "hi", env=env, timeout=30)
    assert r.returncode == 0, r
    assert "did not answer within 0.5 s" in r.stderr and r.stdout == "Hello from the reference server."
    assert time.monotonic() - t0 < 20


def test_marked_profile_without_stored_key_says_so(cli, server, kenv, store):
    assert login(cli, kenv, "--no-verify").returncode == 0
    store.write_text("{}")  # removed behind llmcli's back
    server.require_key = KEY
    r = cli.ask("-m", "m", "hi", env=kenv)
    assert r.returncode == 3
    assert "marked as having a key" in r.stderr and "auth login -P default" in r.stderr


def test_server_without_key_works_with_nothing_configured(cli, server):
    r = cli.ask("-m", "m", "hi")  # the suite's default: keyring's Null backend, nothing stored
    assert r.returncode == 0 and r.stderr == "" and sent_keys(server) == [None]


# --- precedence and startup, end to end ----------------------------------------------------------


def test_precedence_end_to_end(cli, server, kenv, store):
    assert login(cli, kenv, "--no-verify").returncode == 0
    cli.ask("-m", "m", "hi", env={**kenv, "OPENAI_API_KEY": OTHER})
    cli.ask("-m", "m", "hi", env={**kenv, "LLMCLI_API_KEY": OTHER})
    assert cli("auth", "logout", env=kenv).returncode == 0
    cli.ask("-m", "m", "hi", env={**kenv, "OPENAI_API_KEY": OTHER})
    assert sent_keys(server) == [f"Bearer {KEY}", f"Bearer {OTHER}", f"Bearer {OTHER}"]


def test_keyring_is_imported_only_when_it_can_matter(home, server, kenv, store):
    ask = ["ask", "--base-url", server.base_url, "-m", "m", "hi"]
    assert "keyring" not in modules_after(home, ask, {**kenv, "LLMCLI_API_KEY": KEY})
    assert "keyring" not in modules_after(home, ask, {**kenv, "OPENAI_API_KEY": KEY})  # unmarked
    store.write_text(json.dumps({"llmcli/default": KEY}))  # stored by another tool: not marked
    assert "keyring" not in modules_after(home, ask, kenv)  # no key anywhere that counts: no keyring
    mark_default(home)
    assert "keyring" in modules_after(home, ask, {**kenv, "OPENAI_API_KEY": OTHER})  # marked
    assert "keyring" not in modules_after(home, ask, {**kenv, "LLMCLI_API_KEY": OTHER})
    assert sent_keys(server) == [f"Bearer {KEY}", f"Bearer {KEY}", None, f"Bearer {KEY}", f"Bearer {OTHER}"]


def test_the_marker_cannot_be_set_by_hand(cli, server):
    assert cli("profile", "add", "p", "--base-url", server.base_url).returncode == 0
    r = cli("profile", "set", "p", "key_in_keyring", "true")
    assert r.returncode == 2 and "auth login" in r.stderr


def test_default_profile_works_by_name_on_a_fresh_install(cli, server):
    r = cli.ask("-P", "default", "-m", "m", "hi")
    assert r.returncode == 0, r


@pytest.mark.parametrize(
    "bus,expect",
    [
        (None, "DBUS_SESSION_BUS_ADDRESS is unset"),
        ("unix:path=/nonexistent/llmcli-test-bus", "cannot reach the D-Bus session bus"),
    ],
)
def test_headless_box_without_a_session_bus(cli, server, home, bus, expect):
    """keyring's real SecretService backend where there is no D-Bus: what a new headless user meets."""
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    cli.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    if bus:
        env["DBUS_SESSION_BUS_ADDRESS"] = bus
    r = login(cli, env)
    assert r.returncode == 3, r
    assert expect in r.stderr and r.stderr.count("\n") == 1
    for way in ("LLMCLI_API_KEY", "gnome-keyring-daemon --unlock", "PYTHON_KEYRING_BACKEND"):
        assert way in r.stderr
    assert server.requests == []  # told before the key is even read
    r = cli.ask("-m", "m", "hi", env=env)  # a keyless run does not care that there is no keyring
    assert (r.returncode, r.stderr) == (0, "")
    mark_default(home)
    r = cli.ask("-m", "m", "hi", env=env)
    assert r.returncode == 0 and expect in r.stderr and "going on without a key" in r.stderr


def test_headless_login_on_a_terminal_explains_before_prompting(home, server):
    import pexpect

    env = clean_env(home, **keyring_env("keyring.backends.fail.Keyring"))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "auth", "login", "--base-url", server.base_url],
        env=env,
        timeout=30,
        encoding="utf-8",
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    assert "input hidden" not in child.before and "LLMCLI_API_KEY" in child.before


# --- keys cost nothing when there are none (issue 10, item 1) ------------------------------------


def test_login_records_the_backend_and_later_runs_load_it_by_name(cli, server, home, kenv, store):
    assert login(cli, kenv).returncode == 0
    assert 'keyring_backend = "keyring_backends.FileKeyring"' in config_text(home)
    # No PYTHON_KEYRING_BACKEND any more: the recorded backend is loaded by name, without discovery.
    by_name = {**kenv, "PYTHON_KEYRING_BACKEND": ""}
    ask = ["ask", "--base-url", server.base_url, "-m", "m", "hi"]
    mods = modules_after(home, ask, by_name)
    assert "keyring_backends" in mods
    assert not {"keyring.backends.kwallet", "keyring.backends.libsecret", "keyring.backends.chainer"} & mods
    assert sent_keys(server)[-1] == f"Bearer {KEY}"
    assert cli("auth", "logout", env=kenv).returncode == 0
    assert "keyring_backend" not in config_text(home) and "key_in_keyring" not in config_text(home)


def test_status_reports_a_stored_key_the_profile_is_not_marked_for(cli, server, kenv, store):
    store.parent.mkdir(exist_ok=True)
    store.write_text(json.dumps({"llmcli/default": KEY}))  # stored by another tool
    r = cli("auth", "status", env=kenv)
    assert r.returncode == 3, r  # runs do not use it
    assert "default: no key" in r.stdout and MASKED in r.stdout and "not marked" in r.stdout
    assert "auth login -P default" in r.stdout and KEY not in r.stdout + r.stderr
    r = cli("auth", "status", env={**kenv, "OPENAI_API_KEY": OTHER})
    assert r.returncode == 0 and "from env OPENAI_API_KEY" in r.stdout and "not marked" in r.stdout


@pytest.mark.parametrize(
    "env,words",
    [
        ({}, ["no key was sent", "OS keyring was not asked", "auth login -P default"]),
        ({"OPENAI_API_KEY": OTHER}, ["the key sent came from OPENAI_API_KEY", "auth login -P default"]),
        ({"LLMCLI_API_KEY": OTHER}, ["the key sent came from LLMCLI_API_KEY"]),
    ],
)
def test_a_401_says_which_key_was_sent_and_what_was_not_tried(cli, server, env, words):
    server.require_key = KEY
    r = cli.ask("-m", "m", "hi", env=env)
    assert r.returncode == 3, r
    assert "HTTP 401" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    for word in words:
        assert word in r.stderr, r.stderr
    assert OTHER not in r.stderr


def test_a_recorded_backend_that_cannot_be_loaded_is_named(cli, server, home):
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text(
        '[profiles.default]\nkey_in_keyring = true\nkeyring_backend = "gone.module.Keyring"\n'
    )
    r = cli.ask("-m", "m", "hi", env={"PYTHON_KEYRING_BACKEND": ""})
    assert r.returncode == 0, r  # the server needs no key: a warning, and on without one
    assert "gone.module.Keyring" in r.stderr and "cannot be loaded" in r.stderr
    assert "PYTHON_KEYRING_BACKEND=''" not in r.stderr and r.stderr.count("\n") == 1

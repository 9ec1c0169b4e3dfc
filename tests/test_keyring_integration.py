"""llmcli against a real Secret Service (gnome-keyring under D-Bus), through its own commands.

`.ci/run` starts a session bus and an unlocked gnome-keyring-daemon with a throwaway HOME, and sets
LLMCLI_REQUIRE_KEYRING_TESTS=1 so that a missing Secret Service fails these tests instead of skipping
them. Elsewhere they run when a Secret Service is reachable and skip otherwise. By hand:

    export HOME=$(mktemp -d) XDG_RUNTIME_DIR=$(mktemp -d) LLMCLI_TEST_KEYRING_PASSWORD=$(openssl rand -hex 12)
    dbus-run-session -- sh -c 'printf %s "$LLMCLI_TEST_KEYRING_PASSWORD" |
        gnome-keyring-daemon --unlock --components=secrets >/dev/null; pytest -m keyring_integration'

llmcli picks the backend as users get it: no PYTHON_KEYRING_BACKEND, keyring's own detection.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# One worker at a time: these tests lock and unlock the one login keyring.
pytestmark = [pytest.mark.keyring_integration, pytest.mark.xdist_group("secret-service")]

REQUIRED = os.environ.get("LLMCLI_REQUIRE_KEYRING_TESTS", "").strip() not in ("", "0")
PASSWORD_ENV = "LLMCLI_TEST_KEYRING_PASSWORD"

PROBE = """
import secretstorage
conn = secretstorage.dbus_init()
if not secretstorage.check_service_availability(conn):
    raise SystemExit("no Secret Service on the session bus")
if secretstorage.get_default_collection(conn).is_locked():
    raise SystemExit("the default collection is locked")
"""


def _secret_service_problem() -> str | None:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return "no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set)"
    try:
        r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "the Secret Service did not answer within 20 s"
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["probe failed"])[-1]


@pytest.fixture(scope="module")
def secret_service() -> None:
    problem = _secret_service_problem()
    if problem:
        if REQUIRED:
            pytest.fail(f"LLMCLI_REQUIRE_KEYRING_TESTS is set but no Secret Service is usable: {problem}")
        pytest.skip(f"no Secret Service reachable ({problem}); .ci/run provides one")


def collection():
    import secretstorage

    conn = secretstorage.dbus_init()
    return conn, secretstorage.get_default_collection(conn)


def items_for(profile: str) -> list[bytes]:
    """The secrets stored under service llmcli / this profile, read straight from the Secret Service."""
    conn, col = collection()
    try:
        return [i.get_secret() for i in col.search_items({"service": "llmcli", "username": profile})]
    finally:
        conn.close()


def keyring_files() -> list[Path]:
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return sorted((data / "keyrings").glob("*.keyring"))


def plaintext_file() -> Path:
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "python_keyring" / "keyring_pass.cfg"


@pytest.fixture
def one_at_a_time() -> Iterator[None]:
    """These tests share one Secret Service, and one of them locks its collection: they must not overlap.
    The xdist_group above asks pytest-xdist to keep them on one worker, but it has been seen running two
    of them at once (a test then found the collection locked): an flock across workers makes sure."""
    import fcntl
    import tempfile

    path = Path(tempfile.gettempdir()) / f"llmcli-secret-service-tests-{os.getuid()}.lock"
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture
def real(cli, secret_service, one_at_a_time) -> Iterator[object]:
    """The cli fixture with keyring's own backend detection, and a profile name of its own."""
    cli.env.pop("PYTHON_KEYRING_BACKEND", None)
    cli.profile = "itest-" + secrets.token_hex(4)
    yield cli
    cli("auth", "logout", "-P", cli.profile)  # leave no item behind, whatever happened


def test_round_trip_through_llmcli_commands(real, server):
    cli, profile = real, real.profile
    key = "sk-itest-" + secrets.token_hex(16)
    masked = f"sk-…{key[-4:]}"
    assert cli("profile", "add", profile, "--base-url", server.base_url).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in keyring_files()}

    # login: verified with the server, stored in the Secret Service
    server.require_key = key
    r = cli("auth", "login", "-P", profile, input=key + "\n")
    assert r.returncode == 0, r
    assert "SecretService" in r.stderr and masked in r.stderr and key not in r.stderr
    assert items_for(profile) == [key.encode()]
    assert not plaintext_file().exists()  # never fell back to keyrings.alt's plain file

    # ask sends it
    r = cli("ask", "-P", profile, "-m", "m", "hi")
    assert r.returncode == 0, r
    assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {key}"

    # status shows where it is, masked, and the server accepts it
    r = cli("auth", "status", "-P", profile, "--check")
    assert r.returncode == 0, r
    assert r.stdout.startswith(f"{profile}: {masked} from keyring (SecretService Keyring); accepted by")
    assert key not in r.stdout + r.stderr

    # the keyring's files on disk: rewritten since the login, and the key is not in them in clear
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        files = keyring_files()
        if any(before.get(p) != p.stat().st_mtime_ns for p in files):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"gnome-keyring did not write its files: {keyring_files()}")
    for path in files:
        blob = path.read_bytes()
        assert key.encode() not in blob and base64.b64encode(key.encode()) not in blob, path

    # logout removes it from the Secret Service
    r = cli("auth", "logout", "-P", profile)
    assert r.returncode == 0 and "removed" in r.stderr, r
    assert items_for(profile) == []

    # and now the server that needs a key refuses llmcli: exit 3, nothing sent
    r = cli("ask", "-P", profile, "-m", "m", "hi")
    assert r.returncode == 3, r
    assert "HTTP 401" in r.stderr
    assert server.chat_requests()[-1].headers.get("authorization") is None


def test_nothing_stored_means_no_key_and_no_warning(real, server):
    r = real("ask", "--base-url", server.base_url, "-m", "m", "hi")  # the keyring is asked: nothing there
    assert r.returncode == 0 and r.stderr == "", r
    assert server.chat_requests()[-1].headers.get("authorization") is None
    r = real("auth", "status", "-P", "default")  # status searches the keyring and says which one
    assert r.returncode == 3 and "nothing in the OS keyring" in r.stdout and "SecretService" in r.stdout, r


def test_a_locked_collection(real, server):
    """Lock the collection for real: login fails with exit 3 and the ways out; ask warns and goes on."""
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        if REQUIRED:
            pytest.fail(f"{PASSWORD_ENV} is needed to unlock the collection again after this test")
        pytest.skip(f"locks the login keyring: runs only in a throwaway session that sets {PASSWORD_ENV}")
    # A profile marked by a login while the collection is open is the one whose runs read the keyring.
    r = real("auth", "login", "--base-url", server.base_url, input="sk-marked-0123456789")
    assert r.returncode == 0, r
    r = real("profile", "add", "plain", "--base-url", server.base_url)
    assert r.returncode == 0, r
    conn, col = collection()
    try:
        col.lock()
        assert col.is_locked()
        r = real("auth", "login", "--base-url", server.base_url, input="sk-locked-0123456789")
        assert r.returncode == 3, r
        assert "locked" in r.stderr and "LLMCLI_API_KEY" in r.stderr and "PYTHON_KEYRING_BACKEND" in r.stderr
        r = real("ask", "--base-url", server.base_url, "-m", "m", "hi")
        assert r.returncode == 0, r
        assert r.stderr.count("\n") == 1 and "locked" in r.stderr and "going on without a key" in r.stderr
        assert server.chat_requests()[-1].headers.get("authorization") is None
        # a profile never marked does not touch the keyring: no warning at all
        r = real("ask", "-P", "plain", "-m", "m", "hi")
        assert r.returncode == 0 and r.stderr == "", r
    finally:
        # Headless, only the daemon itself can unlock again: replace it, handing it the password.
        subprocess.run(
            ["gnome-keyring-daemon", "--replace", "--unlock", "--components=secrets"],
            input=password.encode(),
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while col.is_locked() and time.monotonic() < deadline:
            time.sleep(0.1)
        conn.close()
    assert _secret_service_problem() is None

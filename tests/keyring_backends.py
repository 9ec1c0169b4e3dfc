"""Keyring backends for the tests.

In-process tests install one with `keyring.set_keyring(...)`. CLI subprocesses select one with
`PYTHON_KEYRING_BACKEND=keyring_backends.NAME` and `PYTHONPATH=<tests dir>` (see `keyring_env`).
Every class has a negative priority, so keyring's own detection never picks one by itself.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError

TESTS_DIR = Path(__file__).resolve().parent
STORE_ENV = "LLMCLI_TEST_KEYRING_FILE"


def keyring_env(backend: str, store: Path | None = None) -> dict[str, str]:
    """Environment for a CLI subprocess that uses one of these backends."""
    qualified = backend if "." in backend else f"keyring_backends.{backend}"
    env = {"PYTHON_KEYRING_BACKEND": qualified, "PYTHONPATH": str(TESTS_DIR)}
    if store is not None:
        env[STORE_ENV] = str(store)
    return env


class MemoryKeyring(KeyringBackend):
    """A dict: for tests that run in the test process."""

    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise PasswordDeleteError("not found")
        del self.entries[(service, username)]


class FileKeyring(KeyringBackend):
    """A JSON file named by $LLMCLI_TEST_KEYRING_FILE, so entries outlive one CLI process (tests only)."""

    priority = -1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ[STORE_ENV])

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self._path().read_text("utf-8"))
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, str]) -> None:
        self._path().write_text(json.dumps(data), "utf-8")

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(data)


class HangingKeyring(KeyringBackend):
    """Never answers, like a D-Bus call that no one replies to."""

    priority = -1  # type: ignore[assignment]

    def _hang(self, *args: object) -> None:
        time.sleep(3600)

    get_password = set_password = delete_password = _hang  # type: ignore[assignment]


class LockedKeyring(KeyringBackend):
    """A collection that stays locked (the unlock prompt was dismissed)."""

    priority = -1  # type: ignore[assignment]

    def _locked(self, *args: object) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    get_password = set_password = delete_password = _locked  # type: ignore[assignment]

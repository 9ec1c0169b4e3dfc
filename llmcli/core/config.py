"""The config file (config.toml): what it may hold, reading and checking it, writing it back.

It never holds a key: `auth login` keeps keys in the OS keyring and only marks the profile here.
"""

from __future__ import annotations

import os
import re
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from .files import atomic_write, ensure_private_dir
from .urls import check_base_url, check_proxy_url

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_PROFILE = "default"
TRANSPORTS = ("http", "sdk")

# What a profile may hold, and the type each value must have.
PROFILE_KEYS: dict[str, tuple[type, ...]] = {
    "base_url": (str,),
    "model": (str,),
    "transport": (str,),
    "timeout": (int, float),
    "max_retries": (int,),
    "system": (str,),
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "seed": (int,),
    # Network (docs/network.md) and the response cache (docs/cache.md).
    "ca_bundle": (str,),
    "insecure": (bool,),
    "proxy": (str,),
    "cache": (bool,),
    # Written by `llmcli auth login`, removed by `logout`: not secrets, only "look in the keyring" and
    # which backend holds the key (`module.Class`, loaded by name instead of discovering every backend).
    "key_in_keyring": (bool,),
    "keyring_backend": (str,),
}
# Settings llmcli manages itself; `profile set/add` do not take them.
MANAGED_PROFILE_KEYS = ("key_in_keyring", "keyring_backend")
# Top-level keys of config.toml besides [profiles.*].
TOP_KEYS: dict[str, tuple[type, ...]] = {
    "default_profile": (str,),
    "allow_plaintext_keyring": (bool,),
    # false: `ask`/`chat` keep no history, as if --no-save were given every time
    "save_history": (bool,),
    # the response cache's size bound in MB (docs/cache.md); the least recently used answers go first
    "cache_max_mb": (int, float),
}
REQUEST_DEFAULT_KEYS = ("temperature", "top_p", "max_tokens", "seed")
# The longest timeout: every timer llmcli uses (threads, sockets, the OS's time_t) takes it, and an
# answer that sends nothing for 11 days is not coming.
MAX_TIMEOUT = 1_000_000.0
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(slots=True)
class Config:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    exists: bool = False

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        return self.data.setdefault("profiles", {})

    @property
    def default_profile(self) -> str | None:
        return self.data.get("default_profile")


def load_config(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})", hint="fix or remove the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid TOML: {exc}", hint="fix the line named, or remove the file"
        ) from None
    validate(data, path)
    return Config(path, data, True)


def _locate(path: Path, needle: str) -> str:
    """' (line N)' for the first line mentioning needle, to point the user at it."""
    try:
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if needle in line:
                return f" (line {n})"
    except OSError:
        pass
    return ""


def validate(data: dict[str, Any], path: Path) -> None:
    for key, value in data.items():
        if key == "profiles":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: 'profiles' must be a table{_locate(path, 'profiles')}")
            for name, prof in value.items():
                if not isinstance(prof, dict):
                    raise ConfigError(f"{path}: profile {name!r} must be a table{_locate(path, name)}")
                for k, v in prof.items():
                    if k in _KEY_NAMES:
                        raise _key_in_config(path, k)
                    if k not in PROFILE_KEYS:
                        raise ConfigError(
                            f"{path}: unknown setting {k!r} in profile {name!r}{_locate(path, k)}",
                            hint="known settings: " + ", ".join(PROFILE_KEYS),
                        )
                    _check_type(path, f"profiles.{name}.{k}", v, PROFILE_KEYS[k])
                if "transport" in prof and prof["transport"] not in TRANSPORTS:
                    raise ConfigError(
                        f"{path}: transport must be http or sdk in profile {name!r}{_locate(path, 'transport')}"
                    )
        elif key in _KEY_NAMES:
            raise _key_in_config(path, key)
        elif key in TOP_KEYS:
            _check_type(path, key, value, TOP_KEYS[key])
        else:
            raise ConfigError(
                f"{path}: unknown setting {key!r}{_locate(path, key)}",
                hint="known top-level settings: " + ", ".join([*TOP_KEYS, "[profiles.NAME]"]),
            )


_KEY_NAMES = ("api_key", "key", "openai_api_key", "token")


def _key_in_config(path: Path, key: str) -> ConfigError:
    return ConfigError(
        f"{path}: {key!r} does not belong in the config file: llmcli keeps keys out of files{_locate(path, key)}",
        hint="remove that line; store the key with `llmcli auth login`, or set LLMCLI_API_KEY",
    )


def _check_type(path: Path, key: str, value: Any, types: tuple[type, ...]) -> None:
    if isinstance(value, bool) and bool not in types:
        ok = False
    elif isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        ok = False  # TOML allows nan and inf; no server accepts them in JSON
    else:
        ok = isinstance(value, types)
    if not ok:
        want = " or ".join(t.__name__ for t in types)
        raise ConfigError(
            f"{path}: {key} must be {want}, not {value!r}{_locate(path, key.rsplit('.', 1)[-1])}",
            hint="fix that line (strings in quotes, numbers without), or remove it",
        )


def dump_config(data: dict[str, Any]) -> str:
    """TOML for our own small schema: top-level scalars, then one [profiles.NAME] table each."""
    lines = ["# llmcli configuration. Keys never live here: see `llmcli auth login`.", ""]
    for key, value in data.items():
        if key != "profiles":
            lines.append(f"{key} = {_toml_value(value)}")
    for name, prof in (data.get("profiles") or {}).items():
        lines.append("")
        lines.append(f"[profiles.{_toml_key(name)}]")
        for k, v in prof.items():
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    return "\n".join(lines).strip("\n") + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_str(key)


def _toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    raise TypeError(f"cannot write {type(v).__name__} to config")


def save_config(config: Config) -> None:
    atomic_write(config.path, dump_config(config.data))
    config.exists = True


LOCK_WAIT_S = 10.0


@contextmanager
def editing_config(path: Path) -> Iterator[Config]:
    """Read, change and write config.toml as one step, under an exclusive lock on `config.toml.lock`
    beside it: ten `profile add` at once leave ten profiles. The file is read after the lock is taken
    (so a change is made to what the previous writer left) and written, when the block changed it,
    atomically (temp file + fsync + rename) before the lock is let go. An error in the block writes
    nothing."""
    with _locked(path.with_name(path.name + ".lock")):
        config = load_config(path)
        before = dump_config(config.data)
        yield config
        if dump_config(config.data) != before:
            save_config(config)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    ensure_private_dir(lock_path.parent)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise ConfigError(
            f"cannot create {lock_path}: {exc.strerror}", hint="check the folder's permissions"
        ) from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"{lock_path.with_suffix('')} is being changed by another llmcli (waited {LOCK_WAIT_S:g} s)",
                    hint="try again when it has finished",
                )
            time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing the file lets the lock go


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: a byte-range lock on the lock file instead
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def check_profile_name(name: str) -> str:
    if not _PROFILE_NAME.match(name):
        raise UsageError(
            f"invalid profile name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 64)",
        )
    return name


def parse_profile_value(key: str, text: str) -> Any:
    """A value typed on the command line for a profile setting, checked like the config file."""
    if key not in PROFILE_KEYS:
        raise UsageError(
            f"unknown profile setting {key!r}", hint="known settings: " + ", ".join(PROFILE_KEYS)
        )
    if key in MANAGED_PROFILE_KEYS:
        raise UsageError(
            f"{key} is managed by llmcli",
            hint="`llmcli auth login` sets it and `llmcli auth logout` removes it",
        )
    types = PROFILE_KEYS[key]
    if types == (bool,):
        word = text.strip().lower()
        if word in ("true", "yes", "on", "1"):
            return True
        if word in ("false", "no", "off", "0"):
            return False
        raise UsageError(f"{key} must be true or false, not {text!r}")
    try:
        if int in types and float not in types:
            return int(text)
        if float in types:
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(text)
            if key == "timeout" and not 0 < value <= MAX_TIMEOUT:
                raise UsageError(
                    f"timeout must be more than 0 and at most {MAX_TIMEOUT:.0f} seconds, not {text}"
                )
            return int(value) if value.is_integer() and key in ("timeout",) else value
    except ValueError:
        raise UsageError(f"{key} must be a number, not {text!r}") from None
    if key == "transport" and text not in TRANSPORTS:
        raise UsageError("transport must be http or sdk")
    if key == "base_url":
        check_base_url(text)
    if key == "proxy":
        check_proxy_url(text)
    return text

"""config.toml + environment + flags → one resolved Settings, remembering where each value came from.

Precedence (CONTRACT.md): flag > LLMCLI_* env > the selected profile > OPENAI_* env > built-in default.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError

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
    # Written by `llmcli auth login`, removed by `logout`: not a secret, only "look in the keyring".
    "key_in_keyring": (bool,),
}
# Settings llmcli manages itself; `profile set/add` do not take them.
MANAGED_PROFILE_KEYS = ("key_in_keyring",)
# Top-level keys of config.toml besides [profiles.*].
TOP_KEYS: dict[str, tuple[type, ...]] = {
    "default_profile": (str,),
    "allow_plaintext_keyring": (bool,),
    # false: `ask`/`chat` keep no history, as if --no-save were given every time
    "save_history": (bool,),
}
REQUEST_DEFAULT_KEYS = ("temperature", "top_p", "max_tokens", "seed")
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


# --- where files live ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def history_db(self) -> Path:
        return self.data_dir / "history.db"


def paths(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    home = env.get("LLMCLI_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root, root)
    import platformdirs  # small, but only needed when LLMCLI_HOME is not set

    return Paths(Path(platformdirs.user_config_dir("llmcli")), Path(platformdirs.user_data_dir("llmcli")))


def ensure_private_dir(path: Path) -> Path:
    """Create a folder, and any missing parent, 0700 from the start (never create-then-chmod).

    Path.mkdir(parents=True) would create the parents with the umask's mode (0777 under umask 000).
    """
    missing = []
    here = path
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
    return path


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write via a 0600 temp file in the same folder, fsync, then os.replace: never a torn file."""
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)  # mkstemp opens 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# --- the config file -----------------------------------------------------------------------------


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
    try:
        if int in types and float not in types:
            return int(text)
        if float in types:
            value = float(text)
            return int(value) if value.is_integer() and key in ("timeout",) else value
    except ValueError:
        raise UsageError(f"{key} must be a number, not {text!r}") from None
    if key == "transport" and text not in TRANSPORTS:
        raise UsageError("transport must be http or sdk")
    if key == "base_url":
        check_base_url(text)
    return text


def check_base_url(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise UsageError(
            f"base URL must start with http:// or https:// and name a host: {url!r}",
            hint="for example http://127.0.0.1:8080/v1",
        )
    return url


# --- resolution ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Settings:
    profile: str
    base_url: str
    model: str | None
    transport: str
    timeout: float
    max_retries: int
    debug: bool
    system: str | None = None
    request_defaults: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    profile_defined: bool = False
    config: Config | None = None


@dataclass(slots=True)
class Flags:
    """What the command line said; None = not given."""

    profile: str | None = None
    base_url: str | None = None
    model: str | None = None
    transport: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    debug: bool = False


def env_flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def resolve(flags: Flags, env: Mapping[str, str], config: Config) -> Settings:
    sources: dict[str, str] = {}
    cfg_name = config.path.name

    # profile
    if flags.profile:
        profile, sources["profile"] = flags.profile, "flag --profile"
    elif env.get("LLMCLI_PROFILE"):
        profile, sources["profile"] = env["LLMCLI_PROFILE"], "env LLMCLI_PROFILE"
    elif config.default_profile:
        profile, sources["profile"] = config.default_profile, f"{cfg_name} default_profile"
    else:
        profile, sources["profile"] = DEFAULT_PROFILE, "default"
    prof = config.profiles.get(profile)
    if prof is None:
        # "default" always exists (empty until configured), so `-P default` and `auth login` work on a fresh install.
        if sources["profile"] != "default" and profile != DEFAULT_PROFILE:
            known = ", ".join(sorted(config.profiles)) or "none yet"
            raise ConfigError(
                f"no profile named {profile!r} (from {sources['profile']})",
                hint=f"profiles: {known}; create one with `llmcli profile add {profile} --base-url URL`",
            )
        prof = {}
    from_profile = f"profile {profile!r} ({cfg_name})"

    def pick(
        key: str, flag: Any, env_names: tuple[str, ...], after_profile: tuple[str, ...], default: Any
    ) -> Any:
        if flag is not None:
            sources[key] = f"flag --{key.replace('_', '-')}"
            return flag
        for name in env_names:
            if env.get(name):
                sources[key] = f"env {name}"
                return env[name]
        if key in prof:
            sources[key] = from_profile
            return prof[key]
        for name in after_profile:
            if env.get(name):
                sources[key] = f"env {name}"
                return env[name]
        sources[key] = "default"
        return default

    base_url = pick("base_url", flags.base_url, ("LLMCLI_BASE_URL",), ("OPENAI_BASE_URL",), DEFAULT_BASE_URL)
    check_base_url(base_url)
    model = pick("model", flags.model, ("LLMCLI_MODEL",), (), None)
    transport = pick("transport", flags.transport, ("LLMCLI_TRANSPORT",), (), "http")
    if transport not in TRANSPORTS:
        raise UsageError(
            f"unknown transport {transport!r} (from {sources['transport']})",
            hint="use --transport http or sdk",
        )
    timeout = float(pick("timeout", flags.timeout, (), (), 600.0))
    if timeout <= 0:
        raise UsageError("--timeout must be greater than 0")
    max_retries = int(pick("max_retries", flags.max_retries, (), (), 2))
    if max_retries < 0:
        raise UsageError("--max-retries must be 0 or more")
    debug = flags.debug or env_flag(env.get("LLMCLI_DEBUG"))
    sources["debug"] = "flag --debug" if flags.debug else ("env LLMCLI_DEBUG" if debug else "default")
    system = prof.get("system")
    if system is not None:
        sources["system"] = from_profile
    defaults = {k: prof[k] for k in REQUEST_DEFAULT_KEYS if k in prof}
    for k in defaults:
        sources[k] = from_profile
    return Settings(
        profile=profile,
        base_url=base_url,
        model=model,
        transport=transport,
        timeout=timeout,
        max_retries=max_retries,
        debug=debug,
        system=system,
        request_defaults=defaults,
        sources=sources,
        profile_defined=profile in config.profiles,
        config=config,
    )

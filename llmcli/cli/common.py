"""What the commands share: settings from flags, the key, a transport, request building, messages."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from ..core.credentials import ResolvedKey, resolve_key
from ..core.settings import Config, Flags, Settings, load_config, paths, resolve
from ..core.types import ChatRequest, Message
from ..errors import UsageError
from ..transport.base import Transport, TransportConfig

# Options that mean the same to every command. `lift_global_options` takes them from any place on the
# command line (before or after the command name), so `llmcli -P work ask`, `llmcli ask -P work` and
# `llmcli history list --debug` all work; the commands read them through `global_flag`.
GLOBAL_OPTIONS = {
    "--profile": "profile",
    "-P": "profile",
    "--base-url": "base_url",
    "--transport": "transport",
    "--timeout": "timeout",
    "--max-retries": "max_retries",
    "--debug": "debug",
}
GLOBAL_FLAGS: dict[str, Any] = {}


def lift_global_options(argv: list[str]) -> list[str]:
    """Remove the global options (and their values) from argv into GLOBAL_FLAGS; `--` ends the search."""
    rest: list[str] = []
    # `profile add/set` take --base-url, --transport, --timeout as the profile's own values.
    command, skip = None, False
    for t in argv:
        if skip:
            skip = False
        elif t in GLOBAL_OPTIONS and t != "--debug":
            skip = True  # its value
        elif not t.startswith("-"):
            command = t
            break
    keep = {"--base-url", "--transport", "--timeout", "--max-retries"} if command == "profile" else set()
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        name, eq, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if token.startswith("-P") and len(token) > 2 and not token.startswith("--"):
            name, eq, value = "-P", "=", token[2:]
        setting = None if name in keep else GLOBAL_OPTIONS.get(name)
        if setting is None:
            rest.append(token)
        elif setting == "debug":
            if eq:
                raise UsageError("--debug takes no value")
            GLOBAL_FLAGS["debug"] = True
        elif eq:
            GLOBAL_FLAGS[setting] = value
        elif i + 1 < len(argv):
            GLOBAL_FLAGS[setting] = argv[i + 1]
            i += 1
        else:
            raise UsageError(f"{name} needs a value", hint="see 'llmcli --help'")
        i += 1
    return rest


def global_flag(setting: str, given: Any = None) -> Any:
    """The command's own value for a global option, else what was lifted from the command line."""
    if given is not None and given is not False:
        return given
    value = GLOBAL_FLAGS.get(setting, given)
    if isinstance(value, str) and setting in ("timeout", "max_retries"):
        kind = float if setting == "timeout" else int
        flag = "--" + setting.replace("_", "-")
        try:
            value = kind(value)
        except ValueError:
            raise UsageError(
                f"{flag} must be {'a number' if kind is float else 'a whole number'}, not {value!r}"
            ) from None
        if setting == "timeout" and not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number, not {value}")
    return value


def load_settings(*, profile: str | None = None, model: str | None = None) -> Settings:
    """Settings for a command. The connection options come from the command line through GLOBAL_FLAGS
    (lifted before the parser runs); `profile` is given only to resolve a profile other than the flag's."""
    profile = global_flag("profile", profile)
    base_url = global_flag("base_url")
    transport = global_flag("transport")
    timeout = global_flag("timeout")
    max_retries = global_flag("max_retries")
    debug = bool(global_flag("debug", False))
    config = load_config(paths().config_file)
    flags = Flags(profile, base_url, model, transport, timeout, max_retries, debug)
    return resolve(flags, os.environ, config)


def load_config_file() -> Config:
    return load_config(paths().config_file)


# One resolution per profile and process: the keyring is asked (and its warning shown) at most once.
_RESOLVED: dict[str, ResolvedKey] = {}


def key_marked(settings: Settings) -> bool:
    """Did `auth login` record that this profile's key is in the keyring?"""
    prof = settings.config.profiles.get(settings.profile, {}) if settings.config else {}
    return prof.get("key_in_keyring") is True


def _keyring_lookup(profile: str):
    from ..keystore import lookup  # the keyring is imported only when it can matter

    return lookup(profile)


def api_key(settings: Settings, *, quiet: bool = False) -> ResolvedKey:
    """The key by CONTRACT.md's precedence; a keyring that cannot be read is warned about once."""
    cached = _RESOLVED.get(settings.profile)
    if cached is not None:
        return cached
    resolved = resolve_key(
        settings.profile, os.environ, keyring_lookup=_keyring_lookup, marked=key_marked(settings)
    )
    if resolved.key:
        from ..core.credentials import remember_secret

        remember_secret(resolved.key)
    if resolved.warning and not quiet:
        more = "going on without a key" if resolved.key is None else f"using {resolved.source[4:]} instead"
        warn(f"warning: {resolved.warning}; {more}")
    _RESOLVED[settings.profile] = resolved
    return resolved


def make_transport(settings: Settings, key: ResolvedKey) -> Transport:
    config = TransportConfig(
        base_url=settings.base_url,
        api_key=key.key,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        debug=settings.debug,
    )
    if settings.transport == "sdk":
        from ..transport.sdk import SdkTransport

        transport: Transport = SdkTransport(config)
    else:
        from ..transport.http import HttpTransport

        transport = HttpTransport(config)
    hint = keyring_hint(settings, key)
    return _KeyringHint(transport, hint) if hint is not None else transport


def keyring_hint(settings: Settings, key: ResolvedKey) -> str | None:
    """What to tell a user whose key was refused (401/403) when the keyring could not give it."""
    if not key.warning:
        return None
    if key.keyring_unusable:
        from ..keystore import WAYS_OUT

        return f"{key.warning}; {WAYS_OUT}"
    return f"{key.warning}; store it again with `llmcli auth login -P {settings.profile}`"


class _KeyringHint:
    """Adds the keyring's trouble to the hint of a 401/403: the likely reason the server said no."""

    def __init__(self, inner: Transport, hint: str):
        self._inner = inner
        self._hint = hint

    def _explain(self, exc: Exception) -> None:
        from ..errors import AuthFailed

        if isinstance(exc, AuthFailed):
            exc.hint = self._hint

    def stream_chat(self, request):
        try:
            yield from self._inner.stream_chat(request)
        except Exception as exc:
            self._explain(exc)
            raise

    def complete(self, request):
        try:
            return self._inner.complete(request)
        except Exception as exc:
            self._explain(exc)
            raise

    def list_models(self):
        try:
            return self._inner.list_models()
        except Exception as exc:
            self._explain(exc)
            raise

    def close(self) -> None:
        self._inner.close()


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def json_or_text(value: str):
    """A value as JSON when it parses as strict JSON (no NaN or Infinity, which no server accepts), else the text."""
    try:
        return json.loads(value, parse_constant=_no_constants)
    except ValueError:
        return value


def parse_extra_options(options: list[str] | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for item in options or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"-o/--option wants KEY=VALUE, got {item!r}",
                hint='for example -o max_completion_tokens=200 -o \'response_format={"type":"json_object"}\'',
            )
        extra[key] = json_or_text(value)
    return extra


def build_request(
    settings: Settings,
    model: str,
    messages: list[Message],
    *,
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
    stop: list[str] | None,
    seed: int | None,
    options: list[str] | None,
) -> ChatRequest:
    params: dict[str, Any] = dict(settings.request_defaults)
    given = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "seed": seed}
    for name, value in given.items():
        if isinstance(value, float) and not math.isfinite(value):
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be a finite number, not {value}")
    params.update({k: v for k, v in given.items() if v is not None})
    if max_tokens is not None and max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    if stop:
        params["stop"] = list(stop)
    return ChatRequest(model=model, messages=messages, params=params, extra=parse_extra_options(options))


def pick_model(settings: Settings, transport: Transport) -> str:
    """The model to use: the resolved setting, or the server's only model when it serves exactly one."""
    if settings.model:
        return settings.model
    models = transport.list_models()
    if len(models) == 1:
        return models[0].id
    names = ", ".join(m.id for m in models[:8]) + (", ..." if len(models) > 8 else "")
    raise UsageError(
        "no model given",
        hint=f"pass -m MODEL, set LLMCLI_MODEL, or set it in a profile; the server offers: {names or 'nothing'}",
    )


def warn(message: str) -> None:
    print(f"llmcli: {message}", file=sys.stderr, flush=True)


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False

"""What the commands share: settings from the command line, the key, a transport, the model, messages."""

from __future__ import annotations

import os
import sys
from typing import Any

from ..core.credentials import ResolvedKey, mask, resolve_key
from ..core.request import build_request, json_or_text, parse_extra_options
from ..core.settings import Config, Flags, Settings, load_config, paths, resolve
from ..core.tty import stdout_is_tty
from ..errors import CredentialsError, UsageError
from ..transport.base import Transport, TransportConfig
from .options import CONNECTION, is_connection_option

# Re-exported for the commands (and branches in flight) that import them from here.
__all__ = [
    "api_key",
    "build_request",
    "given_options",
    "json_or_text",
    "load_config_file",
    "load_settings",
    "make_transport",
    "parse_extra_options",
    "pick_model",
    "stdout_is_tty",
    "warn",
]


def given_options(ctx: Any = None) -> dict[str, Any]:
    """The connection options given on the command line, as Click read them: for each, the value given
    closest to the command (its own options first, then its parents', up to the root callback's)."""
    from typer.main import get_current_context  # Typer's own Click (typer ≥ 0.26 carries one)

    ctx = ctx if ctx is not None else get_current_context(silent=True)
    found: dict[str, Any] = {}
    while ctx is not None:
        for param in ctx.command.params:
            name = param.name
            if name in found or name not in CONNECTION or not is_connection_option(param):
                continue
            source = ctx.get_parameter_source(name)
            if source is not None and source.name != "DEFAULT":  # given (on the command line)
                found[name] = ctx.params.get(name)
        ctx = ctx.parent
    return found


def load_settings(*, profile: str | None = None, model: str | None = None) -> Settings:
    """Settings for the running command: the connection options come from the command line (see
    `given_options`); `profile` is given only to resolve a profile other than the flag's."""
    given = given_options()
    flags = Flags(
        profile=profile or given.get("profile"),
        base_url=given.get("base_url"),
        model=model,
        transport=given.get("transport"),
        timeout=given.get("timeout"),
        max_retries=given.get("max_retries"),
        debug=bool(given.get("debug", False)),
    )
    return resolve(flags, os.environ, load_config(paths().config_file))


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


def api_key(settings: Settings, *, quiet: bool = False, usable: bool = True) -> ResolvedKey:
    """The key by CONTRACT.md's precedence; a keyring that cannot be read is warned about once.

    With `usable` (every command that sends a request) a key that cannot be a header value is refused
    here, before any request and before anything is recorded: exit 3, naming where it came from and
    what is wrong with it. `auth status` and `config show` pass usable=False and show the defect.
    """
    cached = _RESOLVED.get(settings.profile)
    if cached is None:
        cached = _resolve(settings, quiet)
    if usable and cached.defect is not None:
        raise unusable_key(cached, settings.profile)
    return cached


def unusable_key(key: ResolvedKey, profile: str) -> CredentialsError:
    """The key cannot be sent: name where it came from and what is wrong, showing it masked only."""
    if key.source.startswith("env "):
        name = key.source[4:]
        where, fix = name, f"set {name} to the key alone: one line, no spaces or quotes"
    else:
        where = f"the {key.source} for profile {profile!r}"
        fix = f"store it again: llmcli auth login -P {profile}"
    return CredentialsError(f"the API key from {where} ({mask(key.key)}) {key.defect}", hint=fix)


def _resolve(settings: Settings, quiet: bool) -> ResolvedKey:
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
    if key.warning:
        if key.keyring_unusable:
            from ..keystore import WAYS_OUT

            hint = f"{key.warning}; {WAYS_OUT}"
        else:
            hint = f"{key.warning}; store it again with `llmcli auth login -P {settings.profile}`"
        return _KeyringHint(transport, hint)
    return transport


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

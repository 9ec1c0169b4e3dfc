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


def load_settings(
    *,
    profile: str | None = None,
    model: str | None = None,
    cache: bool | None = None,
    template: Any = None,
) -> Settings:
    """Settings for the running command: the connection options come from the command line (see
    `given_options`); `profile` is given only to resolve a profile other than the flag's; `cache` is
    --cache (True) / --no-cache (False) where a command has them; `template` (core.templates.Template,
    from -t) is the layer between the flags and the rest."""
    given = given_options()
    ca_bundle = given.get("ca_bundle")
    flags = Flags(
        profile=profile or given.get("profile"),
        base_url=given.get("base_url"),
        model=model,
        transport=given.get("transport"),
        timeout=given.get("timeout"),
        max_retries=given.get("max_retries"),
        debug=bool(given.get("debug", False)),
        ca_bundle=str(ca_bundle) if ca_bundle is not None else None,
        insecure=bool(given.get("insecure", False)),
        proxy=given.get("proxy"),
        cache=cache,
    )
    return resolve(flags, os.environ, load_config(paths().config_file), template)


def load_config_file() -> Config:
    return load_config(paths().config_file)


# One resolution per profile and process: the keyring is asked (and its warning shown) at most once.
_RESOLVED: dict[str, ResolvedKey] = {}


def key_marked(settings: Settings) -> bool:
    """Did `auth login` record that this profile's key is in the keyring?"""
    return _profile(settings).get("key_in_keyring") is True


def _profile(settings: Settings) -> dict[str, Any]:
    return settings.config.profiles.get(settings.profile, {}) if settings.config else {}


def api_key(settings: Settings, *, quiet: bool = False, usable: bool = True) -> ResolvedKey:
    """The key by CONTRACT.md's precedence; a keyring that cannot be read is warned about once.

    Only a profile marked by `auth login` sends llmcli to the keyring, and then to the backend recorded
    at login, loaded by name (no discovery of every backend installed).

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
    recorded = _profile(settings).get("keyring_backend")

    def lookup(profile: str):
        from ..keystore import lookup  # the keyring is imported only when it can matter

        return lookup(profile, backend=recorded)

    resolved = resolve_key(settings.profile, os.environ, keyring_lookup=lookup, marked=key_marked(settings))
    if resolved.key:
        from ..core.credentials import remember_secret

        remember_secret(resolved.key)
    if resolved.warning and not quiet:
        more = "going on without a key" if resolved.key is None else f"using {resolved.source[4:]} instead"
        warn(f"warning: {resolved.warning}; {more}")
    _RESOLVED[settings.profile] = resolved
    return resolved


def transport_config(settings: Settings, key: ResolvedKey) -> TransportConfig:
    """What every client of the server is built from (the chat transports, the resource client);
    `--show-request` renders requests from the same config."""
    return TransportConfig.from_settings(
        settings, key.key, auth_hint=auth_hint(key, settings.profile), key_source=key.source
    )


def network_notes(settings: Settings) -> None:
    """Said on every run that connects: certificate checks are off. A proxy's password is a secret."""
    if settings.proxy:
        from urllib.parse import urlsplit

        from ..core.credentials import remember_secret

        password = urlsplit(settings.proxy).password
        if password:
            remember_secret(password)
    uses_tls = settings.base_url.lower().startswith("https:") or (settings.proxy or "").lower().startswith(
        "https:"
    )
    if settings.insecure and uses_tls:
        from ..core.urls import host_of

        warn(
            f"warning: TLS certificates are not verified for {host_of(settings.base_url)} "
            f"(insecure, from {settings.sources.get('insecure', 'a setting')}): "
            "anyone on the network path can read and change this traffic"
        )


def make_transport(settings: Settings, key: ResolvedKey) -> Transport:
    config = transport_config(settings, key)
    network_notes(settings)
    if settings.transport == "sdk":
        from ..transport.sdk import SdkTransport

        return SdkTransport(config)
    from ..transport.http import HttpTransport

    return HttpTransport(config)


def auth_hint(key: ResolvedKey, profile: str) -> str:
    """What a 401/403 says about the key: which one was sent, or why none was, and the way out."""
    from ..core.credentials import explain

    hint = explain(key, profile)
    if key.keyring_unusable:
        from ..keystore import WAYS_OUT

        hint = f"{hint}; {WAYS_OUT}"
    elif key.warning:
        hint = f"{hint}; store it again with `llmcli auth login -P {profile}`"
    return hint


def remember_models(settings: Settings, ids: list[str]) -> None:
    """Keep the server's model list briefly for shell completion (never fetched just for that)."""
    from ..core.modelcache import remember

    remember(paths().models_cache, settings.base_url, ids)


def offline_model(settings: Settings) -> str:
    """The model without asking the server (--show-request sends nothing): the setting, or the only
    model the server offered when llmcli last asked it."""
    if settings.model:
        return settings.model
    from ..core.modelcache import recall

    known = recall(paths().models_cache, settings.base_url)
    if len(known) == 1:
        return known[0]
    raise UsageError(
        "no model given, and --show-request sends nothing to ask the server",
        hint="pass -m MODEL (or set LLMCLI_MODEL, or a profile's model)",
    )


def pick_model(settings: Settings, transport: Transport) -> str:
    """The model to use: the resolved setting, or the server's only model when it serves exactly one."""
    if settings.model:
        return settings.model
    models = transport.list_models()
    remember_models(settings, [m.id for m in models])
    if len(models) == 1:
        return models[0].id
    names = ", ".join(m.id for m in models[:8]) + (", ..." if len(models) > 8 else "")
    raise UsageError(
        "no model given",
        hint=f"pass -m MODEL, set LLMCLI_MODEL, or set it in a profile; the server offers: {names or 'nothing'}",
    )


def warn(message: str) -> None:
    print(f"llmcli: {message}", file=sys.stderr, flush=True)

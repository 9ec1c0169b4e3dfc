"""What the commands share: settings from flags, the key, a transport, request building, messages."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ..core.credentials import ResolvedKey, resolve_key
from ..core.settings import Config, Flags, Settings, load_config, paths, resolve
from ..core.types import ChatRequest, Message
from ..errors import UsageError
from ..transport.base import Transport, TransportConfig


def load_settings(
    *,
    profile: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    transport: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    debug: bool = False,
) -> Settings:
    config = load_config(paths().config_file)
    flags = Flags(profile, base_url, model, transport, timeout, max_retries, debug)
    return resolve(flags, os.environ, config)


def load_config_file() -> Config:
    return load_config(paths().config_file)


def api_key(settings: Settings) -> ResolvedKey:
    resolved = resolve_key(settings.profile, os.environ, keyring_lookup=None)
    if resolved.key:
        from ..core.credentials import remember_secret

        remember_secret(resolved.key)
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

        return SdkTransport(config)
    from ..transport.http import HttpTransport

    return HttpTransport(config)


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
        try:
            extra[key] = json.loads(value)
        except ValueError:
            extra[key] = value
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

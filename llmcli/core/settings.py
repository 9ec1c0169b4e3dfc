"""config.toml + environment + flags → one resolved Settings, remembering where each value came from.

Precedence (CONTRACT.md): flag > LLMCLI_* env > the selected profile > OPENAI_* env > built-in default.
The file itself (reading, checking, writing) is `config.py`; where files live is `files.py`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, UsageError

# Re-exported: modules (and branches in flight) import these from here; config.py and files.py own them.
from .config import (  # noqa: F401
    DEFAULT_BASE_URL,
    DEFAULT_PROFILE,
    MAX_TIMEOUT,
    PROFILE_KEYS,
    REQUEST_DEFAULT_KEYS,
    TRANSPORTS,
    Config,
    check_profile_name,
    editing_config,
    load_config,
    parse_profile_value,
    save_config,
)
from .credentials import remember_secret
from .files import Paths, atomic_write, ensure_private_dir, paths  # noqa: F401
from .urls import check_base_url, check_proxy_url, url_secrets


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
    # Network (docs/network.md): a CA bundle replacing the default trust store, no certificate checks
    # at all, an explicit proxy (None: the standard *_PROXY variables apply).
    ca_bundle: str | None = None
    insecure: bool = False
    proxy: str | None = None
    # The response cache (docs/cache.md).
    cache: bool = False
    # The template in use (-t): its name, and its extra body fields (`-o` given on the command line win).
    template: str | None = None
    extra_defaults: dict[str, Any] = field(default_factory=dict)


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
    ca_bundle: str | None = None
    insecure: bool = False
    proxy: str | None = None
    cache: bool | None = None


# Where other tools look for a CA bundle; honoured after llmcli's own settings, in this order.
CA_BUNDLE_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def env_flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def resolve(flags: Flags, env: Mapping[str, str], config: Config, template: Any = None) -> Settings:
    """`template` (a core.templates.Template, from -t) sits between the flags and the rest: flag >
    template > LLMCLI_* env > profile > OPENAI_* env > default."""
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

    from_template = f"template {template.name!r}" if template is not None else ""

    def pick(
        key: str, flag: Any, env_names: tuple[str, ...], after_profile: tuple[str, ...], default: Any
    ) -> Any:
        if flag is not None:
            sources[key] = f"flag --{key.replace('_', '-')}"
            return flag
        if template is not None and getattr(template, key, None) is not None:
            sources[key] = from_template
            return getattr(template, key)
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
    for secret in url_secrets(base_url):  # a password in the URL is scrubbed from anything shown
        if len(secret) >= 6:  # (shorter ones would mask ordinary words; URLs are shown masked anyway)
            remember_secret(secret, "***")
    model = pick("model", flags.model, ("LLMCLI_MODEL",), (), None)
    transport = pick("transport", flags.transport, ("LLMCLI_TRANSPORT",), (), "http")
    if transport not in TRANSPORTS:
        raise UsageError(
            f"unknown transport {transport!r} (from {sources['transport']})",
            hint="use --transport http or sdk",
        )
    timeout = float(pick("timeout", flags.timeout, (), (), 600.0))
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(
            f"timeout must be more than 0 and at most {MAX_TIMEOUT:.0f} seconds (about 11 days), "
            f"not {timeout:g} (from {sources['timeout']})",
            hint="give --timeout SECONDS; a long timeout is a large number, not an endless one",
        )
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
    ca_bundle = pick("ca_bundle", flags.ca_bundle, ("LLMCLI_CA_BUNDLE",), CA_BUNDLE_ENV, None)
    if ca_bundle is not None:
        # Checked when a TLS connection needs it (transport/tls.py): a stale SSL_CERT_FILE must not
        # break llmcli against an http:// server.
        ca_bundle = os.path.expanduser(ca_bundle)
    insecure = bool(pick("insecure", True if flags.insecure else None, (), (), False))
    proxy = pick("proxy", flags.proxy, ("LLMCLI_PROXY",), (), None)
    if proxy is not None:
        check_proxy_url(proxy)
    cache_env = env.get("LLMCLI_CACHE")
    if flags.cache is not None:
        cache, sources["cache"] = flags.cache, "flag --cache" if flags.cache else "flag --no-cache"
    elif cache_env:
        cache, sources["cache"] = env_flag(cache_env), "env LLMCLI_CACHE"
    elif "cache" in prof:
        cache, sources["cache"] = bool(prof["cache"]), from_profile
    else:
        cache, sources["cache"] = False, "default"
    extra: dict[str, Any] = {}
    if template is not None:
        sources["template"] = "flag --template"
        if template.system is not None:
            system, sources["system"] = template.system, from_template
        for k, v in template.request_defaults().items():
            defaults[k], sources[k] = v, from_template
        extra = template.extra()
        for k in extra:
            sources[f"option {k}"] = from_template
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
        ca_bundle=ca_bundle,
        insecure=insecure,
        proxy=proxy,
        cache=cache,
        template=template.name if template is not None else None,
        extra_defaults=extra,
    )

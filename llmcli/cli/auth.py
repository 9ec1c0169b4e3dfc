"""`llmcli auth`: a profile's API key in the OS keyring (login, logout, status).

A key never comes from an argument or an option (it would land in shell history and in
/proc/PID/cmdline): it is typed at a no-echo prompt, or piped in on stdin.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..core.credentials import ResolvedKey, key_defect, mask, remember_secret, scrub
from ..core.settings import DEFAULT_PROFILE, Config, check_profile_name, editing_config, paths
from ..core.tty import isatty
from ..core.urls import host_of
from ..errors import AuthFailed, CredentialsError, ExitCode, TransportError, UsageError
from . import options as o
from .common import (
    api_key,
    given_options,
    key_marked,
    load_config_file,
    load_settings,
    make_transport,
    unusable_key,
)

app = typer.Typer(
    help="Store, remove and inspect API keys in the OS keyring.", no_args_is_help=True, add_completion=False
)

ENV_KEYS = ("LLMCLI_API_KEY", "OPENAI_API_KEY")


def _say(message: str) -> None:
    print(scrub(f"llmcli: {message}"), file=sys.stderr, flush=True)


# --- reading and checking the key ----------------------------------------------------------------


def read_key(profile: str, stdin=None) -> str:
    """The key from a no-echo prompt (terminal) or stdin (pipe). Exit 2 for empty or malformed input."""
    stdin = sys.stdin if stdin is None else stdin
    if isatty(stdin):
        import getpass

        text = getpass.getpass(f"API key for profile {profile!r} (input hidden): ")
    else:
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(f"the key on stdin is not valid UTF-8 (byte offset {exc.start})") from None
        text = data
    return check_key(text.rstrip("\r\n"))


def check_key(key: str) -> str:
    """One line of printable ASCII: what an HTTP header can carry. Messages never quote the key."""
    if not key.strip():
        raise UsageError(
            "no key given",
            hint="type it at the prompt, or pipe it in: pass show openai | llmcli auth login -P NAME",
        )
    defect = key_defect(key)
    if defect is None:
        return key
    if "\n" in key or "\r" in key:
        hint = "pipe in only the key, e.g. pass show openai | head -n 1 | llmcli auth login"
    else:
        hint = "an API key is one word of printable ASCII; check what was pasted or piped"
    raise UsageError(f"the key {defect}", hint=hint)


# --- which profile, and the config file's marker ------------------------------------------------


def selected_profile(config: Config) -> str:
    """--profile > LLMCLI_PROFILE > default_profile > "default"; the profile need not be in config."""
    flag = given_options().get("profile")
    name = flag or os.environ.get("LLMCLI_PROFILE") or config.default_profile or DEFAULT_PROFILE
    return check_profile_name(name)


def set_marker(profile: str, backend: str | None) -> None:
    """Record in config.toml that this profile's key is in the keyring, and in which backend (its
    `module.Class`, so later runs load it by name); `backend` None forgets both. Never the key."""
    with editing_config(paths().config_file) as config:  # read under the lock: over the freshest file
        prof = config.profiles.get(profile)
        if backend is not None:
            if prof is None:
                prof = config.profiles[profile] = {}
            prof["key_in_keyring"] = True
            prof["keyring_backend"] = backend
        elif prof is not None and {"key_in_keyring", "keyring_backend"} & set(prof):
            prof.pop("key_in_keyring", None)
            prof.pop("keyring_backend", None)
            # A "default" table that only existed for the marker goes away with it.
            if not prof and profile == DEFAULT_PROFILE and config.default_profile != DEFAULT_PROFILE:
                del config.profiles[profile]


def _env_notes(profile: str) -> None:
    for name in ENV_KEYS:
        if os.environ.get(name, "").strip():
            if name == "LLMCLI_API_KEY":
                _say(f"note: LLMCLI_API_KEY is set and takes precedence over the keyring for {profile!r}")
            break


# --- commands ------------------------------------------------------------------------------------


@app.command()
def login(
    stray: Annotated[list[str] | None, typer.Argument(hidden=True, show_default=False)] = None,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Store the key without checking it with GET /models.")
    ] = False,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Store a profile's key in the OS keyring (read from a hidden prompt, or from stdin in a pipe)."""
    from .. import keystore

    if stray:
        # Likely the key itself: say so without repeating it.
        raise UsageError(
            "`auth login` takes no arguments: a key never goes on the command line",
            hint="type it at the prompt or pipe it in; if you typed a key here, it is now in your shell "
            "history: remove it there, or revoke the key",
        )
    settings = load_settings()
    name = check_profile_name(settings.profile)
    config_allows = bool(settings.config and settings.config.data.get("allow_plaintext_keyring") is True)
    allow_plaintext = keystore.plaintext_allowed(config_allows)
    # No keyring to store in (a headless box)? Say so before the user types or pipes the key.
    keystore.check_usable(allow_plaintext=allow_plaintext)
    key = read_key(name)
    remember_secret(key)  # from here on, any text llmcli shows is scrubbed of it
    host = None
    if not no_verify:
        host = _verify(settings, key)
    backend, spec = keystore.store(name, key, allow_plaintext=allow_plaintext)
    set_marker(name, spec)
    checked = f"; the server at {host} accepted it" if host else " (not verified: --no-verify)"
    _say(f"key {mask(key)} for profile {name!r} stored in the OS keyring ({backend}){checked}")
    _env_notes(name)


def _verify(settings, key: str) -> str:
    """GET /models with the key through the profile's transport; raises (and nothing is stored) on failure."""
    client = make_transport(settings, ResolvedKey(key, "login"))
    try:
        client.list_models()
    except AuthFailed as exc:
        exc.hint = (
            "nothing was stored; check that the key belongs to this server (-P PROFILE or --base-url URL), "
            "or store it unchecked with --no-verify"
        )
        raise
    except TransportError as exc:
        exc.hint = f"{exc.hint}; the key was not stored (--no-verify stores it without checking)"
        raise
    finally:
        client.close()
    return host_of(settings.base_url)


@app.command()
def logout(
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Remove a profile's key from the OS keyring (no key stored: says so, exit 0)."""
    from .. import keystore

    name = selected_profile(load_config_file())
    removed, backend = keystore.delete(name)
    set_marker(name, None)
    if removed:
        _say(f"key for profile {name!r} removed from the OS keyring ({backend})")
    else:
        _say(f"no key stored for profile {name!r} in the OS keyring ({backend}); nothing to remove")
    for env_name in ENV_KEYS:
        if os.environ.get(env_name, "").strip():
            _say(f"note: {env_name} is still set in the environment")


@app.command()
def status(
    profile: o.Profile = None,
    all_: Annotated[bool, typer.Option("--all", help="Every profile in the config file.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Ask the server (GET /models) whether it accepts the key.")
    ] = False,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Where each profile's key comes from, masked; exit 0 when every profile asked has a key."""
    if given_options().get("profile") and all_:
        raise UsageError("--profile and --all exclude each other")
    config = load_config_file()
    if all_:
        names = sorted(set(config.profiles) | {config.default_profile or DEFAULT_PROFILE})
    else:
        names = [selected_profile(config)]
    lines: list[str] = []
    missing: list[str] = []
    unusable: list[CredentialsError] = []
    refused: list[str] = []
    failed: list[TransportError] = []
    for name in names:
        settings = load_settings(profile=name)
        key = api_key(settings, quiet=True, usable=False)
        if key.defect is not None:
            lines.append(f"{name}: {mask(key.key)} from {key.source}, unusable: it {key.defect}")
            unusable.append(unusable_key(key, name))
            continue
        marked = key_marked(settings)
        found = None if marked else _keyring_lookup(name)
        unmarked = "" if found is None else _unmarked_key(name, found)
        if key.key is None:
            if marked:
                stored = "in the keyring"
            elif found is not None and found.problem:
                stored = f"stored by `llmcli auth login`; {_label(found)} could not be read: {found.problem}"
            else:
                stored = f"stored by `llmcli auth login`, and nothing in {_label(found)}"
            why = key.warning or f"none in the environment (LLMCLI_API_KEY, OPENAI_API_KEY) or {stored}"
            lines.append(f"{name}: no key ({why}){unmarked}")
            missing.append(name)
            continue
        line = f"{name}: {mask(key.key)} from {key.source}{unmarked}"
        if key.source == "env LLMCLI_API_KEY" and key_marked(settings):
            line += " (overrides the key stored in the keyring)"
        elif key.warning:
            line += f" (warning: {key.warning})"
        if check:
            line += "; " + _check(settings, key, refused, failed)
        lines.append(line)
    from ..render.sink import write_out

    # Server text (--check) may echo a key back: scrub before it reaches stdout.
    write_out(sys.stdout.buffer, scrub("\n".join(lines) + "\n").encode("utf-8"))
    if missing:
        who = ", ".join(repr(n) for n in missing)
        _say(
            f"no key for profile {who}: store one with `llmcli auth login -P {missing[0]}`, or set LLMCLI_API_KEY"
        )
    if refused:
        _say(f"the server refused the key of profile {', '.join(repr(n) for n in refused)}")
    for err in unusable:
        _say(f"error: {err.message} — {err.hint}")
    if missing or refused or unusable:
        raise typer.Exit(int(ExitCode.AUTH))
    if failed:
        _say(f"could not check: {failed[0].message}")
        raise typer.Exit(int(failed[0].exit_code))


def _keyring_lookup(profile: str):
    """Status is where keyring's full discovery is worth its cost: an unmarked profile is looked up
    in whatever keyring would be used, to report a key that no run uses."""
    from .. import keystore

    return keystore.lookup(profile)


def _label(found) -> str:
    from .. import keystore

    return keystore.keyring_label(found.backend) if found is not None and found.backend else "the keyring"


def _unmarked_key(profile: str, found) -> str:
    """A key stored under service `llmcli` for this profile that no run uses, because `auth login` did
    not mark the profile (another tool stored it, or the config file was replaced): say so."""
    if not found.key:
        return ""
    return (
        f"; note: {_label(found)} holds a key for {profile!r} ({mask(found.key)}) "
        f"that llmcli does not use, since the profile is not marked: `llmcli auth login -P {profile}` stores "
        "and marks it"
    )


def _check(settings, key: ResolvedKey, refused: list[str], failed: list[TransportError]) -> str:
    host = host_of(settings.base_url)
    client = make_transport(settings, key)
    try:
        client.list_models()
    except AuthFailed as exc:
        refused.append(settings.profile)
        said = f": {exc.server_message}" if exc.server_message else ""
        return f"refused by {host} (HTTP {exc.status}){said}"
    except TransportError as exc:
        failed.append(exc)
        return f"not checked ({exc.message})"
    finally:
        client.close()
    return f"accepted by {host}"

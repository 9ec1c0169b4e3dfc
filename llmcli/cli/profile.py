"""`llmcli profile`: named server configurations in config.toml (never keys)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from ..core.settings import (
    DEFAULT_PROFILE,
    PROFILE_KEYS,
    check_profile_name,
    editing_config,
    parse_profile_value,
    paths,
)
from ..core.urls import display_url
from ..errors import UsageError
from . import options as o
from .common import load_config_file, stdout_is_tty

app = typer.Typer(
    help="Named server configurations (base URL + defaults).", no_args_is_help=True, add_completion=False
)

Name = Annotated[str, typer.Argument(help="Profile name.")]


def _out(text: str) -> None:
    from ..render.sink import write_out

    write_out(sys.stdout.buffer, text.encode("utf-8"))


def _shown(prof: dict[str, Any]) -> dict[str, Any]:
    """A profile as it is shown: a password in its base URL masked (`http://user:***@host/v1`)."""
    if "base_url" not in prof:
        return prof
    return {**prof, "base_url": display_url(prof["base_url"])}


def _given(**values: Any) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if value is not None:
            out[key] = parse_profile_value(key, str(value))
    return out


@app.command("list")
def list_(
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    profile: o.Profile = None,
    debug: o.Debug = False,
) -> None:
    """The profiles: on a terminal `*` marks the default; in a pipe one tab-separated line each (name, base URL,
    model, "default")."""
    config = load_config_file()
    default = config.default_profile or DEFAULT_PROFILE
    if fmt == "json":
        shown = {name: _shown(prof) for name, prof in config.profiles.items()}
        _out(json.dumps({"default": default, "profiles": shown}, indent=2) + "\n")
        return
    if not config.profiles:
        print("no profiles yet; add one: llmcli profile add NAME --base-url URL", file=sys.stderr)
        return
    lines = []
    for name, prof in sorted(config.profiles.items()):
        prof = _shown(prof)
        mark = "*" if name == default else " "
        if stdout_is_tty():
            detail = prof.get("base_url", "(default base URL)")
            if prof.get("model"):
                detail += f"  model={prof['model']}"
            lines.append(f"{mark} {name}  {detail}")
        else:  # one profile per line, tab-separated: name, base URL, model, "default" or nothing
            row = [
                name,
                prof.get("base_url", ""),
                prof.get("model", ""),
                "default" if name == default else "",
            ]
            lines.append("\t".join(row).rstrip("\t"))
    _out("\n".join(lines) + "\n")


@app.command()
def show(
    name: Name,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    profile: o.Profile = None,
    debug: o.Debug = False,
) -> None:
    """One profile's settings."""
    config = load_config_file()
    prof = config.profiles.get(name)
    if prof is None:
        raise _unknown(name, config)
    prof = _shown(prof)
    if fmt == "json":
        _out(json.dumps({"name": name, **prof}, indent=2) + "\n")
        return
    _out("".join(f"{k} = {v}\n" for k, v in prof.items()) or "(empty profile)\n")


@app.command()
def add(
    name: Name,
    base_url: Annotated[str | None, typer.Option("--base-url", help="API base URL.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Default model.")] = None,
    transport: Annotated[str | None, typer.Option("--transport", help="http or sdk.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Default timeout (s).")] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="Default system prompt.")] = None,
    use: Annotated[bool, typer.Option("--use", help="Make it the default profile.")] = False,
    profile: o.Profile = None,
    debug: o.Debug = False,
) -> None:
    """Create a profile."""
    check_profile_name(name)
    values = _given(base_url=base_url, model=model, transport=transport, timeout=timeout, system=system)
    with editing_config(paths().config_file) as config:
        if name in config.profiles:
            raise UsageError(
                f"profile {name!r} exists", hint=f"change it with `llmcli profile set {name} KEY VALUE`"
            )
        config.profiles[name] = values
        # The first profile becomes the default, unless `default` already holds something (e.g. the
        # marker `auth login` leaves): then switching silently would stop its stored key from being used.
        if use or (not config.default_profile and DEFAULT_PROFILE not in config.profiles):
            config.data["default_profile"] = name
    print(
        f"profile {name!r} added" + (" (default)" if config.default_profile == name else ""), file=sys.stderr
    )


@app.command("set")
def set_(
    name: Name,
    key: Annotated[str, typer.Argument(help="Setting: " + ", ".join(PROFILE_KEYS) + ".")],
    value: Annotated[str | None, typer.Argument(help="New value; leave out with --unset.")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the setting.")] = False,
    profile: o.Profile = None,
    debug: o.Debug = False,
) -> None:
    """Change (or --unset) one setting of a profile."""
    with editing_config(paths().config_file) as config:
        prof = config.profiles.get(name)
        if prof is None:
            raise _unknown(name, config)
        if key not in PROFILE_KEYS:
            raise UsageError(
                f"unknown profile setting {key!r}", hint="known settings: " + ", ".join(PROFILE_KEYS)
            )
        if unset:
            prof.pop(key, None)
        elif value is None:
            raise UsageError(f"no value for {key}", hint=f"llmcli profile set {name} {key} VALUE, or --unset")
        else:
            prof[key] = parse_profile_value(key, value)


@app.command()
def remove(
    name: Name,
    profile: o.Profile = None,
    debug: o.Debug = False,
) -> None:
    """Delete a profile (its key in the keyring stays until `llmcli auth logout -P NAME`)."""
    with editing_config(paths().config_file) as config:
        if name not in config.profiles:
            raise _unknown(name, config)
        del config.profiles[name]
        if config.default_profile == name:
            config.data.pop("default_profile", None)
    print(f"profile {name!r} removed", file=sys.stderr)


@app.command()
def use(
    name: Name,
    profile: o.Profile = None,
    debug: o.Debug = False,
) -> None:
    """Make a profile the default."""
    with editing_config(paths().config_file) as config:
        if name not in config.profiles:
            raise _unknown(name, config)
        config.data["default_profile"] = name
    print(f"default profile: {name}", file=sys.stderr)


def _unknown(name: str, config) -> UsageError:
    known = ", ".join(sorted(config.profiles)) or "none yet"
    return UsageError(f"no profile named {name!r}", hint=f"profiles: {known}")

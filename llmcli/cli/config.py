"""`llmcli config`: where the file is, and the effective settings with their sources."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..core.credentials import mask
from ..core.settings import paths
from ..core.urls import display_url
from . import options as o
from .common import api_key, load_settings, stdout_is_tty

app = typer.Typer(
    help="The config file and the effective settings.", no_args_is_help=True, add_completion=False
)


@app.command()
def path(
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Print the config file's path."""
    from ..render.sink import write_out

    write_out(sys.stdout.buffer, f"{paths().config_file}\n".encode())


@app.command()
def show(
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    model: o.Model = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
    template: o.Template = None,
) -> None:
    """Every effective setting and where it came from (with -t: as that template makes them)."""
    from .shaping import use_template

    s = load_settings(model=model, template=use_template(template, None))
    key = api_key(s, usable=False)  # a malformed key is shown (masked) with what is wrong with it
    p = paths()
    rows: list[tuple[str, str, str]] = [
        ("profile", s.profile, s.sources["profile"]),
        ("base_url", display_url(s.base_url), s.sources["base_url"]),
        ("model", s.model or "(none: the server's only model, if it has one)", s.sources["model"]),
        ("transport", s.transport, s.sources["transport"]),
        ("timeout", f"{s.timeout:g}", s.sources["timeout"]),
        ("max_retries", str(s.max_retries), s.sources["max_retries"]),
        ("debug", str(s.debug).lower(), s.sources["debug"]),
        ("api_key", mask(key.key) + (f" (unusable: it {key.defect})" if key.defect else ""), key.source),
    ]
    if s.template is not None:
        rows.append(("template", s.template, s.sources["template"]))
    if s.system is not None:
        rows.append(("system", s.system, s.sources["system"]))
    for k, v in s.request_defaults.items():
        rows.append((k, v if isinstance(v, str) else json.dumps(v), s.sources[k]))
    for k, v in s.extra_defaults.items():
        rows.append((f"option {k}", json.dumps(v), s.sources[f"option {k}"]))
    if s.ca_bundle is not None:
        rows.append(("ca_bundle", s.ca_bundle, s.sources["ca_bundle"]))
    if s.insecure:
        rows.append(("insecure", "true", s.sources["insecure"]))
    if s.proxy is not None:
        from ..core.urls import redact_url

        rows.append(("proxy", redact_url(s.proxy), s.sources["proxy"]))
    rows.append(("cache", str(s.cache).lower(), s.sources["cache"]))
    rows.append(
        (
            "config_file",
            str(p.config_file),
            "LLMCLI_HOME" if "LLMCLI_HOME" in __import__("os").environ else "platform default",
        )
    )
    rows.append(
        (
            "data_dir",
            str(p.data_dir),
            "LLMCLI_HOME" if "LLMCLI_HOME" in __import__("os").environ else "platform default",
        )
    )
    from ..render.sink import write_out

    if fmt == "json":
        doc = {name: {"value": value, "source": source} for name, value, source in rows}
        write_out(sys.stdout.buffer, (json.dumps(doc, indent=2) + "\n").encode())
    elif stdout_is_tty():
        from ..render.tables import settings_table

        settings_table(rows)
    else:
        width = max(len(r[0]) for r in rows)
        text = "".join(f"{name:<{width}}  {value}  ({source})\n" for name, value, source in rows)
        write_out(sys.stdout.buffer, text.encode())

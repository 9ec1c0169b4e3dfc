"""`llmcli models`: what the server offers."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..errors import UsageError
from . import options as o
from .common import api_key, load_settings, make_transport, remember_models, stdout_is_tty


def models(
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="table, text (one id per line) or json. Default: table on a terminal, text in a pipe.",
        ),
    ] = None,
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
    """List the server's models (GET /models)."""
    if fmt not in (None, "table", "text", "json"):
        raise UsageError(f"--format must be table, text or json, not {fmt!r}")
    settings = load_settings()
    client = make_transport(settings, api_key(settings))
    try:
        found = client.list_models()
    finally:
        client.close()
    remember_models(settings, [m.id for m in found])
    from ..render.sink import write_out

    fmt = fmt or ("table" if stdout_is_tty() else "text")
    if fmt == "json":
        text = json.dumps([m.raw for m in found], ensure_ascii=False, indent=2) + "\n"
    elif fmt == "text":
        text = "".join(f"{m.id}\n" for m in sorted(found, key=lambda m: m.id))
    else:
        from ..render.tables import models_table

        models_table(found, settings.base_url)
        return
    write_out(sys.stdout.buffer, text.encode("utf-8"))

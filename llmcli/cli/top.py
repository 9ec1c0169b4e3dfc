"""`llmcli top`: what the server is doing now, from its Prometheus metrics."""

from __future__ import annotations

import math
import os
import sys
from typing import Annotated

import typer

from ..core.tty import isatty
from ..errors import UsageError
from . import options as o
from .common import api_key, load_settings, network_notes


def top(
    metrics_url: Annotated[
        str | None,
        typer.Option(
            "--metrics-url",
            help="The Prometheus endpoint, when not /metrics at the root of the base URL (gets the key only on the base URL's origin).",
        ),
    ] = None,
    interval: Annotated[
        float,
        typer.Option("--interval", help="Seconds between scrapes; rates and latencies cover this window."),
    ] = 2.0,
    once: Annotated[
        bool, typer.Option("--once", help="Two scrapes --interval apart, one snapshot on stdout, then exit.")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="text or json (with --once one document; else one per line into a pipe)."
        ),
    ] = "text",
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
    """Show the server's load live: requests, KV cache, tokens/s, latency percentiles (Prometheus /metrics)."""
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    if not math.isfinite(interval) or interval < 0.1:
        raise UsageError("--interval must be at least 0.1 seconds")
    if metrics_url is not None and not metrics_url.startswith(("http://", "https://")):
        raise UsageError(f"--metrics-url must be an http:// or https:// URL, not {metrics_url!r}")
    settings = load_settings()
    network_notes(settings)
    from ..monitor.net import metrics_url as resolve_url
    from ..monitor.runner import run_top

    run_top(
        settings,
        api_key(settings),
        resolve_url(settings.base_url, metrics_url),
        interval=interval,
        once=once,
        fmt=fmt,
        stdout_tty=isatty(sys.stdout),
        stderr_tty=isatty(sys.stderr) and os.environ.get("TERM", "") != "dumb",
    )

"""`llmcli health`: is the server well? Checks in order, a row each as it completes; --watch repeats."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer.core import TyperCommand

from ..core.tty import isatty
from ..errors import UsageError
from . import options as o
from .common import api_key, load_settings, make_transport

DEFAULT_WATCH = 5.0


class Command(TyperCommand):
    """`--watch` takes an optional number of seconds: `--watch` alone means every 5 s. (The parser
    has no optional option values, so a bare `--watch` gets the default inserted before parsing.)"""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, optional_value(list(args), "--watch", str(DEFAULT_WATCH)))


def optional_value(args: list[str], option: str, default: str) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append(arg)
        if arg == option:
            following = args[i + 1] if i + 1 < len(args) else None
            if following is None or not _number(following):
                out.append(default)
    return out


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def health(
    model: o.Model = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Also: a non-streamed answer, `stop` honoured, `seed` reproducible, context length.",
        ),
    ] = False,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Tokens to ask for in the test completions.", min=1)
    ] = 16,
    check_timeout: Annotated[
        float,
        typer.Option(
            "--check-timeout", help="Seconds each check may take at most (also capped by --timeout)."
        ),
    ] = 20.0,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            metavar="[SECONDS]",
            help=f"Repeat every SECONDS (default {DEFAULT_WATCH:g}) until Ctrl-C, with a live table and a latency sparkline.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", help="text (a table) or json (one document; with --watch one per line)."),
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
    """Check that the server is up and working: connect, health endpoint, identity, models, key, a short streamed completion."""
    import math

    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    if not math.isfinite(check_timeout) or check_timeout <= 0:
        raise UsageError("--check-timeout must be a positive number of seconds")
    if watch is not None and (not math.isfinite(watch) or watch <= 0):
        raise UsageError("--watch wants a positive number of seconds")
    settings = load_settings(model=model)
    key = api_key(settings)

    def transport_factory(seconds: float):
        import dataclasses

        # Health reports what the server does on the first try: no retries, the check's own timeout.
        return make_transport(dataclasses.replace(settings, timeout=seconds, max_retries=0), key)

    from ..monitor.checks import HealthOptions
    from ..monitor.runner import run_health

    code = run_health(
        settings,
        key,
        HealthOptions(max_tokens=max_tokens, check_timeout=check_timeout, full=full),
        transport_factory,
        fmt=fmt,
        watch=watch,
        stdout_tty=isatty(sys.stdout),
        stderr_tty=isatty(sys.stderr) and os.environ.get("TERM", "") != "dumb",
    )
    if code:
        raise typer.Exit(code)

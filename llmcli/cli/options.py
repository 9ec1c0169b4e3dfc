"""Shared option types. Every option is accepted after the command name (CONTRACT.md).

The connection options (-P, --base-url, --transport, --timeout, --max-retries, --debug) are declared on
the root callback and on every command, and parsed by Click like any other option: `llmcli -P work ask`
and `llmcli ask -P work` both work, and a command line means exactly what Click reads from it. A command
never reads their parameters itself: `cli.common.load_settings()` finds them in the Click context (the
command's own values first, then its parents'), recognising them by the callback they share here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from .completion import complete_model, complete_profile

CONN = "Connection"
REQ = "Request"
OUT = "Output"

CONNECTION = (
    "profile",
    "base_url",
    "transport",
    "timeout",
    "max_retries",
    "debug",
    "ca_bundle",
    "insecure",
    "proxy",
)


@dataclass(slots=True)
class RunState:
    """What one run learns while Click parses it, for the error boundary (`__main__`): handed to Click as
    `obj`, filled in by the option callbacks. One per run; nothing is kept between runs."""

    debug: bool = False


def run_state(ctx: typer.Context) -> RunState:
    root = ctx.find_root()
    if not isinstance(root.obj, RunState):  # run without __main__ (a test's CliRunner): start one
        root.obj = RunState()
    return root.obj


def connection_option(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """The callback of every connection option: checks what Click cannot, notes --debug for the error
    boundary, and marks the parameter as a connection option for `load_settings`."""
    if value is None or value is False:
        return value
    if param.name == "timeout" and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number of seconds, not {value}")
    if param.name == "debug":
        run_state(ctx).debug = True
    if param.name == "proxy":
        from ..core.urls import check_proxy_url

        try:
            check_proxy_url(value)
        except Exception as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def is_connection_option(param: Any) -> bool:
    callback = getattr(param, "callback", None)
    return getattr(callback, "__wrapped__", callback) is connection_option  # Typer wraps callbacks


Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-P",
        help="Named profile from the config file.",
        rich_help_panel=CONN,
        callback=connection_option,
        autocompletion=complete_profile,
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="API base URL, e.g. http://127.0.0.1:8080/v1.",
        rich_help_panel=CONN,
        callback=connection_option,
    ),
]
Transport = Annotated[
    str | None,
    typer.Option(
        "--transport",
        help="http (httpx) or sdk (the openai SDK).",
        rich_help_panel=CONN,
        callback=connection_option,
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="Seconds to wait to connect and for each next piece of the answer [600].",
        rich_help_panel=CONN,
        callback=connection_option,
    ),
]
MaxRetries = Annotated[
    int | None,
    typer.Option(
        "--max-retries",
        help="Retries before the first byte (connect errors, 408/409/429/5xx) [2].",
        rich_help_panel=CONN,
        callback=connection_option,
    ),
]
Debug = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Show request details and tracebacks on stderr.",
        rich_help_panel=CONN,
        callback=connection_option,
    ),
]

# Network (docs/network.md): connection options like the ones above, on the root and on every command
# that talks to a server.
CaBundle = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        help="PEM file of CA certificates to trust instead of the default ones.",
        rich_help_panel=CONN,
        callback=connection_option,
        dir_okay=True,
        show_default=False,
    ),
]
Insecure = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Do not verify TLS certificates (warned about on every run).",
        rich_help_panel=CONN,
        callback=connection_option,
    ),
]
Proxy = Annotated[
    str | None,
    typer.Option(
        "--proxy",
        help="Proxy URL for every request (default: HTTPS_PROXY/HTTP_PROXY/ALL_PROXY/NO_PROXY).",
        rich_help_panel=CONN,
        callback=connection_option,
    ),
]

Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model name.",
        rich_help_panel=REQ,
        autocompletion=complete_model,
        show_default=False,
    ),
]
System = Annotated[str | None, typer.Option("--system", "-s", help="System prompt.", rich_help_panel=REQ)]
Temperature = Annotated[
    float | None, typer.Option("--temperature", help="Sampling temperature.", rich_help_panel=REQ)
]
TopP = Annotated[
    float | None, typer.Option("--top-p", help="Nucleus sampling probability.", rich_help_panel=REQ)
]
MaxTokens = Annotated[
    int | None, typer.Option("--max-tokens", help="Most tokens to generate.", rich_help_panel=REQ)
]
Stop = Annotated[
    list[str] | None, typer.Option("--stop", help="Stop sequence (repeatable).", rich_help_panel=REQ)
]
Seed = Annotated[int | None, typer.Option("--seed", help="Sampling seed.", rich_help_panel=REQ)]
Option = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        help="Extra body field KEY=VALUE (repeatable; VALUE parsed as JSON when it parses).",
        rich_help_panel=REQ,
    ),
]

# --show-request, the response cache: on ask, chat, complete and embed.
ShowRequest = Annotated[
    str | None,
    typer.Option(
        "--show-request",
        metavar="FORM",
        help="Print the request as curl, python, openai, json or httpie instead of sending it.",
        rich_help_panel=OUT,
        autocompletion=lambda incomplete: [f for f in SHOW_FORMS if f.startswith(incomplete)],
        show_default=False,
    ),
]
SHOW_FORMS = ("curl", "python", "openai", "json", "httpie")
Cache = Annotated[
    bool | None,
    typer.Option(
        "--cache/--no-cache",
        help="Replay a stored answer to the same deterministic request; store complete ones [profile: cache].",
        rich_help_panel=REQ,
        show_default=False,
    ),
]
CacheAny = Annotated[
    bool,
    typer.Option(
        "--cache-any",
        help="Cache even requests that are not deterministic (no temperature 0, no seed).",
        rich_help_panel=REQ,
    ),
]


def show_form(value: str | None) -> str | None:
    """--show-request's value, checked."""
    from ..errors import UsageError

    if value is not None and value not in SHOW_FORMS:
        raise UsageError(f"--show-request takes one of {', '.join(SHOW_FORMS)}, not {value!r}")
    return value


# --- attachments, structured output, templates (docs/attachments.md, docs/schema.md, docs/templates.md)

try:  # `-p NAME VALUE` takes two values: a composite type of the Click that Typer runs on
    from typer._click.types import Tuple as _ClickTuple
except ImportError:  # pragma: no cover - a Typer that uses the click package itself
    from click.types import Tuple as _ClickTuple

INPUT = "Input"

File = Annotated[
    list[str] | None,
    typer.Option(
        "--file",
        "-f",
        help="Attach a text file or a png/jpeg/webp/gif image (repeatable); an http(s) URL is sent as an "
        "image URL; `-` reads stdin.",
        rich_help_panel=INPUT,
        show_default=False,
    ),
]
MaxFileBytes = Annotated[
    str | None,
    typer.Option(
        "--max-file-bytes",
        help="Largest file -f takes, in bytes or with a unit: 512k, 20M [20M].",
        rich_help_panel=INPUT,
        show_default=False,
    ),
]
ImageDetail = Annotated[
    str | None,
    typer.Option(
        "--image-detail", help="low, high or auto: the detail asked for images.", rich_help_panel=INPUT
    ),
]
Schema = Annotated[
    str | None,
    typer.Option(
        "--schema",
        help="Ask for JSON matching this schema: JSON Schema, @file.json, or 'name, age int, tags list[str]'. "
        "The answer is checked (exit 7 when it does not match).",
        rich_help_panel=OUT,
        show_default=False,
    ),
]
SchemaStrict = Annotated[
    bool,
    typer.Option("--schema-strict", help="Send the schema with strict: true.", rich_help_panel=OUT),
]
SchemaMulti = Annotated[
    bool,
    typer.Option(
        "--schema-multi", help='Many objects of the schema, as {"items": [...]}.', rich_help_panel=OUT
    ),
]
Compact = Annotated[
    bool,
    typer.Option(
        "--compact",
        help="With --schema: print a valid answer as one line of JSON (default: as received into a pipe, "
        "indented on a terminal).",
        rich_help_panel=OUT,
    ),
]
Template = Annotated[
    str | None,
    typer.Option(
        "--template",
        "-t",
        help="Use a saved template or preset (llmcli template list).",
        rich_help_panel=INPUT,
    ),
]
Param = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        click_type=_ClickTuple([str, str]),
        metavar="NAME VALUE",
        help="Fill the template's {NAME} with VALUE (repeatable).",
        rich_help_panel=INPUT,
        show_default=False,
    ),
]

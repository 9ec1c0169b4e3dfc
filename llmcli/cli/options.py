"""Shared option types. Every option is accepted after the command name (CONTRACT.md)."""

from __future__ import annotations

from typing import Annotated

import typer

CONN = "Connection"
REQ = "Request"
OUT = "Output"

# The connection options below are declared on each command so that its --help lists them; their values
# never reach the command's parameters: __main__ lifts them from the command line first (wherever they
# stand) and `common.load_settings` reads them from there.
Profile = Annotated[
    str | None,
    typer.Option("--profile", "-P", help="Named profile from the config file.", rich_help_panel=CONN),
]
BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", help="API base URL, e.g. http://127.0.0.1:8080/v1.", rich_help_panel=CONN),
]
Transport = Annotated[
    str | None,
    typer.Option("--transport", help="http (httpx) or sdk (the openai SDK).", rich_help_panel=CONN),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="Seconds to wait to connect and for each next piece of the answer [600].",
        rich_help_panel=CONN,
    ),
]
MaxRetries = Annotated[
    int | None,
    typer.Option(
        "--max-retries",
        help="Retries before the first byte (connect errors, 408/409/429/5xx) [2].",
        rich_help_panel=CONN,
    ),
]
Debug = Annotated[
    bool, typer.Option("--debug", help="Show request details and tracebacks on stderr.", rich_help_panel=CONN)
]

Model = Annotated[str | None, typer.Option("--model", "-m", help="Model name.", rich_help_panel=REQ)]
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

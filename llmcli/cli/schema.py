"""`llmcli schema SCHEMA`: the JSON Schema that `--schema SCHEMA` sends (the concise form expanded)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..core import schema as sch
from . import options as o


def schema(
    text: Annotated[
        str,
        typer.Argument(
            metavar="SCHEMA",
            help="The concise form ('name, age int, tags list[str]: description'), JSON Schema, or @file.json.",
            show_default=False,
        ),
    ],
    multi: Annotated[
        bool, typer.Option("--multi", help='Wrap it as --schema-multi does: {"items": [...]}.')
    ] = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Print the JSON Schema a SCHEMA makes (checked as a JSON Schema)."""
    from ..render.sink import write_out

    doc = sch.parse(text)
    if multi:
        doc = sch.multi(doc)
    write_out(sys.stdout.buffer, (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())

"""The root Typer app. Command modules import only typer, the standard library and core at module level."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import auth as auth_cmd
from . import config as config_cmd
from . import history as history_cmd
from . import profile as profile_cmd
from .ask import ask
from .bench import bench
from .chat import chat
from .models import models

app = typer.Typer(
    name="llmcli",
    help="A command-line client for OpenAI-compatible LLM servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"llmcli {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", "-V", help="Print the version.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """A command-line client for OpenAI-compatible LLM servers."""


app.command(help="Ask one question; the answer streams to stdout.")(ask)
app.command(help="List the server's models (GET /models).")(models)
app.command(help="Chat in a REPL; each turn sends the whole conversation and is saved.")(chat)
app.command(help="Measure the server: TTFT, TPOT, ITL, E2EL and throughput under load.")(bench)
app.add_typer(auth_cmd.app, name="auth")
app.add_typer(profile_cmd.app, name="profile")
app.add_typer(config_cmd.app, name="config")
app.add_typer(history_cmd.app, name="history")

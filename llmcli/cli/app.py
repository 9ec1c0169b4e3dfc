"""The root Typer app. Command modules import only typer, the standard library and core at module level."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import auth as auth_cmd
from . import batch as batch_cmd
from . import cache as cache_cmd
from . import config as config_cmd
from . import files as files_cmd
from . import finetune as finetune_cmd
from . import health as health_cmd
from . import history as history_cmd
from . import options as o
from . import profile as profile_cmd
from . import template as template_cmd
from .ask import ask
from .chat import chat
from .complete import complete
from .completion import _install, _show, completion
from .embed import embed
from .models import models
from .schema import schema
from .top import top

app = typer.Typer(
    name="llmcli",
    help="A command-line client for OpenAI-compatible LLM servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(ctx: typer.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        print(f"llmcli {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", "-V", help="Print the version.", callback=_version, is_eager=True)
    ] = False,
    # The connection options here too: `llmcli -P work ask ...` means what `llmcli ask -P work ...` does.
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
    install_completion: Annotated[
        bool,
        typer.Option(
            "--install-completion",
            help="Install shell completion (bash, zsh, fish).",
            callback=_install,
            is_eager=True,
        ),
    ] = False,
    show_completion: Annotated[
        bool,
        typer.Option(
            "--show-completion", help="Print the shell completion script.", callback=_show, is_eager=True
        ),
    ] = False,
) -> None:
    """A command-line client for OpenAI-compatible LLM servers."""


app.command(help="Ask one question; the answer streams to stdout.")(ask)
app.command(help="List the server's models (GET /models).")(models)
app.command(help="Chat in a REPL; each turn sends the whole conversation and is saved.")(chat)
app.command(cls=health_cmd.Command, help="Check that the server is up and working.")(health_cmd.health)
app.command(help="Show the server's load live from its Prometheus metrics.")(top)
app.command(help="Continue a text with a base model (POST /completions).")(complete)
app.command(help="Embed texts (POST /embeddings): vectors as JSON, JSONL, CSV or .npy.")(embed)
app.command(help="Print (or --install) the shell completion script for bash, zsh or fish.")(completion)
app.add_typer(cache_cmd.app, name="cache")
app.add_typer(auth_cmd.app, name="auth")
app.add_typer(profile_cmd.app, name="profile")
app.add_typer(config_cmd.app, name="config")
app.add_typer(history_cmd.app, name="history")
app.command(help="Print the JSON Schema that --schema SCHEMA sends.")(schema)
app.add_typer(template_cmd.app, name="template")
app.add_typer(files_cmd.app, name="files")
app.add_typer(batch_cmd.app, name="batch")
app.add_typer(finetune_cmd.app, name="finetune")

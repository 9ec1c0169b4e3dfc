"""The root Typer app. Command modules import only typer, the standard library and core at module level."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import options as o
from .completion import _install, _show


def _version(ctx: typer.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        print(f"llmcli {__version__}")
        raise typer.Exit(0)


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


# Every command, as (module, attribute, help): the attribute is a command function, or a Typer app for
# a group of subcommands (help None: the group's own). `llmcli --help` lists the commands, then the
# groups, each in this order. A module's `Command` class, when it has one, is the Click command class
# to use (health's optional --watch value).
COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "ask": (".ask", "ask", "Ask one question; the answer streams to stdout."),
    "models": (".models", "models", "List the server's models (GET /models)."),
    "chat": (".chat", "chat", "Chat in a REPL; each turn sends the whole conversation and is saved."),
    "health": (".health", "health", "Check that the server is up and working."),
    "top": (".top", "top", "Show the server's load live from its Prometheus metrics."),
    "complete": (".complete", "complete", "Continue a text with a base model (POST /completions)."),
    "embed": (".embed", "embed", "Embed texts (POST /embeddings): vectors as JSON, JSONL, CSV or .npy."),
    "completion": (
        ".completion",
        "completion",
        "Print (or --install) the shell completion script for bash, zsh or fish.",
    ),
    "cache": (".cache", "app", None),
    "bench": (".bench", "bench", "Measure the server: TTFT, TPOT, ITL, E2EL and throughput under load."),
    "auth": (".auth", "app", None),
    "profile": (".profile", "app", None),
    "config": (".config", "app", None),
    "history": (".history", "app", None),
    "schema": (".schema", "schema", "Print the JSON Schema that --schema SCHEMA sends."),
    "template": (".template", "app", None),
    "files": (".files", "app", None),
    "batch": (".batch", "app", None),
    "finetune": (".finetune", "app", None),
}

# The root's options that take a value, to find the command's name in argv without building the tree
# (tests/test_parser.py holds this to the root's real parameters).
ROOT_VALUE_OPTIONS = frozenset(
    {"--profile", "-P", "--base-url", "--transport", "--timeout", "--max-retries", "--ca-bundle", "--proxy"}
)


def command_named(argv: list[str]) -> str | None:
    """The command a command line runs (`llmcli --debug ask ...` → "ask"), or None (no command, an
    unknown one, or `--help` of the root): then the whole tree is built."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return None
        if arg.startswith("-"):
            i += 2 if arg in ROOT_VALUE_OPTIONS else 1
            continue
        return arg if arg in COMMANDS else None
    return None


def build_app(only: str | None = None) -> typer.Typer:
    """The Typer app with every command, or with just `only`: turning each command's signature into a
    Click command costs ~2 ms (~0.1 s for all of them), and a run needs one."""
    import importlib

    app = typer.Typer(
        name="llmcli",
        help="A command-line client for OpenAI-compatible LLM servers.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    for name, (module, attribute, help_) in COMMANDS.items():
        if only is not None and name != only:
            continue
        loaded = importlib.import_module(module, __package__)
        target = getattr(loaded, attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name=name, help=help_, cls=getattr(loaded, "Command", None))(target)
    return app


def __getattr__(name: str):
    """`app`, the whole tree (tests, documentation checks), built on first use."""
    if name == "app":
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(name)

"""Shell completion (docs/completion.md): the scripts for bash, zsh and fish, installing them, and the
words offered for option values. Completing never makes a network call: profile names come from the
config file, model names from the short-lived list kept in core/modelcache.py, conversation ids from
the history file.

The protocol is Typer's (it carries Click without Click's own shell classes): the shell runs
`_LLMCLI_COMPLETE=complete_bash llmcli` (or complete_zsh, complete_fish) with the words typed so far
in COMP_WORDS/COMP_CWORD (bash) or _TYPER_COMPLETE_ARGS (zsh, fish). `__main__` answers it before
anything else runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

COMPLETE_VAR = "_LLMCLI_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


# --- the words offered -------------------------------------------------------------------------------


def _quietly(fn):
    """A completion source that fails offers nothing (and prints nothing) rather than a traceback."""

    def wrapper(*args: Any, **kw: Any) -> list:
        try:
            return fn(*args, **kw)
        except Exception:
            return []

    wrapper.__name__ = fn.__name__
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def complete_profile(incomplete: str) -> list[str]:
    return _profiles(incomplete)


@_quietly
def _profiles(incomplete: str) -> list[str]:
    from ..core.settings import load_config, paths

    names = ["default", *load_config(paths().config_file).profiles]
    return [n for n in dict.fromkeys(names) if n.startswith(incomplete)]


def complete_model(ctx: typer.Context, incomplete: str) -> list[str]:
    return _models(ctx, incomplete)


@_quietly
def _models(ctx: Any, incomplete: str) -> list[str]:
    from ..core.modelcache import recall
    from ..core.settings import Flags, load_config, paths, resolve
    from .common import given_options

    given = given_options(ctx)
    base_url = None
    try:
        flags = Flags(profile=given.get("profile"), base_url=given.get("base_url"))
        base_url = resolve(flags, os.environ, load_config(paths().config_file)).base_url
    except Exception:
        pass  # a half-typed command line: offer every server's models
    return [m for m in recall(paths().models_cache, base_url) if m.startswith(incomplete)]


def complete_conversation(incomplete: str) -> list[tuple[str, str]]:
    return _conversations(incomplete)


@_quietly
def _conversations(incomplete: str) -> list[tuple[str, str]]:
    from ..core.settings import paths
    from ..store.history import open_store

    store = open_store(paths().history_db, create=False)
    if store is None:
        return []
    with store:
        return [
            (c.id, c.title) for c in store.conversations(limit=200) if c.id.startswith(incomplete.lower())
        ]


def complete_shell(incomplete: str) -> list[str]:
    return [s for s in SHELLS if s.startswith(incomplete)]


# --- the scripts -----------------------------------------------------------------------------------


def respond(command: Any, instruction: str) -> int:
    """Answer one completion query of the env protocol (see the module docstring)."""
    from typer._completion_classes import completion_init
    from typer.completion import shell_complete

    completion_init()
    return shell_complete(command, {}, "llmcli", COMPLETE_VAR, instruction)


def script(shell: str) -> str:
    """The completion script for `shell`, to be sourced (bash), put on fpath (zsh) or in completions/ (fish)."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="llmcli", complete_var=COMPLETE_VAR, shell=shell) + "\n"


def detect_shell() -> str:
    """The shell llmcli was started from (its parent processes), else $SHELL."""
    from ..errors import UsageError

    name = ""
    try:
        import shellingham

        name = shellingham.detect_shell()[0]
    except Exception:
        name = Path(os.environ.get("SHELL", "")).name
    if name not in SHELLS:
        raise UsageError(
            f"cannot tell which shell to complete for (found {name or 'none'})",
            hint="name it: llmcli completion bash|zsh|fish [--install]",
        )
    return name


# Where each shell finds the script, and the line (if any) its startup file needs to load it.
def _targets(shell: str, home: Path) -> tuple[Path, Path | None, str | None]:
    if shell == "bash":
        path = home / ".bash_completions" / "llmcli.sh"
        return path, home / ".bashrc", f"source '{path}'"
    if shell == "zsh":
        return (
            home / ".zfunc" / "_llmcli",
            home / ".zshrc",
            "fpath+=~/.zfunc; autoload -Uz compinit; compinit",
        )
    return home / ".config" / "fish" / "completions" / "llmcli.fish", None, None


def install(shell: str, home: Path | None = None) -> tuple[Path, Path | None]:
    """Write the script (atomically, private) and add one line to the shell's startup file if it is not
    there yet. Returns (script path, startup file changed or None)."""
    from ..core.files import atomic_write

    home = Path.home() if home is None else home
    path, rc, line = _targets(shell, home)
    atomic_write(path, script(shell))
    if rc is None or line is None:
        return path, None
    try:
        text = rc.read_text("utf-8")
    except FileNotFoundError:
        text = ""
    if line in text:
        return path, None
    # Appended, never rewritten: the user's own file keeps everything it had.
    fd = os.open(rc, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(("" if not text or text.endswith("\n") else "\n") + f"# llmcli shell completion\n{line}\n")
    return path, rc


def show_or_install(shell: str, do_install: bool) -> None:
    from ..render.sink import write_out
    from .common import warn

    if do_install:
        path, rc = install(shell)
        warn(f"{shell} completion installed in {path}" + (f" (and loaded from {rc})" if rc else ""))
        warn("it takes effect in a new shell")
        return
    import sys

    write_out(sys.stdout.buffer, script(shell).encode("utf-8"))


# --- the options and the command ------------------------------------------------------------------


def _show(ctx: typer.Context, param: Any, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        show_or_install(detect_shell(), False)
        raise typer.Exit(0)


def _install(ctx: typer.Context, param: Any, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        show_or_install(detect_shell(), True)
        raise typer.Exit(0)


def completion(
    shell: str = typer.Argument(
        None, help="bash, zsh or fish (default: the shell llmcli runs in).", autocompletion=complete_shell
    ),
    do_install: bool = typer.Option(
        False, "--install", help="Install it for your user instead of printing it."
    ),
) -> None:
    """Print the shell completion script (or install it with --install)."""
    from ..errors import UsageError

    if shell is None:
        shell = detect_shell()
    if shell not in SHELLS:
        raise UsageError(f"no completion for {shell!r}", hint="llmcli completion bash|zsh|fish")
    show_or_install(shell, do_install)

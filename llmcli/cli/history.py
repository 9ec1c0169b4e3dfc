"""`llmcli history`: the stored conversations (list, show, search, export, rm), and the history options
`ask` (and the REPL) share. The SQL lives in llmcli.store; sqlite3 is imported only when needed."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.settings import Settings, paths
from ..core.tty import isatty, stdout_is_tty
from ..core.types import Message
from ..errors import UsageError
from . import options as o
from .common import warn
from .completion import complete_conversation

if TYPE_CHECKING:
    from ..store.history import Store
    from ..store.recorder import Recorder

HIST = "History"

# --- options shared with ask/chat --------------------------------------------------------------------

Continue = Annotated[
    bool,
    typer.Option("--continue", "-c", help="Continue the latest conversation.", rich_help_panel=HIST),
]
ConversationRef = Annotated[
    str | None,
    typer.Option(
        "--conversation",
        help="Continue the conversation with this id (or a unique prefix of it).",
        rich_help_panel=HIST,
        autocompletion=complete_conversation,
    ),
]
NoSave = Annotated[
    bool, typer.Option("--no-save", help="Do not keep this exchange in the history.", rich_help_panel=HIST)
]


def saving_enabled(settings: Settings) -> bool:
    """`save_history = false` in config.toml turns saving off, as --no-save on every call."""
    return not (settings.config is not None and settings.config.data.get("save_history") is False)


def open_history(
    *, no_save: bool, continue_: bool, conversation: str | None, settings: Settings | None = None
) -> tuple[Recorder | None, list[Message] | None, str | None]:
    """For ask/chat: (the recorder, or None when nothing is saved or read; the earlier turns of the
    continued conversation (system prompt first), or None when not continuing; that conversation's
    model, or None). sqlite3 is not even imported for `--no-save` alone."""
    if continue_ and conversation is not None:
        raise UsageError("use -c/--continue or --conversation ID, not both")
    if settings is not None and not saving_enabled(settings):
        no_save = True
    continuing = continue_ or conversation is not None
    if no_save and not continuing:
        return None, None, None
    from ..store.recorder import Recorder

    rec = Recorder(paths().history_db, warn=warn, save=not no_save)
    if not continuing:
        return rec, None, None
    try:
        earlier, conv = rec.continue_conversation(conversation)
    except BaseException:
        rec.close()
        raise
    return rec, earlier, conv.model


# --- the sub-app -----------------------------------------------------------------------------------

app = typer.Typer(
    help="Stored conversations: list, show, search, export, rm.", no_args_is_help=True, add_completion=False
)

Ref = Annotated[
    str,
    typer.Argument(
        help="A conversation id, or a unique prefix of one.",
        show_default=False,
        autocompletion=complete_conversation,
    ),
]
Limit = Annotated[int, typer.Option("--limit", "-n", help="At most this many (0 = all).")]


def _open() -> Store | None:
    """The store, or None when nothing was ever saved (reading never creates the file)."""
    from ..store.history import open_store

    return open_store(paths().history_db, create=False, notice=warn)


def _out(text: str) -> None:
    from ..render.sink import write_out

    write_out(sys.stdout.buffer, text.encode("utf-8", "surrogatepass"))


def _choice(fmt: str | None, allowed: tuple[str, ...]) -> None:
    if fmt is not None and fmt not in allowed:
        raise UsageError(f"--format must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {fmt!r}")


def _no_conversation(ref: str | None) -> UsageError:
    if ref is None:
        return UsageError("there are no conversations yet", hint='start one: llmcli ask "..."')
    return UsageError(f"no conversation {ref!r}", hint="see the ids with: llmcli history list")


@app.command("list")
def list_(
    limit: Limit = 20,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="table, text (tab-separated) or json. Default: table on a terminal, else text."
        ),
    ] = None,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Conversations, the most recently active first."""
    _choice(fmt, ("table", "text", "json"))
    if limit < 0:
        raise UsageError("-n/--limit must be 0 or more")
    store = _open()
    convs = [] if store is None else store.conversations(limit or None)
    fmt = fmt or ("table" if stdout_is_tty() else "text")
    if fmt == "json":
        _out(json.dumps([c.to_dict() for c in convs], ensure_ascii=False, indent=2) + "\n")
    elif not convs:
        warn("no conversations yet")
    elif fmt == "text":
        _out("".join(f"{c.id}\t{c.updated}\t{c.messages}\t{c.model or ''}\t{c.title}\n" for c in convs))
    else:
        from ..render.history import conversations_table

        conversations_table(convs)


@app.command()
def show(
    ref: Annotated[
        str | None,
        typer.Argument(
            help="Conversation id or unique prefix (default: the latest).",
            autocompletion=complete_conversation,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="markdown or json. Default: rendered markdown on a terminal."),
    ] = None,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """One whole conversation."""
    _choice(fmt, ("markdown", "json"))
    store = _open()
    if store is None:
        raise _no_conversation(ref)
    conv = store.resolve(ref) if ref is not None else store.latest_conversation()
    if conv is None:
        raise _no_conversation(ref)
    messages = store.messages(conv.id)
    if fmt == "json":
        from ..store.records import conversation_doc

        _out(json.dumps(conversation_doc(conv, messages), ensure_ascii=False, indent=2) + "\n")
        return
    from ..render.history import conversation_markdown, show_markdown

    text = conversation_markdown(conv, messages)
    if fmt is None and stdout_is_tty():
        show_markdown(text)
    else:
        _out(text)


@app.command()
def search(
    text: Annotated[list[str], typer.Argument(help="Words to find (all of them).", show_default=False)],
    limit: Limit = 20,
    fmt: Annotated[
        str | None, typer.Option("--format", help="text or json (matches marked **like this**).")
    ] = None,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Full-text search over every message, best match first."""
    _choice(fmt, ("text", "json"))
    if limit < 0:
        raise UsageError("-n/--limit must be 0 or more")
    from ..store.records import MATCH_END, MATCH_START

    query = " ".join(text)
    if not query.strip():
        raise UsageError("nothing to search for", hint='llmcli history search "some words"')
    store = _open()
    hits = [] if store is None else store.search(query, limit or 1_000_000)

    def marked(snippet: str) -> str:
        return " ".join(snippet.replace(MATCH_START, "**").replace(MATCH_END, "**").split())

    if fmt == "json":
        docs = [
            {
                "conversation_id": h.conversation_id,
                "title": h.title,
                "message_id": h.message_id,
                "role": h.role,
                "created": h.created,
                "snippet": marked(h.snippet),
            }
            for h in hits
        ]
        _out(json.dumps(docs, ensure_ascii=False, indent=2) + "\n")
    elif not hits:
        warn(f"no messages match {query!r}")
    elif fmt is None and stdout_is_tty():
        from ..render.history import search_table

        search_table(hits, MATCH_START, MATCH_END)
    else:
        _out("".join(f"{h.conversation_id}\t{h.role}\t{marked(h.snippet)}\n" for h in hits))


@app.command()
def export(
    ref: Annotated[
        str | None,
        typer.Argument(help="Conversation id or unique prefix.", autocompletion=complete_conversation),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every conversation, oldest first.")] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl (one conversation per line) or markdown.")
    ] = "jsonl",
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Write conversations to stdout."""
    _choice(fmt, ("jsonl", "markdown"))
    if (ref is None) == (not all_):
        raise UsageError("give a conversation id or --all (not both)", hint="llmcli history export ID")
    store = _open()
    if store is None:
        if all_:
            return
        raise _no_conversation(ref)
    convs = list(reversed(store.conversations())) if all_ else [store.resolve(ref or "")]
    from ..render.history import conversation_markdown
    from ..store.records import conversation_doc

    for conv in convs:
        messages = store.messages(conv.id)
        if fmt == "jsonl":
            _out(json.dumps(conversation_doc(conv, messages), ensure_ascii=False) + "\n")
        else:
            _out(conversation_markdown(conv, messages) + ("\n---\n\n" if conv is not convs[-1] else ""))


@app.command()
def rm(
    refs: Annotated[
        list[str] | None,
        typer.Argument(help="Conversation ids or unique prefixes.", autocompletion=complete_conversation),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Delete every conversation.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Delete conversations (asks first on a terminal; elsewhere needs --yes)."""
    if bool(refs) == all_:
        raise UsageError("give conversation ids or --all (not both)", hint="llmcli history rm ID")
    store = _open()
    if store is None:
        if all_:
            warn("deleted 0 conversations")
            return
        raise _no_conversation(refs[0] if refs else None)
    if all_:
        count = len(store.conversations())
        what = f"all {count} conversation{'s' if count != 1 else ''}"
        targets: list[str] = []
    else:
        convs = [store.resolve(r) for r in refs or []]  # every id checked before anything is deleted
        targets = [c.id for c in convs]
        what = ", ".join(f"{c.id} ({c.title})" for c in convs)
    if not yes:
        if not isatty(sys.stdin):
            raise UsageError("refusing to delete without confirmation", hint="add --yes (-y)")
        from ..render.sink import neutralise

        try:
            agreed = typer.confirm(f"Delete {neutralise(what)}?", default=False, err=True)
        except (typer.Abort, EOFError):
            agreed = False
        if not agreed:
            warn("nothing deleted")
            return
    n = store.delete_all() if all_ else store.delete(targets)
    warn(f"deleted {n} conversation{'s' if n != 1 else ''}")

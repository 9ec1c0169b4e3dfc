"""The two ways a chat reads its input: a prompt_toolkit session on a terminal, lines from a pipe."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .commands import CommandError, is_command, unescape
from .session import REGISTRY, ChatSession


def handle(session: ChatSession, text: str) -> None:
    """One line (or block) of input: a command or a message."""
    if not text.strip():
        return
    if is_command(text.strip()):
        try:
            REGISTRY.dispatch(session, text.strip())
        except CommandError as exc:
            session.info(f"llmcli: {exc}")
        return
    session.send(unescape(text))


# --- lines from a pipe ---------------------------------------------------------------------------


def run_lines(session: ChatSession, lines: Iterable[str | UnicodeDecodeError]) -> int:
    """`llmcli chat < script.txt`: one message (or /command) per line; answers on stdout, one per line."""
    for raw in lines:
        if isinstance(raw, UnicodeDecodeError):  # one bad line does not stop the script
            session.info(f"llmcli: error: {raw.reason} — that line was skipped")
            session.first_error_code = session.first_error_code or 2
            continue
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        before = session.last
        handle(session, text)
        if session.last is not before and session.last is not None and session.last.content:
            _end_line(session.last.content)
        if not session.running:
            break
    return session.first_error_code


def _end_line(answer: str) -> None:
    """Keep answers apart in a pipe: a newline after each one that does not end with one."""
    if not answer.endswith("\n"):
        from ..render.sink import write_out

        write_out(sys.stdout.buffer, b"\n")


def stdin_lines() -> Iterator[str | UnicodeDecodeError]:
    """Lines of stdin; a line that is not UTF-8 comes as the error, naming its byte offset in stdin."""
    offset = 0
    for raw in sys.stdin.buffer:
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield UnicodeDecodeError(
                "utf-8",
                raw,
                exc.start,
                exc.end,
                f"stdin is not valid UTF-8 (byte offset {offset + exc.start})",
            )
        offset += len(raw)


WELCOME = "Enter sends · Esc Enter inserts a newline · /help lists commands · Ctrl-D exits"


# --- the terminal --------------------------------------------------------------------------------


def edit_text(initial: str = "") -> str:
    """Open $VISUAL / $EDITOR on a private temp file; return what was saved."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, name = tempfile.mkstemp(prefix="llmcli-", suffix=".md")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(initial)
        subprocess.run([*shlex.split(editor), name], check=False)
        return Path(name).read_text(encoding="utf-8")
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


def input_history_path(settings) -> Path:
    from ..core.settings import ensure_private_dir, paths

    data = ensure_private_dir(paths().data_dir)
    path = data / "chat_history"
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    return path


def run_terminal(session: ChatSession, *, vi_mode: bool = False) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings

    from .completer import SlashCompleter

    bindings = KeyBindings()

    @bindings.add("enter", filter=~is_searching)  # while searching (Ctrl-R), Enter accepts the found line
    def _send(event) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("escape", "enter")  # Esc Enter, and Alt-Enter on terminals that send it as ESC CR
    def _newline(event) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-j")  # Ctrl-J: a newline on terminals where Alt-Enter is taken
    def _newline_j(event) -> None:
        event.current_buffer.insert_text("\n")

    def toolbar() -> str:
        return f" {session.model} · conversation {session.conversation_id or 'new'} · /help · Ctrl-D exits "

    # Typed lines go to the input-history file only when the chat itself is saved.
    history = FileHistory(str(input_history_path(session.settings))) if session.saving else InMemoryHistory()
    prompt_session: PromptSession[str] = PromptSession(
        history=history,
        auto_suggest=AutoSuggestFromHistory(),
        completer=SlashCompleter(session),
        complete_while_typing=True,
        enable_history_search=False,
        enable_open_in_editor=True,  # Ctrl-X Ctrl-E (emacs mode), v (vi mode)
        key_bindings=bindings,
        multiline=True,
        vi_mode=vi_mode,
        bottom_toolbar=toolbar,
        prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
    )
    session.info(f"llmcli chat · {session.describe()}\n{WELCOME}")
    while session.running:
        try:
            text = prompt_session.prompt("> ")
        except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line
            continue
        except EOFError:  # Ctrl-D on an empty line
            break
        if text.strip() in ("/edit", "/e"):
            text = edit_text()
            if not text.strip():
                session.info("llmcli: nothing to send")
                continue
        handle(session, text)
    if session.conversation_id:
        session.info(f"llmcli: conversation {session.conversation_id} saved; continue it with llmcli chat -c")
    return 0

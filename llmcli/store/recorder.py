"""Keeping exchanges for `ask` (and the REPL): the history is secondary to the answer.

    rec = Recorder(paths().history_db, warn=warn, save=not no_save)
    earlier = rec.continue_conversation(None)     # -c (or an id for --conversation); may raise
    rec.start(prompt, system=..., profile=..., base_url=..., model=..., params=...)   # before the request
    outcome = run_turn(...)
    rec.finish(outcome)                           # however the turn ended
    rec.drop_last_exchange()                      # the REPL's /undo and /retry

A problem with the history file while saving is said once on stderr ("history not saved: <reason>")
and never changes the answer or its exit code; after it this recorder saves nothing more (a
conversation with a hole in it would be sent back wrong by `-c`). Problems while *reading* a
conversation to continue do stop the command: answering without the context would answer a different
question.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core.credentials import scrub
from ..core.types import Message
from ..core.urls import host_of
from ..errors import Interrupted, LlmcliError, OutputClosed, UsageError
from .db import StoreCorrupt, StoreError, move_aside
from .history import Conversation, ConversationGone, Store, open_store


def error_text(err: LlmcliError | None) -> str | None:
    if err is None:
        return None
    if isinstance(err, Interrupted):
        return "interrupted by SIGTERM" if err.signum == 15 else "interrupted by Ctrl-C (SIGINT)"
    if isinstance(err, OutputClosed):
        return "stdout was closed by the reader"
    return scrub(err.message)


class Recorder:
    def __init__(self, path: Path, *, warn: Callable[[str], None], save: bool = True):
        self.path = path
        self.save = save
        self._warn = warn
        self._store: Store | None = None
        self.conversation_id: str | None = None  # the conversation being continued or written
        self.saved_turn = False  # the current user turn is in the file, its answer not yet
        self.kept_id: str | None = None  # the conversation the latest turn was saved in
        self.failed = False

    # --- reading -------------------------------------------------------------------------------

    def continue_conversation(self, ref: str | None) -> tuple[list[Message], Conversation]:
        """The earlier turns of the latest conversation (ref None) or of `ref` (an id or prefix)."""
        store = self._store or open_store(self.path, create=False, notice=self._warn)
        if store is None:
            raise _nothing_to_continue()
        self._store = store
        # -c continues the latest chat; a text completion (`llmcli complete`) is not a conversation to go on with.
        conv = store.latest_conversation(kind="chat") if ref is None else store.resolve(ref)
        if conv is None:
            raise _nothing_to_continue()
        if conv.kind != "chat":
            raise UsageError(
                f"conversation {conv.id} is a text completion, not a chat: it cannot be continued",
                hint="continue a chat (`llmcli history list` shows the kinds), or run `llmcli complete` again",
            )
        self.conversation_id = conv.id
        return store.messages_for_request(conv.id), conv

    # --- writing -------------------------------------------------------------------------------

    def start(
        self,
        prompt: str,
        *,
        system: str | None = None,
        profile: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        kind: str = "chat",
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        """Write the user's turn (and a new conversation unless continuing) before the request;
        `attachments` are the records of what went with it (core.attachments: no image bytes)."""
        self.saved_turn = False
        if not self.save or self.failed:
            return
        host = host_of(base_url) if base_url else None
        for attempt in (1, 2):
            try:
                store = self._open()
                self.conversation_id, _ = store.start_exchange(
                    self.conversation_id,
                    prompt,
                    system=system,
                    profile=profile,
                    host=host,
                    model=model,
                    params=params,
                    kind=kind,
                    attachments=attachments,
                )
                self.saved_turn = True
                self.kept_id = self.conversation_id
                return
            except StoreCorrupt as exc:
                if attempt == 2 or not self._set_aside(exc):
                    self._fail(exc)
                    return
                self.conversation_id = None  # that conversation went with the damaged file
            except ConversationGone as exc:
                if attempt == 2:
                    self._fail(exc)
                    return
                self._warn(f"{exc.reason}; saving this exchange in a new conversation")
                self.conversation_id = None
            except StoreError as exc:
                self._fail(exc)
                return

    def finish(self, outcome: Any) -> None:
        """Write the answer as it ended: its text so far, status, error, usage and timing."""
        if not self.saved_turn or self.failed or self.conversation_id is None:
            return
        self.saved_turn = False
        usage = outcome.usage
        timing = outcome.timing
        try:
            self._open().add_assistant_message(
                self.conversation_id,
                content=outcome.content,
                reasoning=outcome.reasoning,
                model=outcome.model,
                status=outcome.status,
                error=error_text(outcome.error),
                finish_reason=outcome.finish_reason,
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                total_tokens=usage.total_tokens if usage else None,
                usage_estimated=bool(outcome.usage_estimated),
                ttft_s=timing.ttft_s if timing else None,
                total_s=timing.total_s if timing else None,
                tokens_per_s=timing.tokens_per_s if timing else None,
            )
        except StoreError as exc:
            self._fail(exc)

    def drop_last_exchange(self) -> None:
        """Forget the latest exchange of this conversation (the REPL's /undo and /retry)."""
        self.saved_turn = False
        if not self.save or self.failed or self.conversation_id is None:
            return
        try:
            if not self._open().drop_last_exchange(self.conversation_id):
                self.conversation_id = None  # nothing left: the next turn starts a new conversation
                self.kept_id = None
        except StoreError as exc:
            self._fail(exc)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- internals -----------------------------------------------------------------------------

    def _open(self) -> Store:
        if self._store is None:
            store = open_store(self.path, notice=self._warn)
            assert store is not None  # create=True
            self._store = store
        return self._store

    def _set_aside(self, exc: StoreError) -> bool:
        """The file turned out damaged in use: move it aside and start a new one."""
        store, self._store = self._store, None
        if store is None:
            return False
        store.close()
        try:
            aside = move_aside(self.path, store.identity)
        except OSError:
            return False
        if aside is not None:
            self._warn(f"{exc.reason}; moved it to {aside.name} and started a new history")
        return True

    def _fail(self, exc: StoreError) -> None:
        self.failed = True
        self.saved_turn = False
        self.kept_id = None
        line = f"history not saved: {exc.reason}"
        if exc.hint:
            line += f" — {exc.hint}"
        self._warn(line)


def _nothing_to_continue() -> UsageError:
    return UsageError("there is no conversation to continue yet", hint='start one: llmcli ask "..."')

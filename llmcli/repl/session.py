"""The state of one chat: the conversation the client carries, the request settings, and the commands.

The server is stateless: every turn sends the system prompt and all earlier exchanges. Each turn goes
through `turn.run_turn` (the same path as `ask`) and is written to history as it happens.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import interrupts
from ..core.attachments import DEFAULT_MAX_FILE_BYTES
from ..core.settings import Settings
from ..core.types import ChatRequest, Message
from ..errors import LlmcliError, OutputClosed, OutputError
from ..render.sink import Sink, neutralise
from ..transport.base import Transport
from .commands import CommandError, Registry, parse_value

REGISTRY = Registry()
TYPED_PARAMS: dict[str, type] = {"temperature": float, "top_p": float, "max_tokens": int, "seed": int}


@dataclass(slots=True)
class Exchange:
    user: str
    answer: str
    status: str
    attachments: tuple[Any, ...] = ()  # core.attachments.Attachment: re-sent with every later turn


@dataclass(slots=True)
class Totals:
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    estimated: bool = False


@dataclass
class ChatSession:
    settings: Settings
    transport: Transport
    model: str
    make_sink: Callable[[], Sink]
    recorder: Any  # store.recorder.Recorder, or None with --no-save
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    cache: Any = None  # store.cache.ResponseCache with --cache
    config: Any = None  # the transport's TransportConfig, for /show-request
    exchanges: list[Exchange] = field(default_factory=list)
    pending: str | None = None  # a message whose answer failed before any text: /retry sends it again
    last: Any = None  # the last Outcome
    totals: Totals = field(default_factory=Totals)
    models: list[str] = field(default_factory=list)  # filled in the background for /model completion
    running: bool = True
    info: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)
    first_error_code: int = 0
    _fetching: bool = False
    # Attachments, schema and template (repl/inputs.py has their commands /file, /schema, /template).
    files: list[Any] = field(default_factory=list)  # go with the next message
    pending_files: tuple[Any, ...] = ()  # those of `pending`, for /retry
    schema: Any = None  # core.schema.Schema: every answer is checked against it
    template: Any = None  # core.templates.Template whose prompt wraps each message
    template_params: dict[str, str] = field(default_factory=dict)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    image_detail: str | None = None

    # --- the conversation ----------------------------------------------------------------------

    @property
    def saving(self) -> bool:
        """Is this chat kept on disk? Not with --no-save or `save_history = false`: then the typed lines
        are not either (the input history stays in memory)."""
        return self.recorder is not None and bool(self.recorder.save)

    @property
    def conversation_id(self) -> str | None:
        return self.recorder.conversation_id if self.recorder is not None else None

    def request_messages(self, prompt: str, attachments: tuple[Any, ...] = ()) -> list[Message]:
        messages = [Message("system", self.system)] if self.system else []
        for ex in self.exchanges:
            messages.append(Message("user", ex.user, ex.attachments))
            messages.append(Message("assistant", ex.answer))
        messages.append(Message("user", prompt, attachments))
        return messages

    def request_for(self, prompt: str, attachments: tuple[Any, ...] = ()) -> ChatRequest:
        """The request sending `prompt` now would make (/show-request prints it)."""
        return ChatRequest(
            self.model, self.request_messages(prompt, attachments), dict(self.params), dict(self.extra)
        )

    def send(self, prompt: str) -> Any:
        """One turn: the message (in the template's prompt, if one is in use) with the files attached
        since the last one; the whole conversation goes to the server, the answer streams to the sink."""
        if self.template is not None and self.template.prompt:
            from ..core.templates import apply

            try:
                prompt, _ = apply(self.template, prompt, {})  # its defaults hold the -p values
            except LlmcliError as exc:  # a placeholder without a value: nothing is sent
                self.first_error_code = self.first_error_code or int(exc.exit_code)
                self.info(f"llmcli: error: {exc.message}" + (f" — {exc.hint}" if exc.hint else ""))
                return None
        files, self.files = tuple(self.files), []
        return self._send(prompt, files)

    def _send(self, prompt: str, files: tuple[Any, ...] = ()) -> Any:
        from ..turn import run_exchange

        request = self.request_for(prompt, files)
        outcome = run_exchange(
            self.transport,
            request,
            self.make_sink(),
            prompt=prompt,
            system=self.system,
            settings=self.settings,
            recorder=self.recorder,
            stream=self.stream,
            cache=self.cache,
        )
        interrupts.reset()  # back at the prompt: the next Ctrl-C is a first one again
        self.last = outcome
        self._count(outcome)
        if outcome.content:
            self.exchanges.append(Exchange(prompt, outcome.content, outcome.status, files))
            self.pending, self.pending_files = None, ()
        else:
            self.pending, self.pending_files = prompt, files
        self._report(outcome)
        self._check_schema(outcome)
        return outcome

    def _check_schema(self, outcome: Any) -> None:
        if self.schema is None or outcome.error is not None:
            return
        from ..core.schema import first_error

        problem = first_error(outcome.content, self.schema.schema)
        if problem is not None:
            self.first_error_code = self.first_error_code or 7
            self.info(f"llmcli: error: {problem}")

    def _count(self, outcome: Any) -> None:
        t = self.totals
        t.turns += 1
        if outcome.usage is not None:
            t.prompt_tokens += outcome.usage.prompt_tokens or 0
            t.completion_tokens += outcome.usage.completion_tokens or 0
        elif outcome.content:
            from ..turn import estimate_tokens

            t.completion_tokens += estimate_tokens(outcome.content)
            t.estimated = True
        t.seconds += outcome.timing.total_s or 0.0

    def _report(self, outcome: Any) -> None:
        err = outcome.error
        if outcome.note:
            self.info(f"llmcli: note: {outcome.note}")
        if outcome.status == "length":
            self.info("llmcli: the answer was cut at max_tokens; /set max_tokens N for longer answers")
        if err is None:
            return
        if isinstance(err, OutputClosed | OutputError):
            self.running = False
            self.first_error_code = self.first_error_code or int(err.exit_code)
            return
        if outcome.status == "interrupted":
            self.info("llmcli: interrupted — the partial answer is kept; /retry asks again")
            return
        self.first_error_code = self.first_error_code or int(err.exit_code)
        line = f"llmcli: error: {err.message}"
        if getattr(err, "hint", None):
            line += f" — {err.hint}"
        self.info(line + " (/retry to try again)")

    def retry(self) -> None:
        if self.pending is not None:
            prompt, files = self.pending, self.pending_files
        elif self.exchanges:
            last = self.exchanges.pop()
            prompt, files = last.user, last.attachments
        else:
            raise CommandError("nothing to retry yet")
        if self.recorder is not None:
            self.recorder.drop_last_exchange()
        self._send(prompt, files)

    def undo(self) -> None:
        if self.pending is not None:
            self.pending = None
        elif self.exchanges:
            self.exchanges.pop()
        else:
            raise CommandError("nothing to undo")
        if self.recorder is not None:
            self.recorder.drop_last_exchange()
        self.info(f"llmcli: dropped the last exchange ({len(self.exchanges)} left)")

    def clear(self) -> None:
        self.exchanges.clear()
        self.pending = None
        if self.recorder is not None:
            self.recorder.conversation_id = None
        self.info("llmcli: new conversation")

    def fetch_models_in_background(self) -> None:
        if self._fetching:
            return
        self._fetching = True

        def fetch() -> None:
            try:
                self.models = sorted(m.id for m in self.transport.list_models())
            except (LlmcliError, Exception):  # completion is a nicety; never disturb the chat
                pass

        threading.Thread(target=fetch, name="llmcli-models", daemon=True).start()

    def describe(self) -> str:
        conv = self.conversation_id or "new"
        from ..core.urls import display_url

        return f"model {self.model} at {display_url(self.settings.base_url)} · conversation {conv}"

    def transcript_markdown(self) -> str:
        parts = [f"# Conversation {self.conversation_id or '(unsaved)'}\n", f"Model: {self.model}\n"]
        if self.system:
            parts.append(f"## System\n\n{self.system}\n")
        for ex in self.exchanges:
            attached = "".join(f"Attached: {a.describe()}\n\n" for a in ex.attachments)
            parts.append(f"## User\n\n{attached}{ex.user}\n")
            note = "" if ex.status == "complete" else f" ({ex.status})"
            parts.append(f"## Assistant{note}\n\n{ex.answer}\n")
        return "\n".join(parts)


# --- the commands --------------------------------------------------------------------------------


@REGISTRY.command("help", "/help", "this list", aliases=("?",))
def _help(s: ChatSession, arg: str) -> None:
    width = max(len(c.usage) for c in REGISTRY.all())
    lines = [f"  {c.usage:<{width}}  {c.help}" for c in REGISTRY.all()]
    keys = [
        "",
        "  Enter sends · Esc Enter (or Alt-Enter) inserts a newline · a pasted block is one message",
        "  Ctrl-C stops an answer or clears the line · Ctrl-D on an empty line exits · Ctrl-R searches input history",
        "  Ctrl-X Ctrl-E edits the message in $EDITOR · //text sends a message that starts with /",
    ]
    s.info("\n".join(["commands:", *lines, *keys]))


def _complete_model(s: ChatSession, prefix: str) -> list[str]:
    s.fetch_models_in_background()  # the first time /model is typed; later completions use the list
    return [m for m in s.models if m.startswith(prefix)]


@REGISTRY.command("model", "/model [NAME]", "show or switch the model", complete=_complete_model)
def _model(s: ChatSession, arg: str) -> None:
    if not arg:
        s.info(f"model: {s.model}")
        return
    s.model = arg
    s.info(f"llmcli: model is now {arg}")


@REGISTRY.command("system", "/system [TEXT]", "show or set the system prompt (/system - removes it)")
def _system(s: ChatSession, arg: str) -> None:
    if not arg:
        s.info(f"system: {s.system}" if s.system else "no system prompt")
        return
    s.system = None if arg == "-" else arg
    s.info("llmcli: system prompt removed" if s.system is None else "llmcli: system prompt set")


def _complete_set(s: ChatSession, prefix: str) -> list[str]:
    keys = [*TYPED_PARAMS, "stop", *s.extra]
    return [k for k in dict.fromkeys(keys) if k.startswith(prefix)]


@REGISTRY.command(
    "set",
    "/set [KEY [VALUE]]",
    "show settings, or set one (temperature, max_tokens, any body field)",
    complete=_complete_set,
)
def _set(s: ChatSession, arg: str) -> None:
    if not arg:
        rows = {**s.params, **s.extra}
        shown = ", ".join(f"{k}={v!r}" for k, v in rows.items()) or "(server defaults)"
        s.info(f"model={s.model!r}, stream={s.stream}, {shown}")
        return
    key, _, value = arg.partition(" ")
    value = value.strip()
    if not value:
        raise CommandError(f"/set {key} needs a value (/unset {key} removes it)")
    from ..core.request import check_param
    from ..errors import UsageError

    # The same checks and messages as ask's flags and -o (core.request.check_param).
    try:
        if key == "stream":
            s.stream = check_param("stream", parse_value(value.lower()))
        elif key == "stop":
            s.params["stop"] = check_param("stop", [value])
        elif key in TYPED_PARAMS:
            s.params[key] = check_param(key, parse_value(value))
        else:
            s.extra[key] = check_param(key, parse_value(value))
    except UsageError as exc:
        raise CommandError(exc.message) from None
    s.info(f"llmcli: {key} = {value}")


@REGISTRY.command("unset", "/unset KEY", "go back to the server's default for KEY", complete=_complete_set)
def _unset(s: ChatSession, arg: str) -> None:
    if not arg:
        raise CommandError("/unset needs a KEY")
    found = s.params.pop(arg, None) is not None
    found = s.extra.pop(arg, None) is not None or found
    s.info(f"llmcli: {arg} unset" if found else f"llmcli: {arg} was not set")


@REGISTRY.command("clear", "/clear", "start a new conversation", aliases=("new",))
def _clear(s: ChatSession, arg: str) -> None:
    s.clear()


@REGISTRY.command("retry", "/retry", "ask the last message again (a new answer replaces the old)")
def _retry(s: ChatSession, arg: str) -> None:
    s.retry()


@REGISTRY.command("undo", "/undo", "drop the last exchange")
def _undo(s: ChatSession, arg: str) -> None:
    s.undo()


@REGISTRY.command("history", "/history", "this conversation so far")
def _history(s: ChatSession, arg: str) -> None:
    if not s.exchanges and not s.system:
        s.info("(nothing yet)")
        return
    lines = []
    if s.system:
        lines.append(f"system: {s.system}")
    for i, ex in enumerate(s.exchanges, 1):
        note = "" if ex.status == "complete" else f" [{ex.status}]"
        lines.append(f"{i}. you: {ex.user}")
        lines.append(f"   assistant{note}: {ex.answer}")
    s.info(neutralise("\n".join(lines)))


@REGISTRY.command("save", "/save FILE", "write this conversation to FILE as markdown")
def _save(s: ChatSession, arg: str) -> None:
    if not arg:
        raise CommandError("/save needs a file name")
    path = Path(arg).expanduser()
    try:
        # Private from the moment it exists, like every file llmcli creates.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(s.transcript_markdown())
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
    s.info(f"llmcli: saved to {path}")


@REGISTRY.command("stats", "/stats", "usage and timing of the last answer and of the session")
def _stats(s: ChatSession, arg: str) -> None:
    if s.last is None:
        s.info("no answer yet")
        return
    from ..turn import stats_line

    t = s.totals
    approx = "~" if t.estimated else ""
    s.info(
        f"last answer: {stats_line(s.last).removeprefix('stats: ')}\n"
        f"session: {t.turns} turns, {t.prompt_tokens} prompt + {approx}{t.completion_tokens} completion tokens, {t.seconds:.1f} s"
    )


def _complete_show(s: ChatSession, prefix: str) -> list[str]:
    from ..render.request import FORMS

    return [f for f in FORMS if f.startswith(prefix)]


@REGISTRY.command(
    "show-request",
    "/show-request [FORM] [MESSAGE]",
    "print the request MESSAGE would make (or the last one) as curl, python, openai, json, httpie",
    complete=_complete_show,
)
def _show_request(s: ChatSession, arg: str) -> None:
    from ..render.request import FORMS
    from ..show import show_request

    form, _, message = arg.partition(" ")
    if form not in FORMS:  # no form given: curl, and the whole argument is the message
        form, message = "curl", arg
    message = message.strip()
    if message:
        request = s.request_for(message)
    elif s.pending is not None:
        request = s.request_for(s.pending)
    elif s.exchanges:
        request = _last_request(s)
    else:
        raise CommandError("nothing sent yet: /show-request [FORM] MESSAGE shows what MESSAGE would send")
    if s.config is None:
        raise CommandError("/show-request is not available here")
    show_request(s.config, request, form, stream=s.stream, note=lambda line: s.info(f"llmcli: {line}"))


def _last_request(s: ChatSession) -> ChatRequest:
    """The request of the last exchange: the conversation before it, then its user message."""
    *before, last = s.exchanges
    messages = [Message("system", s.system)] if s.system else []
    for ex in before:
        messages += [Message("user", ex.user), Message("assistant", ex.answer)]
    messages.append(Message("user", last.user))
    return ChatRequest(s.model, messages, dict(s.params), dict(s.extra))


@REGISTRY.command("edit", "/edit", "write the next message in $EDITOR (also Ctrl-X Ctrl-E)")
def _edit(s: ChatSession, arg: str) -> None:
    raise CommandError("/edit needs a terminal")


@REGISTRY.command("exit", "/exit", "leave (the conversation is saved)", aliases=("quit", "q"))
def _exit(s: ChatSession, arg: str) -> None:
    s.running = False


from . import inputs as _inputs  # noqa: E402,F401  (registers /file, /schema, /template)

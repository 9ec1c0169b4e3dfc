"""`llmcli ask`: one prompt, one answer on stdout."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..errors import UsageError
from . import history as h
from . import options as o
from .common import build_request, load_settings, stdout_is_tty, warn
from .context import exchange_context


def read_prompt(args: list[str], stdin=None) -> str:
    """Arguments joined by spaces; stdin (when not a terminal) after a blank line; `-` = stdin alone."""
    stdin = sys.stdin if stdin is None else stdin
    only_stdin = args == ["-"]
    text = "" if only_stdin else " ".join(args)
    piped = stdin is not None and not _isatty(stdin)
    if only_stdin and not piped:
        raise UsageError(
            "`-` reads the prompt from stdin, but stdin is a terminal",
            hint="pipe text in: echo hi | llmcli ask -",
        )
    if piped:
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(
                    f"stdin is not valid UTF-8 (byte offset {exc.start})",
                    hint="convert it first, e.g. iconv -f latin1 -t utf-8",
                ) from None
        data = data.rstrip("\r\n")
        if data:
            text = f"{text}\n\n{data}" if text else data
    if not args and not piped:
        raise UsageError(
            "no prompt",
            hint='llmcli ask "your question", or pipe text in: cat file | llmcli ask "summarise:"',
        )
    if not text.strip():
        raise UsageError("the prompt is empty", hint='give a prompt: llmcli ask "your question"')
    return text


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def ask(
    prompt: Annotated[
        list[str] | None,
        typer.Argument(
            help="The prompt; stdin is appended after a blank line. `-` = stdin only.", show_default=False
        ),
    ] = None,
    model: o.Model = None,
    system: o.System = None,
    temperature: o.Temperature = None,
    top_p: o.TopP = None,
    max_tokens: o.MaxTokens = None,
    stop: o.Stop = None,
    seed: o.Seed = None,
    option: o.Option = None,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="One non-streaming request.", rich_help_panel=o.OUT)
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="text, or json: one object with content, usage, timing.", rich_help_panel=o.OUT
        ),
    ] = "text",
    stats: Annotated[
        bool,
        typer.Option("--stats", help="One line of timing and token counts on stderr.", rich_help_panel=o.OUT),
    ] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Plain text even on a terminal.", rich_help_panel=o.OUT)
    ] = False,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Render markdown even into a pipe or file.", rich_help_panel=o.OUT),
    ] = False,
    no_reasoning: Annotated[
        bool,
        typer.Option(
            "--no-reasoning", help="Do not show the model's reasoning on stderr.", rich_help_panel=o.OUT
        ),
    ] = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    continue_: h.Continue = False,
    conversation: h.ConversationRef = None,
    no_save: h.NoSave = False,
) -> None:
    """Ask one question; the answer streams to stdout."""
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    if plain and markdown:
        raise UsageError("--plain and --markdown exclude each other", hint="give one of them")
    text = read_prompt(prompt or [])
    settings = load_settings(model=model)
    with exchange_context(settings, no_save=no_save, continue_=continue_, conversation=conversation) as ctx:
        rec = ctx.recorder
        messages, system_prompt = h.compose_messages(
            text, system=system, default_system=settings.system, earlier=ctx.earlier
        )
        request = build_request(
            settings,
            ctx.model,
            messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            options=option,
        )
        sink = choose_sink(fmt, plain, markdown=markdown, reasoning=not no_reasoning)
        from ..turn import run_turn

        if rec is not None:  # the user's turn is kept before the request is sent
            rec.start(
                text,
                system=system_prompt,
                profile=settings.profile,
                base_url=settings.base_url,
                model=ctx.model,
                params={**request.params, **request.extra},
            )
        outcome = run_turn(ctx.client, request, sink, stream=not no_stream)
        if rec is not None:  # and the answer as it ended, before anything else can interrupt
            rec.finish(outcome)
    _report(
        outcome,
        fmt=fmt,
        stats=stats,
        requested_max=request.params.get("max_tokens"),
        conversation_id=rec.kept_id if rec is not None else None,
    )


def choose_sink(fmt: str, plain: bool, *, markdown: bool = False, reasoning: bool = True):
    """Markdown on a terminal (or with --markdown), exact text elsewhere; a spinner while waiting and
    the model's reasoning (dim) go to stderr when it is a terminal. json prints one object at the end."""
    import os

    if fmt == "json":
        return _NullSink()
    capable = os.environ.get("TERM", "") != "dumb"  # a dumb terminal cannot move the cursor
    stdout_tty = stdout_is_tty()
    spinner = shown_reasoning = None
    if capable and _isatty(sys.stderr):
        from ..render.spinner import Spinner

        spinner = Spinner()
        if reasoning:
            from ..render.reasoning import ReasoningView

            shown_reasoning = ReasoningView()
    if markdown or (stdout_tty and capable and not plain):
        from ..render.markdown import MarkdownSink  # rich.markdown / rich.live: terminals only

        return MarkdownSink(spinner=spinner, reasoning=shown_reasoning)
    from ..render.plain import PlainSink

    return PlainSink(terminal=stdout_tty, spinner=spinner, reasoning=shown_reasoning)


class _NullSink:
    def start(self) -> None: ...
    def text(self, delta: str) -> None: ...
    def reasoning(self, delta: str) -> None: ...
    def end(self) -> None: ...


def _report(outcome, *, fmt: str, stats: bool, requested_max, conversation_id: str | None = None) -> None:
    from ..errors import OutputClosed
    from ..render.sink import write_out

    if fmt == "json" and not isinstance(outcome.error, OutputClosed) and (outcome.ok or outcome.content):
        doc = {
            "content": outcome.content,
            "model": outcome.model,
            "finish_reason": outcome.finish_reason,
            "usage": outcome.usage.to_dict() if outcome.usage else None,
            "timing": outcome.timing.to_dict(),
            "conversation_id": conversation_id,
        }
        if not outcome.ok:
            doc["status"] = outcome.status
            doc["error"] = outcome.error.message
        write_out(sys.stdout.buffer, (json.dumps(doc, ensure_ascii=False) + "\n").encode())
    if stats and not isinstance(outcome.error, OutputClosed):
        warn(stats_line(outcome))
    if outcome.status == "length":
        limit = f" ({requested_max} tokens)" if requested_max else ""
        warn(f"the answer was cut at max_tokens{limit}; raise --max-tokens for more")
    if outcome.error is not None:
        raise outcome.error


def stats_line(outcome) -> str:
    t = outcome.timing
    parts = []
    parts.append(f"ttft {t.ttft_s:.2f} s" if t.ttft_s is not None else "ttft -")
    parts.append(f"total {t.total_s:.2f} s" if t.total_s is not None else "total -")
    parts.append(f"{t.tokens_per_s:.1f} tokens/s" if t.tokens_per_s else "- tokens/s")
    u = outcome.usage
    if u is not None and not outcome.usage_estimated:
        parts.append(
            f"{u.prompt_tokens if u.prompt_tokens is not None else '?'} prompt + {u.completion_tokens} completion tokens"
        )
    else:
        from ..turn import estimate_tokens

        parts.append(
            f"~{estimate_tokens(outcome.content + outcome.reasoning)} completion tokens (estimated: the server sent no usage)"
        )
    return "stats: " + " · ".join(parts)

"""`llmcli ask`: one prompt, one answer on stdout."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..core.request import build_request, compose_messages
from ..core.tty import isatty
from ..errors import UsageError
from . import history as h
from . import options as o
from .common import load_settings, warn
from .context import exchange_context


def read_prompt(args: list[str], stdin=None) -> str:
    """Arguments joined by spaces; stdin (when not a terminal) after a blank line; `-` = stdin alone."""
    stdin = sys.stdin if stdin is None else stdin
    only_stdin = args == ["-"]
    text = "" if only_stdin else " ".join(args)
    piped = stdin is not None and not isatty(stdin)
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
        messages, system_prompt = compose_messages(
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
        from ..render.choose import choose_sink
        from ..turn import run_exchange

        sink = choose_sink(fmt, plain, markdown=markdown, reasoning=not no_reasoning)
        outcome = run_exchange(
            ctx.client,
            request,
            sink,
            prompt=text,
            system=system_prompt,
            settings=settings,
            recorder=ctx.recorder,
            stream=not no_stream,
        )
    _report(
        outcome,
        fmt=fmt,
        stats=stats,
        requested_max=request.params.get("max_tokens"),
        conversation_id=ctx.recorder.kept_id if ctx.recorder is not None else None,
    )


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
        from ..turn import stats_line

        warn(stats_line(outcome))
    if outcome.status == "length":
        limit = f" ({requested_max} tokens)" if requested_max else ""
        warn(f"the answer was cut at max_tokens{limit}; raise --max-tokens for more")
    if outcome.note:
        warn(outcome.note)
    if outcome.error is not None:
        raise outcome.error

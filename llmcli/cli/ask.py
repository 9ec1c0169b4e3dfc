"""`llmcli ask`: one prompt, one answer on stdout."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..core.types import Message
from ..errors import UsageError
from . import options as o
from .common import build_request, load_settings, make_transport, pick_model, stdout_is_tty, warn


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
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Ask one question; the answer streams to stdout."""
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    text = read_prompt(prompt or [])
    settings = load_settings(
        profile=profile,
        base_url=base_url,
        model=model,
        transport=transport,
        timeout=timeout,
        max_retries=max_retries,
        debug=debug,
    )
    from .common import api_key

    key = api_key(settings)
    client = make_transport(settings, key)
    try:
        chosen = pick_model(settings, client)
        messages = []
        system_prompt = system if system is not None else settings.system
        if system_prompt:
            messages.append(Message("system", system_prompt))
        messages.append(Message("user", text))
        request = build_request(
            settings,
            chosen,
            messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            options=option,
        )
        sink = _choose_sink(fmt, plain)
        from ..turn import run_turn

        outcome = run_turn(client, request, sink, stream=not no_stream)
    finally:
        client.close()
    _report(outcome, fmt=fmt, stats=stats, requested_max=request.params.get("max_tokens"))


def _choose_sink(fmt: str, plain: bool):
    from ..render.plain import PlainSink

    if fmt == "json":
        return _NullSink()
    return PlainSink(terminal=stdout_is_tty())


class _NullSink:
    def start(self) -> None: ...
    def text(self, delta: str) -> None: ...
    def reasoning(self, delta: str) -> None: ...
    def end(self) -> None: ...


def _report(outcome, *, fmt: str, stats: bool, requested_max) -> None:
    from ..errors import OutputClosed
    from ..render.sink import write_out

    if fmt == "json" and not isinstance(outcome.error, OutputClosed) and (outcome.ok or outcome.content):
        doc = {
            "content": outcome.content,
            "model": outcome.model,
            "finish_reason": outcome.finish_reason,
            "usage": outcome.usage.to_dict() if outcome.usage else None,
            "timing": outcome.timing.to_dict(),
            "conversation_id": None,
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

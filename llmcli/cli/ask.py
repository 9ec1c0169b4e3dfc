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
from . import shaping as sh
from .common import load_settings, warn
from .context import exchange_context


def read_prompt(
    args: list[str],
    stdin=None,
    *,
    command: str = "ask",
    stdin_taken: bool = False,
    required: bool = True,
) -> str:
    """Arguments joined by spaces; stdin (when not a terminal) after a blank line; `-` = stdin alone.
    (`llmcli complete` reads its prompt the same way; `command` names it in the hints.)

    `stdin_taken`: stdin is an attachment (`-f -`), not prompt text. `required=False` (files or a
    template make the message): no prompt at all is "" rather than an error."""
    stdin = sys.stdin if stdin is None else stdin
    only_stdin = args == ["-"]
    if only_stdin and stdin_taken:
        raise UsageError(
            "stdin cannot be both the prompt (`-`) and an attachment (-f -)", hint="drop one of them"
        )
    text = "" if only_stdin else " ".join(args)
    piped = not stdin_taken and stdin is not None and not isatty(stdin)
    if only_stdin and not piped:
        raise UsageError(
            "`-` reads the prompt from stdin, but stdin is a terminal",
            hint=f"pipe text in: echo hi | llmcli {command} -",
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
    if not required and not text.strip():
        return ""
    if not args and not piped:
        raise UsageError(
            "no prompt",
            hint=f'llmcli {command} "your question", or pipe text in: cat file | llmcli {command} "summarise:"',
        )
    if not text.strip():
        raise UsageError("the prompt is empty", hint=f'give a prompt: llmcli {command} "your question"')
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
    show_request: o.ShowRequest = None,
    cache: o.Cache = None,
    cache_any: o.CacheAny = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
    file: o.File = None,
    max_file_bytes: o.MaxFileBytes = None,
    image_detail: o.ImageDetail = None,
    schema: o.Schema = None,
    schema_strict: o.SchemaStrict = False,
    schema_multi: o.SchemaMulti = False,
    compact: o.Compact = False,
    template: o.Template = None,
    param: o.Param = None,
) -> None:
    """Ask one question; the answer streams to stdout."""
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    if plain and markdown:
        raise UsageError("--plain and --markdown exclude each other", hint="give one of them")
    show = o.show_form(show_request)
    tpl = sh.use_template(template, param)
    files = sh.files_of(tpl, file)
    text = read_prompt(prompt or [], stdin_taken="-" in files, required=sh.prompt_required(tpl, files))
    shaped = sh.shape(
        text,
        tpl,
        param,
        files=files,
        max_file_bytes=max_file_bytes,
        image_detail=image_detail,
        schema=schema,
        schema_strict=schema_strict,
        schema_multi=schema_multi,
    )
    settings = load_settings(model=model, cache=cache, template=shaped.template)
    with exchange_context(
        settings,
        no_save=no_save,
        continue_=continue_,
        conversation=conversation,
        showing=show is not None,
        cache_any=cache_any,
    ) as ctx:
        messages, system_prompt = compose_messages(
            shaped.prompt,
            system=system,
            default_system=settings.system,
            earlier=ctx.earlier,
            attachments=shaped.attachments,
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
            schema=shaped.schema,
        )
        if show is not None:  # the point where the request would be sent: print it instead
            from ..show import show_request as print_request

            print_request(ctx.config, request, show, stream=not no_stream)
            return
        from ..render.choose import WaitingSink, choose_sink
        from ..turn import run_exchange

        whole = sh.buffered(shaped.schema, fmt, plain=plain, markdown=markdown, compact=compact)
        sink = (
            WaitingSink() if whole else choose_sink(fmt, plain, markdown=markdown, reasoning=not no_reasoning)
        )
        outcome = run_exchange(
            ctx.client,
            request,
            sink,
            prompt=shaped.prompt,
            system=system_prompt,
            settings=settings,
            recorder=ctx.recorder,
            stream=not no_stream,
            cache=ctx.cache,
        )
    extra = {"attachments": sh.records(shaped.attachments)} if shaped.attachments else {}
    if shaped.schema is not None:
        extra["schema_error"] = sh.finish_schema(outcome, shaped.schema, printed_whole=whole, compact=compact)
    _report(
        outcome,
        fmt=fmt,
        stats=stats,
        requested_max=request.params.get("max_tokens"),
        conversation_id=ctx.recorder.kept_id if ctx.recorder is not None else None,
        extra=extra,
    )


def _report(
    outcome, *, fmt: str, stats: bool, requested_max, conversation_id: str | None = None, extra=None
) -> None:
    from ..errors import OutputClosed, SchemaMismatch
    from ..render.sink import write_out

    if fmt == "json" and not isinstance(outcome.error, OutputClosed) and (outcome.ok or outcome.content):
        doc = {
            "content": outcome.content,
            "model": outcome.model,
            "finish_reason": outcome.finish_reason,
            "usage": outcome.usage.to_dict() if outcome.usage else None,
            "timing": outcome.timing.to_dict(),
            "conversation_id": conversation_id,
            "cached": outcome.cached,
            **(extra or {}),
        }
        if not outcome.ok:
            doc["status"] = outcome.status
            doc["error"] = outcome.error.message
        write_out(sys.stdout.buffer, (json.dumps(doc, ensure_ascii=False) + "\n").encode())
    if stats and not isinstance(outcome.error, OutputClosed):
        from ..turn import stats_line

        warn(stats_line(outcome))
    if outcome.note:
        warn(f"note: {outcome.note}")
    if outcome.status == "length" and not isinstance(outcome.error, SchemaMismatch):  # that says it too
        limit = f" ({requested_max} tokens)" if requested_max else ""
        warn(f"the answer was cut at max_tokens{limit}; raise --max-tokens for more")
    if outcome.error is not None:
        raise outcome.error

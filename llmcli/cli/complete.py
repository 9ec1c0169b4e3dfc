"""`llmcli complete`: a legacy text completion (`/completions`) for base models; the text streams to
stdout through the same sinks as `ask` (plain text: a base model's continuation is not markdown)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..core.request import build_request
from ..core.types import CompletionRequest
from ..errors import UsageError
from . import history as h
from . import options as o
from .ask import read_prompt
from .common import load_settings, warn
from .context import exchange_context


def complete(
    prompt: Annotated[
        list[str] | None,
        typer.Argument(
            help="The text to continue; stdin is appended after a blank line. `-` = stdin only.",
            show_default=False,
        ),
    ] = None,
    model: o.Model = None,
    temperature: o.Temperature = None,
    top_p: o.TopP = None,
    max_tokens: o.MaxTokens = None,
    stop: o.Stop = None,
    seed: o.Seed = None,
    echo: Annotated[
        bool,
        typer.Option(
            "--echo",
            help="Ask the server to send the prompt back before the completion.",
            rich_help_panel=o.REQ,
        ),
    ] = False,
    logprobs: Annotated[
        int | None,
        typer.Option(
            "--logprobs",
            metavar="N",
            help="Log probabilities of the N likeliest tokens (see --format json).",
            rich_help_panel=o.REQ,
        ),
    ] = None,
    option: o.Option = None,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="One non-streaming request.", rich_help_panel=o.OUT)
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="text, or json: one object with content, logprobs, usage, timing.",
            rich_help_panel=o.OUT,
        ),
    ] = "text",
    stats: Annotated[
        bool,
        typer.Option("--stats", help="One line of timing and token counts on stderr.", rich_help_panel=o.OUT),
    ] = False,
    show_request: o.ShowRequest = None,
    cache: o.Cache = None,
    cache_any: o.CacheAny = False,
    no_save: h.NoSave = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Continue a text with a base model (POST /completions); the text streams to stdout."""
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    if logprobs is not None and logprobs < 0:
        raise UsageError("--logprobs must be 0 or more")
    show = o.show_form(show_request)
    text = read_prompt(prompt or [], command="complete")
    settings = load_settings(model=model, cache=cache)
    with exchange_context(
        settings,
        no_save=no_save,
        continue_=False,
        conversation=None,
        showing=show is not None,
        cache_any=cache_any,
    ) as ctx:
        shaped = build_request(
            settings,
            ctx.model,
            [],
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            options=option,
        )
        params = dict(shaped.params)
        if echo:
            params["echo"] = True
        if logprobs is not None:
            params["logprobs"] = logprobs
        request = CompletionRequest(ctx.model, text, params, shaped.extra)
        if show is not None:
            from ..show import show_request as print_request

            print_request(ctx.config, request, show, stream=not no_stream)
            return
        from ..render.choose import choose_sink
        from ..turn import run_exchange

        # A base model's continuation is text, not markdown: plain on a terminal too.
        sink = choose_sink(fmt, True, reasoning=False)
        outcome = run_exchange(
            ctx.client,
            request,
            sink,
            prompt=text,
            system=None,
            settings=settings,
            recorder=ctx.recorder,
            stream=not no_stream,
            cache=ctx.cache,
        )
    report(
        outcome, fmt=fmt, stats=stats, requested_max=request.params.get("max_tokens"), recorder=ctx.recorder
    )


def report(outcome, *, fmt: str, stats: bool, requested_max, recorder) -> None:
    import json
    import sys

    from ..errors import OutputClosed
    from ..render.sink import write_out
    from ..transport.wire import merge_logprobs

    if fmt == "json" and not isinstance(outcome.error, OutputClosed) and (outcome.ok or outcome.content):
        doc = {
            "content": outcome.content,
            "model": outcome.model,
            "finish_reason": outcome.finish_reason,
            "logprobs": merge_logprobs(outcome.logprobs),
            "usage": outcome.usage.to_dict() if outcome.usage and not outcome.usage_estimated else None,
            "timing": outcome.timing.to_dict(),
            "conversation_id": recorder.kept_id if recorder is not None else None,
            "cached": outcome.cached,
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
        warn(f"the completion was cut at max_tokens{limit}; raise --max-tokens for more")
    if outcome.error is not None:
        raise outcome.error

"""`llmcli chat`: the interactive REPL (or one message per line when stdin is not a terminal)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..core.request import build_request, earlier_turns, system_in_force
from ..core.tty import isatty
from ..errors import UsageError
from . import history as h
from . import options as o
from . import shaping as sh
from .common import load_settings
from .context import exchange_context


def chat(
    model: o.Model = None,
    system: o.System = None,
    temperature: o.Temperature = None,
    top_p: o.TopP = None,
    max_tokens: o.MaxTokens = None,
    stop: o.Stop = None,
    seed: o.Seed = None,
    option: o.Option = None,
    continue_: h.Continue = False,
    conversation: h.ConversationRef = None,
    no_save: h.NoSave = False,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="Non-streaming requests.", rich_help_panel=o.OUT)
    ] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Plain text answers even on a terminal.", rich_help_panel=o.OUT)
    ] = False,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown", help="Render markdown even when stdout is not a terminal.", rich_help_panel=o.OUT
        ),
    ] = False,
    no_reasoning: Annotated[
        bool,
        typer.Option(
            "--no-reasoning", help="Do not show the model's reasoning on stderr.", rich_help_panel=o.OUT
        ),
    ] = False,
    vi: Annotated[
        bool, typer.Option("--vi", help="Vi key bindings for line editing.", rich_help_panel=o.OUT)
    ] = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
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
    template: o.Template = None,
    param: o.Param = None,
) -> int:
    """Chat in a REPL: each turn sends the whole conversation; every turn is saved to history."""
    if plain and markdown:
        raise UsageError("--plain and --markdown exclude each other", hint="give one of them")
    # -f files go with the first message; a template's prompt wraps every message (repl/inputs.py).
    shaped = sh.shape_chat(
        template,
        param,
        files=file,
        max_file_bytes=max_file_bytes,
        image_detail=image_detail,
        schema=schema,
        schema_strict=schema_strict,
        schema_multi=schema_multi,
    )
    settings = load_settings(model=model, cache=cache, template=shaped.template)
    with exchange_context(
        settings, no_save=no_save, continue_=continue_, conversation=conversation, cache_any=cache_any
    ) as ctx:
        rec, earlier, client, chosen = ctx.recorder, ctx.earlier, ctx.client, ctx.model
        # The request options given here hold for every turn; /set changes them later.
        template = build_request(
            settings,
            chosen,
            [],
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            options=option,
            schema=shaped.schema,
        )
        from ..render.choose import choose_sink
        from ..repl.session import ChatSession, Exchange

        session = ChatSession(
            settings=settings,
            transport=client,
            model=chosen,
            # JSON answers (a schema) are shown as text, never rendered as markdown
            make_sink=lambda: choose_sink(
                "text", plain or session.schema is not None, markdown=markdown, reasoning=not no_reasoning
            ),
            recorder=rec,
            # A new chat takes -s or the profile's system prompt; a continued one keeps its own unless -s.
            system=system_in_force(system, settings.system, earlier),
            params=template.params,
            extra=template.extra,
            stream=not no_stream,
            cache=ctx.cache,
            config=ctx.config,
        )
        sh.into_session(session, shaped)
        turns = earlier_turns(earlier)
        for user, answer in zip(turns[0::2], turns[1::2], strict=False):
            session.exchanges.append(Exchange(user.content, answer.content, "complete", user.attachments))
        from ..repl import loop

        if isatty(sys.stdin) and isatty(sys.stdout):
            return loop.run_terminal(session, vi_mode=vi)
        return loop.run_lines(session, loop.stdin_lines())

"""`llmcli embed`: vectors for texts (`/embeddings`), in input order, batched, as JSON, JSONL, CSV or .npy."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..core.request import parse_extra_options
from ..core.tty import isatty, stdout_is_tty
from ..core.types import EmbeddingRequest
from ..errors import UsageError
from . import options as o
from .common import api_key, load_settings, make_transport, offline_model, pick_model, transport_config, warn

FORMATS = ("json", "jsonl", "csv", "npy")


def read_texts(args: list[str], stdin=None) -> list[str]:
    """The arguments, one text each; without arguments, stdin's lines (one text per line)."""
    if args:
        texts = list(args)
        where = "argument"
    else:
        stdin = sys.stdin if stdin is None else stdin
        if stdin is None or isatty(stdin):
            raise UsageError(
                "no text to embed", hint='llmcli embed "some text", or one text per line on stdin'
            )
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(
                    f"stdin is not valid UTF-8 (byte offset {exc.start})",
                    hint="convert it first, e.g. iconv -f latin1 -t utf-8",
                ) from None
        texts = [line.removesuffix("\r") for line in data.split("\n")]
        if texts and texts[-1] == "":
            texts.pop()  # the newline that ends the last line
        where = "line"
    if not texts:
        raise UsageError("no text to embed", hint='llmcli embed "some text", or one text per line on stdin')
    for n, text in enumerate(texts, 1):
        if not text.strip():
            # Output row n is text n: an empty one cannot be dropped silently, and servers refuse it.
            raise UsageError(f"{where} {n} is empty", hint="remove empty lines (e.g. grep -v '^$')")
    return texts


def embed(
    texts: Annotated[
        list[str] | None,
        typer.Argument(
            help="Texts to embed (one vector each); without any, one text per line of stdin.",
            show_default=False,
        ),
    ] = None,
    model: o.Model = None,
    dimensions: Annotated[
        int | None,
        typer.Option(
            "--dimensions",
            help="Ask for vectors of this many dimensions (models that support it).",
            rich_help_panel=o.REQ,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Texts per request.", rich_help_panel=o.REQ)
    ] = 64,
    option: o.Option = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="json, jsonl (one object a line), csv (one row a text) or npy (numpy).",
            rich_help_panel=o.OUT,
        ),
    ] = "json",
    show_request: o.ShowRequest = None,
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
    """Embed texts (POST /embeddings); the vectors go to stdout in input order."""
    from ..embedding import Output

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if dimensions is not None and dimensions < 1:
        raise UsageError("--dimensions must be at least 1")
    show = o.show_form(show_request)
    if fmt == "npy" and show is None:
        Output.need_numpy()
        if stdout_is_tty():
            raise UsageError(
                "npy is binary and stdout is a terminal",
                hint="redirect it: llmcli embed ... --format npy > vectors.npy",
            )
    items = read_texts(texts or [])
    settings = load_settings(model=model)
    params = {"dimensions": dimensions} if dimensions is not None else {}
    extra = parse_extra_options(option)
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    key = api_key(settings)
    if show is not None:
        from ..show import show_request as print_request

        config = transport_config(settings, key)
        chosen = offline_model(settings)
        if len(batches) > 1:
            warn(f"{len(items)} texts in batches of {batch_size}: {len(batches)} requests")
        for batch in batches:
            print_request(config, EmbeddingRequest(chosen, batch, params, extra), show, stream=False)
        return
    client = make_transport(settings, key)
    try:
        chosen = pick_model(settings, client)
        out = Output(fmt, sys.stdout.buffer)
        for batch in batches:
            result = client.embed(EmbeddingRequest(chosen, batch, params, extra))
            out.add(batch, result)
        out.finish()
    finally:
        client.close()

"""`llmcli batch run INPUT -o OUTPUT`: a batch file (or a prompt file) run from this machine against the
configured server, resumable. Parses, resolves, runs (llmcli/batch/runner.py), reports, maps to exit codes."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import Interrupted, JobIncomplete, UsageError
from . import options as o

LOAD = "Load"
FILES = "Files"
PLACEHOLDER_MODEL = "(the server's model)"  # while checking a prompt file before the server is asked


def refuse_request_options(
    prompts: bool, model: str | None, system: str | None, option: Any, given: dict
) -> None:
    """Request options shape prompts only: a batch file carries its requests' bodies itself."""
    if not prompts and (system or option or model or any(v is not None for v in given.values())):
        raise UsageError(
            "request options (-m, -s, --temperature, --option, ...) apply to --prompts only",
            hint="a batch file carries its requests' bodies itself",
        )


def prompt_shape(settings: Any, model: str, system: str | None, request_options: dict[str, Any]) -> Any:
    """How each prompt of a prompt file becomes a chat request: the model, the system prompt, the request
    options given (and the profile's defaults)."""
    from ..batch.prompts import RequestShape
    from .common import build_request

    req = build_request(settings, model, [], **request_options)
    return RequestShape(model, system or settings.system, {**req.params, **req.extra})


def run(
    input_file: Annotated[
        str,
        typer.Argument(
            metavar="INPUT", help="Batch JSONL, or prompts with --prompts (`-` = stdin).", show_default=False
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Result file: one line per request, appended as each ends; a rerun resumes it.",
            show_default=False,
            rich_help_panel=FILES,
        ),
    ],
    errors: Annotated[
        str | None,
        typer.Option(
            "--errors", help="Write failed requests here instead of into OUTPUT.", rich_help_panel=FILES
        ),
    ] = None,
    ordered: Annotated[
        bool,
        typer.Option(
            "--ordered", help="At the end, rewrite OUTPUT in the input's order.", rich_help_panel=FILES
        ),
    ] = False,
    prompts: Annotated[
        bool,
        typer.Option(
            "--prompts",
            help="INPUT holds prompts (one per line, or JSONL with prompt/messages), not requests.",
        ),
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid", help="Run the valid lines and list the invalid ones (default: run none)."
        ),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-j", help="Requests in flight at most (lowered on 429s).", rich_help_panel=LOAD
        ),
    ] = 8,
    rps: Annotated[
        float | None,
        typer.Option("--rps", help="At most this many requests per second.", rich_help_panel=LOAD),
    ] = None,
    tpm: Annotated[
        float | None,
        typer.Option(
            "--tpm",
            help="At most this many tokens per minute (prompt + max_tokens, estimated; corrected from usage).",
            rich_help_panel=LOAD,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="text, or json: the summary as one JSON document on stdout.",
            rich_help_panel=o.OUT,
        ),
    ] = None,
    model: o.Model = None,
    system: o.System = None,
    temperature: o.Temperature = None,
    top_p: o.TopP = None,
    max_tokens: o.MaxTokens = None,
    stop: o.Stop = None,
    seed: o.Seed = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="Extra body field KEY=VALUE for --prompts (repeatable; -o is the output here).",
            rich_help_panel=o.REQ,
        ),
    ] = None,
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
    """Run a batch file here, against the configured server: resumable, one result line per request.

    Exit 0 when every request succeeded, 7 when some failed (their lines say why), 3/6 when the key is
    refused or the server cannot be reached, 130/143 on Ctrl-C/SIGTERM; rerun the same command to resume."""
    from ..batch.reader import Source
    from ..batch.runner import RATE_LIMIT_RETRIES, Job, RunOptions, run_job
    from .common import api_key, load_settings, network_notes, transport_config, warn

    fmt = fmt or "text"
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    given = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "stop": stop, "seed": seed}
    refuse_request_options(prompts, model, system, option, given)
    _check_load(concurrency, rps, tpm)
    out_path, err_path = _output_paths(output, errors, input_file)

    settings = load_settings(model=model)
    key = api_key(settings)
    if settings.transport == "sdk":
        warn("note: batch run runs on its own asyncio engine; --transport sdk does not apply")
    config = transport_config(settings, key)
    network_notes(settings)
    explicit = settings.sources.get("max_retries", "default") != "default"
    retries = settings.max_retries
    options = RunOptions(
        concurrency=concurrency,
        rps=rps,
        tpm=tpm,
        retries=retries,
        rate_limit_retries=retries if explicit else max(retries, RATE_LIMIT_RETRIES),
    )
    request_options = {**given, "options": option}
    with Source(input_file) as src:
        shape = None
        if prompts:
            shape = prompt_shape(settings, settings.model or PLACEHOLDER_MODEL, system, request_options)
        job = Job(
            source=src,
            output=out_path,
            config=config,
            errors=err_path,
            shape=shape,
            ordered=ordered,
            skip_invalid=skip_invalid,
            options=options,
        )
        outcome = run_job(
            job,
            say=warn,
            prepare=lambda: _prepare(settings, config, shape, system, request_options),
            live=_live_view(),
            on_check=lambda check: _report_invalid(check, src.label, prompts=prompts, skip=skip_invalid),
        )
    _finish(outcome, fmt)


# -- checks -------------------------------------------------------------------------------------------


def _check_load(concurrency: int, rps: float | None, tpm: float | None) -> None:
    if concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    for name, value in (("--rps", rps), ("--tpm", tpm)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise UsageError(f"{name} must be a number above 0")


def _output_paths(output: str, errors: str | None, input_file: str) -> tuple[Path, Path | None]:
    if output == "-":
        raise UsageError(
            "batch run writes to a file it can resume, not to stdout",
            hint="give a file: -o results.jsonl (then `cat` it, or `--format json` for the summary)",
        )
    out = Path(output)
    err = Path(errors) if errors is not None else None
    for path, flag in ((out, "-o/--output"), (err, "--errors")):
        if path is not None and path.is_dir():
            raise UsageError(f"{flag}: {path} is a folder", hint="give a file name")
    for path, flag in ((out, "-o/--output"), (err, "--errors")):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"{flag}: the folder {path.parent} does not exist", hint="create it first")
    if err is not None and (err == out or _same_file(err, out)):
        raise UsageError("--errors must name another file than -o/--output")
    if input_file != "-":
        for path, flag in ((out, "-o/--output"), (err, "--errors")):
            if path is not None and (path == Path(input_file) or _same_file(path, Path(input_file))):
                raise UsageError(f"{flag} is the input file", hint="write the results to another file")
    return out, err


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _report_invalid(check: Any, label: str, *, prompts: bool, skip: bool) -> None:
    """Invalid lines: listed (compiler style); exit 2 with nothing sent, unless --skip-invalid."""
    from ..batch.validate import describe, invalid_input
    from .common import warn

    if not check.problems:
        return
    shown = f"{label} (from --prompts)" if prompts else label
    for line in describe(shown, check.problems, check.lines):
        warn(line)
    if not skip or check.requests == 0:
        raise invalid_input(shown, check.problem_lines)
    warn(
        f"{shown}: skipping {check.problem_lines:,} invalid lines (--skip-invalid); running the other {check.requests:,}"
    )


# -- the server --------------------------------------------------------------------------------------


def _prepare(settings: Any, config: Any, shape: Any, system: str | None, request_options: dict) -> Any:
    """Before anything is sent: ask the server for its models — a refused key (exit 3) or a server that
    cannot be reached (exit 6) ends the run here, fast — and pick the model for a prompt file that names
    none (the server's only model). The prompt shape to run with."""
    from dataclasses import replace

    from ..errors import AuthFailed, NetworkFailed, TransportError
    from ..transport.http import HttpTransport
    from .common import pick_model

    client = HttpTransport(config)
    try:
        if shape is not None and not settings.model:
            return replace(shape, model=pick_model(settings, client))
        try:
            client.list_models()
        except (AuthFailed, NetworkFailed):
            raise
        except TransportError:
            pass  # no /models here (or it is rate limited): the requests themselves will tell
        return shape
    finally:
        client.close()


# -- the end -----------------------------------------------------------------------------------------


def _live_view() -> Any:
    try:
        live = sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        live = False
    if not live:
        return None
    from ..render.batch import BatchRunLive

    return BatchRunLive


def _finish(outcome: Any, fmt: str) -> None:
    from ..batch.report import document, summary_lines
    from .common import warn
    from .remote import emit_json

    error: Exception | None = None
    if outcome.fatal is not None:
        error = outcome.fatal
    elif outcome.interrupted_by is not None:
        error = Interrupted(outcome.interrupted_by)
    elif outcome.tally.failed:
        t = outcome.tally
        where = outcome.job.errors or outcome.job.output
        error = JobIncomplete(
            f"{t.failed:,} of {t.done:,} requests failed; each has a line with its error in {where}",
            hint="run the same command again to retry them (what succeeded is not sent again)",
        )
    for line in summary_lines(outcome):
        warn(line)
    if fmt == "json":
        emit_json(document(outcome, exit_code=int(getattr(error, "exit_code", 0))))
    if error is not None:
        raise error

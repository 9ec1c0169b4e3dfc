"""`llmcli batch ...`: batch JSONL files run here (`run`, cli/batch_run.py) or on the provider's Batch API
(submit, status, wait, results, cancel, list)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import JobIncomplete, UsageError
from . import options as o
from .batch_run import prompt_shape, refuse_request_options, run
from .remote import (
    Force,
    Format,
    Interval,
    Metadata,
    TimeoutWait,
    emit_json,
    emit_list,
    emit_rows,
    interval_value,
    limit_value,
    note,
    output_format,
    parse_metadata,
    remote,
    stopped_waiting,
    timeout_value,
    write_stdout,
)

app = typer.Typer(
    help="Batch JSONL files: run here (run), or on the provider's Batch API (submit, wait, results, ...).",
    no_args_is_help=True,
)

# --- `batch run`: the local runner (cli/batch_run.py) ---------------------------------------------------
app.command(help="Run a batch file here against the configured server: resumable, one result line each.")(run)

COLUMNS = (
    "id",
    "status",
    "endpoint",
    "completed",
    "failed",
    "total",
    "created",
    "output_file_id",
    "error_file_id",
)


def _row(b: dict) -> list:
    from ..jobs.batches import counts
    from ..render.jobs import when

    done, failed, total = counts(b)
    return [
        b.get("id"),
        b.get("status"),
        b.get("endpoint"),
        done,
        failed,
        total,
        when(b.get("created_at")),
        b.get("output_file_id"),
        b.get("error_file_id"),
    ]


def _show(b: dict, fmt: str) -> None:
    if fmt == "json":
        emit_json(b)
    elif fmt == "text":
        emit_rows([_row(b)])
    else:
        from ..jobs.batches import validation_errors
        from ..render.jobs import fields, when

        pairs: list[tuple[str, Any]] = list(zip(COLUMNS, _row(b), strict=True))
        for name in (
            "in_progress_at",
            "finalizing_at",
            "completed_at",
            "failed_at",
            "expired_at",
            "cancelled_at",
            "expires_at",
        ):
            if b.get(name):
                pairs.append((name.removesuffix("_at"), when(b[name])))
        if b.get("metadata"):
            pairs.append(("metadata", ", ".join(f"{k}={v}" for k, v in b["metadata"].items())))
        for i, e in enumerate(validation_errors(b)):
            pairs.append(("error" if i == 0 else "", e))
        fields(pairs)


def _check_file(src: Any, *, endpoint: str | None, prompts: bool) -> tuple[str, int]:
    """Validate a batch file (and the Batch API's limits); print the problems and exit 2 when there are any.
    The endpoint to use and the number of requests."""
    from ..batch.validate import describe, invalid_input, provider_limits, validate

    report = validate(src)
    limits = provider_limits(report, endpoint=endpoint)
    if not report.ok or limits:
        from .common import warn

        label = f"{src.label} (from --prompts)" if prompts else src.label
        for line in describe(label, report.problems + limits, report.lines):
            warn(line)
        raise invalid_input(label, report.problem_lines)
    return endpoint or next(iter(report.urls)), report.requests


def _prompts_to_batch(
    src: Any, settings: Any, spool: Path, system: str | None, request_options: dict[str, Any]
) -> None:
    """Write the requests of a prompt file to `spool`; exit 2 listing the bad lines."""
    import json

    from ..batch.prompts import prompt_requests
    from ..batch.validate import Problem, describe, invalid_input
    from .common import warn

    if not settings.model:
        raise UsageError("--prompts needs a model", hint="pass -m MODEL (or set it in the profile)")
    shape = prompt_shape(settings, settings.model, system, request_options)
    problems: list[Problem] = []
    bad = 0
    with open(spool, "w", encoding="utf-8") as out:
        for checked in prompt_requests(src, shape):
            if checked.request is None:
                bad += 1
                problems.extend(Problem(checked.line, p) for p in checked.problems[:5])
                continue
            out.write(json.dumps(checked.request, ensure_ascii=False) + "\n")
    if bad:
        for line in describe(src.label, problems, 0):
            warn(line)
        raise invalid_input(src.label, bad)


@app.command()
def submit(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="Batch JSONL (`-` = stdin).", show_default=False)
    ],
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint", help="/v1/chat/completions, /v1/completions or /v1/embeddings [the file's url]."
        ),
    ] = None,
    window: Annotated[str, typer.Option("--window", help="Completion window.")] = "24h",
    metadata: Metadata = None,
    wait: Annotated[bool, typer.Option("--wait", help="Then wait for it, as `batch wait` does.")] = False,
    prompts: Annotated[
        bool,
        typer.Option(
            "--prompts",
            help="FILE holds prompts (one per line, or JSONL with prompt/messages), not requests.",
        ),
    ] = False,
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
            "--option", help="Extra body field KEY=VALUE for --prompts (repeatable).", rich_help_panel=o.REQ
        ),
    ] = None,
    interval: Interval = None,
    timeout_wait: TimeoutWait = None,
    fmt: Format = None,
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
    """Check a batch file, upload it (purpose batch) and start a batch; prints its id."""
    import os
    import tempfile

    from ..batch.reader import Source
    from ..batch.validate import URLS
    from .common import load_settings

    fmt = output_format(fmt, ("text", "json"))
    meta = parse_metadata(metadata)
    if endpoint is not None and endpoint not in URLS:
        raise UsageError(f"--endpoint must be one of {', '.join(URLS)}, not {endpoint!r}")
    if not re.fullmatch(r"[1-9][0-9]*h", window):
        raise UsageError(f"--window must be hours like 24h, not {window!r}")
    every, limit = interval_value(interval), timeout_value(timeout_wait)
    given = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "stop": stop, "seed": seed}
    refuse_request_options(prompts, model, system, option, given)
    settings = load_settings(model=model)
    spool: str | None = None
    try:
        with Source(file) as src:
            upload_name = Path(src.label).name if src.label != "stdin" else "stdin.jsonl"
            if prompts:
                fd, spool = tempfile.mkstemp(prefix="llmcli-batch-", suffix=".jsonl")  # 0600
                os.close(fd)
                _prompts_to_batch(src, settings, Path(spool), system, {**given, "options": option})
                upload_name = Path(upload_name).stem + ".batch.jsonl"
                checked = Source(spool)
            else:
                checked = src
            url, requests = _check_file(checked, endpoint=endpoint, prompts=prompts)
            with remote() as r:
                uploaded = r.client.upload(checked.path, "batch", filename=upload_name, api="batches")
                batch = r.client.create_batch(uploaded["id"], url, window, meta)
                if fmt == "text":
                    write_stdout(f"{batch.get('id')}\n")
                if not wait:
                    if fmt == "json":
                        emit_json(batch)
                    note(
                        f"batch {batch.get('id')} {batch.get('status')}: {requests} requests, input file {uploaded['id']}"
                    )
                    return
                _wait(r.client, batch["id"], every, limit, fmt)
    finally:
        if spool:
            try:
                os.unlink(spool)
            except OSError:
                pass


def _wait(client: Any, batch_id: str, interval: float, timeout: float | None, fmt: str) -> None:
    from contextlib import nullcontext

    from ..jobs.batches import outcome, summary, validation_errors, wait_for
    from ..render.jobs import BatchProgress, is_terminal
    from .common import warn

    view: Any = BatchProgress(batch_id) if is_terminal() else None
    try:
        with view if view is not None else nullcontext():
            final = wait_for(
                lambda: client.batch(batch_id),
                interval=interval,
                timeout=timeout,
                on_update=view.update if view is not None else (lambda b: None),
            )
    except KeyboardInterrupt:
        raise stopped_waiting(
            f"batch {batch_id}", f"llmcli batch wait {batch_id}", f"llmcli batch cancel {batch_id}"
        ) from None
    if final.get("status") == "failed":
        for line in validation_errors(final)[:20]:
            warn(f"batch error: {line}")
    if fmt == "json":
        emit_json(final)
    note(summary(final))
    err = outcome(final)
    if err is not None:
        raise err


@app.command()
def wait(
    batch_id: Annotated[str, typer.Argument(metavar="ID", help="The batch's id.", show_default=False)],
    interval: Interval = None,
    timeout_wait: TimeoutWait = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="text, or json: the final batch object.")
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
    """Wait until a batch ends. Exit 0 all done, 7 some failed (or expired, cancelled), 4 failed validation,
    124 --timeout-wait passed; Ctrl-C stops waiting (130) and never cancels the batch."""
    fmt = output_format(fmt, ("text", "json"))
    every, limit = interval_value(interval), timeout_value(timeout_wait)
    with remote() as r:
        _wait(r.client, batch_id, every, limit, fmt)


@app.command()
def status(
    batch_id: Annotated[str, typer.Argument(metavar="ID", help="The batch's id.", show_default=False)],
    fmt: Format = None,
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
    """A batch's status and request counts."""
    fmt = output_format(fmt)
    with remote() as r:
        b = r.client.batch(batch_id)
    _show(b, fmt)


@app.command("list")
def list_(
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most this many, newest first (0 = all).")
    ] = 20,
    fmt: Format = None,
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
    """Recent batches."""
    fmt = output_format(fmt)
    with remote() as r:
        found = r.client.list_batches(limit=limit_value(limit))
    emit_list(found, fmt, columns=COLUMNS, row=_row, empty="no batches", shown=7)


@app.command()
def cancel(
    batch_id: Annotated[str, typer.Argument(metavar="ID", help="The batch's id.", show_default=False)],
    fmt: Annotated[str | None, typer.Option("--format", help="text, or json: the batch object.")] = None,
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
    """Cancel a batch (it moves to cancelling, then cancelled; what was done stays downloadable)."""
    fmt = output_format(fmt, ("text", "json"))
    with remote() as r:
        b = r.client.cancel_batch(batch_id)
    if fmt == "json":
        emit_json(b)
    note(f"batch {b.get('id')} is {b.get('status')}")


@app.command()
def results(
    batch_id: Annotated[str, typer.Argument(metavar="ID", help="The batch's id.", show_default=False)],
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Where to write the results (`-` = stdout).", show_default=False),
    ],
    errors: Annotated[
        str | None,
        typer.Option("--errors", help="Write the failed requests here instead of into the output."),
    ] = None,
    ordered: Annotated[bool, typer.Option("--ordered", help="In the order of --input's requests.")] = False,
    input_file: Annotated[
        str | None,
        typer.Option("--input", help="The batch's input file (batch JSONL or prompt file), for --ordered."),
    ] = None,
    force: Force = False,
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
    """Download a batch's results (and failures) atomically; never over an existing file without --force."""
    from ..core.files import refuse_existing

    if ordered and not input_file:
        raise UsageError("--ordered needs --input FILE (the batch's input) to know the order")
    if input_file and not ordered:
        raise UsageError("--input is used with --ordered only")
    targets = [t for t in (output, errors) if t and t != "-"]
    if errors is not None and errors == output:
        raise UsageError("--errors must name another file than --output")
    for t in targets:
        refuse_existing(Path(t), force=force)
    with remote() as r:
        b = r.client.batch(batch_id)
        out_id, err_id = b.get("output_file_id"), b.get("error_file_id")
        if not out_id and not err_id:
            raise JobIncomplete(
                f"batch {batch_id} is {b.get('status')} and has no results yet",
                hint=f"wait for it: llmcli batch wait {batch_id}",
            )
        merged = [i for i in (out_id, err_id if errors is None else None) if i]
        written = _save(r.client, merged, output, force=force, order_by=input_file if ordered else None)
        parts = [f"wrote {written} lines to {'stdout' if output == '-' else output}"]
        if errors is not None:
            if err_id:
                n = _save(r.client, [err_id], errors, force=force, order_by=input_file if ordered else None)
                parts.append(f"{n} failed requests to {errors}")
            else:
                parts.append(f"no failed requests, {errors} not written")
        elif err_id:
            parts.append("failed requests included")
    done, failed, total = _counts(b)
    note(
        f"batch {batch_id} {b.get('status')} ({done}/{total} succeeded, {failed} failed): " + ", ".join(parts)
    )


def _counts(b: dict) -> tuple[int, int, int]:
    from ..jobs.batches import counts

    return counts(b)


class _LineCounter:
    """A binary sink that counts lines and remembers whether the last byte was a newline."""

    def __init__(self, out: Any):
        self.out = out
        self.lines = 0
        self.ends_open = False

    def write(self, data: bytes) -> int:
        if data:
            self.out.write(data)
            self.lines += data.count(b"\n")
            self.ends_open = not data.endswith(b"\n")
        return len(data)


def _download_all(client: Any, file_ids: list[str], out: Any) -> int:
    counter = _LineCounter(out)
    for fid in file_ids:
        client.download(fid, counter)
        if counter.ends_open:  # files are joined line by line
            counter.write(b"\n")
    return counter.lines


def _save(client: Any, file_ids: list[str], dest: str, *, force: bool, order_by: str | None) -> int:
    """Download the files, joined, into `dest` (atomically; `-` = stdout), in input order when asked."""
    import sys
    import tempfile

    from ..batch.order import write_in_input_order
    from ..batch.prompts import input_ids
    from ..batch.reader import Source
    from ..core.files import AtomicOutput

    if order_by is None:
        if dest == "-":
            n = _download_all(client, file_ids, sys.stdout.buffer)
            sys.stdout.flush()
            return n
        with AtomicOutput(dest, force=force) as out:
            return _download_all(client, file_ids, out)
    folder = Path(dest).parent if dest != "-" else None
    with tempfile.NamedTemporaryFile(prefix=".llmcli-results-", suffix=".part", dir=folder) as raw:
        _download_all(client, file_ids, raw)
        raw.flush()
        with Source(order_by) as src:
            if dest == "-":
                stats = write_in_input_order(Path(raw.name), input_ids(src), sys.stdout.buffer)
                sys.stdout.flush()
            else:
                with AtomicOutput(dest, force=force) as out:
                    stats = write_in_input_order(Path(raw.name), input_ids(src), out)
    if stats.missing or stats.unmatched:
        note(
            f"ordered by {order_by}: {stats.missing} of its requests have no result line"
            + (f"; {stats.unmatched} results not in it are at the end" if stats.unmatched else "")
        )
    return stats.written

"""`llmcli finetune validate|create|list|status|events|checkpoints|cancel|follow`: fine-tuning jobs."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import options as o
from .remote import (
    Format,
    Interval,
    Metadata,
    TimeoutWait,
    emit_json,
    emit_jsonl,
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
    help="Fine-tuning: check training data, start a job, follow it to the model.",
    no_args_is_help=True,
)

Method = Annotated[
    str | None, typer.Option("--method", help="supervised (chat examples) or dpo (preference pairs).")
]
COLUMNS = ("id", "status", "model", "fine_tuned_model", "created", "finished", "trained_tokens")


def _row(j: dict) -> list:
    from ..render.jobs import when

    return [
        j.get("id"),
        j.get("status"),
        j.get("model"),
        j.get("fine_tuned_model"),
        when(j.get("created_at")),
        when(j.get("finished_at")),
        j.get("trained_tokens"),
    ]


def _data_report(path: Path | str, *, method: str, max_tokens: int, epochs: int | None, model: str | None):
    from ..batch.reader import Source
    from ..jobs.ftdata import validate_data
    from ..jobs.tokens import counter

    with Source(path) as src:
        return validate_data(src, counter(model=model), method=method, max_tokens=max_tokens, epochs=epochs)


@app.command()
def validate(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="Training data, JSONL (`-` = stdin).", show_default=False)
    ],
    method: Method = None,
    max_tokens_per_example: Annotated[
        int, typer.Option("--max-tokens-per-example", help="Examples longer than this are truncated.")
    ] = 4096,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Epochs for the billed-token estimate [the default rule].")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Count tokens with this model's tokenizer [cl100k_base]."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Check fine-tuning data, line by line; no server needed. Exit 0 valid (warnings allowed), 2 errors."""
    from ..jobs.ftdata import render_text

    method = method or "supervised"
    if method not in ("supervised", "dpo"):
        raise UsageError(f"--method must be supervised or dpo, not {method!r}")
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    if max_tokens_per_example < 1:
        raise UsageError("--max-tokens-per-example must be at least 1")
    if epochs is not None and not 1 <= epochs <= 50:
        raise UsageError("--epochs must be between 1 and 50")
    report = _data_report(file, method=method, max_tokens=max_tokens_per_example, epochs=epochs, model=model)
    if fmt == "json":
        emit_json(report.to_json())
    else:
        write_stdout(render_text(report))
    if not report.ok:
        raise _invalid(report)


def _invalid(report: Any) -> UsageError:
    what = (
        f"{report.error_count} errors on {report.error_lines} lines" if report.error_count else "no examples"
    )
    return UsageError(
        f"{report.label} is not valid fine-tuning data: {what}", hint="fix the lines listed and check again"
    )


def _training_file(client: Any, ref: str, *, role: str, method: str, model: str) -> str:
    """A local path: checked, then uploaded (purpose fine-tune) → its id. Anything else: an id, as is."""
    from ..jobs.ftdata import render_text

    path = Path(ref)
    if not path.exists():
        if "/" in ref or ref.endswith((".jsonl", ".json")) or ref == "-":
            raise UsageError(
                f"{ref}: no such file", hint="give a local JSONL file, or the id of an uploaded file"
            )
        return ref
    report = _data_report(path, method=method, max_tokens=4096, epochs=None, model=model)
    if not report.ok:
        from .common import warn

        for line in render_text(report).splitlines():
            warn(line)
        raise _invalid(report)
    warned = sum(w.count for w in report.warnings.values())
    uploaded = client.upload(path, "fine-tune", api="fine_tuning")
    note(
        f"{role} file {ref}: {report.examples} examples checked"
        + (f" ({warned} warnings: `llmcli finetune validate {shlex.quote(ref)}`)" if warned else "")
        + f", uploaded as {uploaded['id']}"
    )
    return uploaded["id"]


@app.command()
def create(
    model: Annotated[
        str, typer.Option("--model", "-m", help="The base model to fine-tune.", show_default=False)
    ],
    training_file: Annotated[
        str,
        typer.Option(
            "--training-file", help="A local JSONL file (checked, uploaded) or a file id.", show_default=False
        ),
    ],
    validation_file: Annotated[
        str | None, typer.Option("--validation-file", help="A local JSONL file or a file id.")
    ] = None,
    suffix: Annotated[
        str | None, typer.Option("--suffix", help="Up to 64 characters added to the model's name.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="For a reproducible job.")] = None,
    method: Method = None,
    epochs: Annotated[str | None, typer.Option("--epochs", help="A whole number, or auto.")] = None,
    batch_size: Annotated[str | None, typer.Option("--batch-size", help="A whole number, or auto.")] = None,
    learning_rate_multiplier: Annotated[
        str | None, typer.Option("--learning-rate-multiplier", help="A number, or auto.")
    ] = None,
    beta: Annotated[str | None, typer.Option("--beta", help="DPO's beta: a number, or auto.")] = None,
    metadata: Metadata = None,
    follow_: Annotated[
        bool, typer.Option("--follow", help="Then follow it, as `finetune follow` does.")
    ] = False,
    interval: Interval = None,
    timeout_wait: TimeoutWait = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="text, json (the job object) or jsonl (--follow).")
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
    """Start a fine-tuning job; prints its id. Local files are checked and uploaded first."""
    from ..jobs.finetune import job_params

    fmt = output_format(fmt, ("text", "json", "jsonl"))
    if suffix is not None and not 1 <= len(suffix) <= 64:
        raise UsageError("--suffix must have 1 to 64 characters")
    params = job_params(
        model=model,
        training_file="-",
        suffix=suffix,
        seed=seed,
        method=method,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate_multiplier=learning_rate_multiplier,
        beta=beta,
        metadata=parse_metadata(metadata),
    )
    every, limit = interval_value(interval), timeout_value(timeout_wait)
    kind = method or "supervised"
    with remote() as r:
        params["training_file"] = _training_file(
            r.client, training_file, role="training", method=kind, model=model
        )
        if validation_file:
            params["validation_file"] = _training_file(
                r.client, validation_file, role="validation", method=kind, model=model
            )
        job = r.client.create_job(params)
        if fmt == "text":
            write_stdout(f"{job.get('id')}\n")
        if not follow_:
            if fmt == "json":
                emit_json(job)
            elif fmt == "jsonl":
                emit_jsonl(job)
            note(
                f"fine-tuning job {job.get('id')} {job.get('status')}: follow it with `llmcli finetune follow {job.get('id')}`"
            )
            return
        _follow(r, job["id"], every, limit, fmt)


def _try_it(settings: Any, model: str) -> str:
    """The exact command to talk to the new model with the same server settings."""
    argv = ["llmcli", "ask"]
    if settings.sources.get("profile", "").startswith(("flag", "env")):
        argv += ["-P", settings.profile]
    if settings.sources.get("base_url", "").startswith("flag"):
        argv += ["--base-url", settings.base_url]
    argv += ["-m", model, "Hello!"]
    return " ".join(shlex.quote(a) for a in argv)


def _event_line(e: dict) -> str:
    from ..render.jobs import cell, when

    return f"{when(e.get('created_at'))}  {cell(e.get('level') or 'info'):<5}  {cell(e.get('message'))}"


def _follow(r: Any, job_id: str, interval: float, timeout: float | None, fmt: str) -> None:
    import sys
    from contextlib import nullcontext

    from ..jobs.finetune import follow, loss_points, outcome
    from ..render.jobs import FollowView, is_terminal

    view: Any = FollowView(job_id) if is_terminal() else None
    through_view = view is not None and is_terminal(sys.stdout) and fmt == "text"

    def on_event(e: dict) -> None:
        if fmt == "jsonl":
            emit_jsonl(e)
        elif fmt == "text":
            if through_view:
                view.event_line(_event_line(e))
            else:
                write_stdout(_event_line(e) + "\n")

    def on_update(job: dict, metrics: list) -> None:
        if view is not None:
            train, valid = loss_points(metrics)
            view.update(job, train=train, valid=valid)

    try:
        with view if view is not None else nullcontext():
            job = follow(
                r.client, job_id, interval=interval, timeout=timeout, on_event=on_event, on_update=on_update
            )
    except KeyboardInterrupt:
        raise stopped_waiting(
            f"fine-tuning job {job_id}",
            f"llmcli finetune follow {job_id}",
            f"llmcli finetune cancel {job_id}",
        ) from None
    if fmt == "json":
        emit_json(job)
    err = outcome(job)
    if err is not None:
        raise err
    model = job.get("fine_tuned_model")
    if fmt == "text":
        if model:
            write_stdout(f"fine-tuned model: {model}\ntry it: {_try_it(r.settings, model)}\n")
        else:
            write_stdout(f"job {job_id} succeeded\n")


@app.command()
def follow(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)],
    interval: Interval = None,
    timeout_wait: TimeoutWait = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="text (events, then the model), jsonl (events) or json (the final job)."
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
    """Stream a job's events, with a live loss chart on a terminal, until it ends. Exit 0 succeeded,
    7 failed or cancelled, 124 --timeout-wait passed; Ctrl-C stops following (130) and never cancels."""
    fmt = output_format(fmt, ("text", "json", "jsonl"))
    every, limit = interval_value(interval), timeout_value(timeout_wait)
    with remote() as r:
        _follow(r, job_id, every, limit, fmt)


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
    """Recent fine-tuning jobs."""
    fmt = output_format(fmt)
    with remote() as r:
        found = r.client.list_jobs(limit=limit_value(limit))
    emit_list(found, fmt, columns=COLUMNS, row=_row, empty="no fine-tuning jobs")


@app.command()
def status(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)],
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
    """A job's status, model and files."""
    from ..jobs.finetune import job_error

    fmt = output_format(fmt)
    with remote() as r:
        j = r.client.job(job_id)
    if fmt == "json":
        emit_json(j)
    elif fmt == "text":
        emit_rows([_row(j)])
    else:
        from ..render.jobs import fields

        pairs: list[tuple[str, Any]] = list(zip(COLUMNS, _row(j), strict=True))
        pairs += [("training_file", j.get("training_file")), ("validation_file", j.get("validation_file"))]
        method = j.get("method") or {}
        if method.get("type"):
            hyper = (
                (method.get(method["type"]) or {}).get("hyperparameters") or j.get("hyperparameters") or {}
            )
            pairs.append(("method", method["type"]))
            pairs += [(k, v) for k, v in hyper.items()]
        if job_error(j):
            pairs.append(("error", job_error(j)))
        fields(pairs)


@app.command()
def events(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)],
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="The newest this many, oldest first (0 = all).")
    ] = 0,
    fmt: Annotated[str | None, typer.Option("--format", help="text, json (an array) or jsonl.")] = None,
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
    """A job's events, oldest first."""
    fmt = output_format(fmt, ("text", "json", "jsonl"))
    with remote() as r:
        found = r.client.events(job_id, limit=limit_value(limit))
    if fmt == "json":
        emit_json(found)
    elif fmt == "jsonl":
        for e in found:
            emit_jsonl(e)
    else:
        write_stdout("".join(_event_line(e) + "\n" for e in found))


@app.command()
def checkpoints(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)],
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
    """A job's checkpoints (a model per saved step, with its metrics)."""
    fmt = output_format(fmt)
    with remote() as r:
        found = r.client.checkpoints(job_id)

    def row(c: dict) -> list:
        m = c.get("metrics") or {}
        return [
            c.get("step_number"),
            m.get("train_loss"),
            m.get("valid_loss", m.get("full_valid_loss")),
            c.get("fine_tuned_model_checkpoint"),
        ]

    columns = ("step", "train_loss", "valid_loss", "model")
    emit_list(found, fmt, columns=columns, row=row, empty="no checkpoints (yet)")


@app.command()
def cancel(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)],
    fmt: Annotated[str | None, typer.Option("--format", help="text, or json: the job object.")] = None,
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
    """Cancel a fine-tuning job."""
    fmt = output_format(fmt, ("text", "json"))
    with remote() as r:
        j = r.client.cancel_job(job_id)
    if fmt == "json":
        emit_json(j)
    note(f"fine-tuning job {j.get('id')} is {j.get('status')}")

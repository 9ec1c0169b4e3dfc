"""Fine-tuning jobs: the create request from options, following a job (events in order, metrics), and
what its final status means. No heavy imports; the client is passed in."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import JobIncomplete, LlmcliError, UsageError, WaitTimedOut
from .poll import DEFAULT_INTERVAL, DeadlinePassed, poll

FINAL = ("succeeded", "failed", "cancelled")
METHODS = ("supervised", "dpo")


def hyperparameter(flag: str, value: str | None, *, whole: bool) -> int | float | str | None:
    """`auto`, or a positive number (whole for epochs and batch size)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    try:
        number: int | float = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise UsageError(f"{flag} must be {kind} or auto, not {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise UsageError(f"{flag} must be greater than 0, not {value!r}")
    return number


def job_params(
    *,
    model: str,
    training_file: str,
    validation_file: str | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    method: str | None = None,
    epochs: str | None = None,
    batch_size: str | None = None,
    learning_rate_multiplier: str | None = None,
    beta: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The body of POST /fine_tuning/jobs. Hyperparameters go inside `method` (the current API shape)."""
    if method is not None and method not in METHODS:
        raise UsageError(f"--method must be supervised or dpo, not {method!r}")
    if beta is not None and method != "dpo":
        raise UsageError("--beta applies to --method dpo only")
    hyper = {
        "n_epochs": hyperparameter("--epochs", epochs, whole=True),
        "batch_size": hyperparameter("--batch-size", batch_size, whole=True),
        "learning_rate_multiplier": hyperparameter(
            "--learning-rate-multiplier", learning_rate_multiplier, whole=False
        ),
        "beta": hyperparameter("--beta", beta, whole=False),
    }
    hyper = {k: v for k, v in hyper.items() if v is not None}
    params: dict[str, Any] = {"model": model, "training_file": training_file}
    if validation_file:
        params["validation_file"] = validation_file
    if suffix is not None:
        params["suffix"] = suffix
    if seed is not None:
        params["seed"] = seed
    if metadata:
        params["metadata"] = metadata
    if method is not None or hyper:
        kind = method or "supervised"
        params["method"] = {"type": kind, kind: {"hyperparameters": hyper} if hyper else {}}
    return params


def loss_points(events: list[dict[str, Any]]) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(step, train loss) and (step, validation loss) from the `metrics` events, by step."""
    train: dict[float, float] = {}
    valid: dict[float, float] = {}
    for e in events:
        data = e.get("data")
        if e.get("type") != "metrics" or not isinstance(data, dict):
            continue
        step = data.get("step")
        if not isinstance(step, int | float):
            continue
        t = data.get("train_loss")
        v = data.get("full_valid_loss", data.get("valid_loss"))
        if isinstance(t, int | float) and math.isfinite(t):
            train[step] = float(t)
        if isinstance(v, int | float) and math.isfinite(v):
            valid[step] = float(v)
    return sorted(train.items()), sorted(valid.items())


def job_error(job: dict[str, Any]) -> str:
    err = job.get("error")
    if isinstance(err, dict) and (err.get("message") or err.get("code")):
        code = f" ({err['code']})" if err.get("code") else ""
        param = f" [{err['param']}]" if err.get("param") else ""
        return f"{err.get('message') or 'no message'}{param}{code}"
    return ""


def outcome(job: dict[str, Any]) -> LlmcliError | None:
    jid = job.get("id")
    status = job.get("status")
    if status == "succeeded":
        return None
    if status == "failed":
        why = job_error(job)
        return JobIncomplete(
            f"fine-tuning job {jid} failed" + (f": {why}" if why else ""),
            hint=f"see its events: llmcli finetune events {jid}; check the data with llmcli finetune validate",
        )
    if status == "cancelled":
        return JobIncomplete(
            f"fine-tuning job {jid} was cancelled", hint=f"see its events: llmcli finetune events {jid}"
        )
    return None


def follow(
    client: Any,
    job_id: str,
    *,
    interval: float = DEFAULT_INTERVAL,
    timeout: float | None = None,
    on_event: Callable[[dict[str, Any]], None] = lambda e: None,
    on_update: Callable[[dict[str, Any], list[dict[str, Any]]], None] = lambda j, m: None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Poll the job and its events until it ends: each new event once, oldest first, then the job's state.

    `on_update(job, metrics_events)` gets every metrics event seen so far (for the chart).
    """
    seen: set[str] = set()
    metrics: list[dict[str, Any]] = []
    last: dict[str, Any] = {}

    def fetch() -> tuple[dict[str, Any], int]:
        job = client.job(job_id)
        fresh = list(client.new_events(job_id, seen_ids=seen))
        for event in fresh:
            if event.get("id"):
                seen.add(event["id"])
            if event.get("type") == "metrics":
                metrics.append(event)
            on_event(event)
        on_update(job, metrics)
        return job, len(seen)

    kw: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    try:
        for job, _ in poll(
            fetch,
            done=lambda s: s[0].get("status") in FINAL,
            fingerprint=lambda s: (s[0].get("status"), s[1]),
            interval=interval,
            timeout=timeout,
            **kw,
        ):
            last = job
    except DeadlinePassed as passed:
        job = passed.last[0] if isinstance(passed.last, tuple) else last
        raise WaitTimedOut(
            f"stopped following after {timeout:g} s; fine-tuning job {job_id} is {job.get('status')} and goes on "
            "(it was not cancelled)",
            hint=f"follow it again: llmcli finetune follow {job_id}",
        ) from None
    return last

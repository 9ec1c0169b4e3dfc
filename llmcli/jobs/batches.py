"""Provider batches: what a final status means (exit codes), and waiting for one. No heavy imports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import JobIncomplete, JobRejected, LlmcliError, WaitTimedOut
from .poll import DEFAULT_INTERVAL, DeadlinePassed, poll

FINAL = ("completed", "failed", "expired", "cancelled")


def counts(batch: dict[str, Any]) -> tuple[int, int, int]:
    c = batch.get("request_counts") or {}
    return int(c.get("completed") or 0), int(c.get("failed") or 0), int(c.get("total") or 0)


def validation_errors(batch: dict[str, Any]) -> list[str]:
    """A failed batch's `errors`, one line each: `line N: message (code)`."""
    errors = batch.get("errors") or {}
    items = errors.get("data") if isinstance(errors, dict) else errors
    out = []
    for e in items or ():
        if not isinstance(e, dict):
            continue
        where = f"line {e['line']}: " if e.get("line") is not None else ""
        code = f" ({e['code']})" if e.get("code") else ""
        param = f" [{e['param']}]" if e.get("param") else ""
        out.append(f"{where}{e.get('message') or 'invalid'}{param}{code}")
    return out


def summary(batch: dict[str, Any]) -> str:
    done, failed, total = counts(batch)
    return f"batch {batch.get('id')} {batch.get('status')}: {done} of {total} requests succeeded, {failed} failed"


def outcome(batch: dict[str, Any]) -> LlmcliError | None:
    """None when the batch completed with every request done; else the error that says what happened."""
    bid = batch.get("id")
    status = batch.get("status")
    done, failed, total = counts(batch)
    results = f"llmcli batch results {bid} -o results.jsonl"
    if status == "completed":
        if failed == 0:
            return None
        return JobIncomplete(
            f"batch {bid} completed, but {failed} of {total} requests failed",
            hint=f"get the answers and the failures: {results} (failures are in it, or in --errors FILE)",
        )
    if status == "failed":
        errors = validation_errors(batch)
        first = f": {errors[0]}" if errors else ""
        more = f" (and {len(errors) - 1} more, listed above)" if len(errors) > 1 else ""
        return JobRejected(
            f"batch {bid} failed validation{first}{more}",
            hint="fix the input file and submit it again (`llmcli batch submit` checks the format first)",
        )
    if status in ("expired", "cancelled"):
        why = "expired before its completion window ended" if status == "expired" else "was cancelled"
        return JobIncomplete(
            f"batch {bid} {why}: {done} of {total} requests done, {failed} failed",
            hint=f"what was done can still be downloaded: {results}",
        )
    return None


def wait_for(
    fetch: Callable[[], dict[str, Any]],
    *,
    interval: float = DEFAULT_INTERVAL,
    timeout: float | None = None,
    on_update: Callable[[dict[str, Any]], None] = lambda b: None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Poll until the batch reaches a final status; WaitTimedOut after `timeout` seconds."""
    kw: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    last: dict[str, Any] = {}
    try:
        for batch in poll(
            fetch,
            done=lambda b: b.get("status") in FINAL,
            fingerprint=lambda b: (b.get("status"), counts(b)),
            interval=interval,
            timeout=timeout,
            **kw,
        ):
            last = batch
            on_update(batch)
    except DeadlinePassed as passed:
        b = passed.last if isinstance(passed.last, dict) else last
        raise WaitTimedOut(
            f"stopped waiting after {timeout:g} s; batch {b.get('id')} is {b.get('status')} and goes on "
            "(it was not cancelled)",
            hint=f"wait again: llmcli batch wait {b.get('id')}",
        ) from None
    return last

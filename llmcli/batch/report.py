"""How a local batch run ended, in words (stderr) and as one JSON document (`--format json`, stdout).
Standard library only."""

from __future__ import annotations

import math
from typing import Any

from .runner import Outcome

MAX_KINDS = 5


def _signal_name(signum: int) -> str:
    return {2: "Ctrl-C", 15: "SIGTERM"}.get(signum, f"signal {signum}")


def _concurrency(o: Outcome) -> str:
    top = o.job.options.concurrency
    low = o.tally.lowest_limit
    if math.isfinite(low) and low < top:
        return f"concurrency {top} (lowered to {low:g} on 429s, {o.concurrency_now:g} at the end)"
    return f"concurrency {top}"


def summary_lines(o: Outcome) -> list[str]:
    t, c = o.tally, o.check
    before = f"; {c.done:,} done before" if c.done else ""
    skipped = f"; {c.problem_lines:,} invalid lines skipped" if c.problem_lines else ""
    counts = f"{t.succeeded:,} succeeded, {t.failed:,} failed"
    if c.todo == 0:
        lines = [f"batch run: nothing to do: all {c.requests:,} requests already have a result{skipped}"]
    elif o.interrupted_by is not None or o.fatal is not None:
        how = (
            f"interrupted ({_signal_name(o.interrupted_by)})"
            if o.interrupted_by is not None
            else "stopped early"
        )
        lines = [
            f"batch run {how}: {t.done:,} of {c.todo:,} requests done ({counts}), "
            f"{o.not_run:,} not run{before}{skipped}"
        ]
    else:
        lines = [f"batch run: {c.todo:,} requests: {counts}{before}{skipped}"]
    for kind, e in list(t.errors.items())[:MAX_KINDS]:
        lines.append(f"failed: {kind} ×{e.count:,} (exit {e.exit_code}): {e.first_message}")
    if t.done:
        rate = t.done / o.elapsed if o.elapsed > 0 else 0.0
        tokens = f"{t.prompt_tokens:,} prompt + {t.completion_tokens:,} completion tokens"
        if t.usage_estimated:
            tokens += " (partly estimated: the server sent no usage)"
        out_rate = t.completion_tokens / o.elapsed if o.elapsed > 0 else 0.0
        lines.append(
            f"{tokens} in {o.elapsed:,.1f} s · {rate:,.1f} requests/s · {out_rate:,.0f} completion tokens/s"
            f" · {_concurrency(o)}"
        )
    where = f"results in {o.job.output}"
    if o.job.errors is not None:
        where += f", failures in {o.job.errors}"
    if o.ordered:
        where += " (in input order)"
    lines.append(where)
    if o.not_run or t.failed:
        lines.append("run the same command again to resume: what succeeded is never sent again")
    return lines


def document(o: Outcome, *, exit_code: int) -> dict[str, Any]:
    t, c = o.tally, o.check
    elapsed = round(o.elapsed, 3)
    return {
        "input": o.job.source.label,
        "output": str(o.job.output),
        "errors_file": str(o.job.errors) if o.job.errors is not None else None,
        "requests": c.requests,
        "invalid_lines": c.problem_lines,
        "already_done": c.done,
        "to_do": c.todo,
        "succeeded": t.succeeded,
        "failed": t.failed,
        "not_run": o.not_run,
        "usage": {
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
            "estimated": t.usage_estimated,
        },
        "elapsed_s": elapsed,
        "requests_per_s": round(t.done / o.elapsed, 3) if o.elapsed > 0 else None,
        "concurrency": {
            "max": o.job.options.concurrency,
            "lowest": t.lowest_limit if math.isfinite(t.lowest_limit) else o.job.options.concurrency,
            "final": o.concurrency_now or o.job.options.concurrency,
        },
        "errors": t.error_summary(),
        "interrupted": o.interrupted_by is not None,
        "stopped": o.fatal.message if o.fatal is not None else None,
        "ordered": o.ordered,
        "exit_code": exit_code,
    }

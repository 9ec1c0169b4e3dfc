"""Figures from per-request records, named as vLLM names them in its saved results where the meaning
is the same (`completed`, `request_throughput`, `mean_ttft_ms`, `p99_itl_ms`, ...).

Pure Python (no numpy): percentiles interpolate linearly between the two nearest ranks and the standard
deviation is the population's — numpy's defaults, which vLLM uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..load.types import ERROR_KINDS, RequestRecord
from .parse import percentile_key

METRICS = ("ttft", "tpot", "itl", "e2el")
NAMES = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2el": "E2EL"}

# Stated in the JSON output, the README and docs/bench.md (tests check they agree).
DEFINITIONS: dict[str, str] = {
    "latency_origin": (
        "every latency counts from the moment a request was due: its scheduled arrival time in an open "
        "loop (--rate), the moment a slot was free in a closed loop (--concurrency); time spent waiting "
        "for a concurrency slot or a rate cap is inside every latency, never hidden"
    ),
    "ttft": "time to first token: from due to the first streamed chunk that carries answer or reasoning text",
    "e2el": "end-to-end latency: from due to the last chunk of the answer",
    "tpot": (
        "time per output token, per request: (E2EL - TTFT) / (output tokens - 1); requests with a single "
        "output token have none"
    ),
    "itl": "inter-token latency: every gap between consecutive chunks with text, pooled over all requests",
    "output_tokens": (
        "from the server's usage (stream_options.include_usage); when a server sends none, the number of "
        "chunks with text, and the figures say 'estimated'"
    ),
    "duration": "from the first measured request being due to the last one ending (warm-up excluded)",
    "request_throughput": "completed requests / duration",
    "output_throughput": "output tokens of completed requests / duration",
    "total_token_throughput": "input + output tokens of completed requests / duration",
    "max_output_tokens_per_s": "the most output tokens that arrived within one 1-second window of the stage",
    "max_concurrent_requests": "the most requests in flight at the same time (warm-up included)",
    "request_goodput": "completed requests that met every --slo target / duration",
    "wait": "sent - due: how long a request waited for a slot or a rate cap before it was sent",
    "errors": (
        "failed requests by kind, after llmcli's exit codes: auth (3), rejected (4), rate_limited (5), "
        "server_error / timeout / connection (6), incomplete (7), with the first message of each"
    ),
}


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default). `values` must be sorted."""
    n = len(values)
    if n == 1:
        return values[0]
    rank = p / 100.0 * (n - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    return values[lo] + (values[hi] - values[lo]) * (rank - lo)


def summary(values: Iterable[float], percentiles: Sequence[float]) -> dict[str, float | None]:
    """mean, median, std and the percentiles of `values` (seconds in, milliseconds out)."""
    data = sorted(v * 1000.0 for v in values)
    out: dict[str, float | None] = {}
    if not data:
        out.update(mean=None, median=None, std=None)
        out.update({percentile_key(p): None for p in percentiles})
        return out
    mean = math.fsum(data) / len(data)
    out["mean"] = mean
    out["median"] = percentile(data, 50)
    out["std"] = math.sqrt(math.fsum((v - mean) ** 2 for v in data) / len(data))
    for p in percentiles:
        out[percentile_key(p)] = percentile(data, p)
    return out


def tpot(rec: RequestRecord) -> float | None:
    if rec.output_tokens is None or rec.output_tokens < 2 or rec.ttft is None or rec.e2el is None:
        return None
    return (rec.e2el - rec.ttft) / (rec.output_tokens - 1)


def itls(rec: RequestRecord) -> list[float]:
    times = rec.chunk_times
    if not times or len(times) < 2:
        return []
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def meets(rec: RequestRecord, slo: dict[str, float]) -> bool:
    """Every target met (a request with one output token has no TPOT: that target holds)."""
    for name, limit in slo.items():
        value = rec.ttft if name == "ttft" else rec.e2el if name == "e2el" else tpot(rec)
        if value is not None and value > limit:
            return False
        if value is None and name != "tpot":
            return False
    return True


def peak_tokens_per_s(records: Iterable[RequestRecord], origin: float) -> float:
    """The most output tokens in any 1-second window counted from `origin`: each chunk with text carries
    output_tokens / chunks of its request (servers may put several tokens in one chunk)."""
    buckets: dict[int, float] = {}
    for rec in records:
        times = rec.chunk_times
        tokens = rec.output_tokens or 0
        if not tokens:
            continue
        if not times:
            at = rec.end if rec.end is not None else rec.done
            if at is not None:
                key = int(max(0.0, at - origin))
                buckets[key] = buckets.get(key, 0.0) + tokens
            continue
        share = tokens / max(rec.chunks, len(times))
        for t in times:
            key = int(max(0.0, t - origin))
            buckets[key] = buckets.get(key, 0.0) + share
        missing = tokens - share * len(times)  # chunks past the kept times: at the end
        if missing > 1e-9 and rec.end is not None:
            key = int(max(0.0, rec.end - origin))
            buckets[key] = buckets.get(key, 0.0) + missing
    return max(buckets.values(), default=0.0)


def stage_metrics(
    records: Sequence[RequestRecord],
    *,
    percentiles: Sequence[float],
    slo: dict[str, float] | None = None,
    origin: float | None = None,
    peak_in_flight: int = 0,
) -> dict[str, Any]:
    """All figures of one stage from its records (warm-up records are left out here)."""
    measured = [r for r in records if not r.warmup]
    done = [r for r in measured if r.ok]
    failed = [r for r in measured if r.error is not None]
    cancelled = sum(1 for r in measured if r.cancelled)
    if origin is None:
        origin = min((r.due for r in measured), default=0.0)
    ends = [r.done for r in measured if r.done is not None]
    duration = max(0.0, max(ends, default=origin) - origin)
    total_in = sum(r.prompt_tokens or 0 for r in done)
    total_out = sum(r.output_tokens or 0 for r in done)
    per_s = (lambda x: x / duration) if duration > 0 else (lambda x: 0.0)  # noqa: E731
    out: dict[str, Any] = {
        "duration": duration,
        "completed": len(done),
        "failed": len(failed),
        "cancelled": cancelled,
        "total_input_tokens": total_in,
        "total_output_tokens": total_out,
        "usage_estimated": any(r.usage_estimated for r in done),
        "estimated_requests": sum(1 for r in done if r.usage_estimated),
        "request_throughput": per_s(len(done)),
        "request_goodput": None,
        "good_requests": None,
        "output_throughput": per_s(total_out),
        "total_token_throughput": per_s(total_in + total_out),
        "max_output_tokens_per_s": peak_tokens_per_s(done, origin),
        "max_concurrent_requests": peak_in_flight,
        "mean_input_tokens": total_in / len(done) if done else None,
        "mean_output_tokens": total_out / len(done) if done else None,
    }
    if slo:
        good = sum(1 for r in done if meets(r, slo))
        out["good_requests"] = good
        out["request_goodput"] = per_s(good)
    series = {
        "ttft": [r.ttft for r in done if r.ttft is not None],
        "tpot": [v for r in done if (v := tpot(r)) is not None],
        "itl": [gap for r in done for gap in itls(r)],
        "e2el": [r.e2el for r in done if r.e2el is not None],
    }
    for name in METRICS:
        for stat, value in summary(series[name], percentiles).items():
            out[f"{stat}_{name}_ms"] = value
    waits = [r.wait for r in measured if r.wait is not None]
    out["mean_wait_ms"] = math.fsum(waits) / len(waits) * 1000 if waits else None
    out["max_wait_ms"] = max(waits) * 1000 if waits else None
    out["errors"] = error_table(failed)
    return out


def error_table(failed: Iterable[RequestRecord]) -> dict[str, dict[str, Any]]:
    """Failures by kind: how many, the exit code that kind stands for, and the first message."""
    table: dict[str, dict[str, Any]] = {}
    for rec in failed:
        kind = rec.kind or "internal"
        entry = table.get(kind)
        if entry is None:
            code = ERROR_KINDS.get(kind)
            table[kind] = {
                "count": 1,
                "exit_code": int(code) if code is not None else 1,
                "first_message": rec.error.message if rec.error is not None else "",
            }
        else:
            entry["count"] += 1
    return table

"""What goes into the load engine and what comes out: requests, load shapes, per-request records.

Standard library only, so bench and batch can build requests and read records without importing the
HTTP client.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

from ..errors import (
    AuthFailed,
    ExitCode,
    IncompleteAnswer,
    NetworkFailed,
    RateLimited,
    RequestRejected,
    TransportError,
)


@dataclass(slots=True)
class LoadRequest:
    """One request: POST `path` (relative to the base URL) with a JSON body.

    `stream` defaults to the body's own `"stream": true`. `tag` is the caller's handle (a dataset index,
    a batch line's custom_id) and comes back on the record. `tokens` is the caller's estimate of the
    tokens the request will cost (prompt + max output) for a tokens-per-minute cap; 0 = estimate it here.
    """

    body: dict[str, Any]
    path: str = "chat/completions"
    method: str = "POST"
    stream: bool | None = None
    tag: Any = None
    tokens: int = 0

    @property
    def streaming(self) -> bool:
        return self.body.get("stream") is True if self.stream is None else self.stream


@dataclass(slots=True)
class LoadShape:
    """How requests are issued.

    Closed loop (`rate` None): `concurrency` requests always in flight; a request starts when a slot is
    free. Open loop (`rate` R): requests are *due* at R per second on average, Poisson arrivals
    (`burstiness` 1) or gamma-distributed gaps with the same mean (burstiness < 1 burstier, > 1 more
    regular), `rate=inf` = all due at once; `concurrency` then caps how many are in flight (None = no cap),
    and a due request waiting for a slot keeps waiting on the clock: its latency counts from the due time.
    `rps` and `tpm` cap requests per second and (estimated, usage-corrected) tokens per minute on top of
    either. `adaptive` halves the concurrency on a 429 (at most once per round of requests), honours the
    server's Retry-After for every request, and adds one slot back per round of successes (AIMD).
    """

    concurrency: int | None = 1
    rate: float | None = None
    burstiness: float = 1.0
    rps: float | None = None
    tpm: float | None = None
    adaptive: bool = False
    seed: int | None = None

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    def validate(self) -> None:
        if self.rate is None and not self.concurrency:
            raise ValueError("a closed loop needs a concurrency of at least 1")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.rate is not None and not self.rate > 0:
            raise ValueError("rate must be above 0")
        if not (self.burstiness > 0 and math.isfinite(self.burstiness)):
            raise ValueError("burstiness must be a finite number above 0")
        for name in ("rps", "tpm"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number above 0")


@dataclass(slots=True)
class StopWhen:
    """When to stop issuing: after `requests` measured requests and/or `duration` seconds (counted from
    the first measured request). `warmup` requests go first and count for neither. None = until the
    source ends."""

    requests: int | None = None
    duration: float | None = None
    warmup: int = 0


@dataclass(slots=True)
class EngineOptions:
    retries: int = 0  # per request, before the first byte only (transport/retry.py's rules)
    rate_limit_retries: int | None = None  # adaptive mode: retries of a 429, apart (None: `retries`)
    keep_text: bool = False  # keep the answer's text on the record (bench --save-requests)
    keep_body: bool = (
        False  # keep the JSON body of a non-streamed answer (parsed and raw) or an error (batch)
    )
    chunk_times: int = 16384  # per request, at most this many chunk arrival times are kept (0 = none)


# Error kinds: the exit-code classes of CONTRACT.md, with the network class split as people read it.
ERROR_KINDS: dict[str, ExitCode] = {
    "auth": ExitCode.AUTH,
    "rejected": ExitCode.REJECTED,
    "rate_limited": ExitCode.RATE_LIMITED,
    "server_error": ExitCode.NETWORK,
    "timeout": ExitCode.NETWORK,
    "connection": ExitCode.NETWORK,
    "incomplete": ExitCode.INCOMPLETE,
}


def error_kind(err: BaseException) -> str:
    if isinstance(err, AuthFailed):
        return "auth"
    if isinstance(err, RateLimited):
        return "rate_limited"
    if isinstance(err, RequestRejected):
        return "rejected"
    if isinstance(err, IncompleteAnswer):
        return "incomplete"
    if isinstance(err, NetworkFailed):
        if err.status is not None:
            return "server_error"
        return "timeout" if getattr(err, "timed_out", False) else "connection"
    return "connection" if isinstance(err, TransportError) else "internal"


@dataclass(slots=True, eq=False)
class RequestRecord:
    """What happened to one request. Times are seconds since the run began (time.perf_counter).

    `due`: where latency is measured from: the scheduled arrival (open loop) or the moment the request's
    slot was granted (closed loop). `sent`: when it went on the wire, after any wait for a slot or a rate
    cap — `sent - due` is that wait, never hidden. `first_token`: the first chunk carrying text (answer
    or reasoning); `end`: the last event of the answer ([DONE], else the last chunk). `chunk_times`:
    arrival of every chunk with text.
    """

    index: int
    tag: Any = None
    warmup: bool = False
    due: float = 0.0
    sent: float | None = None
    first_token: float | None = None
    end: float | None = None
    done: float | None = None  # when the engine was through with it, however it ended
    chunks: int = 0
    chunk_times: array | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    usage_estimated: bool = False  # no usage from the server: counts are estimates (chunks, chars/4)
    status: int | None = None
    request_id: str | None = None
    finish_reason: str | None = None
    attempts: int = 0
    error: TransportError | None = None
    kind: str | None = None  # error_kind(), when error is set
    cancelled: bool = False  # stopped by the caller (Ctrl-C) before it ended
    text: str | None = None
    body: Any = None
    raw: bytes | None = (
        None  # keep_body: the answer's bytes as received, when it was JSON (batch writes them)
    )

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled and self.end is not None

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.due

    @property
    def e2el(self) -> float | None:
        return None if self.end is None else self.end - self.due

    @property
    def wait(self) -> float | None:
        return None if self.sent is None else self.sent - self.due


@dataclass(slots=True)
class RunStats:
    """Live counters, for a progress display (read them; the engine writes them)."""

    launched: int = 0
    measured_launched: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    output_tokens: int = 0
    concurrency: float = 0.0  # the current limit (adaptive mode moves it); inf = none
    paused_until: float = 0.0
    first_measured_due: float | None = None


@dataclass(slots=True)
class RunSummary:
    started: float  # perf_counter at time 0 of the records
    elapsed: float
    stats: RunStats
    stopped: bool  # stop() was called (Ctrl-C, or the caller's own reason)
    source_exhausted: bool


def text_tokens(text: str) -> int:
    """Rough token count of a text, ~4 characters a token (turn.estimate_tokens' rule): for servers that
    report no usage, and for estimates before a request is sent."""
    return max(1, round(len(text) / 4)) if text else 0


def body_tokens(body: dict[str, Any]) -> int:
    """Estimated prompt tokens of a request body: the text of its messages, prompt or input."""
    chars = 0

    def add(value: Any) -> None:
        nonlocal chars
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    add(item.get("content") if "content" in item else item.get("text"))
                else:
                    add(item)

    add(body.get("messages"))
    add(body.get("prompt"))
    add(body.get("input"))
    return max(1, round(chars / 4)) if chars else 0


def output_budget(body: dict[str, Any]) -> int:
    """The most tokens a request may generate, as it asks (0 when it does not say)."""
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return 0

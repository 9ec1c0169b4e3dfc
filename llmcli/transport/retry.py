"""One retry policy for both transports: only before the first byte of an answer.

Retried: connection errors and HTTP 408/409/429/5xx, unless the server says otherwise with
`x-should-retry: true|false` (as the openai SDK honours it). Exponential backoff with jitter; the
server's `retry-after-ms` / `Retry-After` wins when it gives one. A wait longer than MAX_WAIT is not
waited for.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

from ..errors import NetworkFailed, RateLimited, TransportError
from .status import RETRYABLE_STATUS

T = TypeVar("T")

MAX_WAIT = 60.0
BASE_DELAY = 0.5
MAX_DELAY = 8.0


class Retryable(Exception):
    """Raised by an attempt that may be tried again; `final` is the error to raise when out of tries."""

    def __init__(self, final: TransportError, retry_after: float | None = None):
        super().__init__(str(final))
        self.final = final
        self.retry_after = retry_after


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Is a failed response worth another attempt? The server's `x-should-retry` decides when it says
    `true` or `false`; otherwise the status does (RETRYABLE_STATUS)."""
    said = next((v for k, v in headers.items() if k.lower() == "x-should-retry"), "").strip().lower()
    if said == "true":
        return True
    if said == "false":
        return False
    return status in RETRYABLE_STATUS


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait, from `retry-after-ms` or `Retry-After` (seconds or HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = lower.get("retry-after")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            try:
                when = parsedate_to_datetime(ra)
                return max(0.0, when.timestamp() - time.time())
            except (TypeError, ValueError, IndexError):
                return None
    return None


def _duration(seconds: float) -> str:
    """120 s, 3600 s, 2 h, 12 d: the exact seconds while they still mean something to a reader."""
    if seconds <= 3600:
        return f"{seconds:.0f} s"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def backoff(attempt: int) -> float:
    """Exponential with jitter: attempt 0 → 0.25–0.5 s, 1 → 0.5–1 s, ... capped at MAX_DELAY."""
    ceiling = min(MAX_DELAY, BASE_DELAY * (2**attempt))
    return ceiling * (0.5 + random.random() / 2)


def retry_wait(r: Retryable, attempt: int, max_retries: int) -> float:
    """How long to wait before attempt `attempt + 1`; raises the final error when there is none to make.

    The one decision both the sync transports and the asyncio load engine take: out of tries, or the
    server asks for a wait longer than MAX_WAIT → the final error; otherwise the server's wait, else
    backoff with jitter.
    """
    wait = r.retry_after
    if wait is not None and wait > MAX_WAIT:
        err = r.final
        raise RateLimited(
            f"{err.message}; the server asks to wait {_duration(wait)}, longer than llmcli waits ({MAX_WAIT:.0f} s)",
            host=err.host,
            status=err.status,
            server_message=err.server_message,
            hint=f"try again in {_duration(wait)}",
        ) from None
    if attempt >= max_retries:
        raise r.final from None
    return backoff(attempt) if wait is None else wait


def call_with_retries(
    attempt_fn: Callable[[], T],
    *,
    max_retries: int,
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[str], None] | None = None,
) -> T:
    attempt = 0
    while True:
        try:
            return attempt_fn()
        except Retryable as r:
            wait = retry_wait(r, attempt, max_retries)
            attempt += 1
            if notify is not None:
                notify(f"{r.final.message}; retrying in {wait:.1f} s ({attempt}/{max_retries})")
            sleep(wait)


def stderr_notify(message: str) -> None:
    print(f"llmcli: {message}", file=sys.stderr, flush=True)


__all__ = [
    "Retryable",
    "call_with_retries",
    "retry_wait",
    "retry_after_seconds",
    "should_retry",
    "backoff",
    "MAX_WAIT",
    "NetworkFailed",
]

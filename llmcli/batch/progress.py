"""What a local batch run has done so far: counts, tokens, error kinds, and rolling rates for the progress
bar. Bounded: a few seconds of completions, never the records themselves. Standard library only."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..load.types import ERROR_KINDS, RequestRecord

WINDOW_S = 5.0  # requests/s and tokens/s over the last 5 seconds


@dataclass
class ErrorKind:
    count: int
    exit_code: int
    first_message: str


@dataclass
class Snapshot:
    total: int  # requests this run has to do
    succeeded: int
    failed: int
    in_flight: int
    limit: float  # the concurrency now (AIMD moves it on 429s)
    requests_per_s: float
    tokens_per_s: float  # output tokens
    elapsed: float
    eta: float | None
    paused: float  # seconds left of a Retry-After pause (0: none)
    stopping: bool

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


@dataclass
class Tally:
    total: int
    succeeded: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    errors: dict[str, ErrorKind] = field(default_factory=dict)
    lowest_limit: float = math.inf
    _recent: deque = field(default_factory=deque)  # (time, output tokens) of recent completions

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    def add(self, rec: RequestRecord, now: float) -> None:
        if rec.ok:
            self.succeeded += 1
            self.prompt_tokens += rec.prompt_tokens or 0
            self.completion_tokens += rec.output_tokens or 0
            self.usage_estimated |= rec.usage_estimated
        else:
            self.failed += 1
            kind = rec.kind or "error"
            seen = self.errors.get(kind)
            if seen is None:
                from ..core.credentials import scrub  # a server may echo the key back in its error

                message = scrub(rec.error.message) if rec.error is not None else kind
                self.errors[kind] = ErrorKind(1, int(ERROR_KINDS.get(kind, 1)), message)
            else:
                seen.count += 1
        recent = self._recent
        recent.append((now, (rec.output_tokens or 0) if rec.ok else 0))
        # Trimmed here too, not only when a progress bar asks: into a pipe nobody asks, and a million
        # requests would otherwise leave a million entries behind (~100 MB).
        while recent[0][0] < now - WINDOW_S:
            recent.popleft()

    def note_limit(self, limit: float) -> None:
        self.lowest_limit = min(self.lowest_limit, limit)

    def snapshot(
        self, now: float, *, in_flight: int, limit: float, paused: float, stopping: bool
    ) -> Snapshot:
        recent = self._recent
        while recent and recent[0][0] < now - WINDOW_S:
            recent.popleft()
        window = min(WINDOW_S, now)
        rps = len(recent) / window if window > 0.5 else 0.0
        tps = sum(n for _, n in recent) / window if window > 0.5 else 0.0
        left = self.total - self.done
        overall = self.done / now if now > 0 else 0.0
        rate = rps or overall
        eta = left / rate if rate > 0 and left > 0 else (0.0 if left <= 0 else None)
        return Snapshot(
            total=self.total,
            succeeded=self.succeeded,
            failed=self.failed,
            in_flight=in_flight,
            limit=limit,
            requests_per_s=rps,
            tokens_per_s=tps,
            elapsed=now,
            eta=eta,
            paused=paused,
            stopping=stopping,
        )

    def error_summary(self) -> dict[str, dict[str, Any]]:
        return {
            k: {"count": e.count, "exit_code": e.exit_code, "first_message": e.first_message}
            for k, e in sorted(self.errors.items(), key=lambda kv: -kv[1].count)
        }

"""What the live panel shows, computed from records as they arrive (bounded: rolling windows only)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..load.types import RequestRecord, RunStats, StopWhen

WINDOW_S = 5.0  # rolling output tokens/s over the last 5 seconds
TTFT_SAMPLES = 200  # rolling TTFT p50 over the last 200 completed requests


@dataclass(slots=True)
class Snapshot:
    label: str
    stage: int  # 1-based
    stages: int
    warmup_left: int
    target_requests: int | None
    target_seconds: float | None
    done: int  # measured requests that ended (completed + failed)
    completed: int
    failed: int
    in_flight: int
    concurrency: float  # the current limit (inf: none)
    output_tps: float
    ttft_p50: float | None  # seconds
    elapsed: float  # since the first measured request (0 while warming up)
    eta: float | None
    fraction: float  # of the stop condition, 0..1


class Progress:
    def __init__(self, label: str, stage: int, stages: int, stop: StopWhen):
        self.label = label
        self.stage = stage
        self.stages = stages
        self.stop = stop
        self.completed = 0
        self.failed = 0
        self.warm_done = 0
        self._tokens: deque[tuple[float, int]] = deque()
        self._ttfts: deque[float] = deque(maxlen=TTFT_SAMPLES)

    def add(self, rec: RequestRecord) -> None:
        if rec.warmup:
            self.warm_done += 1
            return
        if rec.ok:
            self.completed += 1
            if rec.output_tokens:
                self._tokens.append((rec.end if rec.end is not None else 0.0, rec.output_tokens))
            if rec.ttft is not None:
                self._ttfts.append(rec.ttft)
        elif rec.error is not None:
            self.failed += 1

    def snapshot(self, stats: RunStats, now: float) -> Snapshot:
        while self._tokens and self._tokens[0][0] < now - WINDOW_S:
            self._tokens.popleft()
        origin = stats.first_measured_due
        elapsed = 0.0 if origin is None else max(0.0, now - origin)
        window = min(WINDOW_S, elapsed) if elapsed > 0 else 0.0
        tps = sum(n for _, n in self._tokens) / window if window > 0.5 else 0.0
        ttfts = sorted(self._ttfts)
        p50 = ttfts[len(ttfts) // 2] if ttfts else None
        done = self.completed + self.failed
        fraction, eta = 0.0, None
        stop = self.stop
        if stop.requests:
            fraction = done / stop.requests
            if done and elapsed > 0:
                eta = elapsed / done * (stop.requests - done)
        if stop.duration:
            by_time = elapsed / stop.duration
            if by_time >= fraction:
                fraction = by_time
                eta = max(0.0, stop.duration - elapsed)
        return Snapshot(
            label=self.label,
            stage=self.stage,
            stages=self.stages,
            warmup_left=max(0, stop.warmup - self.warm_done),
            target_requests=stop.requests,
            target_seconds=stop.duration,
            done=done,
            completed=self.completed,
            failed=self.failed,
            in_flight=stats.in_flight,
            concurrency=stats.concurrency,
            output_tps=tps,
            ttft_p50=p50,
            elapsed=elapsed,
            eta=eta,
            fraction=min(1.0, fraction),
        )

"""Arrival schedules and the limits the engine enforces: concurrency (fixed or AIMD) and rate caps.

Pure asyncio and the standard library.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Iterator


def arrival_gaps(rate: float, burstiness: float = 1.0, seed: int | None = None) -> Iterator[float]:
    """Gaps between due times: exponential (Poisson arrivals) at burstiness 1, else gamma with shape
    `burstiness` and the same mean 1/rate (vLLM's `--burstiness`). `rate=inf`: all due at once."""
    if math.isinf(rate):
        while True:
            yield 0.0
    rng = random.Random(seed)
    if burstiness == 1.0:
        while True:
            yield rng.expovariate(rate)
    scale = 1.0 / (rate * burstiness)
    while True:
        yield rng.gammavariate(burstiness, scale)


class TokenBucket:
    """At most `rate` units per second on average, bursts up to `capacity`.

    `take(n)` waits until n units are there (a request larger than the whole bucket waits for a full
    bucket, then goes: it would never fit otherwise). `give(n)` puts units back, or takes more when n is
    negative (a request cost more than estimated): the balance may go below zero and later requests wait.
    """

    def __init__(self, rate: float, capacity: float, clock=time.perf_counter):
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self._clock = clock
        self.level = self.capacity
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._at) * self.rate)
        self._at = now

    def delay(self, n: float) -> float:
        """Seconds until `n` units could be taken (0 = now)."""
        self._refill()
        need = min(n, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    async def take(self, n: float = 1.0) -> None:
        while (wait := self.delay(n)) > 0:
            await asyncio.sleep(min(wait, 0.1))  # look again soon: give() may refund in the meantime
        self.level -= n

    def give(self, n: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + n)


class ConcurrencyLimiter:
    """Slots for requests in flight, granted first come first served. `limit` None = unbounded.

    Adaptive (AIMD): on a 429 the limit is halved — once per round (only for a request sent after the
    previous decrease, so a burst of 429s from one round counts once) — and the server's Retry-After
    pauses every new request until it has passed. Each success adds 1/limit, so a full round of successes
    gives one slot back, up to the configured limit. Without `adaptive` the limit never moves, and a
    Retry-After delays only the request that got it (the retry rules).
    """

    def __init__(
        self, limit: int | None, *, adaptive: bool = False, decrease: float = 0.5, clock=time.perf_counter
    ):
        self.max = math.inf if limit is None else float(limit)
        self.limit = self.max
        self.adaptive = adaptive and limit is not None
        self.decrease = decrease
        self.in_flight = 0
        self.paused_until = 0.0  # clock time before which nothing new starts (adaptive only)
        self._last_decrease = -math.inf
        self._clock = clock
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def current(self) -> float:
        return self.limit if math.isinf(self.limit) else max(1, math.floor(self.limit))

    def _free(self) -> bool:
        return self.in_flight < self.current

    async def acquire(self) -> None:
        if not self._waiters and self._free():
            self.in_flight += 1  # the common case: no await, no yield to the loop
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut  # granted: release()/_wake() counted us in before waking us
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted and cancelled at once: give the slot back
            else:
                try:
                    self._waiters.remove(fut)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._free():
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

    async def pause(self) -> None:
        """Wait out a Retry-After pause (adaptive mode)."""
        while (wait := self.paused_until - self._clock()) > 0:
            await asyncio.sleep(wait)

    def on_success(self) -> None:
        if self.adaptive and self.limit < self.max:
            self.limit = min(self.max, self.limit + 1.0 / max(1.0, self.limit))
            self._wake()

    def on_rate_limited(self, sent_at: float, retry_after: float | None) -> None:
        if not self.adaptive:
            return
        now = self._clock()
        if sent_at >= self._last_decrease:
            self.limit = max(1.0, self.limit * self.decrease)
            self._last_decrease = now
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)

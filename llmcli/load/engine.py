"""The asyncio load engine: many requests at once, each timed, none hidden.

    async with Engine(transport_config, EngineOptions(retries=0)) as engine:
        summary = await engine.run(requests, shape=LoadShape(concurrency=16),
                                   stop=StopWhen(requests=500, warmup=10), on_record=collect)

and the shape batch needs (non-streaming, bodies handed over, the profile's retries, AIMD on 429, a
tokens-per-minute cap, and on Ctrl-C: stop issuing, give what is in flight 30 s):

    async with Engine(config, EngineOptions(retries=settings.max_retries, keep_body=True,
                                            chunk_times=0)) as engine:
        lines = (LoadRequest(body=l["body"], path="chat/completions", tag=l["custom_id"]) for l in jsonl)
        await engine.run(lines, shape=LoadShape(concurrency=64, adaptive=True, tpm=2_000_000),
                         on_record=write_output_line)      # rec.status, rec.request_id, rec.body
        ...                                                # elsewhere: engine.stop(cancel=False, grace=30)

`requests` is any iterable or async iterable of LoadRequest, consumed lazily: an item is taken from it
only when it is about to be issued, so a million-line file never sits in memory. Each request ends as one
RequestRecord handed to `on_record` (sync or async) — completed, failed or cancelled — and is then
forgotten by the engine. Bench keeps its records for the figures; batch writes each one out.

How requests are issued (LoadShape): a closed loop keeps N in flight; an open loop makes them due at a
rate (Poisson or gamma gaps) and, with a concurrency cap, lets a due request wait for a slot *on the
clock*: latency counts from when it was due, never from when it finally got a slot. Optional caps on
requests/s and tokens/min (estimated from the body, corrected from the server's usage) apply to both,
and adaptive mode moves the concurrency (AIMD) on 429s. A closed loop runs N worker coroutines (no task
per request: at c=1 a hand-over between coroutines is a measurable share of each request); an open
loop one dispatcher that starts a task per request when it is due. Waits for the caps are taken in turn
under one lock, so requests go out in the order they were taken from the source.

Retries are transport/retry.py's rules (`retry_wait`): before the first byte only, 408/409/429/5xx and
connection errors, the server's Retry-After honoured; `EngineOptions.retries` times per request. In
adaptive mode a 429 is retried `EngineOptions.rate_limit_retries` times (its own budget: the concurrency
is being lowered to stop them), and the request gives its slot back while it waits, so its retry queues
under the lowered limit.

Stopping: `stop(cancel=True)` stops issuing and cancels what is in flight (their records come back with
`cancelled=True`); `stop(cancel=False, grace=S)` stops issuing and gives what is in flight S seconds
(None: as long as it takes) before cancelling it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

from ..errors import RateLimited, TransportError
from ..transport.base import TransportConfig
from ..transport.retry import Retryable, retry_wait
from .limits import ConcurrencyLimiter, TokenBucket, arrival_gaps
from .types import (
    EngineOptions,
    LoadRequest,
    LoadShape,
    RequestRecord,
    RunStats,
    RunSummary,
    StopWhen,
    body_tokens,
    error_kind,
    output_budget,
)

OnRecord = Callable[[RequestRecord], Awaitable[None] | None]
_clock = time.perf_counter


class _Counters:
    """What the issuers share within one run. Reserved before any await, so N workers never overshoot."""

    __slots__ = ("index", "measured", "deadline", "exhausted", "done")

    def __init__(self) -> None:
        self.index = 0
        self.measured = 0
        self.deadline: float | None = None
        self.exhausted = False  # the source has ended
        self.done = False  # nothing more to issue (the source ended, or the deadline passed)


class Engine:
    def __init__(self, config: TransportConfig, options: EngineOptions | None = None):
        self.config = config
        self.options = options or EngineOptions()
        self.stats = RunStats()
        self.limiter: ConcurrencyLimiter | None = None
        self._wire: Any = None
        self._issuers: list[asyncio.Task] = []  # closed loop: the workers; open loop: the dispatcher
        self._requests: set[asyncio.Task] = set()  # open loop: one task per request in flight
        self._busy: set[asyncio.Task] = set()  # tasks inside a request right now
        self._stopping = False
        self._failure: BaseException | None = None  # a callback's error, or a bug: re-raised by run()
        self._grace: asyncio.TimerHandle | None = None
        self.t0 = _clock()

    async def __aenter__(self) -> Engine:
        from .wire import Wire  # aiohttp is imported only when an engine really starts

        self._wire = Wire(self.config, self.options)
        await self._wire.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._wire is not None:
            await self._wire.close()
            self._wire = None

    def now(self) -> float:
        """Seconds since the current run's time 0 (the time base of its records)."""
        return _clock() - self.t0

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def stale_connections(self) -> int:
        """Kept-alive connections found closed by the server (their requests were sent again)."""
        return self._wire.stale if self._wire is not None else 0

    # -- running -------------------------------------------------------------------------------

    async def run(
        self,
        source: Iterable[LoadRequest] | AsyncIterable[LoadRequest],
        *,
        shape: LoadShape,
        stop: StopWhen | None = None,
        on_record: OnRecord | None = None,
    ) -> RunSummary:
        """Issue requests from `source` as `shape` says until `stop` (or the source) ends them, or
        `stop()` is called; return when every request issued has ended and its record was delivered."""
        if self._wire is None:
            raise RuntimeError("use the engine inside `async with Engine(...)`")
        shape.validate()
        stop = stop or StopWhen()
        self.limiter = limiter = ConcurrencyLimiter(shape.concurrency, adaptive=shape.adaptive)
        self.stats = RunStats(concurrency=limiter.current)
        self._stopping = False
        self._failure = None
        self._counters = _Counters()
        self._source = source
        self._iter = None if isinstance(source, AsyncIterable) else iter(source)
        self._aiter = source.__aiter__() if isinstance(source, AsyncIterable) else None
        self._pull_lock = asyncio.Lock()
        self._gate = asyncio.Lock()
        self._rps = TokenBucket(shape.rps, capacity=max(1.0, shape.rps / 10)) if shape.rps else None
        self._tpm = TokenBucket(shape.tpm / 60.0, capacity=shape.tpm) if shape.tpm else None
        self._on_record = on_record
        self.t0 = _clock()
        if shape.rate is None:
            assert shape.concurrency is not None
            self._issuers = [asyncio.create_task(self._worker(stop)) for _ in range(shape.concurrency)]
        else:
            self._issuers = [asyncio.create_task(self._dispatch(shape, stop))]
        try:
            await asyncio.wait(self._issuers)
            while self._requests:
                await asyncio.wait(set(self._requests))
        except BaseException:  # run() itself was cancelled: leave no task behind
            tasks = [*self._issuers, *self._requests]
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)
            raise
        finally:
            if self._grace is not None:
                self._grace.cancel()
                self._grace = None
        for task in self._issuers:
            if not task.cancelled() and task.exception() is not None and self._failure is None:
                self._failure = task.exception()
        self._issuers = []
        if self._failure is not None:
            raise self._failure
        return RunSummary(
            started=self.t0,
            elapsed=self.now(),
            stats=self.stats,
            stopped=self._stopping,
            source_exhausted=self._counters.exhausted,
        )

    def stop(self, *, cancel: bool = True, grace: float | None = None) -> None:
        """Stop issuing. cancel=True: cancel what is in flight now (records come back cancelled); else
        let it finish, for at most `grace` seconds when given."""
        self._stopping = True
        for task in self._issuers:
            if task not in self._busy:
                task.cancel()  # waiting to issue: stop now
        if cancel:
            self._cancel_busy()
        elif grace is not None and self._grace is None:
            self._grace = asyncio.get_running_loop().call_later(grace, self._cancel_busy)

    def _cancel_busy(self) -> None:
        for task in list(self._busy):
            task.cancel()

    # -- issuing -----------------------------------------------------------------------------------

    async def _pull(self) -> LoadRequest | None:
        c = self._counters
        if c.exhausted:
            return None
        try:
            if self._iter is not None:
                return next(self._iter)
            async with self._pull_lock:  # an async generator cannot be advanced twice at once
                return await self._aiter.__anext__()  # type: ignore[union-attr]
        except (StopIteration, StopAsyncIteration):
            c.exhausted = c.done = True
            return None

    def _reserve(self, stop: StopWhen) -> tuple[int, bool] | None:
        """The next request's index and whether it is a warm-up one; None once enough were issued."""
        c = self._counters
        if c.done:
            return None
        warm = c.index < stop.warmup
        if not warm and stop.requests is not None and c.measured >= stop.requests:
            return None
        index = c.index
        c.index += 1
        if not warm:
            c.measured += 1
        return index, warm

    def _past_deadline(self, due: float, warm: bool, stop: StopWhen) -> bool:
        if warm:
            return False
        c = self._counters
        if c.deadline is None:
            if self.stats.first_measured_due is None:
                self.stats.first_measured_due = due
                if stop.duration is not None:
                    c.deadline = due + stop.duration
            return False
        return due >= c.deadline

    async def _caps(self, req: LoadRequest) -> int:
        """Wait for the Retry-After pause and the rate caps, in the order requests came; the token cost."""
        limiter = self.limiter
        assert limiter is not None
        if not (limiter.paused_until or self._rps or self._tpm):
            return 0
        async with self._gate:
            if limiter.paused_until:
                await limiter.pause()
            if self._rps is not None:
                await self._rps.take(1)
            cost = 0
            if self._tpm is not None:
                cost = req.tokens or (body_tokens(req.body) + output_budget(req.body))
                await self._tpm.take(cost)
            return cost

    async def _worker(self, stop: StopWhen) -> None:
        """Closed loop: one of N workers, each with at most one request in flight."""
        limiter = self.limiter
        assert limiter is not None
        while not self._stopping:
            slot = self._reserve(stop)
            if slot is None:
                return
            index, warm = slot
            await limiter.acquire()  # no wait at all unless adaptive mode lowered the limit
            try:
                due = _clock() - self.t0  # closed loop: latency counts from the moment the slot is ours
                if self._past_deadline(due, warm, stop):
                    self._counters.done = True  # nothing more is due: stop every worker
                    limiter.release()
                    return
                req = await self._pull()
                if req is None:
                    limiter.release()
                    return
                data = _encode(req)
                cost = await self._caps(req)
            except BaseException:
                limiter.release()
                raise
            await self._one(req, self._launch(index, req, warm, due), data, cost)

    async def _dispatch(self, shape: LoadShape, stop: StopWhen) -> None:
        """Open loop: requests become due on the arrival schedule; each runs in its own task."""
        limiter = self.limiter
        assert limiter is not None and shape.rate is not None
        gaps = arrival_gaps(shape.rate, shape.burstiness, shape.seed)
        next_due = 0.0
        while not self._stopping:
            slot = self._reserve(stop)
            if slot is None:
                return
            index, warm = slot
            due = next_due
            next_due += next(gaps)
            if self._past_deadline(due, warm, stop):
                return
            req = await self._pull()
            if req is None:
                return
            data = _encode(req)
            delay = self.t0 + due - _clock()
            if delay > 0:
                await asyncio.sleep(delay)
            await limiter.acquire()  # a due request waiting for a slot: on the clock, counted in its latency
            try:
                cost = await self._caps(req)
            except BaseException:
                limiter.release()
                raise
            task = asyncio.create_task(self._one(req, self._launch(index, req, warm, due), data, cost))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)

    def _launch(self, index: int, req: LoadRequest, warm: bool, due: float) -> RequestRecord:
        """Count a request as issued; its record."""
        stats = self.stats
        stats.launched += 1
        if not warm:
            stats.measured_launched += 1
        stats.in_flight += 1
        if stats.in_flight > stats.peak_in_flight:
            stats.peak_in_flight = stats.in_flight
        return RequestRecord(index=index, tag=req.tag, warmup=warm, due=due)

    # -- one request -------------------------------------------------------------------------------

    async def _one(self, req: LoadRequest, rec: RequestRecord, data: bytes, cost: int) -> None:
        """Send (and retry) one request that holds a slot; release the slot; deliver its record."""
        stats = self.stats
        limiter = self.limiter
        assert limiter is not None
        task = asyncio.current_task()
        assert task is not None
        self._busy.add(task)
        t0 = self.t0
        holding = True  # the slot the issuer acquired for this request
        options = self.options
        limited_tries = options.retries if options.rate_limit_retries is None else options.rate_limit_retries
        try:
            attempt = limited = 0
            while True:
                sent = _clock()
                if rec.sent is None:
                    rec.sent = sent - t0
                rec.attempts += 1
                try:
                    await self._wire.attempt(req, rec, data, t0, task)
                    break
                except Retryable as r:
                    if isinstance(r.final, RateLimited) and limiter.adaptive:
                        limiter.on_rate_limited(sent, r.retry_after)
                        stats.concurrency = limiter.current
                        stats.paused_until = max(0.0, limiter.paused_until - t0)
                        wait = retry_wait(r, limited, limited_tries)  # raises when out of tries
                        limited += 1
                        # Wait without the slot, then queue for one under the lowered limit: the retries
                        # of a round of 429s are held to the new concurrency too, not sent all at once.
                        holding = False
                        limiter.release()
                        await asyncio.sleep(wait)
                        await limiter.pause()
                        await limiter.acquire()
                        holding = True
                        continue
                    wait = retry_wait(r, attempt, options.retries)  # raises when out of tries
                    attempt += 1
                    await asyncio.sleep(wait)
            limiter.on_success()
            stats.concurrency = limiter.current
            stats.completed += 1
            stats.output_tokens += rec.output_tokens or 0
        except TransportError as err:
            rec.error = err
            rec.kind = error_kind(err)
            stats.failed += 1
        except asyncio.CancelledError:
            rec.cancelled = True
            stats.cancelled += 1
            if task.cancelling():
                task.uncancel()  # handled here: the record says so; the issuer sees _stopping
        except Exception as exc:  # a bug: stop the run and let run() raise it
            rec.cancelled = True
            if self._failure is None:
                self._failure = exc
            self.stop(cancel=True)
        finally:
            self._busy.discard(task)
            if holding:
                limiter.release()
            stats.in_flight -= 1
            rec.done = _clock() - t0
        if rec.prompt_tokens is None:
            rec.prompt_tokens = body_tokens(req.body)
            rec.usage_estimated = True
        tpm = self._tpm
        if tpm is not None and rec.ok:
            used = (rec.prompt_tokens or 0) + (rec.output_tokens or 0)
            tpm.give(cost - used)  # refund what the estimate overcharged, or charge what it missed
        on_record = self._on_record
        if on_record is not None:
            try:
                result = on_record(rec)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                if self._failure is None:
                    self._failure = exc
                self.stop(cancel=True)


def _encode(req: LoadRequest) -> bytes:
    return json.dumps(req.body, ensure_ascii=False).encode()


__all__ = ["Engine", "EngineOptions", "LoadRequest", "LoadShape", "StopWhen", "RequestRecord"]

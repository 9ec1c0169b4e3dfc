"""The local runner (`llmcli batch run`): a batch file run from this machine against the configured server,
on the asyncio load engine (load/), into an output file that a rerun resumes.

    lock OUTPUT → read what an earlier run left (output.scan) → check every input line (nothing sent if
    one is bad) → drop the earlier failure lines and a torn end (output.compact) → probe the server →
    run what is left: each answer written as one line the moment it ends → --ordered rewrite → unlock

The engine runs in adaptive mode: on a 429 the concurrency halves (once per round), the server's
Retry-After pauses new requests, and a full round of successes gives a slot back (AIMD); a 429 has its
own retry budget (RunOptions.rate_limit_retries), other errors the shared rules' `--max-retries`.

What stops a run early: a refused key (every request would be refused: exit 3), the server unreachable
for a whole round of requests in a row (exit 6), Ctrl-C or SIGTERM (stop issuing; what is in flight
gets `grace` seconds to finish and be written; a second signal ends the process at once), an output
that cannot be written (exit 1). Whatever was written stays, and the same command resumes after it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import interrupts
from ..errors import AuthFailed, LlmcliError
from ..load.types import EngineOptions, LoadRequest, LoadShape, RequestRecord
from ..transport.base import TransportConfig
from .inputs import InputCheck, check_input, pending_requests
from .output import (
    LineIds,
    OutputLock,
    Previous,
    ResultWriter,
    compact,
    encode,
    result_object,
    scan,
    success_line,
)
from .progress import Snapshot, Tally
from .prompts import RequestShape
from .reader import Source

GRACE_S = 10.0  # Ctrl-C: how long what is in flight may take to finish
RATE_LIMIT_RETRIES = 8  # a 429's own retry budget, unless --max-retries is set
REFRESH_S = 0.25
DOWN_AFTER = 5  # connection failures in a row (at least; else one round of requests) that mean "down"


@dataclass
class RunOptions:
    concurrency: int = 8
    rps: float | None = None
    tpm: float | None = None
    retries: int = 2
    rate_limit_retries: int = RATE_LIMIT_RETRIES
    grace: float = GRACE_S


@dataclass
class Job:
    source: Source
    output: Path
    config: TransportConfig
    errors: Path | None = None  # failure lines go here instead of into `output`
    shape: RequestShape | None = None  # --prompts: how a prompt becomes a request
    ordered: bool = False
    skip_invalid: bool = False
    options: RunOptions = field(default_factory=RunOptions)


@dataclass
class Outcome:
    job: Job
    check: InputCheck
    previous: Previous
    tally: Tally
    elapsed: float = 0.0
    interrupted_by: int | None = None  # the signal
    fatal: LlmcliError | None = None  # what stopped the run early (a refused key, the server down)
    concurrency_now: float = 0.0
    ordered: bool = False  # the --ordered rewrite was done

    @property
    def not_run(self) -> int:
        return max(0, self.check.todo - self.tally.done)


class LiveView(Protocol):
    def update(self, snapshot: Snapshot) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


def run_job(
    job: Job,
    *,
    say: Callable[[str], None],
    prepare: Callable[[], RequestShape | None],
    live: Callable[[], LiveView] | None = None,
    on_check: Callable[[InputCheck], None] | None = None,
) -> Outcome:
    """Run `job` to its end (or until it is stopped). `prepare()` is called once the input is known to be
    good and there is work to do: it probes the server (raising its error when nothing can run) and
    returns the final prompt shape (its model picked from the server, when none was given).
    `on_check` sees the input check first: it raises to refuse invalid lines."""
    with OutputLock(job.output):
        previous = scan(job.output)
        if job.errors is not None:
            scan(job.errors)  # only to refuse a file that is not ours before truncating it
        check = check_input(job.source, job.shape, previous.done)
        if on_check is not None:
            on_check(check)
        compact(job.output, previous)
        _say_resumed(previous, check, say)
        tally = Tally(total=check.todo)
        outcome = Outcome(job, check, previous, tally)
        if check.todo > 0:
            shape = prepare()
            requests = pending_requests(job.source, shape, previous.done, check.skip)
            out = ResultWriter(job.output)
            errors = ResultWriter(job.errors, truncate=True) if job.errors is not None else None
            try:
                _Run(job, requests, tally, out, errors, outcome, say, live).run()
            finally:
                out.close()
                if errors is not None:
                    errors.close()
        elif job.errors is not None:
            ResultWriter(job.errors, truncate=True).close()  # every earlier failure now has a success
        if job.ordered and outcome.interrupted_by is None and outcome.fatal is None:
            for path in (job.output, job.errors):
                if path is not None:
                    rewrite_in_order(path, job.source)
            outcome.ordered = True
    return outcome


def _say_resumed(previous: Previous, check: InputCheck, say: Callable[[str], None]) -> None:
    if previous.succeeded == 0 and previous.failed == 0 and previous.clean:
        return
    parts = [f"resuming: {check.done:,} of {check.requests:,} requests already have a result"]
    if previous.failed:
        parts.append(f"{previous.failed:,} failed before and run again (their lines were dropped)")
    if previous.torn_at is not None:
        parts.append("a torn last line (a write cut short) was dropped")
    foreign = len(previous.done) - check.done
    if foreign > 0:
        parts.append(f"{foreign:,} results are for custom_ids not in this input (kept)")
    say("; ".join(parts))


def rewrite_in_order(path: Path, src: Source) -> None:
    """Rewrite a result file in the input's order, atomically (order.py; results not in the input last)."""
    from ..core.files import AtomicOutput
    from .order import write_in_input_order
    from .prompts import input_ids

    with AtomicOutput(path, force=True) as out:
        write_in_input_order(path, input_ids(src), out)


class _Run:
    """One engine run over the pending requests, writing each record as it arrives."""

    def __init__(
        self,
        job: Job,
        requests: Iterable[LoadRequest],
        tally: Tally,
        out: ResultWriter,
        errors: ResultWriter | None,
        outcome: Outcome,
        say: Callable[[str], None],
        live: Callable[[], LiveView] | None,
    ):
        self.job = job
        self.options = job.options
        self.requests = requests
        self.tally = tally
        self.out = out
        self.errors = errors or out
        self.outcome = outcome
        self._say = say
        self.live_factory = live
        self.live: LiveView | None = None
        self.engine: Any = None
        self.ids = LineIds()
        self.down = 0  # connection failures in a row
        self.down_after = max(DOWN_AFTER, self.options.concurrency)

    def run(self) -> None:
        with interrupts.shielded():  # until the loop's own handlers are in, a signal is only noted
            asyncio.run(self._main())

    def say(self, text: str) -> None:
        if self.live is not None:
            self.live.note(text)
        else:
            self._say(text)

    async def _main(self) -> None:
        from ..load.engine import Engine

        o = self.options
        options = EngineOptions(
            retries=o.retries, rate_limit_retries=o.rate_limit_retries, keep_body=True, chunk_times=0
        )
        shape = LoadShape(concurrency=o.concurrency, rps=o.rps, tpm=o.tpm, adaptive=True)
        loop = asyncio.get_running_loop()
        with interrupts.asyncio_signals(loop, self._on_signal):
            if self.outcome.interrupted_by is not None:
                return  # a signal before anything started
            async with Engine(self.job.config, options) as engine:
                if self.outcome.interrupted_by is not None:
                    return  # the signal came while the engine was starting
                self.engine = engine  # from here a signal stops the run (nothing yields before it starts)
                self.live = self.live_factory() if self.live_factory is not None else None
                refresher = asyncio.create_task(self._refresh()) if self.live is not None else None
                try:
                    summary = await engine.run(self.requests, shape=shape, on_record=self._record)
                finally:
                    if refresher is not None:
                        refresher.cancel()
                    if self.live is not None:
                        self.live.update(self._snapshot())
                        self.live.close()
                        self.live = None
                self.outcome.elapsed = summary.elapsed
                self.outcome.concurrency_now = engine.limiter.current if engine.limiter else o.concurrency

    def _snapshot(self) -> Snapshot:
        engine = self.engine
        limiter = engine.limiter
        now = engine.now()
        paused = max(0.0, limiter.paused_until - engine.t0 - now) if limiter and limiter.paused_until else 0.0
        return self.tally.snapshot(
            now,
            in_flight=limiter.in_flight if limiter else 0,
            limit=limiter.current if limiter else math.inf,
            paused=paused,
            stopping=engine.stopping,
        )

    async def _refresh(self) -> None:
        while True:
            if self.live is not None:
                self.live.update(self._snapshot())
            await asyncio.sleep(REFRESH_S)

    def _record(self, rec: RequestRecord) -> None:
        if rec.cancelled:
            return  # not done: no line, and the rerun sends it
        if rec.ok:
            self.out.write(success_line(rec.tag, rec, self.ids()))
        else:
            from ..core.credentials import scrub  # a server may echo the key back in an error

            line = encode(result_object(rec.tag, rec, self.ids())).decode("utf-8")
            self.errors.write(scrub(line).encode("utf-8"))
        engine = self.engine
        self.tally.add(rec, engine.now())
        if engine.limiter is not None:
            self.tally.note_limit(engine.limiter.current)
        if rec.ok:
            self.down = 0
        elif rec.kind == "auth":
            self._fail(rec, "the server refused the key")
        elif rec.kind == "connection":
            self.down += 1
            if self.down >= self.down_after:
                self._fail(rec, f"{self.down} requests in a row could not reach the server")

    def _fail(self, rec: RequestRecord, why: str) -> None:
        if self.outcome.fatal is not None or self.outcome.interrupted_by is not None:
            return
        err = rec.error
        assert err is not None
        if isinstance(err, AuthFailed) and self.job.config.auth_hint:
            err.hint = self.job.config.auth_hint
        self.outcome.fatal = err
        in_flight = self.engine.stats.in_flight
        more = f"; waiting for the {in_flight} requests in flight" if in_flight else ""
        self.say(f"stopping: {why}{more}")
        self.engine.stop(cancel=False, grace=self.options.grace)

    def _on_signal(self, signum: int) -> None:
        self.outcome.interrupted_by = signum
        engine = self.engine
        if engine is None:
            return
        in_flight = engine.stats.in_flight
        if in_flight:
            self.say(
                f"stopping: waiting up to {self.options.grace:g} s for the {in_flight} requests in flight "
                "(Ctrl-C again to stop at once)"
            )
        engine.stop(cancel=False, grace=self.options.grace)

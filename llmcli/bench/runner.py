"""A bench run: probe the server, then one engine run per stage, with live progress and Ctrl-C.

Runs its own event loop (`Runner.run()` is synchronous). Signals are the loop's (interrupts.
asyncio_signals): the first SIGINT/SIGTERM stops issuing and cancels what is in flight, and what
completed is reported, marked interrupted; a second one ends the process at once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from .. import interrupts
from ..errors import AuthFailed, Interrupted, UsageError
from ..load.types import EngineOptions, LoadRequest, LoadShape, RequestRecord, RunSummary, StopWhen
from ..transport.base import TransportConfig
from .datasets import Dataset, Prompt, calibrate, calibration_prompt
from .metrics import stage_metrics
from .progress import Progress, Snapshot

REFRESH_S = 0.25
PROBE_PROMPT = "Hello"


@dataclass
class RequestTemplate:
    """Turns a prompt into the JSON body every request of the run sends (streaming, with usage)."""

    model: str
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # temperature, top_p, seed, stop (given only)
    extra: dict[str, Any] = field(default_factory=dict)  # -o KEY=VALUE, wins on a clash
    output_len: int | None = None  # --output-len
    output_len_wins: bool = False  # --output-len given for a file dataset: it beats the file's lengths
    ignore_eos: bool = False

    def check(self) -> None:
        if self.extra.get("stream") is False or self.extra.get("stream") == "false":
            raise UsageError("bench always streams (TTFT needs it): drop -o stream=false")

    def body(self, prompt: Prompt, *, max_tokens: int | None = None) -> dict[str, Any]:
        messages = prompt.messages
        if self.system and not (messages and messages[0].get("role") == "system"):
            messages = [{"role": "system", "content": self.system}, *messages]
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        body.update(self.params)
        out = max_tokens
        if out is None:
            out = (
                self.output_len if (self.output_len_wins or prompt.output_len is None) else prompt.output_len
            )
        if out:
            body["max_tokens"] = out
        if self.ignore_eos:
            body["ignore_eos"] = True  # vLLM and llama.cpp both read this field
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        body.update(self.extra)
        return body


@dataclass
class Stage:
    label: str  # "concurrency 4", "rate 2/s"
    shape: LoadShape


@dataclass
class BenchPlan:
    stages: list[Stage]
    stop: StopWhen
    template: RequestTemplate
    dataset: Dataset
    percentiles: list[float]
    slo: dict[str, float] | None = None
    retries: int = 0
    keep_text: bool = False


@dataclass
class StageResult:
    stage: Stage
    records: list[RequestRecord]
    summary: RunSummary | None
    metrics: dict[str, Any]
    interrupted: bool = False


@dataclass
class BenchResult:
    started_at: datetime
    stages: list[StageResult]
    interrupted_by: int | None = None  # the signal number
    probe: RequestRecord | None = None
    stale_connections: int = 0  # kept-alive connections the server had closed (resent, not errors)


class LiveView(Protocol):
    def update(self, snapshot: Snapshot) -> None: ...
    def stage_done(self, result: StageResult) -> None: ...
    def close(self) -> None: ...


class Runner:
    def __init__(
        self,
        config: TransportConfig,
        plan: BenchPlan,
        *,
        live: Callable[[], LiveView] | None = None,
        on_record: Callable[[int, RequestRecord], None] | None = None,
        auth_hint: str | None = None,
    ):
        self.config = config
        self.plan = plan
        self.live_factory = live
        self.on_record = on_record
        self.auth_hint = auth_hint
        self._signum: int | None = None
        self._engine: Any = None

    def run(self) -> BenchResult:
        with interrupts.shielded():  # until the loop's own handlers are in: a signal is only noted
            return asyncio.run(self._main())

    def _requests(self) -> Iterator[LoadRequest]:
        template = self.plan.template
        for prompt in self.plan.dataset:
            yield LoadRequest(body=template.body(prompt))

    def _on_signal(self, signum: int) -> None:
        self._signum = signum
        if self._engine is not None:
            self._engine.stop(cancel=True)

    async def _main(self) -> BenchResult:
        from ..load.engine import Engine

        loop = asyncio.get_running_loop()
        result = BenchResult(started_at=datetime.now(UTC), stages=[])
        options = EngineOptions(retries=self.plan.retries, keep_text=self.plan.keep_text)
        with interrupts.asyncio_signals(loop, self._on_signal):
            async with Engine(self.config, options) as engine:
                self._engine = engine
                result.probe = await self._probe(engine)
                live = self.live_factory() if self.live_factory is not None else None
                try:
                    for n, stage in enumerate(self.plan.stages, 1):
                        if self._signum is not None:
                            break
                        result.stages.append(await self._stage(engine, stage, n, live))
                finally:
                    if live is not None:
                        live.close()
                result.stale_connections = engine.stale_connections
        result.interrupted_by = self._signum
        return result

    async def _probe(self, engine: Any) -> RequestRecord:
        """One short request before anything is shown: a server that is down, a refused key, an unknown
        model or a rejected option fails here, fast, with the usual error and exit code."""
        rec = await self._one(engine, PROBE_PROMPT)
        dataset = self.plan.dataset
        if dataset.kind == "synthetic" and rec.prompt_tokens and not rec.usage_estimated:
            # How the server's tokenizer counts our words: --input-len is then in its tokens.
            sized = await self._one(engine, calibration_prompt())
            if sized.prompt_tokens and not sized.usage_estimated:
                calibrate(dataset, rec.prompt_tokens, sized.prompt_tokens)
        return rec

    async def _one(self, engine: Any, text: str) -> RequestRecord:
        body = self.plan.template.body(Prompt([{"role": "user", "content": text}]), max_tokens=1)
        records: list[RequestRecord] = []
        await engine.run([LoadRequest(body=body)], shape=LoadShape(concurrency=1), on_record=records.append)
        rec = records[0] if records else None
        if self._signum is not None or rec is None or rec.cancelled:
            raise Interrupted(self._signum or 2)
        if rec.error is not None:
            if isinstance(rec.error, AuthFailed) and self.auth_hint:
                rec.error.hint = self.auth_hint
            raise rec.error
        return rec

    async def _stage(self, engine: Any, stage: Stage, n: int, live: LiveView | None) -> StageResult:
        plan = self.plan
        progress = Progress(stage.label, n, len(plan.stages), plan.stop)
        records: list[RequestRecord] = []
        log = self.on_record

        def collect(rec: RequestRecord) -> None:
            records.append(rec)
            progress.add(rec)
            if log is not None:
                log(n, rec)

        refresher = None
        if live is not None:

            async def refresh() -> None:
                while True:
                    live.update(progress.snapshot(engine.stats, engine.now()))
                    await asyncio.sleep(REFRESH_S)

            refresher = asyncio.create_task(refresh())
        try:
            summary = await engine.run(self._requests(), shape=stage.shape, stop=plan.stop, on_record=collect)
        finally:
            if refresher is not None:
                refresher.cancel()
        metrics = stage_metrics(
            records,
            percentiles=plan.percentiles,
            slo=plan.slo,
            origin=summary.stats.first_measured_due,
            peak_in_flight=summary.stats.peak_in_flight,
        )
        result = StageResult(stage, records, summary, metrics, interrupted=self._signum is not None)
        if live is not None:
            live.stage_done(result)
        return result


def stage_label(shape: LoadShape) -> str:
    if shape.rate is None:
        return f"concurrency {shape.concurrency}"
    rate = "inf" if math.isinf(shape.rate) else f"{shape.rate:g}"
    cap = f", at most {shape.concurrency} in flight" if shape.concurrency else ""
    return f"rate {rate}/s{cap}"

"""bench on screen: the live panel (stderr) and the report tables (stdout). Knows figures, never HTTP.

The report is drawn by rich into whatever stream it is given; into a pipe or a file that means plain
text: no colour, no cursor motion (rich emits neither when the stream is not a terminal).
"""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

METRIC_ROWS = (("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL"), ("e2el", "E2EL"))


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def _rate(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:,.2f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def _seconds(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    return f"{int(value // 60)}m{int(value % 60):02d}s"


# -- live panel ----------------------------------------------------------------------------------


class TransientLive:
    """A few lines at the bottom of the terminal (stderr), redrawn when `update` is called with a new
    snapshot; transient: gone when the run ends, before the report is written. Subclasses `_render`."""

    def __init__(self, file: TextIO | None = None):
        self.console = Console(file=file or sys.stderr, highlight=False)
        self.live = Live(
            console=self.console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()

    def update(self, s: Any) -> None:
        self.live.update(self._render(s), refresh=True)

    def _render(self, s: Any) -> Any:
        raise NotImplementedError


class BenchLive(TransientLive):
    """bench's panel, redrawn ~4 times a second; a finished stage leaves one line above it."""

    def _render(self, s: Any) -> Group:
        head = Text.assemble((f"bench · {s.label}", "bold"), f"   stage {s.stage}/{s.stages}")
        if s.warmup_left:
            head.append(f"   warming up ({s.warmup_left} to go)", style="yellow")
        if s.target_requests:
            goal = f"{s.done}/{s.target_requests} requests"
        elif s.target_seconds:
            goal = f"{_seconds(s.elapsed)} of {_seconds(s.target_seconds)}"
        else:
            goal = f"{s.done} requests"
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=1.0, completed=s.fraction, width=40), Text(goal))
        limit = "" if math.isinf(s.concurrency) else f" (limit {s.concurrency:g})"
        failed = Text(f"failed {s.failed}", style="red" if s.failed else "")
        counts = Text.assemble(f"in flight {s.in_flight}{limit}   completed {s.completed}   ", failed)
        ttft = "-" if s.ttft_p50 is None else f"{s.ttft_p50 * 1000:,.0f} ms"
        eta = "" if s.eta is None else f"   ETA {_seconds(s.eta)}"
        rates = Text(
            f"output {s.output_tps:,.0f} tok/s   TTFT p50 {ttft}   elapsed {_seconds(s.elapsed)}{eta}"
        )
        return Group(head, bar, counts, rates)

    def stage_done(self, result: Any) -> None:
        m = result.metrics
        line = (
            f"✓ {result.stage.label}: {m['completed']} done, {m['failed']} failed · "
            f"{_rate(m['request_throughput'], 'req/s')} · {_rate(m['output_throughput'], 'tok/s')} · "
            f"TTFT p50 {_ms(m['median_ttft_ms'])} ms"
        )
        if result.interrupted:
            line = "✗ " + line[2:] + " (interrupted)"
        self.live.console.print(line, highlight=False)

    def close(self) -> None:
        self.live.stop()


# -- the report ----------------------------------------------------------------------------------


def print_report(doc: dict[str, Any], out: TextIO, *, terminal: bool, color: bool = True) -> None:
    console = Console(
        file=out,
        force_terminal=terminal,
        no_color=not (terminal and color),
        highlight=False,
        width=None if terminal else 100,
        emoji=False,
    )
    stages = doc["stages"]
    origin = doc["load"]["latency_origin"]
    for stage in stages:
        _stage(console, doc, stage, len(stages), origin)
    if len(stages) > 1:
        _sweep(console, doc)
    if doc["interrupted"]:
        console.print("interrupted: the figures cover what completed before Ctrl-C")
    if not stages:
        console.print("no stage ran")


def _stage(console: Console, doc: dict[str, Any], s: dict[str, Any], count: int, origin: str) -> None:
    title = f"stage {s['stage']}/{count}: {s['label']}" if count > 1 else s["label"]
    mode = (
        "open loop, latency from each request's due time"
        if origin == "due"
        else ("closed loop, latency from each request's start")
    )
    head = Text.assemble((title, "bold"), f"  ({mode})")
    if s["interrupted"]:
        head.append("  INTERRUPTED", style="bold red")
    console.print(head)
    lines = Table.grid(padding=(0, 2))
    lines.add_column(style="dim")
    lines.add_column()
    lines.add_row(
        "requests",
        f"{s['completed']} completed, {s['failed']} failed"
        + (f", {s['cancelled']} cancelled" if s["cancelled"] else "")
        + f" in {s['duration']:.2f} s",
    )
    lines.add_row(
        "throughput",
        f"{_rate(s['request_throughput'], 'req/s')} · output {_rate(s['output_throughput'], 'tok/s')} · "
        f"total {_rate(s['total_token_throughput'], 'tok/s')} · peak output "
        f"{_rate(s['max_output_tokens_per_s'], 'tok/s')}",
    )
    estimated = " (estimated: the server sent no usage)" if s["usage_estimated"] else " (server usage)"
    if s["mean_input_tokens"] is not None:
        lines.add_row(
            "tokens",
            f"{s['total_input_tokens']:,} in, {s['total_output_tokens']:,} out; per request "
            f"{s['mean_input_tokens']:.1f} in, {s['mean_output_tokens']:.1f} out{estimated}",
        )
    if s["request_goodput"] is not None:
        slo = ", ".join(f"{k} ≤ {_ms(v)} ms" for k, v in (doc.get("slo_ms") or {}).items())
        lines.add_row(
            "goodput",
            f"{_rate(s['request_goodput'], 'req/s')} ({s['good_requests']} of {s['completed']} met {slo})",
        )
    lines.add_row(
        "in flight",
        f"at most {s['max_concurrent_requests']}; wait for a slot mean {_ms(s['mean_wait_ms'])} ms, "
        f"max {_ms(s['max_wait_ms'])} ms",
    )
    for kind, e in s["errors"].items():
        lines.add_row("errors", f"{kind} ×{e['count']} (exit {e['exit_code']}): {e['first_message']}")
    console.print(lines)
    stats = ["mean", "median", "std", *(p for p in _percentile_keys(doc))]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("ms")
    for stat in stats:
        table.add_column(stat, justify="right")
    for key, name in METRIC_ROWS:
        table.add_row(name, *(_ms(s.get(f"{stat}_{key}_ms")) for stat in stats))
    console.print(table)


def _percentile_keys(doc: dict[str, Any]) -> list[str]:
    from ..bench.parse import percentile_key

    return [percentile_key(p) for p in doc["percentiles"]]


def _sweep(console: Console, doc: dict[str, Any]) -> None:
    top = _percentile_keys(doc)[-1] if doc["percentiles"] else "median"
    table = Table(title="sweep", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False)
    for name in (
        "stage",
        "req/s",
        "out tok/s",
        "TTFT p50",
        f"TTFT {top}",
        "TPOT p50",
        f"TPOT {top}",
        "E2EL p50",
        "failed",
    ):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for s in doc["stages"]:
        table.add_row(
            s["label"] + (" ✗" if s["interrupted"] else ""),
            _rate(s["request_throughput"], ""),
            _rate(s["output_throughput"], ""),
            _ms(s["median_ttft_ms"]),
            _ms(s.get(f"{top}_ttft_ms")),
            _ms(s["median_tpot_ms"]),
            _ms(s.get(f"{top}_tpot_ms")),
            _ms(s["median_e2el_ms"]),
            str(s["failed"]),
        )
    console.print(table)
    console.print("latencies in ms")

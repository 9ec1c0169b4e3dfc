"""What the resource commands draw: tables of files, batches and jobs, a batch's progress bar, and a
fine-tuning job's live status with its training-loss chart (plotext). The only place that draws them.

Live views go to stderr and only when it is a terminal; callers decide that and pass `live=False`
otherwise, so nothing here writes a control sequence into a pipe.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .sink import neutralise


def when(ts: Any) -> str:
    """A Unix time as `YYYY-MM-DD HH:MM:SS` UTC (empty when absent)."""
    if not isinstance(ts, int | float) or ts <= 0:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def cell(value: Any) -> str:
    if value is None:
        return ""
    return neutralise(str(value))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> None:
    """A table on stdout (a terminal)."""
    out = Console(highlight=False)
    if not rows:
        out.print(empty)
        return
    t = Table(box=None, pad_edge=False)
    for i, name in enumerate(columns):
        t.add_column(name, style="bold" if i == 0 else None, overflow="fold")
    for row in rows:
        t.add_row(*(Text(cell(v)) for v in row))
    out.print(t)


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """One object's fields as a two-column table on stdout (a terminal)."""
    out = Console(highlight=False)
    t = Table(box=None, pad_edge=False, show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value", overflow="fold")
    for name, value in pairs:
        t.add_row(name, Text(cell(value)))
    out.print(t)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


# --- a batch's progress ----------------------------------------------------------------------------


class BatchProgress:
    """A progress bar on stderr from a batch's request_counts and status (a terminal only)."""

    def __init__(self, batch_id: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.fields[status]:<11}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[batch]}"),
            console=stderr_console(),
            transient=False,
        )
        self._task = self._progress.add_task(
            "batch", total=None, status="waiting", failed="", batch=neutralise(batch_id)
        )

    def __enter__(self) -> BatchProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, batch: dict[str, Any]) -> None:
        counts = batch.get("request_counts") or {}
        total = counts.get("total") or None
        done = (counts.get("completed") or 0) + (counts.get("failed") or 0)
        failed = counts.get("failed") or 0
        self._progress.update(
            self._task,
            total=total,
            completed=done,
            status=cell(batch.get("status")),
            failed=f"[red]{failed} failed" if failed else "",
        )


# --- a fine-tuning job, live ------------------------------------------------------------------------


def loss_chart(
    train: Sequence[tuple[float, float]], valid: Sequence[tuple[float, float]], *, width: int, height: int
) -> str:
    """Training (and validation) loss against step, as terminal text with colour codes (plotext)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro")
    if train:
        plt.plot([s for s, _ in train], [v for _, v in train], label="train loss")
    if valid:
        plt.plot([s for s, _ in valid], [v for _, v in valid], label="valid loss")
    plt.xlabel("step")
    return plt.build()


class FollowView:
    """stderr: a status line and the loss chart, redrawn in place; event lines are printed above it.

    Events are the command's data: when stdout is the same terminal they are printed through the live
    display (so they scroll above it); when stdout is a pipe they go there untouched, by the caller.
    """

    CHART_HEIGHT = 14

    def __init__(self, job_id: str):
        from rich.live import Live

        self.console = stderr_console()
        self.job_id = neutralise(job_id)
        self.status = "waiting"
        self.detail = ""
        self.train: list[tuple[float, float]] = []
        self.valid: list[tuple[float, float]] = []
        self._live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=False, auto_refresh=False
        )

    def __enter__(self) -> FollowView:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.update(self._render(), refresh=True)
        self._live.stop()

    def event_line(self, line: str) -> None:
        self._live.console.print(Text(line), soft_wrap=True)

    def update(self, job: dict[str, Any], *, train: list, valid: list) -> None:
        self.status = cell(job.get("status"))
        self.train, self.valid = train, valid
        step = f"step {int(train[-1][0])}" if train else ""
        model = cell(job.get("fine_tuned_model") or job.get("model"))
        self.detail = "  ".join(x for x in (step, model) if x)
        self._live.update(self._render(), refresh=True)

    def _render(self) -> Group:
        head = Text.assemble((f"{self.status:<16}", "bold"), (self.job_id, "dim"), "  ", self.detail)
        if not self.train and not self.valid:
            return Group(head)
        width = max(40, min(self.console.width, 120))
        chart = Text.from_ansi(loss_chart(self.train, self.valid, width=width, height=self.CHART_HEIGHT))
        return Group(chart, head)


def is_terminal(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

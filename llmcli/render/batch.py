"""`batch run` on screen: a progress bar with its figures at the bottom of the terminal (stderr), notes
printed above it. The caller creates it only when stderr is a terminal; it knows snapshots, never HTTP."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .bench import TransientLive, _seconds


class BatchRunLive(TransientLive):
    """Two lines, redrawn ~4 times a second; transient (gone at the end, before the summary)."""

    def note(self, text: str) -> None:
        self.live.console.print(f"llmcli: {text}", highlight=False, markup=False)

    def _render(self, s: Any) -> Group:
        bar = Table.grid(padding=(0, 1))
        fraction = s.done / s.total if s.total else 1.0
        bar.add_row(
            Text("batch run", style="bold"),
            ProgressBar(total=1.0, completed=fraction, width=40),
            Text(f"{s.done:,}/{s.total:,}  {fraction:.0%}"),
        )
        failed = Text(f"failed {s.failed:,}", style="red" if s.failed else "")
        limit = "" if math.isinf(s.limit) else f" (limit {s.limit:g})"
        eta = "" if s.eta is None else f" · ETA {_seconds(s.eta)}"
        figures = Text.assemble(
            f"done {s.succeeded:,} · ",
            failed,
            f" · in flight {s.in_flight}{limit} · {s.requests_per_s:,.1f} req/s · "
            f"{s.tokens_per_s:,.0f} tok/s · elapsed {_seconds(s.elapsed)}{eta}",
        )
        rows = [bar, figures]
        if s.stopping:
            rows.append(
                Text(
                    "stopping: waiting for the requests in flight (Ctrl-C again to stop at once)",
                    style="yellow",
                )
            )
        elif s.paused > 0:
            rows.append(
                Text(f"paused {s.paused:.1f} s: the server asked to wait (429 Retry-After)", style="yellow")
            )
        return Group(*rows)

    def close(self) -> None:
        self.live.stop()

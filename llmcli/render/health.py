"""Drawing `llmcli health`: rows as checks complete, the --watch live table, plain lines for pipes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .sink import neutralise, write_out
from .sparkline import sparkline

STYLE = {"ok": "green", "warn": "yellow", "skip": "dim", "fail": "bold red"}
WORD = {"ok": "ok", "warn": "warn", "skip": "skip", "fail": "FAIL"}
NAME_W, STATUS_W, TIME_W = 9, 6, 8


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _detail(result: Any) -> str:
    text = result.detail
    if result.status == "fail" and result.hint:
        text += f" — {result.hint}"
    return neutralise(text)


def plain_line(result: Any) -> str:
    """One check as a line of plain text: name, result, time, detail (aligned, no styling)."""
    return f"{result.name:<{NAME_W}} {WORD[result.status]:<{STATUS_W}} {seconds(result.seconds):>{TIME_W}}  {_detail(result)}"


def plain_header() -> str:
    return f"{'check':<{NAME_W}} {'result':<{STATUS_W}} {'time':>{TIME_W}}  detail"


def summary(results: Sequence[Any], code: int) -> str:
    failed = [r for r in results if r.status == "fail"]
    warned = [r for r in results if r.status == "warn"]
    skipped = [r for r in results if r.status == "skip"]
    passed = [r for r in results if r.status in ("ok", "warn")]
    if failed:
        first = failed[0]
        return f"{len(failed)} of {len(results)} checks failed; first: {first.name} (exit {code})"
    text = f"{len(passed)} checks passed"
    if warned:
        text += f", {len(warned)} with a warning ({', '.join(r.name for r in warned)})"
    if skipped:
        text += f"; {len(skipped)} skipped ({', '.join(r.name for r in skipped)})"
    return text


def _table(header: bool) -> Table:
    table = Table(box=None, pad_edge=False, show_header=header, header_style="bold", expand=False)
    table.add_column("check", width=NAME_W, no_wrap=True)
    table.add_column("result", width=STATUS_W, no_wrap=True)
    table.add_column("time", width=TIME_W, justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    return table


def _add(table: Table, result: Any) -> None:
    table.add_row(
        result.name,
        Text(WORD[result.status], style=STATUS_STYLE(result.status)),
        seconds(result.seconds),
        Text(_detail(result), style="dim" if result.status == "skip" else ""),
    )


def STATUS_STYLE(status: str) -> str:  # noqa: N802 - reads as a table lookup
    return STYLE.get(status, "")


class Progress:
    """Only a spinner on stderr naming the running check (for --format json on a terminal)."""

    def __init__(self, *, spinner: bool = True):
        self._spinner_wanted = spinner
        self._spinner = None

    def begin(self, name: str) -> None:
        if self._spinner_wanted:
            from .spinner import Spinner

            self._spinner = Spinner(label=f"checking {name}", delay=0.15)
            self._spinner.start()

    def close(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    def row(self, result: Any) -> None:
        self.close()

    def end(self, results: Sequence[Any], code: int) -> None:
        self.close()


class TerminalReport(Progress):
    """Rows on a terminal, each printed when its check completes; a spinner on stderr (when it is a
    terminal too) names the check that is running."""

    def __init__(self, title: str, *, spinner: bool):
        self.console = Console(highlight=False)
        self.console.print(Text(title, style="bold"))
        header = _table(True)
        self.console.print(header)  # the header alone: a table with no rows prints only it
        super().__init__(spinner=spinner)

    def row(self, result: Any) -> None:
        self.close()
        table = _table(False)
        _add(table, result)
        self.console.print(table)

    def end(self, results: Sequence[Any], code: int) -> None:
        self.close()
        style = "bold red" if code else "green"
        self.console.print(Text(summary(results, code), style=style))


class PlainReport:
    """Into a pipe: a header, then one plain line per check as it completes, then the summary."""

    def __init__(self, title: str, out=None):
        self.out = out or sys.stdout.buffer
        self._write(title)
        self._write(plain_header())

    def _write(self, line: str) -> None:
        write_out(self.out, (line + "\n").encode("utf-8"))

    def begin(self, name: str) -> None: ...

    def row(self, result: Any) -> None:
        self._write(plain_line(result))

    def end(self, results: Sequence[Any], code: int) -> None:
        self._write(summary(results, code))

    def close(self) -> None: ...


def watch_frame(
    title: str,
    results: Sequence[Any],
    pending: Sequence[str],
    latencies: list[float | None],
    rounds: int,
    failures: int,
    width: int,
) -> Group:
    """The --watch live view: this round's checks so far (the rest pending), the latency history."""
    table = _table(True)
    for r in results:
        _add(table, r)
    for name in pending:
        table.add_row(
            name, Text("…", style="dim"), "", Text("running" if name == pending[0] else "", style="dim")
        )
    known = [v for v in latencies if v is not None]
    spark_w = max(10, min(60, width - 40))
    line = Text("latency ", style="bold")
    line.append(sparkline(latencies, spark_w), style="cyan")
    if known:
        line.append(f"  last {seconds(known[-1])} · min {seconds(min(known))} · max {seconds(max(known))}")
    head = Text(title, style="bold")
    head.append(f"   round {rounds} · {failures} failed · Ctrl-C to stop", style="dim")
    return Group(head, table, line)


def watch_line(when: str, results: Sequence[Any], code: int, latency: float | None) -> str:
    """One --watch round as a plain line (stdout not a terminal, --format text)."""
    passed = sum(1 for r in results if r.status in ("ok", "warn"))
    state = "ok" if code == 0 else f"FAIL exit {code}"
    line = f"{when}  {state}  {passed}/{len(results)} passed  latency {seconds(latency)}"
    failed = next((r for r in results if r.status == "fail"), None)
    if failed is not None:
        line += f"  {failed.name}: {neutralise(failed.detail)}"
    return line


def final_report(results: Sequence[Any], code: int, rounds: int, latencies: list[float | None]) -> None:
    """After --watch on a terminal: the last round as a table, and what the rounds measured."""
    console = Console(highlight=False)
    table = _table(True)
    for r in results:
        _add(table, r)
    console.print(table)
    known = [v for v in latencies if v is not None]
    line = f"{rounds} rounds; last: {summary(results, code)}"
    if known:
        ordered = sorted(known)
        line += f"; latency min {seconds(ordered[0])}, median {seconds(ordered[len(ordered) // 2])}, max {seconds(ordered[-1])}"
    console.print(Text(line, style="bold red" if code else ""))

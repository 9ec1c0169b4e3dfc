"""Drawing `llmcli top`: the live view, the --once table, and one line per interval for pipes."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .health import seconds
from .sink import neutralise
from .sparkline import sparkline

RATES = ("prompt_tokens", "generation_tokens", "preemptions")


def _num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v)}"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def value_text(q: Any) -> str:
    """A quantity as words: a gauge's value, a counter's rate, a histogram's mean/p50/p99."""
    if q.kind == "absent":
        return "not exposed"
    if q.kind == "gauge":
        if q.value is None:
            return "-"
        if q.key == "kv_cache_usage":
            return f"{q.value * 100:.1f} %"
        return _num(q.value)
    if q.kind == "counter":
        if q.value is None:
            return "… (after the next scrape)"
        text = f"{q.value:.1f} /s"
        if q.key == "preemptions":
            text += f" ({_num(q.delta or 0)} in the interval)"
        return text
    if q.count is None:
        return "… (after the next scrape)"
    if not q.count:
        return "no requests finished in the interval"
    return f"mean {seconds(q.mean)} · p50 {seconds(q.p50)} · p99 {seconds(q.p99)} ({_num(q.count)} requests)"


def _title(url: str, view: Any, interval: float) -> Text:
    head = Text(f"llmcli top — {neutralise(url)}", style="bold")
    head.append(f" · {view.server or 'unknown server'}", style="cyan")
    window = f"{view.interval_s:.1f} s" if view.interval_s else "- (first scrape)"
    head.append(f"\nscraped every {interval:g} s; rates and latencies cover the last {window}", style="dim")
    return head


def top_frame(
    url: str,
    view: Any,
    history: dict[str, list[float | None]],
    interval: float,
    width: int,
    height: int,
    error: str | None,
) -> Group:
    parts: list[Any] = [_title(url, view, interval)]
    spark_w = max(8, min(40, width - 70))
    if view.server is not None:
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        table.add_column("history", no_wrap=True)
        for key, q in view.quantities.items():
            spark = ""
            if key in RATES and q.kind == "counter":
                spark = sparkline(history.get(key, []), spark_w)
            style = "dim" if q.kind == "absent" else ""
            table.add_row(q.label, Text(value_text(q), style=style), Text(spark, style="cyan"))
        parts.append(table)
    else:
        parts.append(
            Text(
                "metrics of an unknown server (llmcli knows vLLM, llama.cpp, SGLang and TGI names):",
                style="dim",
            )
        )
        parts.append(generic_table(view, max(3, height - 6)))
    parts.append(
        Text(
            "Ctrl-C to stop" + (f" · last scrape failed: {neutralise(error)}" if error else ""),
            style="red" if error else "dim",
        )
    )
    return Group(*parts)


def generic_table(view: Any, rows: int | None = None) -> Table:
    table = Table(box=None, pad_edge=False)
    table.add_column("metric", overflow="fold")
    table.add_column("kind", style="dim")
    table.add_column("value", justify="right")
    table.add_column("per s", justify="right")
    shown = view.generic if rows is None else view.generic[:rows]
    for m in shown:
        table.add_row(
            neutralise(m.name),
            m.kind,
            _num(m.value) if m.value is not None else "-",
            f"{m.per_s:.2f}" if m.per_s is not None else "",
        )
    if rows is not None and len(view.generic) > rows:
        table.add_row(f"… {len(view.generic) - rows} more", "", "", "")
    return table


def print_once(url: str, view: Any, interval: float, *, terminal: bool) -> None:
    """--once --format text: the snapshot as a table (styled only on a terminal)."""
    if not terminal:
        from .sink import write_out

        write_out(sys.stdout.buffer, plain_once(url, view, interval).encode("utf-8"))
        return
    console = Console(highlight=False)
    console.print(_title(url, view, interval))
    if view.server is None:
        console.print(generic_table(view))
        return
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    for q in view.quantities.values():
        table.add_row(q.label, value_text(q))
    console.print(table)


def plain_once(url: str, view: Any, interval: float) -> str:
    """The --once table as plain text: no styling, no padding at line ends."""
    lines = [_title(url, view, interval).plain]
    if view.server is None:
        for m in view.generic:
            rate = f"  {m.per_s:.2f}/s" if m.per_s is not None else ""
            lines.append(
                f"{neutralise(m.name)}  {m.kind}  {_num(m.value) if m.value is not None else '-'}{rate}"
            )
    else:
        width = max(len(q.label) for q in view.quantities.values()) + 2
        lines += [f"{q.label:<{width}}{value_text(q)}" for q in view.quantities.values()]
    return "\n".join(lines) + "\n"


def record_line(when: str, view: Any) -> str:
    """One interval as one plain line (a pipe without --once, --format text)."""
    if view.server is None:
        rates = [f"{m.name}={m.per_s:.2f}/s" for m in view.generic if m.per_s]
        return f"{when}  unknown server  " + (" ".join(rates[:8]) or "no counters moved")
    q = view.quantities
    parts = [when, view.server]
    for key, name in (("requests_running", "running"), ("requests_waiting", "waiting")):
        if q[key].value is not None:
            parts.append(f"{name}={_num(q[key].value)}")
    if q["kv_cache_usage"].value is not None:
        parts.append(f"kv={q['kv_cache_usage'].value * 100:.1f}%")
    for key, name in (("prompt_tokens", "prompt_tps"), ("generation_tokens", "gen_tps")):
        if q[key].value is not None:
            parts.append(f"{name}={q[key].value:.1f}")
    for key, name in (("ttft", "ttft"), ("e2e_latency", "e2e")):
        if q[key].p50 is not None:
            parts.append(f"{name}_p50={q[key].p50:.3f}s {name}_p99={q[key].p99:.3f}s")
    return "  ".join(parts)

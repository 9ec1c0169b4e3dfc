"""bench's terminal charts, drawn by plotext (5.x: its long-stable plot/hist/build API).

A sweep: throughput against the load, and TTFT / TPOT (p50 and the highest percentile asked) against
output throughput — the curve where latency turns up is the server's knee. A single stage: the
distributions of TTFT and E2EL. For stderr on a terminal only; colours unless NO_COLOR.
"""

from __future__ import annotations

from typing import Any

HEIGHT = 14


def sweep_charts(doc: dict[str, Any], *, width: int, color: bool) -> str:
    import plotext as plt

    from ..bench.parse import percentile_key

    stages = [s for s in doc["stages"] if s["completed"]]
    if len(stages) < 2:
        return ""
    open_loop = doc["load"]["mode"] == "open"
    load = [s["request_rate"] if open_loop else s["max_concurrency"] for s in stages]
    x_name = "request rate (req/s)" if open_loop else "concurrency"
    tput = [s["output_throughput"] for s in stages]
    top = percentile_key(doc["percentiles"][-1]) if doc["percentiles"] else "median"
    out = []

    plt.clear_figure()
    plt.plot(load, tput, label="output tok/s", marker="braille")
    plt.plot(load, [s["request_throughput"] for s in stages], label="req/s", marker="braille", yside="right")
    plt.title(f"throughput vs {x_name}")
    plt.xlabel(x_name)
    out.append(_build(plt, width, color))

    for key, name in (("ttft", "TTFT"), ("tpot", "TPOT")):
        plt.clear_figure()
        plt.plot(tput, [s[f"median_{key}_ms"] or 0 for s in stages], label=f"{name} p50", marker="braille")
        plt.plot(
            tput, [s.get(f"{top}_{key}_ms") or 0 for s in stages], label=f"{name} {top}", marker="braille"
        )
        plt.title(f"{name} (ms) vs output throughput (tok/s)")
        plt.xlabel("output tok/s")
        out.append(_build(plt, width, color))
    return "\n".join(out)


def distribution_charts(samples: dict[str, list[float]], *, width: int, color: bool) -> str:
    """Histograms of per-request values in ms (`samples`: {"TTFT": [...], "E2EL": [...]})."""
    import plotext as plt

    out = []
    for name, values in samples.items():
        if len(values) < 2:
            continue
        plt.clear_figure()
        plt.hist(values, bins=min(40, max(5, len(values) // 3)), label=f"{name} ({len(values)} requests)")
        plt.title(f"{name} distribution (ms)")
        plt.xlabel("ms")
        plt.ylabel("requests")
        out.append(_build(plt, width, color))
    return "\n".join(out)


def _build(plt: Any, width: int, color: bool) -> str:
    plt.plotsize(max(40, min(width, 120)), HEIGHT)
    plt.theme("pro" if color else "clear")
    text = plt.build()
    return text if color else plt.uncolorize(text)

"""`bench --plot FILE`: the same charts as a PNG, SVG, or a self-contained HTML page, for sharing.

matplotlib is an optional extra (`pip install 'llmcli[plot]'`); `available()` is checked before the
run starts, so a missing library costs no benchmark.
"""

from __future__ import annotations

import html
import importlib.util
import io
from typing import Any

FORMATS = (".png", ".svg", ".html")


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def render(doc: dict[str, Any], samples: dict[str, list[float]], fmt: str) -> bytes:
    """The file's bytes for `fmt` (one of FORMATS)."""
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    from matplotlib.figure import Figure

    fig = _figure(Figure, doc, samples)
    buf = io.BytesIO()
    if fmt == ".png":
        fig.savefig(buf, format="png", dpi=120)
        return buf.getvalue()
    fig.savefig(buf, format="svg")
    if fmt == ".svg":
        return buf.getvalue()
    return _page(doc, buf.getvalue().decode("utf-8")).encode("utf-8")


def _figure(Figure: Any, doc: dict[str, Any], samples: dict[str, list[float]]) -> Any:
    from ..bench.parse import percentile_key

    stages = [s for s in doc["stages"] if s["completed"]]
    title = f"llmcli bench · {doc['model_id']} @ {doc['base_url']} · {doc['date']}"
    if len(stages) >= 2:
        open_loop = doc["load"]["mode"] == "open"
        load = [s["request_rate"] if open_loop else s["max_concurrency"] for s in stages]
        x_name = "request rate (req/s)" if open_loop else "concurrency"
        tput = [s["output_throughput"] for s in stages]
        top = percentile_key(doc["percentiles"][-1]) if doc["percentiles"] else "median"
        fig = Figure(figsize=(15, 4.5), layout="constrained")
        a, b, c = fig.subplots(1, 3)
        a.plot(load, tput, "o-", label="output tok/s")
        a.set_xlabel(x_name)
        a.set_ylabel("output tok/s")
        a2 = a.twinx()
        a2.plot(load, [s["request_throughput"] for s in stages], "s--", color="tab:orange", label="req/s")
        a2.set_ylabel("req/s")
        a.set_title(f"throughput vs {x_name}")
        for ax, key, name in ((b, "ttft", "TTFT"), (c, "tpot", "TPOT")):
            ax.plot(tput, [s[f"median_{key}_ms"] for s in stages], "o-", label="p50")
            ax.plot(tput, [s.get(f"{top}_{key}_ms") for s in stages], "s--", label=top)
            for s, xv in zip(stages, tput, strict=False):
                ax.annotate(str(s["label"]).split()[-1], (xv, s[f"median_{key}_ms"] or 0), fontsize=7)
            ax.set_xlabel("output tok/s")
            ax.set_ylabel(f"{name} (ms)")
            ax.set_title(f"{name} vs output throughput")
            ax.legend()
    else:
        fig = Figure(figsize=(11, 4.5), layout="constrained")
        axes = fig.subplots(1, max(1, len(samples)))
        axes = axes if hasattr(axes, "__len__") else [axes]
        for ax, (name, values) in zip(axes, samples.items(), strict=False):
            ax.hist(values, bins=min(40, max(5, len(values) // 3)))
            ax.set_title(f"{name} distribution")
            ax.set_xlabel("ms")
            ax.set_ylabel("requests")
    fig.suptitle(title, fontsize=9)
    return fig


def _page(doc: dict[str, Any], svg: str) -> str:
    from ..bench.parse import percentile_key

    top = percentile_key(doc["percentiles"][-1]) if doc["percentiles"] else "median"
    head = [
        "stage",
        "completed",
        "failed",
        "req/s",
        "output tok/s",
        "TTFT p50 ms",
        f"TTFT {top} ms",
        "TPOT p50 ms",
        f"TPOT {top} ms",
        "E2EL p50 ms",
    ]
    keys = [
        "label",
        "completed",
        "failed",
        "request_throughput",
        "output_throughput",
        "median_ttft_ms",
        f"{top}_ttft_ms",
        "median_tpot_ms",
        f"{top}_tpot_ms",
        "median_e2el_ms",
    ]

    def cell(v: Any) -> str:
        return html.escape(f"{v:,.2f}" if isinstance(v, float) else str(v if v is not None else "-"))

    rows = "".join(
        "<tr>" + "".join(f"<td>{cell(s.get(k))}</td>" for k in keys) + "</tr>" for s in doc["stages"]
    )
    defs = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in doc["definitions"].items()
    )
    svg = svg[svg.find("<svg") :]  # drop the XML prolog: inline in HTML
    title = html.escape(f"llmcli bench: {doc['model_id']} at {doc['base_url']}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
        "dt{font-weight:bold}</style></head><body>"
        f"<h1>{title}</h1><p>{html.escape(doc['date'])} · llmcli {html.escape(doc['llmcli_version'])}"
        f"{' · interrupted' if doc['interrupted'] else ''}</p>{svg}"
        "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + f"</tr>{rows}</table>"
        f"<h2>Definitions</h2><dl>{defs}</dl></body></html>\n"
    )

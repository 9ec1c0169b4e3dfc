"""What `llmcli top` pays for parsing Prometheus text with prometheus_client, beside baselines.

    .venv/bin/python benchmarks/bench_monitor.py [--runs N]

1. Import time, each in a fresh interpreter, median of N runs (default 7), interleaved:
     python -c pass                               the interpreter alone (baseline)
     import httpx                                 what every network command already pays
     import prometheus_client.parser              the parser `top` imports (and only `top`)
     import llmcli.monitor.prom + parser          what `top` adds in total to parse
2. Parse time of one scrape: a vLLM /metrics body (the reference server's vLLM format, several
   label sets) parsed by prometheus_client into a Snapshot, beside a naive line split of the same
   text (a floor: what any parser must at least cost), median of many parses.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

IMPORTS = {
    "python -c pass (baseline)": "pass",
    "import httpx": "import httpx",
    "import prometheus_client.parser": "import prometheus_client.parser",
    "llmcli.monitor.prom.parse (incl. parser)": "from llmcli.monitor.prom import parse; parse('x 1\\n', 0)",
}


def timed_import(code: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - began


def body(copies: int) -> str:
    import refserver_monitor as rm

    state = rm.MonitorState()
    one = rm.vllm_text(state, 5)
    # several engines/models: the same families with other label values
    texts = [one.replace('engine="0"', f'engine="{i}"') for i in range(copies)]
    lines: list[str] = []
    seen: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            if line.startswith("#"):
                if line in seen:
                    continue
                seen.add(line)
            lines.append(line)
    # group samples under their family (exposition format wants a family's samples together)
    families: dict[str, list[str]] = {}
    order: list[str] = []
    current = ""
    for line in lines:
        if line.startswith("# HELP"):
            current = line.split()[2]
            if current not in families:
                families[current] = []
                order.append(current)
        families[current].append(line)
    return "\n".join(line for name in order for line in families[name]) + "\n"


def naive(text: str) -> int:
    n = 0
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            float(value)
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    samples: dict[str, list[float]] = {k: [] for k in IMPORTS}
    for code in IMPORTS.values():  # warm the .pyc caches
        timed_import(code)
    for _ in range(args.runs):
        for name, code in IMPORTS.items():
            samples[name].append(timed_import(code))
    base = statistics.median(samples["python -c pass (baseline)"])
    print(f"import time, median of {args.runs} fresh interpreters")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"  {name:<44} {med * 1000:7.1f} ms   (+{(med - base) * 1000:6.1f} ms over the interpreter)")

    from llmcli.monitor.prom import parse

    text = body(4)
    samples_n = naive(text)
    rounds = 200
    parse(text, 0)
    t_parse, t_naive = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        parse(text, 0)
        t_parse.append(time.perf_counter() - began)
        began = time.perf_counter()
        naive(text)
        t_naive.append(time.perf_counter() - began)
    print(f"\nparse one scrape: {len(text.splitlines())} lines, {samples_n} samples (vLLM format, 4 engines)")
    print(f"  prometheus_client → Snapshot   {statistics.median(t_parse) * 1000:7.3f} ms")
    print(f"  naive line split (floor)       {statistics.median(t_naive) * 1000:7.3f} ms")


if __name__ == "__main__":
    main()

"""Where llmcli's startup time goes: `python -X importtime`, cumulative, top modules.

    /work/venv/bin/python benchmarks/bench_import.py [--runs N] [--top K] [--smoke]

Three import paths, each run N times (default 5) in a fresh interpreter; per module the median over
the runs is shown (microseconds are noisy, the medians are stable enough to rank):

  llmcli --version          the console script itself (what `llmcli --version` imports)
  import llmcli.cli.app     the CLI tree that every command (and `ask`) loads
  llmcli ask               a real streaming `llmcli ask` against the benchmark server
                            (adds what `ask` imports lazily: httpx, httpx-sse, the turn loop, ...)
  llmcli ask --transport sdk   the same with the openai SDK transport

For each: the total, the top-K modules by cumulative time, and self time summed by top-level package.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

PYTHON = sys.executable
LLMCLI = str(Path(sys.executable).parent / "llmcli")

HERE = Path(__file__).resolve().parent


def importtime(argv: list[str], env: dict[str, str]) -> list[tuple[str, int, int, int]]:
    """One run: (module, self us, cumulative us, depth) in the order Python reports them."""
    proc = subprocess.run(
        [PYTHON, "-X", "importtime", *argv], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench_import: {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        try:
            _, rest = line.split(":", 1)
            self_us, cum_us, name = rest.split("|", 2)
        except ValueError:
            continue
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((name.strip(), int(self_us), int(cum_us), depth))
    return rows


def report(title: str, argv: list[str], env: dict[str, str], runs: int, top: int) -> None:
    samples = [importtime(argv, env) for _ in range(runs)]
    cum: dict[str, list[int]] = defaultdict(list)
    self_: dict[str, list[int]] = defaultdict(list)
    totals = []
    for rows in samples:
        totals.append(sum(r[2] for r in rows if r[3] == 0))
        for name, s, c, _ in rows:
            cum[name].append(c)
            self_[name].append(s)
    total = statistics.median(totals)
    print(f"== {title} ==")
    print(f"   command: python -X importtime {' '.join(argv)}")
    print(f"   {len(cum)} modules imported; total import time {total / 1000:.1f} ms (median of {runs} runs)")
    print()
    print(f"   {'cumulative ms':>13}  {'self ms':>8}  {'% total':>7}  module")
    ranked = sorted(cum, key=lambda m: statistics.median(cum[m]), reverse=True)
    for name in ranked[:top]:
        c = statistics.median(cum[name])
        s = statistics.median(self_[name])
        print(f"   {c / 1000:13.1f}  {s / 1000:8.1f}  {100 * c / total:6.1f}%  {name}")
    print()
    by_pkg: dict[str, float] = defaultdict(float)
    for name, values in self_.items():
        by_pkg[name.split(".")[0]] += statistics.median(values)
    print("   self time by top-level package:")
    for pkg, us in sorted(by_pkg.items(), key=lambda kv: kv[1], reverse=True)[:12]:
        print(f"   {us / 1000:13.1f} ms  {100 * us / total:5.1f}%  {pkg}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="python -X importtime report for llmcli's startup.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="one run each, top 3: checks it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.top = 1, 3
    with tempfile.TemporaryDirectory(prefix="llmcli-bench-") as home:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("OPENAI_", "LLMCLI_"))}
        env["LLMCLI_HOME"] = home
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # else the warm-up below cannot cache bytecode
        subprocess.run([LLMCLI, "--version"], env=env, capture_output=True)  # warm the .pyc cache
        report("llmcli --version (console script)", [LLMCLI, "--version"], env, args.runs, args.top)
        report(
            "import llmcli.cli.app (the CLI tree every command loads)",
            ["-c", "import llmcli.cli.app"],
            env,
            args.runs,
            args.top,
        )
        server = subprocess.Popen(
            [PYTHON, str(HERE / "_server.py"), "--oneshot"],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            url = server.stdout.readline().strip()
            if not url.startswith("http://"):
                raise SystemExit("bench_import: the benchmark server did not start")
            ask = [LLMCLI, "ask", "--base-url", url, "-m", "m", "hi"]
            report("llmcli ask (streaming, http transport)", ask, env, args.runs, args.top)
            sdk = [LLMCLI, "ask", "--transport", "sdk", "--base-url", url, "-m", "m", "hi"]
            report("llmcli ask --transport sdk", sdk, env, args.runs, args.top)
        finally:
            server.terminate()
            server.wait(timeout=10)
            server.stdout.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

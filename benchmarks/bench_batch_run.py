"""`llmcli batch run` next to a minimal asyncio loop, and its memory from 10k to 1M input lines.

    python benchmarks/bench_batch_run.py                       # 3 rounds of 20k requests, then 10k and 1M lines
    python benchmarks/bench_batch_run.py --lines 50000 --rounds 5 --sizes 10000,100000
    python benchmarks/bench_batch_run.py --smoke               # seconds; measures nothing (tests)

The server is tests/refserver_bench.py's lean server in `--json` mode, in its own process: every POST is
answered at once with one non-streamed chat.completion (~20 µs of server CPU), so the client is what is
measured. Both clients run as fresh processes over the same batch file (chat requests, a different
prompt per line), at concurrency 64, writing a result line per request:

* **minimal asyncio loop** (the baseline, benchmarks/baselines/batch_asyncio.py): 64 aiohttp workers
  sharing one iterator over the file; each parses its line, posts the body, reads the answer and writes
  a result line (buffered). No validation, retries, error handling, resume or progress;
* **llmcli batch run** `-j 64 --format json`: everything it does — startup, the validation pass over
  the whole file, the probe (GET /models), the engine, one unbuffered write per result line, the summary.

Printed: requests/s over the whole process (spawn to exit: what a user waits for) and over the run
alone (each client's own clock from its first request to its last), median over the rounds, the order
alternating; the ratio llmcli / minimal. Goal: ≥ 0.9 over the whole process.

Then memory: peak RSS (GNU time's %M when /usr/bin/time exists, else ru_maxrss from wait4) of `batch
run` over 10k and 1M lines (a million requests really sent and written), and of a rerun over the 1M
output (nothing to do: the output is read back into the done-set). Goal: flat — what grows with the
input is only the custom_id tables (8 bytes per id in a table at most half full, llmcli/batch/ids.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from refserver_bench import ServerProcess, raise_priority  # noqa: E402

CONCURRENCY = 64
TIME = shutil.which("time") if Path("/usr/bin/time").exists() else None


def make_input(path: Path, n: int) -> Path:
    with open(path, "w") as out:
        for i in range(n):
            body = {
                "model": "lean-model",
                "messages": [{"role": "user", "content": f"Classify ticket {i}: the printer is on fire"}],
            }
            out.write(
                json.dumps(
                    {"custom_id": f"t{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
                )
                + "\n"
            )
    return path


def clean_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLMCLI_", "OPENAI_")) and "PROXY" not in k.upper()
    }
    env["LLMCLI_HOME"] = str(home)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # let the first run cache bytecode, as an installed copy has
    return env


class Proc:
    def __init__(self, wall: float, stdout: str, peak_mb: float):
        self.wall, self.stdout, self.peak_mb = wall, stdout, peak_mb


def run_proc(argv: list[str], env: dict[str, str], folder: Path) -> Proc:
    rss_file = folder / "rss.txt"
    if TIME:
        argv = [TIME, "-f", "%M", "-o", str(rss_file), *argv]
    began = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[-1]} ... failed ({proc.returncode}):\n{stderr[-2000:]}")
    peak_kb = int(rss_file.read_text().split()[-1]) if TIME else usage.ru_maxrss
    return Proc(wall, stdout, peak_kb / 1024)


def llmcli(url: str, src: Path, out: Path, env: dict[str, str], folder: Path) -> tuple[Proc, float]:
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "llmcli", "batch", "run", str(src), "-o", str(out), "-j", str(CONCURRENCY)]
    p = run_proc([*argv, "--base-url", url, "--format", "json"], env, folder)
    doc = json.loads(p.stdout)
    assert doc["failed"] == 0 and doc["exit_code"] == 0, doc
    return p, doc["elapsed_s"]


def minimal(url: str, src: Path, out: Path, env: dict[str, str], folder: Path) -> tuple[Proc, float]:
    out.unlink(missing_ok=True)
    script = HERE / "baselines" / "batch_asyncio.py"
    p = run_proc([sys.executable, str(script), url, str(src), str(out), str(CONCURRENCY)], env, folder)
    return p, json.loads(p.stdout)["elapsed_s"]


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000, help="requests per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="10000,1000000", help="input sizes for the memory runs")
    parser.add_argument("--smoke", action="store_true", help="seconds-long run that measures nothing (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.lines, args.rounds, args.sizes = 300, 1, "300,1000"
    sizes = [int(s) for s in args.sizes.split(",")]

    raise_priority()
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-run-"))
    env = clean_env(folder / "home")
    try:
        with ServerProcess("--json", "--tokens", "16") as srv:
            src = make_input(folder / "in.jsonl", args.lines)
            out = folder / "out.jsonl"
            warm = make_input(folder / "warm.jsonl", 500)
            minimal(srv.base_url, warm, out, env, folder)  # imports cached, the server's first connections
            llmcli(srv.base_url, warm, out, env, folder)
            runs: dict[str, list[tuple[Proc, float]]] = {"minimal": [], "llmcli": []}
            for rnd in range(args.rounds):
                for who in ("minimal", "llmcli") if rnd % 2 == 0 else ("llmcli", "minimal"):
                    fn = minimal if who == "minimal" else llmcli
                    runs[who].append(fn(srv.base_url, src, out, env, folder))
                    assert count_lines(out) == args.lines, who

            memory: list[tuple[int, Proc, float]] = []
            for n in sizes:
                big = make_input(folder / f"in-{n}.jsonl", n)
                big_out = folder / f"out-{n}.jsonl"
                p, elapsed = llmcli(srv.base_url, big, big_out, env, folder)
                assert count_lines(big_out) == n
                memory.append((n, p, elapsed))
            n = sizes[-1]
            again = [sys.executable, "-m", "llmcli", "batch", "run", str(folder / f"in-{n}.jsonl")]
            rerun = run_proc(
                [*again, "-o", str(folder / f"out-{n}.jsonl"), "--base-url", srv.base_url], env, folder
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"batch run vs a minimal asyncio loop — {args.lines:,} requests at concurrency {CONCURRENCY}, "
        f"{args.rounds} rounds, median; server: tests/refserver_bench.py --json (lean, zero delay)"
    )
    print()
    print(f"{'client':<22} {'whole process':>16} {'run alone':>14} {'peak RSS':>10}")
    rate = {}
    for who, label in (("minimal", "minimal asyncio loop"), ("llmcli", "llmcli batch run")):
        whole = statistics.median(args.lines / p.wall for p, _ in runs[who])
        alone = statistics.median(args.lines / e for _, e in runs[who])
        peak = statistics.median(p.peak_mb for p, _ in runs[who])
        rate[who] = (whole, alone)
        print(f"{label:<22} {whole:>10,.0f} req/s {alone:>8,.0f} req/s {peak:>7.1f} MB")
    ratio_whole = rate["llmcli"][0] / rate["minimal"][0]
    ratio_alone = rate["llmcli"][1] / rate["minimal"][1]
    print(
        f"{'ratio llmcli/minimal':<22} {ratio_whole:>15.2f}× {ratio_alone:>13.2f}×   goal ≥ 0.90 (whole process)"
    )
    print()
    print(
        f"memory of batch run at concurrency {CONCURRENCY} (peak RSS, {'GNU time %M' if TIME else 'ru_maxrss'}):"
    )
    print(f"{'input lines':>12} {'peak RSS':>10} {'wall':>9} {'run req/s':>10}")
    for n, p, elapsed in memory:
        print(f"{n:>12,} {p.peak_mb:>7.1f} MB {p.wall:>7.1f} s {n / elapsed:>10,.0f}")
    print(
        f"{'rerun ' + format(sizes[-1], ','):>12} {rerun.peak_mb:>7.1f} MB {rerun.wall:>7.1f} s   (nothing to do: the output read back)"
    )
    growth = memory[-1][1].peak_mb - memory[0][1].peak_mb
    print(f"growth from {sizes[0]:,} to {sizes[-1]:,} lines: {growth:+.1f} MB")
    print(f"throughput goal: {'met' if ratio_whole >= 0.9 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Checking a batch file before anything is sent: lines/s and peak memory, next to a bare baseline.

    python benchmarks/bench_batch_validate.py [--sizes 10000,1000000]

For each size a batch JSONL file of chat requests is written to a temp folder, then two processes run
over it, each started fresh so that its peak RSS (ru_maxrss from os.wait4) is its own:

  baseline   `for line in file: json.loads(line)` — the least any line-by-line check costs
  llmcli     llmcli.batch.validate.validate(): every rule of docs/batch.md, custom_id uniqueness,
             the whole-file counts `batch submit` needs

Memory grows only by the custom_id table from 10k to 1M lines: lines are streamed, and custom_ids are
kept as 64-bit hashes in an open-addressing array (llmcli/batch/ids.py: 16 MB of slots for 1M ids, 24 MB
while it doubles), not as strings, nor the requests themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = """
import json, sys
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        json.loads(line)
        n += 1
print(n)
"""

LLMCLI = """
import sys
from llmcli.batch.reader import Source
from llmcli.batch.validate import validate
with Source(sys.argv[1]) as src:
    report = validate(src)
assert report.ok, report.problems[:3]
print(report.requests)
"""


def make_file(path: Path, n: int) -> None:
    with open(path, "w") as out:
        for i in range(n):
            body = {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "user", "content": f"Classify ticket {i}: the printer is on fire again"}
                ],
            }
            out.write(
                json.dumps(
                    {
                        "custom_id": f"ticket-{i}",
                        "method": "POST",
                        "url": "/v1/chat/completions",
                        "body": body,
                    }
                )
                + "\n"
            )


def run(code: str, path: Path) -> tuple[float, int, int]:
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    out = proc.stdout.read().decode().strip() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"bench_batch_validate: a run failed ({status})")
    return wall, int(out), usage.ru_maxrss // 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"{'lines':>10} {'file MB':>8} {'baseline lines/s':>17} {'llmcli lines/s':>15} {'ratio':>6} {'baseline RSS MB':>16} {'llmcli RSS MB':>14}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"b{n}.jsonl"
            make_file(path, n)
            bw, bn, brss = run(BASELINE, path)
            lw, ln, lrss = run(LLMCLI, path)
            assert bn == ln == n
            mb = path.stat().st_size / 1e6
            print(
                f"{n:>10,} {mb:>8.1f} {n / bw:>17,.0f} {n / lw:>15,.0f} {bw / lw:>6.2f} {brss:>16} {lrss:>14}"
            )
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())

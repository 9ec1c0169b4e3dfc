"""Every benchmark script still runs: each once in its seconds-long --smoke mode (they measure nothing
then; figures are never asserted). A script that rots (an internal it measures was renamed, an option
went away) fails here instead of on the day someone needs the numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


# What each script prints when it ran through (every script must be listed: a new one gets --smoke).
FINISHED = {
    "bench_batch_run.py": "throughput goal:",
    "bench_batch_validate.py": "llmcli RSS MB",
    "bench_cli.py": "all runs produced exactly the expected output.",
    "bench_import.py": "llmcli ask --transport sdk",
    "bench_load.py": "throughput goal:",
    "bench_monitor.py": "parse one scrape",
    "bench_render.py": "2. end to end",
    "bench_shaping.py": "import llmcli.cli.app, fresh",
    "profile_stream.py": "max_queue_depth",
}


def test_every_script_is_covered():
    assert sorted(FINISHED) == SCRIPTS, "give the new benchmark a --smoke mode and list it in FINISHED"


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_in_smoke_mode(script, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMCLI_", "OPENAI_"))}
    env["TMPDIR"] = str(tmp_path)  # whatever a script leaves behind goes with the test's folder
    r = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=240,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert FINISHED.get(script, "(not listed)") in r.stdout, r.stdout[-2000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]

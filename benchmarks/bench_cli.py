"""llmcli against a minimal Python client, side by side, in one run.

    /work/venv/bin/python benchmarks/bench_cli.py [--quick] [--runs N] [--sizes 2000,20000,100000]
    /work/venv/bin/python benchmarks/bench_cli.py --smoke   # every case once, 200 tokens: does it still run?

Measures (every client is a separate process; wall time from spawn to exit, via os.wait4):

  startup    llmcli --version, llmcli --help   vs  `python -c pass` (floor) and `import httpx` (baseline)
  one-shot   llmcli ask --no-stream            vs  a minimal httpx script POSTing the same request
  streaming  llmcli ask [--transport sdk] to a pipe, 2k/20k/100k tokens
                                               vs  a minimal httpx script parsing `data:` lines by hand

Each case runs once as a warm-up, then N times (default 7, --quick: 3 and no 100k), interleaved with
its baseline; the tables show the median and the min. Every run's stdout is checked against the exact
expected answer (a mismatch stops the benchmark with exit status 1). Peak RSS is the client process's
own ru_maxrss from os.wait4. Targets are printed beside the results, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _corpus  # noqa: E402

PYTHON = sys.executable
BIN = Path(sys.executable).parent
LLMCLI = str(BIN / "llmcli")
MODEL = "m"

STARTUP_TARGET = 1.5  # llmcli --version / --help wall time <= 1.5x `import httpx`
ONESHOT_TARGET = 1.3  # llmcli ask --no-stream wall time <= 1.3x the minimal httpx one-shot script
STREAM_TARGET = 0.8  # llmcli tokens/s >= 0.8x the baseline at 100k tokens
FLAT_MB = 5.0  # "flat memory": peak RSS at the largest size within this many MB of the smallest


class BenchError(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# running one client process


@dataclass
class Run:
    wall: float
    rss_kb: int
    rc: int
    out: bytes
    err: bytes


def _drain(fd: int, sink: list[bytes]) -> None:
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return
        sink.append(chunk)


# Peak RSS: os.wait4's ru_maxrss is NOT the child's own peak when the child is spawned from a big
# process: subprocess uses vfork, and at exec() Linux folds the *parent's* RSS high-water mark into the
# child's maxrss (with plain fork the child starts with a copy of the parent's page tables; same effect).
# So the benchmark's own size (tens of MB, growing with the answers it checks) would be reported as the
# floor of every client's peak. GNU time forks the client from a ~2 MB process and reports its
# ru_maxrss, which is the client's own; it is used when present (its fork+exec adds ~1 ms to every
# case's wall time alike). Without it the wait4 figure is used and labelled.
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
_RSS_DIR = tempfile.mkdtemp(prefix="llmcli-bench-rss-")
RSS_SOURCE = (
    "/usr/bin/time %M (the client's own peak)"
    if TIME
    else "os.wait4 ru_maxrss (no /usr/bin/time: includes the benchmark process's own peak as a floor)"
)


def run_once(argv: list[str], env: dict[str, str]) -> Run:
    out: list[bytes] = []
    err: list[bytes] = []
    rss_file = os.path.join(_RSS_DIR, "rss")
    if TIME:
        argv = [TIME, "-f", "%M", "-o", rss_file, *argv]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout.fileno(), out), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr.fileno(), err), daemon=True),
    ]
    for t in readers:
        t.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join()
    proc.stdout.close()
    proc.stderr.close()
    rss_kb = usage.ru_maxrss
    if TIME:
        with open(rss_file, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().split()
        os.unlink(rss_file)
        try:
            rss_kb = int(lines[-1])
        except (IndexError, ValueError):
            raise BenchError(f"cannot read the peak RSS that /usr/bin/time wrote: {lines!r}") from None
    return Run(wall, rss_kb, proc.returncode, b"".join(out), b"".join(err))


# ----------------------------------------------------------------------------------------------
# cases and checks


Check = Callable[[Run], "str | None"]


def expect_exact(expected: str) -> Check:
    want = expected.encode("utf-8")

    def check(run: Run) -> str | None:
        if run.out == want:
            return None
        n = next(
            (i for i, (a, b) in enumerate(zip(run.out, want, strict=False)) if a != b),
            min(len(run.out), len(want)),
        )
        return (
            f"stdout differs from the expected answer at byte {n} "
            f"(got {len(run.out)} bytes, expected {len(want)}): "
            f"got {run.out[max(0, n - 20) : n + 40]!r}, expected {want[max(0, n - 20) : n + 40]!r}"
        )

    return check


def expect_prefix(prefix: bytes) -> Check:
    def check(run: Run) -> str | None:
        return (
            None
            if run.out.startswith(prefix)
            else f"stdout does not start with {prefix!r}: {run.out[:200]!r}"
        )

    return check


def expect_help(run: Run) -> str | None:
    ok = b"Usage" in run.out and b"ask" in run.out
    return None if ok else f"unexpected --help output: {run.out[:200]!r}"


def expect_empty(run: Run) -> str | None:
    return None if run.out == b"" else f"expected no output, got {run.out[:200]!r}"


@dataclass
class Case:
    label: str
    argv: list[str]
    check: Check
    runs: list[Run] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def walls(self) -> list[float]:
        return [r.wall for r in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def rss_mb(self) -> float:
        return max(r.rss_kb for r in self.runs) / 1024


def execute(case: Case, env: dict[str, str], stderr_notes: dict[str, bytes]) -> Run:
    run = run_once(case.argv, {**env, **case.extra_env})
    problem = None if run.rc == 0 else f"exit status {run.rc}"
    if problem is None:
        problem = case.check(run)
    if problem is not None:
        raise BenchError(
            f"{case.label}: {problem}\n  command: {' '.join(case.argv)}\n"
            f"  stderr: {run.err.decode('utf-8', 'replace')[-2000:] or '(empty)'}"
        )
    if run.err.strip() and case.label not in stderr_notes:
        stderr_notes[case.label] = run.err[-500:]
    run.out = run.err = b""  # checked: keep the benchmark process small
    return run


def measure(
    cases: list[Case],
    n: int,
    env: dict[str, str],
    stderr_notes: dict[str, bytes],
    title: str,
    warm_up: bool = True,
) -> None:
    """One warm-up run of each case, then n rounds; the order rotates each round."""
    print(f"  {title}: warm-up" if warm_up else f"  {title}:", end="", file=sys.stderr, flush=True)
    for case in cases if warm_up else ():
        execute(case, env, stderr_notes)
    for i in range(n):
        print(f" {i + 1}", end="", file=sys.stderr, flush=True)
        k = i % len(cases)
        for case in cases[k:] + cases[:k]:
            case.runs.append(execute(case, env, stderr_notes))
    print(file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# the servers


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, str(HERE / "_server.py"), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise BenchError(
                f"the benchmark server did not start ({args}): {self.proc.stderr.read()[-2000:]}"
            )
        self.url = line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------
# environment


def clean_env(home: str) -> dict[str, str]:
    drop_prefixes = ("OPENAI_", "LLMCLI_")
    proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(drop_prefixes) and k.lower() not in proxies
    }
    env["LLMCLI_HOME"] = home
    return env


# ----------------------------------------------------------------------------------------------
# output


def table(headers: list[str], rows: list[list[str]], align: str) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        out = []
        for cell, w, a in zip(cells, widths, align, strict=True):
            out.append(cell.ljust(w) if a == "l" else cell.rjust(w))
        return "  ".join(out).rstrip()

    lines = [fmt(headers), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def ms(x: float) -> str:
    return f"{x * 1000:.1f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def startup_report(
    floor: Case, httpx_base: Case, llm_cases: list[Case], oneshot_base: Case, oneshots: list[Case]
) -> str:
    headers = ["case", "median ms", "min ms", "peak RSS MB", "x floor", "x baseline", "target (x baseline)"]
    rows = []
    for c in (floor, httpx_base):
        rows.append(
            [c.label, ms(c.median), ms(c.best), f"{c.rss_mb:.1f}", f"{c.median / floor.median:.2f}", "", ""]
        )
    for c in llm_cases:
        r = c.median / httpx_base.median
        rows.append(
            [
                c.label,
                ms(c.median),
                ms(c.best),
                f"{c.rss_mb:.1f}",
                f"{c.median / floor.median:.2f}",
                f"{r:.2f}",
                f"<= {STARTUP_TARGET}: {verdict(r <= STARTUP_TARGET)}",
            ]
        )
    rows.append(
        [
            oneshot_base.label,
            ms(oneshot_base.median),
            ms(oneshot_base.best),
            f"{oneshot_base.rss_mb:.1f}",
            f"{oneshot_base.median / floor.median:.2f}",
            "",
            "",
        ]
    )
    for oneshot in oneshots:
        r = oneshot.median / oneshot_base.median
        rows.append(
            [
                oneshot.label,
                ms(oneshot.median),
                ms(oneshot.best),
                f"{oneshot.rss_mb:.1f}",
                f"{oneshot.median / floor.median:.2f}",
                f"{r:.2f}",
                f"<= {ONESHOT_TARGET}: {verdict(r <= ONESHOT_TARGET)}",
            ]
        )
    note = (
        "x floor = median / median of `python -c pass`; x baseline = llmcli median / its baseline's median\n"
        "(startup rows: the `import httpx` script; one-shot row: the httpx one-shot script)."
    )
    return table(headers, rows, "lrrrrrl") + "\n" + note


@dataclass
class StreamGroup:
    tokens: int
    chars: int
    baseline: Case
    others: list[Case]


def stream_report(groups: list[StreamGroup]) -> str:
    headers = ["tokens", "client", "median s", "min s", "tokens/s", "x baseline tok/s", "peak RSS MB"]
    rows = []
    for g in groups:
        base_tps = g.tokens / g.baseline.median
        for c in [g.baseline, *g.others]:
            tps = g.tokens / c.median
            ratio = "" if c is g.baseline else f"{tps / base_tps:.2f}"
            rows.append(
                [
                    f"{g.tokens}",
                    c.label,
                    f"{c.median:.3f}",
                    f"{c.best:.3f}",
                    f"{tps:,.0f}",
                    ratio,
                    f"{c.rss_mb:.1f}",
                ]
            )
    out = [table(headers, rows, "llrrrrr")]
    first, last = groups[0], groups[-1]
    out.append("")
    out.append(
        f"peak RSS growth {first.tokens} -> {last.tokens} tokens (answer: {last.chars / 1e6:.2f} MB of text):"
    )
    width = max(len(c.label) for c in [first.baseline, *first.others])
    for i, base in enumerate([first.baseline, *first.others]):
        big = [last.baseline, *last.others][i]
        growth = big.rss_mb - base.rss_mb
        out.append(f"  {base.label:<{width}}  {base.rss_mb:6.1f} -> {big.rss_mb:6.1f} MB  ({growth:+.1f} MB)")
    out.append("")
    base_tps = last.tokens / last.baseline.median
    for c in last.others:
        ratio = (last.tokens / c.median) / base_tps
        first_c = next(x for x in first.others if x.label == c.label)
        growth = c.rss_mb - first_c.rss_mb
        flat = growth <= FLAT_MB
        out.append(
            f"target at {last.tokens} tokens, {c.label}: >= {STREAM_TARGET}x baseline tokens/s: "
            f"{ratio:.2f}x {verdict(ratio >= STREAM_TARGET)}; flat memory (<= +{FLAT_MB:g} MB from "
            f"{first.tokens}): {growth:+.1f} MB {verdict(flat)}"
        )
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark llmcli against a minimal httpx client.")
    parser.add_argument("--quick", action="store_true", help="3 runs per case and no 100k-token stream")
    parser.add_argument("--runs", type=int, help="runs per case (default 7, --quick 3)")
    parser.add_argument("--sizes", help="comma-separated stream sizes in tokens (default 2000,20000,100000)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every case once, no warm-up, 200 tokens: checks it runs, measures nothing",
    )
    args = parser.parse_args(argv)

    n = args.runs or (1 if args.smoke else 3 if args.quick else 7)
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [200] if args.smoke else [2000, 20000] if args.quick else [2000, 20000, 100000]
    warm_up = not args.smoke
    if not Path(LLMCLI).exists():
        raise SystemExit(f"bench_cli: no console script at {LLMCLI}; run with the venv's python")

    stderr_notes: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="llmcli-bench-") as home:
        env = clean_env(home)
        version = run_once([LLMCLI, "--version"], env).out.decode().strip()
        print(
            f"llmcli benchmark: {n} runs per case after 1 warm-up (median, min); {version} at {LLMCLI}\n"
            f"Python {platform.python_version()} ({PYTHON}), {platform.system()} {platform.release()}, "
            f"{os.cpu_count()} CPUs; LLMCLI_HOME={home} (empty), no OPENAI_*/LLMCLI_*/proxy variables\n"
            f"peak RSS: {RSS_SOURCE}",
            flush=True,
        )

        # -- startup + one-shot ------------------------------------------------------------------
        floor = Case("python -c pass (floor)", [PYTHON, "-c", "pass"], expect_empty)
        httpx_base = Case(
            "python: import httpx (baseline)", [PYTHON, str(HERE / "baselines/import_httpx.py")], expect_empty
        )
        version_case = Case("llmcli --version", [LLMCLI, "--version"], expect_prefix(b"llmcli "))
        help_case = Case("llmcli --help", [LLMCLI, "--help"], expect_help)
        print("running:", file=sys.stderr)
        measure([floor, httpx_base, version_case, help_case], n, env, stderr_notes, "startup", warm_up)

        with Server("--oneshot") as srv:
            oneshot_base = Case(
                "httpx one-shot POST (baseline)",
                [PYTHON, str(HERE / "baselines/oneshot_httpx.py"), srv.url, MODEL, "hi"],
                expect_exact(_corpus.ONESHOT_TEXT),
            )
            oneshot = Case(
                "llmcli ask --no-stream",
                [LLMCLI, "ask", "--no-stream", "--base-url", srv.url, "-m", MODEL, "hi"],
                expect_exact(_corpus.ONESHOT_TEXT),
            )
            # The same request as the baseline does it, for a server that needs no key: no key
            # anywhere (no keyring look-up either) and no history write.
            oneshot_keyless = Case(
                "llmcli ask --no-stream --no-save, no key",
                [LLMCLI, "ask", "--no-stream", "--no-save", "--base-url", srv.url, "-m", MODEL, "hi"],
                expect_exact(_corpus.ONESHOT_TEXT),
            )
            # The same with a key in the environment. The first row is what a keyless user with
            # history on pays.
            oneshot_lean = Case(
                "llmcli ask --no-stream --no-save, key in env",
                [LLMCLI, "ask", "--no-stream", "--no-save", "--base-url", srv.url, "-m", MODEL, "hi"],
                expect_exact(_corpus.ONESHOT_TEXT),
                extra_env={"LLMCLI_API_KEY": "sk-bench-not-checked"},
            )
            oneshots = [oneshot, oneshot_keyless, oneshot_lean]
            measure([oneshot_base, *oneshots], n, env, stderr_notes, "one-shot", warm_up)

        # -- streaming -----------------------------------------------------------------------------
        groups: list[StreamGroup] = []
        for size in sizes:
            expected = _corpus.text(size)
            with Server("--tokens", str(size)) as srv:
                base = Case(
                    "httpx + data: lines (baseline)",
                    [PYTHON, str(HERE / "baselines/stream_httpx.py"), srv.url, MODEL, "go"],
                    expect_exact(expected),
                )
                http = Case(
                    "llmcli ask",
                    [LLMCLI, "ask", "--base-url", srv.url, "-m", MODEL, "go"],
                    expect_exact(expected),
                )
                sdk = Case(
                    "llmcli ask --transport sdk",
                    [LLMCLI, "ask", "--transport", "sdk", "--base-url", srv.url, "-m", MODEL, "go"],
                    expect_exact(expected),
                )
                measure([base, http, sdk], n, env, stderr_notes, f"stream {size}", warm_up)
            groups.append(StreamGroup(size, len(expected), base, [http, sdk]))

    print()
    print("== Startup and one-shot (wall time from spawn to exit) ==")
    print(startup_report(floor, httpx_base, [version_case, help_case], oneshot_base, oneshots))
    print()
    print(
        f"== Streaming to a pipe (token = one SSE content chunk, ~{groups[-1].chars / groups[-1].tokens:.1f} chars; "
        "wall time includes process start) =="
    )
    print(stream_report(groups))
    if args.smoke:
        print("(smoke run: one run per case; the figures above mean nothing)")
    elif args.quick or sizes[-1] < 100000:
        print(
            f"(note: the streaming target is defined at 100k tokens; this run's largest size is {sizes[-1]})"
        )
    if stderr_notes:
        print()
        print("stderr from clients (not an error, shown once per case):")
        for label, err in stderr_notes.items():
            print(f"  {label}: {err.decode('utf-8', 'replace').strip()}")
    print()
    print("all runs produced exactly the expected output.")
    return 0


if __name__ == "__main__":
    try:
        status = main()
    except BenchError as exc:
        print(f"\nbench_cli: FAILED: {exc}", file=sys.stderr)
        status = 1
    finally:
        shutil.rmtree(_RSS_DIR, ignore_errors=True)
    sys.exit(status)

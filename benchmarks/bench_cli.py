"""llmcli against a minimal Python client, side by side, in one run.

    /work/venv/bin/python benchmarks/bench_cli.py [--quick] [--runs N] [--sizes 2000,20000,100000]

Measures (every client is a separate process; wall time from spawn to exit, via os.wait4):

  startup    llmcli --version, llmcli --help   vs  `python -c pass` (floor) and `import httpx` (baseline)
  one-shot   llmcli ask --no-stream            vs  a minimal httpx script POSTing the same request
  streaming  llmcli ask to a pipe, 2k/20k/100k tokens
                                               vs  a minimal httpx script parsing `data:` lines by hand
             llmcli ask --transport sdk, 2k/20k tokens
                                               vs  a bare openai-SDK script (create(stream=True))

Each case runs once as a warm-up, then N rounds (default 7, --quick: 3 and no 100k); in a round every
case of a section runs once, in an order that rotates from round to round, so that each llmcli run has
a baseline run beside it made under the same machine load. Figures compared with a baseline are
medians of these pairwise (same-round) ratios. Every run's stdout is checked against the exact
expected answer (a mismatch stops the benchmark with exit status 1). The closing table is issue 10's:
raw, llmcli, goal, met? Goals are printed beside the results, never asserted.
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

STREAM_TARGET = 0.8  # llmcli tokens/s >= 0.8x the baseline at 100k tokens
RSS_GROWTH_MIB = 10.0  # peak RSS at 100k tokens within this many MiB of the 2k run
SDK_TARGET = 1.2  # --transport sdk: cost per token within 1.2x of the bare SDK script


class BenchError(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# running one client process


@dataclass
class Run:
    wall: float
    rss_kb: int
    cpu: float  # user + system CPU seconds of the client (less sensitive to the machine's load)
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
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, rss_kb, cpu, proc.returncode, b"".join(out), b"".join(err))


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
    # Without bytecode caching every run compiles llmcli's modules from source (an editable install has
    # no .pyc until a run writes them): ~0.2-0.3 s a start that no installed copy pays. The warm-up run
    # writes them, as a user's first run does.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
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
    return "yes" if ok else "NO"


def startup_report(
    floor: Case, httpx_base: Case, llm_cases: list[Case], oneshot_base: Case, oneshots: list[Case]
) -> str:
    headers = ["case", "median ms", "min ms", "peak RSS MiB", "x floor", "x baseline"]
    rows = []

    def row(c: Case, base: Case | None) -> None:
        ratio = "" if base is None else f"{paired(c, base, lambda x, y: x.wall / y.wall):.2f}"
        rows.append(
            [
                c.label,
                ms(c.median),
                ms(c.best),
                f"{median_rss_mib(c):.1f}",
                f"{c.median / floor.median:.2f}",
                ratio,
            ]
        )

    for c in (floor, httpx_base):
        row(c, None)
    for c in llm_cases:
        row(c, httpx_base)
    row(oneshot_base, None)
    for c in oneshots:
        row(c, oneshot_base)
    note = (
        "x floor = median / the floor's median; x baseline = median over rounds of (wall / the baseline's\n"
        "wall in the same round); baseline = the `import httpx` script for startup, the httpx one-shot script for one-shot."
    )
    return table(headers, rows, "lrrrrr") + "\n" + note


@dataclass
class StreamGroup:
    tokens: int
    chars: int
    raw: Case | None = None
    http: Case | None = None
    bare_sdk: Case | None = None
    sdk: Case | None = None

    @property
    def cases(self) -> list[Case]:
        return [c for c in (self.raw, self.http, self.bare_sdk, self.sdk) if c is not None]

    def pairs(self) -> list[tuple[Case, Case]]:
        """(llmcli case, its baseline)"""
        out = []
        if self.http is not None and self.raw is not None:
            out.append((self.http, self.raw))
        if self.sdk is not None and self.bare_sdk is not None:
            out.append((self.sdk, self.bare_sdk))
        return out


def paired(a: Case, b: Case, f: Callable[[Run, Run], float]) -> float:
    """Median over rounds of f(a's run, b's run in the same round)."""
    return statistics.median(f(x, y) for x, y in zip(a.runs, b.runs, strict=True))


def median_rss_mib(c: Case) -> float:
    return statistics.median(r.rss_kb for r in c.runs) / 1024


def stream_report(groups: list[StreamGroup]) -> str:
    headers = ["tokens", "client", "median s", "min s", "tokens/s", "x baseline tok/s", "peak RSS MiB"]
    rows = []
    for g in groups:
        for llm, base in g.pairs():
            for c in (base, llm):
                ratio = "" if c is base else f"{paired(base, llm, lambda x, y: x.wall / y.wall):.2f}"
                rows.append(
                    [
                        f"{g.tokens}",
                        c.label.split(": ", 1)[1],
                        f"{c.median:.3f}",
                        f"{c.best:.3f}",
                        f"{g.tokens / c.median:,.0f}",
                        ratio,
                        f"{median_rss_mib(c):.1f}",
                    ]
                )
    note = (
        "x baseline tok/s = median over rounds of (baseline wall / llmcli wall) in the same round;\n"
        "peak RSS = median over runs of the client's own peak."
    )
    return table(headers, rows, "llrrrrr") + "\n" + note


def k(tokens: int) -> str:
    return f"{tokens // 1000}k" if tokens >= 1000 and tokens % 1000 == 0 else str(tokens)


def marginal_us(big: Case, small: Case, tokens: int, cpu: bool = False) -> list[float]:
    """Per round: the extra wall (or CPU) time per extra token, in microseconds."""
    if cpu:
        return [(b.cpu - s.cpu) / tokens * 1e6 for b, s in zip(big.runs, small.runs, strict=True)]
    return [(b.wall - s.wall) / tokens * 1e6 for b, s in zip(big.runs, small.runs, strict=True)]


def cpu_cross_check(label: str, llm: tuple[Case, Case], base: tuple[Case, Case], tokens: int) -> str:
    b = marginal_us(base[1], base[0], tokens, cpu=True)
    m = marginal_us(llm[1], llm[0], tokens, cpu=True)
    r = statistics.median(x / y for x, y in zip(m, b, strict=True))
    return f"  {label}: {statistics.median(b):.2f} us -> {statistics.median(m):.2f} us (x{r:.2f})"


def issue_table(
    version: Case, import_httpx: Case, oneshot: Case, oneshot_base: Case, groups: list[StreamGroup]
) -> str:
    """Issue 10's table: each figure for the raw script and llmcli, the goal, and whether it is met."""
    rows: list[list[str]] = []

    def ratio_row(figure: str, llm: Case, base: Case, goal: float) -> None:
        r = paired(llm, base, lambda x, y: x.wall / y.wall)
        rows.append(
            [
                figure,
                f"1.0 ({ms(base.median)} ms)",
                f"x{r:.2f} ({ms(llm.median)} ms)",
                f"<= x{goal:g}",
                verdict(r <= goal),
            ]
        )

    ratio_row("`--version`", version, import_httpx, 1.5)
    ratio_row("one-shot `--no-stream`, no key in env, `--no-save`", oneshot, oneshot_base, 1.3)

    http_groups = [g for g in groups if g.http is not None]
    small, big = http_groups[0], http_groups[-1]
    tps = paired(big.raw, big.http, lambda x, y: x.wall / y.wall)  # llmcli tok/s / raw tok/s
    rows.append(
        [
            f"streaming into a pipe, {k(big.tokens)} tokens, tokens/s",
            f"1.0 ({big.tokens / big.raw.median:,.0f}/s)",
            f"x{tps:.2f} ({big.tokens / big.http.median:,.0f}/s)",
            f">= x{STREAM_TARGET:g}",
            verdict(tps >= STREAM_TARGET),
        ]
    )

    def per_token_row(
        figure: str, llm: tuple[Case, Case], base: tuple[Case, Case], extra: int, goal: float
    ) -> None:
        """llm and base: (small run's case, big run's case)."""
        b = marginal_us(base[1], base[0], extra)
        m = marginal_us(llm[1], llm[0], extra)
        r = statistics.median(x / y for x, y in zip(m, b, strict=True))
        shown = "<= raw's" if goal == 1.0 else f"<= x{goal:g}"
        rows.append(
            [
                figure,
                f"{statistics.median(b):.2f} us",
                f"{statistics.median(m):.2f} us (x{r:.2f})",
                shown,
                verdict(r <= goal),
            ]
        )

    extra = big.tokens - small.tokens
    span = f"{k(small.tokens)}->{k(big.tokens)}"
    per_token_row(
        f"marginal cost per token, {span}", (small.http, big.http), (small.raw, big.raw), extra, 1.0
    )
    raw_g = median_rss_mib(big.raw) - median_rss_mib(small.raw)
    llm_g = median_rss_mib(big.http) - median_rss_mib(small.http)
    rows.append(
        [
            f"peak RSS growth {span} tokens",
            f"{raw_g:+.1f} MiB",
            f"{llm_g:+.1f} MiB",
            f"<= +{RSS_GROWTH_MIB:g} MiB",
            verdict(llm_g <= RSS_GROWTH_MIB),
        ]
    )

    sdk_groups = [g for g in groups if g.sdk is not None]
    if len(sdk_groups) >= 2:
        s_small, s_big = sdk_groups[0], sdk_groups[-1]
        s_extra = s_big.tokens - s_small.tokens
        per_token_row(
            f"`--transport sdk` per token, {k(s_small.tokens)}->{k(s_big.tokens)} (raw = bare SDK script)",
            (s_small.sdk, s_big.sdk),
            (s_small.bare_sdk, s_big.bare_sdk),
            s_extra,
            SDK_TARGET,
        )
    checks = [
        "marginal cost per token in CPU time (user + system: a cross-check that machine load blurs less):"
    ]
    checks.append(
        cpu_cross_check(f"raw -> llmcli, {span}", (small.http, big.http), (small.raw, big.raw), extra)
    )
    if len(sdk_groups) >= 2:
        checks.append(
            cpu_cross_check(
                f"bare SDK -> llmcli --transport sdk, {k(s_small.tokens)}->{k(s_big.tokens)}",
                (s_small.sdk, s_big.sdk),
                (s_small.bare_sdk, s_big.bare_sdk),
                s_extra,
            )
        )
    note = (
        "raw = baselines/import_httpx.py (--version), oneshot_httpx.py (one-shot), stream_httpx.py (streaming);\n"
        "bare SDK = baselines/stream_sdk.py. x = median over rounds of llmcli / raw in the same round (tokens/s:\n"
        "raw wall / llmcli wall); marginal cost = (wall at the larger size - wall at the smaller) / extra tokens,\n"
        "per round, the median shown; RSS = median peak RSS of the client process."
    )
    return (
        table(["figure", "raw", "llmcli", "goal", "met?"], rows, "lllll")
        + "\n"
        + note
        + "\n\n"
        + "\n".join(checks)
    )


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark llmcli against a minimal httpx client.")
    parser.add_argument("--quick", action="store_true", help="3 runs per case and no 100k-token stream")
    parser.add_argument("--runs", type=int, help="runs per case (default 7, --quick 3)")
    parser.add_argument("--sizes", help="comma-separated stream sizes in tokens (default 2000,20000,100000)")
    parser.add_argument(
        "--sdk-sizes",
        help="stream sizes for the SDK pair (default 2000,20000: the SDK spends ~0.1 ms a token, "
        "so 100k tokens would take most of the run)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every case once, no warm-up, 200 and 400 tokens: checks it runs, measures nothing",
    )
    args = parser.parse_args(argv)

    n = args.runs or (1 if args.smoke else 3 if args.quick else 7)
    warm_up = not args.smoke
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [200, 400] if args.smoke else [2000, 20000] if args.quick else [2000, 20000, 100000]
    if args.sdk_sizes:
        sdk_sizes = [int(s) for s in args.sdk_sizes.split(",")]
    else:
        sdk_sizes = [200, 400] if args.smoke else [2000, 20000]
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
            # The issue's figure: no key in the environment (nothing to look up in a keyring unless a
            # profile says so) and no history write, i.e. the same work as the baseline.
            oneshot = Case(
                "llmcli ask --no-stream --no-save",
                [LLMCLI, "ask", "--no-stream", "--no-save", "--base-url", srv.url, "-m", MODEL, "hi"],
                expect_exact(_corpus.ONESHOT_TEXT),
            )
            # What a keyless user with history on pays (information, no goal).
            oneshot_saved = Case(
                "llmcli ask --no-stream (history on)",
                [LLMCLI, "ask", "--no-stream", "--base-url", srv.url, "-m", MODEL, "hi"],
                expect_exact(_corpus.ONESHOT_TEXT),
            )
            measure([oneshot_base, oneshot, oneshot_saved], n, env, stderr_notes, "one-shot", warm_up)

        # -- streaming -----------------------------------------------------------------------------
        # Every size's server runs at once, and one round runs every client at every size, so that the
        # cost per token (the difference between two sizes) pairs runs made under the same load.
        groups: list[StreamGroup] = []
        servers: list[Server] = []
        try:
            for size in sorted(set(sizes) | set(sdk_sizes)):
                servers.append(Server("--tokens", str(size)))
                srv = servers[-1]
                expected = _corpus.text(size)
                ask = ["ask", "--base-url", srv.url, "-m", MODEL, "go"]
                group = StreamGroup(size, len(expected))
                if size in sizes:
                    group.raw = Case(
                        f"{size}: httpx + data: lines (raw)",
                        [PYTHON, str(HERE / "baselines/stream_httpx.py"), srv.url, MODEL, "go"],
                        expect_exact(expected),
                    )
                    group.http = Case(f"{size}: llmcli ask", [LLMCLI, *ask], expect_exact(expected))
                if size in sdk_sizes:
                    group.bare_sdk = Case(
                        f"{size}: openai SDK create(stream=True) (bare SDK)",
                        [PYTHON, str(HERE / "baselines/stream_sdk.py"), srv.url, MODEL, "go"],
                        expect_exact(expected),
                    )
                    group.sdk = Case(
                        f"{size}: llmcli ask --transport sdk",
                        [LLMCLI, "ask", "--transport", "sdk", *ask[1:]],
                        expect_exact(expected),
                    )
                groups.append(group)
            cases = [c for g in groups for c in g.cases]
            measure(cases, n, env, stderr_notes, f"streaming ({len(cases)} cases a round)", warm_up)
        finally:
            for srv in servers:
                srv.stop()

    print()
    print("== Startup and one-shot (wall time from spawn to exit) ==")
    print(
        startup_report(floor, httpx_base, [version_case, help_case], oneshot_base, [oneshot, oneshot_saved])
    )
    print()
    print(
        f"== Streaming to a pipe (token = one SSE content chunk, ~{groups[-1].chars / groups[-1].tokens:.1f} chars; "
        "wall time includes process start) =="
    )
    print(stream_report(groups))
    print()
    print("== Issue 10: llmcli against the raw scripts (same run; medians of pairwise ratios) ==")
    if len([g for g in groups if g.http is not None]) >= 2:
        print(issue_table(version_case, httpx_base, oneshot, oneshot_base, groups))
    else:
        print("(needs two stream sizes: the cost per token is the difference between them)")
    if args.smoke:
        print("(smoke run: one run per case; the figures above mean nothing)")
    elif sizes[-1] < 100000:
        print(
            f"(note: the streaming goals are defined at 100k tokens; this run's largest size is {sizes[-1]})"
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

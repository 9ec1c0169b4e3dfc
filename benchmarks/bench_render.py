"""What markdown rendering costs per token, as the answer grows, beside plain text and the naive way.

    /work/venv/bin/python benchmarks/bench_render.py [--sizes 2000,20000,100000] [--budget 30] [--runs 3]
                                                     [--no-e2e] [--smoke]

1. Renderers in process (no network): the same N tokens of markdown (paragraphs, lists, headings,
   tables, code fences) are handed over as fast as possible to
     markdown  llmcli's MarkdownSink on a 100x30 pty whose other end is drained by a thread
     plain     llmcli's PlainSink into a pipe (drained): the floor
     naive     rich `Live(Markdown(everything so far))` refreshed on every token, on a drained pty, as
               peers do; stopped after --budget seconds (the line says how far it got)
   Wall time from the first token until the sink is done (the screen settled), tokens/s, microseconds
   per token, CPU seconds (all threads), and bytes written to the terminal. The best of --runs.
2. End to end: `llmcli ask` in a 100x30 pty (markdown) against `llmcli ask` into a pipe (plain), the
   benchmark server (benchmarks/_server.py) streaming N tokens; wall time from spawn to exit.

Targets, printed beside the results and never asserted: the per-token cost of the markdown sink is flat
from 2k to 100k tokens, and its throughput is at least 0.3x the plain pipe's.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

ROWS, COLS = 30, 100
RATIO_TARGET = 0.3

WORDS = (
    "the model writes answers in markdown with lists tables and code so a terminal client has to render "
    "it while it streams without falling behind or rewriting the whole screen on every token"
).split()


def corpus(n: int, seed: int = 7) -> list[str]:
    """Exactly n tokens (word-sized pieces) of varied markdown, the same for every renderer."""
    rng = random.Random(seed)
    out: list[str] = []

    def words(k: int, end: str) -> None:
        for i in range(k):
            w = rng.choice(WORDS)
            if rng.random() < 0.05:
                w = f"**{w}**"
            elif rng.random() < 0.05:
                w = f"`{w}`"
            out.append(w + (end if i == k - 1 else " "))

    section = 0
    while len(out) < n:
        kind = rng.random()
        if kind < 0.08:
            section += 1
            out.extend(["## ", "Section ", f"{section}\n\n"])
        elif kind < 0.3:
            for _ in range(rng.randint(2, 6)):
                out.append(rng.choice(["- ", "1. "]))
                words(rng.randint(4, 12), "\n")
            out.append("\n")
        elif kind < 0.4:
            out.append("```python\n")
            for i in range(rng.randint(4, 30)):
                out.extend([f"value_{i} ", "= ", f"compute({i}, ", "'text') ", "# note\n"])
            out.append("```\n\n")
        elif kind < 0.45:
            out.append("| name | value |\n|---|---|\n")
            for i in range(rng.randint(2, 6)):
                out.extend(["| ", f"row{i} ", "| ", f"{i * 3} ", "|\n"])
            out.append("\n")
        else:
            words(rng.randint(20, 60), ".\n\n")
    return out[:n]


# --- a drained terminal or pipe -------------------------------------------------------------


class Drain:
    """The other end of a pty or pipe, read as fast as it comes (a terminal that keeps up)."""

    def __init__(self, pty: bool):
        if pty:
            self.read_fd, write_fd = os.openpty()
            fcntl.ioctl(write_fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        else:
            self.read_fd, write_fd = os.pipe()
        self.out = os.fdopen(write_fd, "wb", buffering=0)
        self.bytes = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = os.read(self.read_fd, 1 << 16)
            except OSError:
                return
            if not data:
                return
            self.bytes += len(data)

    def close(self) -> None:
        self.out.close()
        self._thread.join(10)
        os.close(self.read_fd)


@dataclass
class Result:
    name: str
    tokens: int
    done: int
    wall: float
    cpu: float
    written: int
    note: str = ""

    @property
    def per_token_us(self) -> float:
        return self.wall / self.done * 1e6

    @property
    def tokens_per_s(self) -> float:
        return self.done / self.wall


def terminal_console(out):
    from rich.console import Console

    from llmcli.render.markdown import _TerminalFile

    return Console(
        file=_TerminalFile(out),
        width=COLS,
        height=ROWS,
        force_terminal=True,
        color_system="256",
        highlight=False,
    )


def run_markdown(tokens: list[str], rate: float | None = None) -> Result:
    """As fast as possible, or paced at `rate` tokens/s (a fast model: the live region is redrawn)."""
    from llmcli.render.markdown import MarkdownSink

    drain = Drain(pty=True)
    sink = MarkdownSink(drain.out, console=terminal_console(drain.out), live=True)
    cpu0, t0 = time.process_time(), time.perf_counter()
    sink.start()
    for i, t in enumerate(tokens):
        sink.text(t)
        if rate is not None and i % 50 == 49:
            ahead = t0 + (i + 1) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    sink.end()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    drain.close()
    name = "markdown (pty)" if rate is None else f"markdown (pty) paced {rate / 1000:g}k/s"
    note = f"{sink.frames} frames"
    if rate is not None:
        note += f"; cpu {cpu / len(tokens) * 1e6:.1f} µs/token"
    return Result(name, len(tokens), len(tokens), wall, cpu, drain.bytes, note)


def run_plain(tokens: list[str]) -> Result:
    from llmcli.render.plain import PlainSink

    drain = Drain(pty=False)
    sink = PlainSink(drain.out, terminal=False)
    cpu0, t0 = time.process_time(), time.perf_counter()
    sink.start()
    for t in tokens:
        sink.text(t)
    sink.end()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    drain.close()
    return Result("plain (pipe)", len(tokens), len(tokens), wall, cpu, drain.bytes)


def run_naive(tokens: list[str], budget: float) -> Result:
    from rich.live import Live
    from rich.markdown import Markdown

    drain = Drain(pty=True)
    console = terminal_console(drain.out)
    text = ""
    done = 0
    marks: list[float] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    with Live(console=console, auto_refresh=False, vertical_overflow="visible") as live:
        for t in tokens:
            text += t
            live.update(Markdown(text), refresh=True)
            done += 1
            if done % 100 == 0:
                marks.append(time.perf_counter())
            if time.perf_counter() - t0 > budget:
                break
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    drain.close()
    note = "" if done == len(tokens) else f"cut at the {budget:g} s budget after {done} tokens; "
    if len(marks) >= 2:
        first = (marks[0] - t0) / 100 * 1e3
        last = (marks[-1] - marks[-2]) / 100 * 1e3
        note += f"tokens 1-100: {first:.1f} ms/token, {done - done % 100 - 99}-{done - done % 100}: {last:.1f} ms/token"
    return Result("naive Live(Markdown(all))", len(tokens), done, wall, cpu, drain.bytes, note)


def best(fn, runs: int) -> Result:
    results = [fn() for _ in range(runs)]
    return min(results, key=lambda r: r.wall / max(r.done, 1))


def print_table(rows: list[Result]) -> None:
    print(
        f"{'renderer':<28}{'tokens':>8}{'wall s':>9}{'tokens/s':>11}{'µs/token':>10}{'cpu s':>8}{'MB out':>8}  note"
    )
    for r in rows:
        print(
            f"{r.name:<28}{r.done:>8}{r.wall:>9.3f}{r.tokens_per_s:>11.0f}{r.per_token_us:>10.1f}"
            f"{r.cpu:>8.2f}{r.written / 1e6:>8.2f}  {r.note}"
        )


# --- end to end -----------------------------------------------------------------------------


def start_server(n: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_server.py"), "--tokens", str(n)], stdout=subprocess.PIPE, text=True
    )
    url = proc.stdout.readline().strip()
    return proc, url


def cli_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMCLI_", "OPENAI_", "NO_COLOR"))}
    for name in ("COLUMNS", "LINES", "COLORTERM"):
        env.pop(name, None)
    env.update(TERM="xterm-256color", LLMCLI_HOME=home)
    return env


def e2e(url: str, pty: bool, home: str) -> tuple[float, int]:
    argv = [sys.executable, "-m", "llmcli", "ask", "--no-save", "--base-url", url, "-m", "m", "go"]
    drain = Drain(pty=pty)
    t0 = time.perf_counter()
    if pty:
        slave = drain.out.fileno()
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=cli_env(home))
    else:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=drain.out, stderr=subprocess.PIPE, env=cli_env(home)
        )
    code = proc.wait()
    wall = time.perf_counter() - t0
    drain.close()
    if code != 0:
        raise SystemExit(f"llmcli exited {code}")
    return wall, drain.bytes


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2000,20000,100000")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds before the naive renderer is stopped")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=float, default=20000, help="tokens/s of the paced markdown run")
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="200 tokens, one run, a 2 s budget: checks it runs")
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.runs, args.budget = "200", 1, 2.0
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, terminal {COLS}x{ROWS}\n")
    print("1. renderers in process: tokens handed over as fast as possible")
    run_markdown(corpus(500))  # warm-up: imports, lexers
    rows: list[Result] = []
    per_size: dict[int, tuple[Result, Result]] = {}
    for n in sizes:
        tokens = corpus(n)
        md = best(lambda tokens=tokens: run_markdown(tokens), args.runs)
        plain = best(lambda tokens=tokens: run_plain(tokens), args.runs)
        paced = run_markdown(tokens, rate=args.rate)
        naive = run_naive(tokens, args.budget)
        rows += [md, paced, plain, naive]
        per_size[n] = (md, plain)
    print_table(rows)
    first, last = per_size[sizes[0]][0], per_size[sizes[-1]][0]
    print(
        f"\nmarkdown per-token cost {sizes[0]} → {sizes[-1]} tokens: {first.per_token_us:.1f} → "
        f"{last.per_token_us:.1f} µs ({last.per_token_us / first.per_token_us:.2f}x; target: flat)"
    )
    print(
        "(in process the plain sink is one write() per token, so the markdown/plain ratio there is the\n"
        " renderer against a bare syscall; the ≥ 0.3x target is read end to end, in section 2)"
    )

    if not args.no_e2e:
        print("\n2. end to end: llmcli ask, benchmark server streaming N tokens (best of runs)")
        print(
            f"{'tokens':>8}{'pty markdown s':>16}{'pipe plain s':>14}{'md tok/s':>10}{'plain tok/s':>12}{'ratio':>7}"
        )
        for n in sizes:
            server, url = start_server(n)
            try:
                with tempfile.TemporaryDirectory(prefix="llmcli-bench-") as home:
                    e2e(url, pty=False, home=home)  # warm-up (fills the server's replay cache)
                    md_wall = min(e2e(url, pty=True, home=home)[0] for _ in range(args.runs))
                    plain_wall = min(e2e(url, pty=False, home=home)[0] for _ in range(args.runs))
            finally:
                server.terminate()
                server.wait()
            print(
                f"{n:>8}{md_wall:>16.3f}{plain_wall:>14.3f}{n / md_wall:>10.0f}{n / plain_wall:>12.0f}"
                f"{plain_wall / md_wall:>7.2f}"
            )
        print(f"(ratio = markdown throughput / plain throughput; target ≥ {RATIO_TARGET}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

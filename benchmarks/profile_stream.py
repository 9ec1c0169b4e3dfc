"""Profile one streaming `llmcli ask` to a pipe: where the CPU goes, per thread, and how far the reader runs ahead.

    /work/venv/bin/python benchmarks/profile_stream.py [--tokens 100000] [--transport http|sdk] [--top 25] [--smoke]

Starts the benchmark server (benchmarks/_server.py), then runs llmcli in a child process the way the
console script does (llmcli.__main__.run), with its stdout on a pipe that this process drains and
checks. Two child runs:

  1. cProfile in every thread (the main thread writes the answer; llmcli's watchdog runs the HTTP
     read + SSE parse in a "llmcli-reader" thread): top functions by own time and by cumulative time.
  2. no profiler; a sampler thread polls the size of the watchdog's hand-over queue every 2 ms:
     the maximum depth shows how many network reads pile up between the reader and the writer (memory).

--smoke: 300 tokens, no warm-up run, top 3: checks that the script still runs.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


# ----------------------------------------------------------------------------------------------
# child side


def child_profile(stats_dir: str, argv: list[str]) -> int:
    import cProfile

    profiles: list[tuple[str, cProfile.Profile]] = []
    original_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        prof.enable()
        try:
            original_run(self)
        finally:
            prof.disable()
            profiles.append((self.name, prof))

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    from llmcli.__main__ import run

    main_prof = cProfile.Profile()
    started = time.perf_counter()
    main_prof.enable()
    code = run(argv)
    main_prof.disable()
    wall = time.perf_counter() - started
    sys.stdout.flush()
    for t in threading.enumerate():
        if t is not threading.current_thread():
            t.join(timeout=5)
    main_prof.dump_stats(os.path.join(stats_dir, "0-main.prof"))
    for i, (name, prof) in enumerate(profiles, 1):
        prof.dump_stats(os.path.join(stats_dir, f"{i}-{name}.prof"))
    print(f"wall {wall:.3f}", file=sys.stderr)
    return code


def child_queue(argv: list[str]) -> int:
    import llmcli.transport.watchdog as watchdog

    # Only this process's view of the watchdog: every BytePump made is kept, to sample its queue.
    pumps: list[watchdog.BytePump] = []
    original_init = watchdog.BytePump.__init__

    def init(self, *args, **kw) -> None:
        original_init(self, *args, **kw)
        pumps.append(self)

    watchdog.BytePump.__init__ = init  # type: ignore[method-assign]
    depth = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.002):
            for pump in pumps:
                depth[0] = max(depth[0], pump._q.qsize())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    from llmcli.__main__ import run

    started = time.perf_counter()
    code = run(argv)
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    if not pumps:
        raise SystemExit("profile_stream: no BytePump was made: the watchdog changed, update this script")
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wall {wall:.3f} max_queue_depth {depth[0]} peak_rss_mb {rss:.1f}", file=sys.stderr)
    return code


# ----------------------------------------------------------------------------------------------
# parent side


def spawn(args: list[str], env: dict[str, str], expected: bytes) -> str:
    proc = subprocess.Popen(
        [PYTHON, __file__, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    out, err = proc.communicate()
    if proc.returncode != 0 or out != expected:
        raise SystemExit(
            f"profile_stream: child failed (exit {proc.returncode}, {len(out)} of {len(expected)} bytes, "
            f"output {'matches' if out == expected else 'differs'}):\n{err.decode()[-3000:]}"
        )
    return err.decode().strip().splitlines()[-1]


def print_stats(stats_dir: str, top: int) -> None:
    import pstats

    for name in sorted(os.listdir(stats_dir)):
        path = os.path.join(stats_dir, name)
        thread = name.split("-", 1)[1].removesuffix(".prof")
        for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
            buf = io.StringIO()
            st = pstats.Stats(path, stream=buf)
            st.strip_dirs().sort_stats(key).print_stats(top)
            text = buf.getvalue()
            # keep the header line with the total and the table
            lines = [ln for ln in text.splitlines() if ln.strip()]
            summary = next((ln.strip() for ln in lines if "function calls" in ln), "")
            start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
            print(f"-- thread {thread}: top {top} by {title} ({summary})")
            print("\n".join(lines[start:]))
            print()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child-profile"]:
        return child_profile(argv[1], argv[3:])
    if argv[:1] == ["--child-queue"]:
        return child_queue(argv[2:])

    parser = argparse.ArgumentParser(description="Profile a streaming llmcli ask to a pipe.")
    parser.add_argument("--tokens", type=int, default=100000)
    parser.add_argument("--transport", choices=["http", "sdk"], default="http")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--smoke", action="store_true", help="300 tokens, no warm-up, top 3: checks it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.tokens, args.top = 300, 3

    sys.path.insert(0, str(HERE))
    import _corpus

    expected = _corpus.text(args.tokens).encode("utf-8")
    server = subprocess.Popen(
        [PYTHON, str(HERE / "_server.py"), "--tokens", str(args.tokens)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit("profile_stream: the benchmark server did not start")
        with tempfile.TemporaryDirectory(prefix="llmcli-prof-") as tmp:
            env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("OPENAI_", "LLMCLI_"))}
            env["LLMCLI_HOME"] = tmp
            ask = ["ask", "--transport", args.transport, "--base-url", url, "-m", "m", "go"]
            if not args.smoke:
                spawn(["--child-queue", "--", *ask], env, expected)  # warm-up: fills the server's cache
            queue_line = spawn(["--child-queue", "--", *ask], env, expected)
            stats_dir = os.path.join(tmp, "stats")
            os.mkdir(stats_dir)
            prof_line = spawn(["--child-profile", stats_dir, "--", *ask], env, expected)
            print(f"llmcli ask --transport {args.transport}, {args.tokens} tokens to a pipe (output checked)")
            print(f"  unprofiled run: {queue_line}")
            print(f"  profiled run:   {prof_line} (cProfile overhead included)")
            print()
            print_stats(stats_dir, args.top)
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What attachments and --schema cost, beside the least any client must do for the same result.

    python benchmarks/bench_shaping.py [--runs N]

- attachments: `-f` of a text file and of an image (1 and 10 MiB): read, sniff, sha256, build the
  request body and serialise it as the transports do — beside a baseline that only reads the bytes,
  base64-encodes them and json-dumps a body with them (what any client sending a data URL must do).
- --schema: the cold cost of importing jsonschema in a fresh interpreter (paid only when --schema is
  given), and checking a 1000-item answer beside a bare `json.loads` of it.
- startup: `import llmcli.cli.app` in a fresh interpreter (the CLI tree every command loads), which must
  not grow with this feature (nothing of it is imported at startup).

Prints medians (ms) of N runs; exits 0 unless something broke.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmcli.core import attachments as att
from llmcli.core import schema as sch
from llmcli.core.types import ChatRequest, Message


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def fresh(code: str, runs: int) -> float:
    """Median wall time (ms) of a fresh interpreter running `code`, minus an empty interpreter's."""

    def run(src: str) -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", src], check=True, env={**os.environ, "LLMCLI_HOME": tempfile.gettempdir()}
        )
        return (time.perf_counter() - start) * 1000

    base = statistics.median(run("pass") for _ in range(runs))
    return statistics.median(run(code) for _ in range(runs)) - base


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs = args.runs
    png_head = b"\x89PNG\r\n\x1a\n"
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'case':<44} {'llmcli ms':>10} {'baseline ms':>12}")
        for size_mib in (1, 10):
            n = size_mib * 1024 * 1024
            image = Path(tmp) / f"i{size_mib}.png"
            image.write_bytes(png_head + os.urandom(n - len(png_head)))
            text = Path(tmp) / f"t{size_mib}.log"
            text.write_text(("log line with some words in it\n" * (n // 31 + 1))[:n])

            def ours(path: Path) -> None:
                a = att.load(str(path), max_bytes=64 * 1024 * 1024)
                req = ChatRequest("m", [Message("user", "q", (a,))])
                json.dumps(req.body(stream=True)).encode()

            def baseline_image(path: Path = image) -> None:
                data = path.read_bytes()
                url = "data:image/png;base64," + base64.b64encode(data).decode()
                body = {
                    "model": "m",
                    "messages": [
                        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
                    ],
                }
                json.dumps(body).encode()

            def baseline_text(path: Path = text) -> None:
                body = {"model": "m", "messages": [{"role": "user", "content": path.read_text() + "\n\nq"}]}
                json.dumps(body).encode()

            print(
                f"{f'-f image {size_mib} MiB':<44} {median_ms(lambda p=image: ours(p), runs):>10.1f} {median_ms(baseline_image, runs):>12.1f}"
            )
            print(
                f"{f'-f text {size_mib} MiB':<44} {median_ms(lambda p=text: ours(p), runs):>10.1f} {median_ms(baseline_text, runs):>12.1f}"
            )

    schema = sch.concise("name, age int, tags list[str]")
    answer = json.dumps({"items": [{"name": f"n{i}", "age": i, "tags": ["a", "b"]} for i in range(1000)]})
    multi = sch.multi(schema)
    sch.first_error(answer, multi)  # warm: jsonschema imported
    check = median_ms(lambda: sch.first_error(answer, multi), runs)
    parse = median_ms(lambda: json.loads(answer), runs)
    print(f"{'--schema check, 1000 items (vs json.loads)':<44} {check:>10.1f} {parse:>12.1f}")
    print(
        f"{'import jsonschema, fresh (paid with --schema)':<44} {fresh('import jsonschema', runs):>10.1f} {'-':>12}"
    )
    print(
        f"{'import llmcli.cli.app, fresh (vs import typer)':<44} {fresh('import llmcli.cli.app', runs):>10.1f} {fresh('import typer', runs):>12.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`health` and `top` drawn in a real pseudo-terminal (pyte emulates the screen): live while they run,
and Ctrl-C leaves a clean terminal: the live region gone, the cursor shown, exit 130."""

from __future__ import annotations

import sys
import time

from refserver import Scenario
from test_pty_render import PtyRun, pty_env, text_rows
from test_render import emulate

ROWS, COLS = 30, 110


def run(home, *args: str) -> PtyRun:
    return PtyRun([sys.executable, "-m", "llmcli", *args], pty_env(home), rows=ROWS, cols=COLS)


def wait_for(proc: PtyRun, needle: bytes, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while needle not in proc.output:
        assert proc.proc.poll() is None, bytes(proc.output)
        assert time.monotonic() < deadline, bytes(proc.output)
        time.sleep(0.02)


def screen(proc: PtyRun) -> list[str]:
    return text_rows(emulate(bytes(proc.output), COLS, ROWS))


def cursor_shown(out: bytes) -> bool:
    return out.rfind(b"\x1b[?25h") > out.rfind(b"\x1b[?25l")


def test_health_on_a_terminal_rows_appear_as_checks_complete(home, server):
    server.push(Scenario(), Scenario(delay_first=0.8))  # a slow first token: the spinner shows
    proc = run(home, "health", "--base-url", server.base_url, "-m", "ref-model")
    assert proc.wait() == 0
    out = bytes(proc.output)
    # the models row was on the screen while the stream check was still running
    assert out.index(b"ref-model is among them") < out.index(b"checking stream") < out.index(b"ttft")
    rows = [r for r in screen(proc) if r]
    assert rows[0] == f"health of {server.base_url}"
    assert [r.split()[0] for r in rows[2:8]] == ["connect", "health", "identity", "models", "key", "stream"]
    assert rows[-1] == "6 checks passed"
    assert not any("checking" in r for r in rows)  # the spinner is gone


def test_health_watch_live_then_ctrl_c_leaves_a_clean_terminal(home, server):
    proc = run(home, "health", "--base-url", server.base_url, "-m", "ref-model", "--watch", "0.3")
    wait_for(proc, b"round 3")
    assert "▁".encode() in proc.output or "█".encode() in proc.output  # the latency sparkline
    proc.type(b"\x03")
    assert proc.wait(15) == 130
    out = bytes(proc.output)
    assert b"Traceback" not in out
    assert cursor_shown(out)
    rows = [r for r in screen(proc) if r]
    assert not any("Ctrl-C to stop" in r or "round " in r for r in rows)  # no leftover live region
    assert [r.split()[0] for r in rows[1:7]] == ["connect", "health", "identity", "models", "key", "stream"]
    assert "rounds; last: 6 checks passed; latency min" in rows[-1]


def test_top_live_then_ctrl_c_leaves_a_clean_terminal(home, server):
    server.monitor.metrics = "vllm"
    proc = run(home, "top", "--base-url", server.base_url, "--interval", "0.3")
    wait_for(proc, b"p99")  # a second scrape happened: histogram statistics are shown
    wait_for(proc, b" /s")
    live = text_rows(emulate(bytes(proc.output), COLS, ROWS))
    assert any("Ctrl-C to stop" in r for r in live)
    assert any(r.startswith("generation tokens/s") and "/s" in r for r in live)
    proc.type(b"\x03")
    assert proc.wait(15) == 130
    out = bytes(proc.output)
    assert b"Traceback" not in out and cursor_shown(out)
    rows = [r for r in screen(proc) if r]
    assert not any("Ctrl-C to stop" in r for r in rows)
    assert rows[0].startswith("llmcli top — ") and "vLLM" in rows[0]
    assert any(r.startswith("time to first token") and "p50 138 ms" in r for r in rows)
    assert any(r.startswith("KV cache used") and "42.0 %" in r for r in rows)

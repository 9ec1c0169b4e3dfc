"""Ctrl-C, SIGTERM, closed pipes and full disks, with real processes against a slow stream.

Bounds on time here only say "does not hang"; they are generous.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import assert_no_traceback, clean_env
from refserver import Scenario

SLOW = Scenario(text="word " * 400, delay_between=0.05)  # ~20 s if nobody stops it
FULL_TEXT = ("word " * 400).encode()


def established(port: int) -> int:
    """Open TCP connections to or from `port` on this machine (the server's side included)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "01" and port in (
                int(local.rsplit(":", 1)[1], 16),
                int(remote.rsplit(":", 1)[1], 16),
            ):
                count += 1
    return count


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def start(home, server, *args: str, stdout=subprocess.PIPE, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmcli",
            "ask",
            "--no-save",
            "--base-url",
            server.base_url,
            "-m",
            "M",
            *args,
            "go",
        ],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=clean_env(home),
        **kw,
    )


def read_until(proc: subprocess.Popen, n: int) -> bytes:
    got = b""
    while len(got) < n:
        piece = os.read(proc.stdout.fileno(), 4096)
        if not piece:
            break
        got += piece
    return got


def finish(proc: subprocess.Popen, timeout: float = 5.0) -> tuple[int, bytes, bytes]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"llmcli did not exit within {timeout} s") from None
    return proc.returncode, out, err


# --- mid-stream -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "code", "transport"),
    [(signal.SIGINT, 130, "http"), (signal.SIGTERM, 143, "http"), (signal.SIGINT, 130, "sdk")],
)
def test_signal_mid_stream_keeps_the_partial_answer_and_closes_the_connection(
    home, server, sig, code, transport
):
    server.default = SLOW
    proc = start(home, server, "--transport", transport)
    try:
        head = read_until(proc, 30)
        assert proc.poll() is None and established(server.port) >= 1
        proc.send_signal(sig)
        rc, rest, err = finish(proc)
    finally:
        proc.kill()
    partial = head + rest
    assert rc == code
    assert 30 <= len(partial) < len(FULL_TEXT) and FULL_TEXT.startswith(partial)  # exact text, into a pipe
    assert err == b""  # no message, no traceback
    assert wait_for(lambda: established(server.port) == 0, timeout=3)  # the server saw the close


def test_sigint_mid_stream_with_the_markdown_sink_in_a_pipe(home, server):
    server.default = Scenario(text="# Title\n\n" + "A paragraph of words.\n\n" * 200, delay_between=0.02)
    proc = start(home, server, "--markdown")
    try:
        head = read_until(proc, 10)  # the heading is printed as soon as it is complete
        time.sleep(0.5)  # some paragraphs more (each is printed when the next one begins)
        proc.send_signal(signal.SIGINT)
        rc, rest, err = finish(proc)
    finally:
        proc.kill()
    assert rc == 130 and err == b""
    text = (head + rest).decode()
    assert "Title" in text and "A paragraph of words." in text
    assert text.count("A paragraph") < 200
    assert text.endswith("\n")  # the partial answer is rendered and the line finished


def test_connecting_then_ctrl_c_exits_at_once_without_retrying(home, server):
    server.default = Scenario(text="late", delay_headers=30)
    proc = start(home, server)
    try:
        assert wait_for(lambda: len(server.chat_requests()) == 1)
        time.sleep(0.2)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc, out, err = finish(proc)
    finally:
        proc.kill()
    assert rc == 130 and out == b"" and err == b""
    assert time.monotonic() - began < 3
    time.sleep(0.5)
    assert len(server.chat_requests()) == 1


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_a_retry_wait_exits_at_once_with_no_further_attempt(home, server, sig, code):
    server.default = Scenario(status=503, headers={"Retry-After": "30"})
    proc = start(home, server, "--max-retries", "3")
    try:
        assert wait_for(lambda: len(server.chat_requests()) == 1)
        time.sleep(0.3)  # now in the 30 s wait
        began = time.monotonic()
        proc.send_signal(sig)
        rc, out, err = finish(proc)
    finally:
        proc.kill()
    assert rc == code and out == b""
    assert_no_traceback(err.decode())
    assert time.monotonic() - began < 3
    time.sleep(0.5)
    assert len(server.chat_requests()) == 1


def test_a_second_ctrl_c_exits_at_once(home, server):
    """Stuck writing to a reader that does not read: the first Ctrl-C waits for the write, the second exits."""
    big = "x" * 1000 + "\n"
    server.default = Scenario(text=big * 400, chunks=[big] * 400)
    proc = start(home, server)  # nobody reads its stdout: the pipe fills up
    try:
        assert wait_for(lambda: "pipe_write" in open(f"/proc/{proc.pid}/wchan").read())
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # a write is never cut in half
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(3) == 130
        assert time.monotonic() - began < 3
    finally:
        proc.kill()
        proc.communicate()


def test_ctrl_c_before_the_request_is_quiet_130(home):
    """While reading a prompt from a stdin that never ends: no traceback, no 'internal error'."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmcli", "ask", "--base-url", "http://127.0.0.1:9/v1", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(home),
    )
    try:
        time.sleep(1.0)  # reading stdin
        proc.send_signal(signal.SIGINT)
        rc, out, err = finish(proc)
    finally:
        proc.kill()
    assert rc == 130 and out == b""
    assert "internal error" not in err.decode()
    assert_no_traceback(err.decode())


# --- closed pipes and full disks -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["--plain", "--markdown"])
def test_head_closes_the_pipe_quietly_141_and_the_connection_promptly(home, server, mode):
    server.default = Scenario(text="A short paragraph.\n\n" * 2000, delay_between=0.01)  # ~40 s in full
    began = time.monotonic()
    script = (
        f"{sys.executable} -m llmcli ask --no-save --base-url {server.base_url} -m M {mode} hi | head -c 20"
        "; s=${PIPESTATUS[0]}; echo; echo status=$s"
    )
    proc = subprocess.run(
        script, shell=True, executable="/bin/bash", capture_output=True, env=clean_env(home), timeout=30
    )
    assert proc.stderr == b""
    assert proc.stdout.strip().endswith(b"status=141")
    assert time.monotonic() - began < 15
    assert wait_for(lambda: established(server.port) == 0, timeout=3)


def test_markdown_to_a_full_disk_is_one_clear_message_exit_1(home, server):
    server.default = Scenario(text="# Title\n\nSome text.\n")
    with open("/dev/full", "wb") as full:
        proc = start(home, server, "--markdown", stdout=full)
        rc, _, err = finish(proc, timeout=30)
    text = err.decode()
    assert rc == 1 and "cannot write" in text and text.count("\n") == 1
    assert_no_traceback(text)


# --- the turn itself: an interrupt comes back as an outcome (the REPL runs many turns) ---------


def test_an_interrupted_turn_returns_an_outcome_and_the_next_turn_runs(server):
    from llmcli import interrupts
    from llmcli.core.types import ChatRequest, Message
    from llmcli.render.plain import PlainSink
    from llmcli.transport.base import TransportConfig
    from llmcli.transport.http import HttpTransport
    from llmcli.turn import run_turn

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install()
    transport = HttpTransport(
        TransportConfig(base_url=server.base_url, api_key=None, timeout=30, max_retries=0)
    )
    try:
        server.push(SLOW)
        out = io.BytesIO()

        def interrupt_soon() -> None:
            wait_for(lambda: len(out.getvalue()) >= 30)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt_soon, daemon=True).start()
        outcome = run_turn(
            transport, ChatRequest("M", [Message("user", "hi")]), PlainSink(out, terminal=False)
        )
        assert outcome.status == "interrupted" and outcome.error.exit_code == 130
        assert outcome.content and out.getvalue() == outcome.content.encode()
        assert wait_for(lambda: established(server.port) == 0, timeout=3)  # closed without exiting

        server.push(Scenario(text="second answer"))
        again = io.BytesIO()
        outcome = run_turn(
            transport, ChatRequest("M", [Message("user", "hi")]), PlainSink(again, terminal=False)
        )
        assert outcome.status == "complete" and again.getvalue() == b"second answer"
    finally:
        transport.close()
        interrupts.reset()
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_ctrl_c_on_a_terminal_shows_the_partial_answer_once(home, server):
    """The terminal's own `^C` echo must not land inside the live region (it used to shift the erase by a
    line and leave the partial answer on screen twice)."""
    import re

    import pexpect
    from conftest import clean_env

    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet".split()
    server.default = Scenario(chunks=[w + " " for w in words], text=" ".join(words) + " ", delay_between=0.3)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "ask", "--base-url", server.base_url, "-m", "m", "hi"],
        env=clean_env(home, TERM="xterm-256color"),
        dimensions=(30, 100),
        encoding="utf-8",
        timeout=20,
    )
    child.expect("charlie")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130 or child.signalstatus == 2
    visible = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)
    assert visible.count("alpha") == 1, repr(child.before)
    assert "^C" not in visible

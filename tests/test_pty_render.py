"""`llmcli ask` in a real pseudo-terminal, its output fed through a terminal emulator (pyte).

The reference server streams a long markdown answer in small pieces; what the terminal ends up with,
scrollback included, must equal a one-shot render of the same text at the same size.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest
from conftest import clean_env
from refserver import Scenario
from test_render import emulate, oneshot_on_screen

ROWS, COLS = 30, 100


class PtyRun:
    """A process whose stdin/stdout (and stderr, unless piped) are a pty of a fixed size."""

    def __init__(
        self, argv: list[str], env: dict[str, str], *, stderr_tty: bool = True, rows=ROWS, cols=COLS
    ):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self.output = bytearray()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave if stderr_tty else subprocess.PIPE,
            env=env,
            start_new_session=True,
            # the pty becomes the controlling terminal: ^C typed into it is a real SIGINT
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every writer is gone
                return
            if not data:
                return
            self.output.extend(data)

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(5)
            os.close(self.master)
        return code


def pty_env(home, **extra) -> dict[str, str]:
    env = clean_env(home, TERM="xterm-256color", **extra)
    for name in ("COLUMNS", "LINES", "COLORTERM", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    return env


def ask_in_pty(home, server, *args: str, stderr_tty=True, env_extra=None, rows=ROWS, cols=COLS) -> PtyRun:
    argv = [
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
        "q",
    ]
    return PtyRun(argv, pty_env(home, **(env_extra or {})), stderr_tty=stderr_tty, rows=rows, cols=cols)


def text_rows(screen: list[tuple]) -> list[str]:
    return ["".join(cell[0] for cell in row).rstrip() for row in screen]


TUTORIAL = (
    "Writing a CLI in Python\n=======================\n\n"
    "This tutorial walks through *everything*: **parsing**, `output`, and [docs](https://docs.python.org/3/).\n\n"
    "## Setup\n\n1. Create a venv\n2. Install the package\n3. Run it\n\n"
    "- Tip: keep the import light\n  - nested detail\n    - deeper still\n- Another tip\n\n"
    "> Note: terminals are not files.\n> They interpret escape sequences.\n\n"
    "| option | meaning |\n|---|:--|\n| `--plain` | exact text |\n| `--markdown` | rendered |\n\n"
    "```python\n"
    + "".join(f"def step_{i}(value: int) -> int:\n    return value * {i}  # step {i}\n\n" for i in range(30))
    + "```\n\n"
    "Some text\n---\n\n"
    "- --\n\n"
    "<details>\n<summary>More</summary>\n\nHidden *text*.\n</details>\n\n"
    + "".join(
        f"### Part {i}\n\nParagraph {i} talks about the topic at some length, so that it wraps "
        f"over more than one line of the terminal and keeps going for a while.\n\n"
        for i in range(12)
    )
    + "```\nan unterminated fence at the very end\nwith two lines"
)


def tiny_chunks(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_a_long_streamed_answer_ends_as_a_one_shot_render(home, server):
    server.default = Scenario(text=TUTORIAL, chunks=tiny_chunks(TUTORIAL), delay_between=0.0015)
    run = ask_in_pty(home, server)
    assert run.wait() == 0
    out = bytes(run.output)
    # it was drawn live, many times (each frame erases the last: region.py), not printed once at the end
    from llmcli.render.region import ERASE_BELOW

    assert out.count(ERASE_BELOW.encode()) > 20
    streamed = emulate(out, COLS, ROWS)
    expected = oneshot_on_screen(TUTORIAL, COLS, ROWS)
    assert len(expected) > 3 * ROWS  # much taller than the screen: scrollback is part of the check
    assert streamed == expected
    assert out.rfind(b"\x1b[?25h") > out.rfind(b"\x1b[?25l")  # the cursor is visible again


HOSTILE = (
    "# Safe heading\n\nclear \x1b[2J screen, clipboard \x1b]52;c;c2VjcmV0\x07, link "
    "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\, bare \x1b, C1 \u009b31m red, bell \x07, "
    "title \x1b]0;pwned\x07 and a return\r over.\n\n```\ncode \x1b[31m red\n```\n"
)


@pytest.mark.parametrize("mode", [[], ["--plain"]])
def test_escape_sequences_from_the_model_never_reach_the_terminal(home, server, mode):
    server.default = Scenario(text=HOSTILE, chunks=tiny_chunks(HOSTILE, 2))
    run = ask_in_pty(home, server, *mode)
    assert run.wait() == 0
    out = bytes(run.output)
    for raw in (b"\x1b[2J", b"\x1b]52", b"\x1b]8", b"\xc2\x9b", b"\x07", b"\x1b]0;", b"\x1b[31m", b"\r over"):
        assert raw not in out, raw
    shown = "\n".join(text_rows(emulate(out, COLS, ROWS)))
    assert "␛[2J" in shown and "␛]52;c;c2VjcmV0␇" in shown and "␍ over" in shown and "␛[31m" in shown


def test_spinner_on_a_terminal_while_waiting_then_gone(home, server):
    server.default = Scenario(text="The answer.", delay_first=1.2)
    run = ask_in_pty(home, server)
    assert run.wait() == 0
    out = bytes(run.output)
    assert b"waiting for the answer" in out
    assert out.rindex(b"\x1b[2K") < out.index(b"The answer")  # cleared before the answer shows
    assert text_rows(emulate(out, COLS, ROWS)) == ["The answer."]


def test_no_spinner_and_no_reasoning_when_stderr_is_not_a_terminal(home, server):
    server.default = Scenario(text="The answer.", reasoning="secret thoughts", delay_first=1.0)
    run = ask_in_pty(home, server, stderr_tty=False)
    _, err = run.proc.communicate(timeout=30)
    assert run.wait() == 0
    assert err == b""
    assert b"thoughts" not in bytes(run.output) and b"waiting" not in bytes(run.output)


def test_reasoning_shows_dim_on_a_terminal_and_can_be_hidden(home, server):
    server.default = Scenario(text="**Answer**", reasoning="Let me think about it.")
    run = ask_in_pty(home, server)
    assert run.wait() == 0
    out = bytes(run.output)
    assert b"\x1b[2mLet " in out  # dim
    assert text_rows(emulate(out, COLS, ROWS)) == ["Let me think about it.", "", "Answer"]

    server.default = Scenario(text="**Answer**", reasoning="Let me think about it.")
    run = ask_in_pty(home, server, "--no-reasoning")
    assert run.wait() == 0
    assert b"think" not in bytes(run.output)
    assert text_rows(emulate(bytes(run.output), COLS, ROWS)) == ["Answer"]


COLOUR = re.compile(rb"\x1b\[([0-9;]*)m")


def colour_codes(data: bytes) -> set[int]:
    found = set()
    for params in COLOUR.findall(data):
        codes = [int(p) for p in params.split(b";") if p]
        found |= {c for c in codes if 30 <= c <= 38 or 40 <= c <= 48 or 90 <= c <= 107}
    return found


def test_no_color_keeps_the_rendering_without_colours(home, server):
    text = "# Title\n\nSome `code` and a [link](https://example.com).\n\n```python\nx = 1\n```\n"
    server.default = Scenario(text=text)
    run = ask_in_pty(home, server)
    assert run.wait() == 0
    assert colour_codes(bytes(run.output))  # colours by default

    server.default = Scenario(text=text)
    run = ask_in_pty(home, server, env_extra={"NO_COLOR": "1"})
    assert run.wait() == 0
    out = bytes(run.output)
    assert not colour_codes(out)
    assert b"\x1b[1" in out  # still rendered: bold heading
    assert "# Title" not in "\n".join(text_rows(emulate(out, COLS, ROWS)))


def test_plain_on_a_terminal_is_the_text_itself(home, server):
    text = "# Title\n\n**bold** and `code`"
    server.default = Scenario(text=text)
    run = ask_in_pty(home, server, "--plain")
    assert run.wait() == 0
    out = bytes(run.output)
    assert out == text.replace("\n", "\r\n").encode() + b"\r\n"  # exact, and the line is finished


def test_markdown_and_plain_together_is_a_usage_error(cli):
    r = cli.ask("-m", "M", "--plain", "--markdown", "hi")
    assert r.returncode == 2 and "--plain" in r.stderr and "--markdown" in r.stderr


def test_markdown_flag_renders_into_a_pipe(cli, server):
    server.default = Scenario(text="# Title\n\nSome **bold** text.\n")
    r = cli.ask("-m", "M", "--markdown", "hi")
    assert r.returncode == 0
    assert "\x1b[1m" in r.stdout and "**" not in r.stdout and "# Title" not in r.stdout
    assert "\x1b[?25l" not in r.stdout and "\x1b[J" not in r.stdout  # no live region in a pipe


@pytest.mark.parametrize(("how", "code"), [("ctrl-c", 130), ("sigterm", 143)])
def test_interrupted_in_a_terminal_leaves_the_partial_answer_rendered(home, server, how, code):
    words = [f"**word{i}** " for i in range(300)]
    server.default = Scenario(text="".join(words), chunks=["# Heading\n\n", *words], delay_between=0.03)
    run = ask_in_pty(home, server)
    deadline = time.monotonic() + 20
    while b"word20" not in run.output and time.monotonic() < deadline:
        time.sleep(0.02)
    if how == "ctrl-c":
        run.type(b"\x03")  # the terminal turns it into SIGINT for the foreground process
    else:
        run.proc.send_signal(signal.SIGTERM)
    began = time.monotonic()
    assert run.wait(10) == code
    assert time.monotonic() - began < 5
    out = bytes(run.output)
    assert b"Traceback" not in out
    rows = [row for row in text_rows(emulate(out, COLS, ROWS)) if row]
    assert rows[0].strip() == "Heading"
    body = " ".join(rows[1:])
    assert "word0 word1" in body and "word299" not in body and "**" not in body  # rendered, partial
    assert out.rfind(b"\x1b[?25h") > out.rfind(b"\x1b[?25l")  # the cursor is back

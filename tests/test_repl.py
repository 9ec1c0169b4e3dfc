"""`llmcli chat` through a real pseudo-terminal (pexpect) against the reference server."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time

import pexpect
import pytest
from conftest import clean_env
from refserver import Scenario

ANSWER = "Hello from the reference server."
PROMPT = "/help · Ctrl-D exits"  # the bottom toolbar, drawn with every new prompt
CPR = re.escape("\x1b[6n")  # prompt_toolkit asks the terminal where the cursor is


class Repl:
    def __init__(self, home, server, *args: str, env: dict | None = None):
        self.server = server
        argv = ["-m", "llmcli", "chat", "--base-url", server.base_url, *args]
        self.child = pexpect.spawn(
            sys.executable,
            argv,
            env=clean_env(home, TERM="xterm-256color", **(env or {})),
            dimensions=(40, 120),
            encoding="utf-8",
            timeout=20,
        )
        self.child.expect("Enter sends")  # the welcome line
        self.prompt()

    def prompt(self) -> None:
        """Wait for a new prompt, answering the cursor-position requests a real terminal would answer."""
        while self.child.expect([PROMPT, CPR]) == 1:
            self.child.send("\x1b[1;1R")

    def send(self, text: str) -> None:
        self.child.send(text)
        time.sleep(0.05)
        self.child.send("\r")

    def turn(self, text: str, expect: str = ANSWER) -> None:
        n = len(self.server.chat_requests())
        self.send(text)
        self.child.expect(expect)
        self.prompt()
        assert len(self.server.chat_requests()) == n + 1

    def command(self, text: str, expect: str) -> str:
        self.send(text)
        self.child.expect(expect)
        out = self.child.before + self.child.after
        self.prompt()
        return out

    def exit(self) -> int:
        self.child.sendcontrol("d")
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus


def messages(server, i: int = -1) -> list[dict]:
    return server.chat_requests()[i].body["messages"]


def test_three_turns_send_the_growing_conversation(home, server):
    server.default = Scenario(text=ANSWER)
    r = Repl(home, server, "-m", "ref-model", "-s", "be brief")
    r.turn("first question")
    r.turn("second question")
    r.turn("third question")
    assert messages(server, 0) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
    ]
    assert messages(server, 2) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "third question"},
    ]
    assert r.exit() == 0
    # every turn is in history
    out = subprocess.run(
        [sys.executable, "-m", "llmcli", "history", "show", "--format", "json"],
        capture_output=True,
        text=True,
        env=clean_env(home),
    )
    doc = json.loads(out.stdout)
    assert [m["role"] for m in doc["messages"]] == ["system"] + ["user", "assistant"] * 3


def test_slash_commands(home, server, tmp_path):
    r = Repl(home, server, "-m", "ref-model")
    r.command("/model ref-model-large", "model is now ref-model-large")
    r.command("/system you are a pirate", "system prompt set")
    r.command("/set temperature 0.3", "temperature = 0.3")
    r.command('/set response_format {"type": "text"}', "response_format")
    out = r.command("/set", "temperature=0.3")
    assert "ref-model-large" in out
    r.turn("hello")
    body = server.chat_requests()[-1].body
    assert body["model"] == "ref-model-large" and body["temperature"] == 0.3
    assert body["response_format"] == {"type": "text"}
    assert body["messages"][0] == {"role": "system", "content": "you are a pirate"}
    r.command("/unset temperature", "temperature unset")
    n = len(server.requests)
    r.command("/bogus", "unknown command /bogus")
    r.command("/hisotry", "did you mean /history")
    assert len(server.requests) == n  # commands never reach the model
    r.command("/history", "you: hello")
    r.command("/stats", "session: 1 turns")
    target = tmp_path / "chat.md"
    r.command(f"/save {target}", "saved to")
    assert "## User\n\nhello" in target.read_text() and ANSWER in target.read_text()
    r.turn("second")
    r.command("/undo", "dropped the last exchange")
    r.turn("third")
    assert [m["content"] for m in messages(server) if m["role"] == "user"] == ["hello", "third"]
    r.command("/clear", "new conversation")
    r.turn("fresh start")
    assert [m["role"] for m in messages(server)] == ["system", "user"]
    r.command("/help", "/retry")
    r.send("/exit")
    r.child.expect(pexpect.EOF)
    r.child.close()
    assert r.child.exitstatus == 0


def test_ctrl_c_stops_the_answer_keeps_it_and_the_chat_goes_on(home, server):
    words = [f"w{i} " for i in range(200)]
    server.push(Scenario(chunks=words, text="".join(words), delay_between=0.05))
    r = Repl(home, server, "-m", "ref-model", "--plain")
    r.send("tell me a long story")
    r.child.expect("w5 ")
    r.child.sendintr()
    r.child.expect("interrupted")
    r.prompt()
    r.turn("and now?")
    sent = messages(server)
    partial = sent[1]["content"]
    assert sent[1]["role"] == "assistant" and partial.startswith("w0 w1 w2 w3 w4 w5 ")
    assert len(partial) < len("".join(words))
    assert sent[2] == {"role": "user", "content": "and now?"}
    assert r.exit() == 0
    out = subprocess.run(
        [sys.executable, "-m", "llmcli", "history", "show", "--format", "json"],
        capture_output=True,
        text=True,
        env=clean_env(home),
    )
    statuses = [m["status"] for m in json.loads(out.stdout)["messages"] if m["role"] == "assistant"]
    assert statuses == ["interrupted", "complete"]


def test_ctrl_c_at_the_prompt_clears_the_line_and_ctrl_d_exits(home, server):
    r = Repl(home, server, "-m", "ref-model")
    r.child.send("half typed")
    time.sleep(0.2)
    r.child.sendintr()
    time.sleep(0.2)
    r.child.send("real question\r")
    r.child.expect(ANSWER)
    r.prompt()
    assert messages(server)[-1]["content"] == "real question"
    assert r.exit() == 0


def test_pasted_block_is_one_message_and_esc_enter_inserts_a_newline(home, server):
    r = Repl(home, server, "-m", "ref-model")
    r.child.send("\x1b[200~line one\nline two\nline three\x1b[201~")
    time.sleep(0.2)
    r.child.send("\r")
    r.child.expect(ANSWER)
    r.prompt()
    assert len(server.chat_requests()) == 1
    assert messages(server)[-1]["content"] == "line one\nline two\nline three"
    r.child.send("first")
    r.child.send("\x1b\r")  # Esc Enter
    r.child.send("second\r")
    r.child.expect(ANSWER)
    r.prompt()
    assert messages(server)[-1]["content"] == "first\nsecond"
    r.exit()


def test_input_history_is_private_and_persists(home, server):
    r = Repl(home, server, "-m", "ref-model")
    r.turn("remember this line")
    assert r.exit() == 0
    hist = home / "chat_history"
    assert "remember this line" in hist.read_text()
    assert stat.S_IMODE(hist.stat().st_mode) == 0o600
    r = Repl(home, server, "-m", "ref-model")
    r.child.send("\x1b[A")  # Up: the previous session's line comes back
    time.sleep(0.3)
    r.child.send("\r")
    r.child.expect(ANSWER)
    r.prompt()
    assert messages(server)[-1]["content"] == "remember this line"
    r.exit()


def test_error_then_retry(home, server):
    server.push(*[Scenario(status=500, headers={"retry-after-ms": "10"})] * 3)
    r = Repl(home, server, "-m", "ref-model", "--max-retries", "2")
    r.send("will fail first")
    r.child.expect("HTTP 500")
    r.prompt()
    r.send("/retry")
    r.child.expect(ANSWER)
    r.prompt()
    assert messages(server)[-1] == {"role": "user", "content": "will fail first"}
    assert len(messages(server)) == 1  # the failed exchange is not sent back
    r.turn("next")
    assert [m["role"] for m in messages(server)] == ["user", "assistant", "user"]
    assert r.exit() == 0


def test_resume_with_continue(home, server):
    r = Repl(home, server, "-m", "ref-model")
    r.turn("day one question")
    assert r.exit() == 0
    r = Repl(home, server, "-m", "ref-model", "-c")
    r.turn("day two question")
    assert [m["content"] for m in messages(server)] == ["day one question", ANSWER, "day two question"]
    r.exit()


def test_markdown_answer_on_the_terminal(home, server):
    server.default = Scenario(text="# Title\n\nSome **bold** text.\n")
    r = Repl(home, server, "-m", "ref-model")
    r.send("md please")
    r.child.expect("Title")
    r.child.expect("bold")
    r.prompt()
    assert "**bold**" not in r.child.before  # rendered, not raw markdown
    r.exit()


def test_lines_from_a_pipe(home, server):
    script = "first line\n\n/set temperature 0.2\nsecond line\n/unknown\n"
    proc = subprocess.run(
        [sys.executable, "-m", "llmcli", "chat", "--base-url", server.base_url, "-m", "ref-model"],
        input=script.encode(),
        capture_output=True,
        env=clean_env(home),
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == f"{ANSWER}\n{ANSWER}\n"
    assert "unknown command" in proc.stderr.decode()
    bodies = [r.body for r in server.chat_requests()]
    assert len(bodies) == 2 and bodies[1]["temperature"] == 0.2
    assert [m["content"] for m in bodies[1]["messages"]] == ["first line", ANSWER, "second line"]


def test_lines_from_a_pipe_exit_with_the_first_error(home, server):
    server.push(Scenario(status=401))
    proc = subprocess.run(
        [sys.executable, "-m", "llmcli", "chat", "--base-url", server.base_url, "-m", "ref-model"],
        input=b"one\ntwo\n",
        capture_output=True,
        env=clean_env(home),
        timeout=30,
    )
    assert proc.returncode == 3
    assert proc.stdout.decode() == f"{ANSWER}\n"  # the second line was still answered
    assert "HTTP 401" in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()


@pytest.mark.parametrize("editor_text", ["from the editor\n"])
def test_edit_opens_the_editor(home, server, tmp_path, editor_text):
    editor = tmp_path / "fake-editor"
    editor.write_text(f"#!/bin/sh\nprintf '%s' '{editor_text.strip()}' > \"$1\"\n")
    editor.chmod(0o755)
    r = Repl(home, server, "-m", "ref-model", env={"EDITOR": str(editor), "VISUAL": ""})
    r.send("/edit")
    r.child.expect(ANSWER)
    r.prompt()
    assert messages(server)[-1]["content"] == editor_text.strip()
    r.exit()
    assert os.path.exists(home)


def test_piped_chat_skips_a_bad_line_and_save_is_private(home, server, tmp_path):
    target = tmp_path / "t.md"
    proc = subprocess.run(
        [sys.executable, "-m", "llmcli", "chat", "--base-url", server.base_url, "-m", "ref-model"],
        input=b"ok\n\xff\nafter\n/save " + str(target).encode() + b"\n",
        capture_output=True,
        env=clean_env(home),
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stdout.decode() == f"{ANSWER}\n{ANSWER}\n"  # the line after the bad one is answered
    assert "byte offset 3" in proc.stderr.decode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_ctrl_r_searches_input_history(home, server):
    r = Repl(home, server, "-m", "ref-model")
    r.turn("remember the alpha line")
    r.turn("something else")
    r.child.sendcontrol("r")
    time.sleep(0.2)
    r.child.send("alpha")
    time.sleep(0.3)
    r.child.send("\r")  # accept the found line
    time.sleep(0.3)
    r.child.send("\r")  # and send it
    r.child.expect(ANSWER)
    r.prompt()
    assert messages(server)[-1]["content"] == "remember the alpha line"
    r.exit()


@pytest.mark.parametrize("how", ["--no-save", "save_history = false"])
def test_an_unsaved_chat_keeps_typed_lines_in_memory_only(home, server, how):
    args = ["-m", "ref-model"]
    if how == "--no-save":
        args.append("--no-save")
    else:
        home.mkdir(mode=0o700)
        (home / "config.toml").write_text("save_history = false\n")
    r = Repl(home, server, *args)
    r.turn("a private line")
    r.child.send("\x1b[A")  # Up still recalls it within the session
    time.sleep(0.3)
    r.child.send("\r")
    r.child.expect(ANSWER)
    r.prompt()
    assert messages(server)[-1]["content"] == "a private line"
    assert r.exit() == 0
    assert not (home / "chat_history").exists()
    assert not (home / "history.db").exists()
    assert "a private line" not in "".join(
        p.read_text(errors="replace") for p in home.rglob("*") if p.is_file()
    )

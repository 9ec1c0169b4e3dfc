"""History as a user meets it: `ask` saves, `-c` continues, `llmcli history ...`, and the ways the history
file can fail (read-only, disk full, locked, damaged, newer) without costing the answer.

Everything runs the real CLI in subprocesses (or a real pty) against the reference server, on real
SQLite files under a private LLMCLI_HOME.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from conftest import assert_no_traceback, clean_env
from refserver import Scenario

SENTINEL_KEY = "sk-sentinel-history-7f3a9c"


# --- helpers -----------------------------------------------------------------------------------------


def db_file(home: Path) -> Path:
    return home / "history.db"


def query(home: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db_file(home))
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def conversations(home: Path) -> list[str]:
    return [r[0] for r in query(home, "SELECT id FROM conversations ORDER BY created, id")]


def stored(home: Path, conv_id: str | None = None) -> list[dict]:
    """The messages of a conversation (the latest by default) as plain dicts."""
    if conv_id is None:
        conv_id = query(home, "SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT 1")[0][0]
    conn = sqlite3.connect(db_file(home))
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conv_id,))
        return [dict(r) for r in rows]
    finally:
        conn.close()


def sent(server, index: int = -1) -> list[dict]:
    return server.chat_requests()[index].body["messages"]


def wire(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": r, "content": c} for r, c in pairs]


def integrity(home: Path) -> str:
    return query(home, "PRAGMA integrity_check")[0][0]


def without_root_powers():
    """preexec_fn making a root child obey file permissions (drops CAP_DAC_OVERRIDE/READ_SEARCH)."""
    if os.geteuid() != 0:
        return None

    def drop() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return drop


def run(cli, *args: str, preexec_fn=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli.argv(*args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=cli.env,
        preexec_fn=preexec_fn,
        timeout=timeout,
    )


# --- ask saves ---------------------------------------------------------------------------------------


def test_ask_saves_the_exchange_with_its_facts(cli, server, home):
    server.default = Scenario(text="Lisbon is the capital.", reasoning="let me think")
    r = cli.ask("-m", "M", "-s", "be brief", "--temperature", "0.3", "-o", "seed=7", "--format", "json",
                "What is the capital\nof Portugal?")  # fmt: skip
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    (conv_id, title, profile, host, model), = query(
        home, "SELECT id, title, profile, host, model FROM conversations"
    )  # fmt: skip
    assert doc["conversation_id"] == conv_id and re.fullmatch(r"[0-9a-z]{16}", conv_id)
    assert title == "What is the capital of Portugal?"
    assert (profile, host, model) == ("default", f"127.0.0.1:{server.port}", "M")
    msgs = stored(home)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert msgs[0]["content"] == "be brief"
    assert json.loads(msgs[1]["params"]) == {"temperature": 0.3, "seed": 7}
    a = msgs[2]
    assert a["content"] == "Lisbon is the capital." and a["reasoning"] == "let me think"
    assert a["status"] == "complete" and a["error"] is None and a["finish_reason"] == "stop"
    assert a["completion_tokens"] == doc["usage"]["completion_tokens"] and a["usage_estimated"] == 0
    assert a["total_s"] is not None and a["ttft_s"] is not None and a["ttft_s"] <= a["total_s"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", a["created"])


def test_no_save_writes_nothing(cli, server, home):
    r = cli.ask("-m", "M", "--no-save", "--format", "json", "secret question")
    assert r.returncode == 0
    assert json.loads(r.stdout)["conversation_id"] is None
    assert not db_file(home).exists()


def test_no_save_does_not_even_load_sqlite(cli, server, home):
    probe = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('\\nSQLITE' if 'sqlite3' in sys.modules else '\\nNO-SQLITE'))\n"
        f"sys.argv = ['llmcli', 'ask', '--base-url', {server.base_url!r}, '-m', 'M', *sys.argv[1:], 'hi']\n"
        "import llmcli.__main__ as m\n"
        "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
    )
    for extra, expected in (([], "SQLITE"), (["--no-save"], "NO-SQLITE")):
        out = subprocess.run(
            [sys.executable, "-c", probe, *extra], capture_output=True, text=True, env=cli.env, timeout=30
        )
        assert out.stdout.splitlines()[-1] == expected, out


def test_save_history_false_in_the_config_turns_saving_off(cli, server, home):
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text("save_history = false\n")
    r = cli.ask("-m", "M", "--format", "json", "not kept")
    assert r.returncode == 0 and json.loads(r.stdout)["conversation_id"] is None
    assert not db_file(home).exists()
    (home / "config.toml").write_text("save_history = true\n")
    assert cli.ask("-m", "M", "kept").returncode == 0
    assert len(conversations(home)) == 1
    (home / "config.toml").write_text('save_history = "no"\n')
    r = cli.ask("-m", "M", "bad config")
    assert r.returncode == 2 and "save_history must be bool" in r.stderr


def test_the_api_key_and_url_credentials_are_never_stored(cli, server, home):
    base = f"http://user:url-password-91c2@127.0.0.1:{server.port}/v1"
    r = cli("ask", "--base-url", base, "-m", "M", "hello", env={"LLMCLI_API_KEY": SENTINEL_KEY})
    assert r.returncode == 0, r
    assert query(home, "SELECT host FROM conversations") == [(f"127.0.0.1:{server.port}",)]
    for f in home.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert SENTINEL_KEY.encode() not in data and b"url-password-91c2" not in data, f


# --- continuing --------------------------------------------------------------------------------------


def test_continue_sends_exactly_the_earlier_turns_in_order(cli, server, home):
    server.push(Scenario(text="A1"), Scenario(text="A2"), Scenario(text="A3"))
    assert cli.ask("-m", "M", "-s", "SYS", "Q1").returncode == 0
    assert sent(server) == wire(("system", "SYS"), ("user", "Q1"))
    r = cli.ask("-m", "M", "-c", "Q2")
    assert r.returncode == 0 and r.stdout == "A2"
    assert sent(server) == wire(("system", "SYS"), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"))
    assert cli.ask("-m", "M", "--continue", "Q3").returncode == 0
    assert sent(server) == wire(
        ("system", "SYS"), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2"), ("user", "Q3")
    )  # fmt: skip
    assert len(conversations(home)) == 1
    assert [m["content"] for m in stored(home)] == ["SYS", "Q1", "A1", "Q2", "A2", "Q3", "A3"]


def test_continue_by_id_prefix_and_the_latest_by_default(cli, server, home):
    server.push(Scenario(text="about cats"), Scenario(text="about dogs"))
    r1 = cli.ask("-m", "M", "--format", "json", "cats?")
    r2 = cli.ask("-m", "M", "--format", "json", "dogs?")
    cats, dogs = json.loads(r1.stdout)["conversation_id"], json.loads(r2.stdout)["conversation_id"]
    prefix = next(cats[:n] for n in range(1, 17) if not dogs.startswith(cats[:n]))
    r = cli.ask("-m", "M", "--conversation", prefix, "--format", "json", "more cats")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["conversation_id"] == cats
    assert sent(server) == wire(("user", "cats?"), ("assistant", "about cats"), ("user", "more cats"))
    # -c now continues the cats conversation: it is the most recently active one
    assert cli.ask("-m", "M", "-c", "and?").returncode == 0
    assert sent(server)[0] == {"role": "user", "content": "cats?"}
    assert len(conversations(home)) == 2


def test_continue_problems_are_usage_errors_and_send_nothing(cli, server, home):
    r = cli.ask("-m", "M", "-c", "hello?")
    assert r.returncode == 2 and "no conversation to continue" in r.stderr
    assert server.chat_requests() == []
    server.push(Scenario(text="one"), Scenario(text="two"))
    a = json.loads(cli.ask("-m", "M", "--format", "json", "first").stdout)["conversation_id"]
    b = json.loads(cli.ask("-m", "M", "--format", "json", "second").stdout)["conversation_id"]
    n = len(server.chat_requests())
    common = os.path.commonprefix([a, b])
    r = cli.ask("-m", "M", "--conversation", common, "x")
    assert r.returncode == 2 and "ambiguous" in r.stderr and a in r.stderr and b in r.stderr
    r = cli.ask("-m", "M", "--conversation", "zzzzzzzz", "x")
    assert r.returncode == 2 and "no conversation 'zzzzzzzz'" in r.stderr
    r = cli.ask("-m", "M", "-c", "--conversation", a, "x")
    assert r.returncode == 2 and "not both" in r.stderr
    assert len(server.chat_requests()) == n
    assert_no_traceback(r.stderr)


def test_continue_keeps_the_conversation_model_and_system_unless_given(cli, server, home):
    # the server offers several models, so without -m only the conversation can say which
    server.push(Scenario(text="first"), Scenario(text="second"), Scenario(text="third"))
    assert cli.ask("-m", "special-model", "-s", "old system", "q1").returncode == 0
    r = cli.ask("-c", "q2")
    assert r.returncode == 0, r
    assert server.chat_requests()[-1].body["model"] == "special-model"
    assert sent(server)[0] == {"role": "system", "content": "old system"}
    assert cli.ask("-m", "other", "-s", "new system", "-c", "q3").returncode == 0
    assert server.chat_requests()[-1].body["model"] == "other"
    assert sent(server) == wire(
        ("system", "new system"), ("user", "q1"), ("assistant", "first"), ("user", "q2"), ("assistant", "second"),
        ("user", "q3"),
    )  # fmt: skip


def test_continue_with_no_save_reads_but_does_not_write(cli, server, home):
    server.push(Scenario(text="kept"))
    assert cli.ask("-m", "M", "q1").returncode == 0
    r = cli.ask("-m", "M", "-c", "--no-save", "--format", "json", "q2")
    assert r.returncode == 0 and json.loads(r.stdout)["conversation_id"] is None
    assert sent(server) == wire(("user", "q1"), ("assistant", "kept"), ("user", "q2"))
    assert [m["content"] for m in stored(home)] == ["q1", "kept"]


# --- partial answers ---------------------------------------------------------------------------------

WORDS = "one two three four five six seven eight"


@pytest.mark.parametrize(
    "scenario,rc,status,error_has",
    [
        (Scenario(text=WORDS, cut_after=2), 7, "cut", "before the answer was complete"),
        (Scenario(text=WORDS, error_after=2, error_message="GPU on fire"), 7, "error", "GPU on fire"),
    ],
    ids=["cut", "error-mid-stream"],
)
def test_a_broken_stream_is_stored_partial_and_continued_as_seen(
    cli, server, home, scenario, rc, status, error_has
):
    server.push(scenario, Scenario(text="recovered"))
    r = cli.ask("-m", "M", "tell me")
    assert r.returncode == rc and r.stdout == "one two "
    a = stored(home)[-1]
    assert (a["role"], a["content"], a["status"]) == ("assistant", "one two ", status)
    assert error_has in a["error"]
    assert cli.ask("-m", "M", "-c", "go on").returncode == 0
    assert sent(server) == wire(("user", "tell me"), ("assistant", "one two "), ("user", "go on"))


def test_length_is_stored_as_length_and_sent_back(cli, server, home):
    server.push(Scenario(text="cut at the limit", finish_reason="length"), Scenario(text="ok"))
    assert cli.ask("-m", "M", "--max-tokens", "4", "long please").returncode == 0
    a = stored(home)[-1]
    assert (a["status"], a["finish_reason"], a["content"]) == ("length", "length", "cut at the limit")
    assert cli.ask("-m", "M", "-c", "more").returncode == 0
    assert sent(server)[-2] == {"role": "assistant", "content": "cut at the limit"}


def test_an_error_before_any_answer_is_stored_and_left_out_of_continue(cli, server, home):
    server.push(Scenario(text="A1"), Scenario(status=400), Scenario(text="A3"))
    assert cli.ask("-m", "M", "Q1").returncode == 0
    r = cli.ask("-m", "M", "-c", "Q2 rejected")
    assert r.returncode == 4
    q2, a2 = stored(home)[-2:]
    assert q2["content"] == "Q2 rejected"
    assert (a2["role"], a2["content"], a2["status"]) == ("assistant", "", "error")
    assert "Invalid request" in a2["error"]
    assert cli.ask("-m", "M", "-c", "Q3").returncode == 0
    assert sent(server) == wire(("user", "Q1"), ("assistant", "A1"), ("user", "Q3"))


def test_ctrl_c_mid_stream_keeps_the_partial_answer(cli, server, home):
    server.push(
        Scenario(text="alpha beta gamma delta epsilon zeta eta theta", delay_between=0.4),
        Scenario(text="fine"),
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "ask", "--base-url", server.base_url, "-m", "M", "--plain", "greek letters"],
        env=clean_env(home),
        timeout=20,
    )
    child.expect("beta")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130 or child.signalstatus == signal.SIGINT
    a = stored(home)[-1]
    assert a["status"] == "interrupted" and "SIGINT" in a["error"]
    assert a["content"].startswith("alpha beta") and "theta" not in a["content"]
    assert cli.ask("-m", "M", "-c", "continue").returncode == 0
    assert sent(server) == wire(("user", "greek letters"), ("assistant", a["content"]), ("user", "continue"))


def test_sigterm_mid_stream_keeps_the_partial_answer(cli, server, home):
    server.push(Scenario(text="red orange yellow green blue indigo violet", delay_between=0.4))
    proc = subprocess.Popen(
        cli.argv("ask", "--base-url", server.base_url, "-m", "M", "rainbow"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    try:
        assert os.read(proc.stdout.fileno(), 100).startswith(b"red")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) in (143, -signal.SIGTERM)
    finally:
        proc.kill()
        proc.wait()
    a = stored(home)[-1]
    assert a["status"] == "interrupted" and a["error"] == "interrupted by SIGTERM"
    assert a["content"].startswith("red") and "violet" not in a["content"]


def test_a_closed_pipe_keeps_the_partial_answer(cli, server, home):
    # 100 kB: more than a pipe holds, so the writer meets the closed pipe whatever the timing
    server.default = Scenario(chunks=["line " * 9 + "line\n"] * 2000)
    proc = subprocess.run(
        f"{sys.executable} -m llmcli ask --base-url {server.base_url} -m M hi | head -c 10 >/dev/null",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        env=cli.env,
        timeout=30,
    )
    assert proc.stderr == b""
    a = stored(home)[-1]
    assert a["status"] == "interrupted" and a["error"] == "stdout was closed by the reader"
    assert a["content"].startswith("line line ") and len(a["content"]) < 50 * 2000


# --- llmcli history ----------------------------------------------------------------------------------


def three_conversations(cli, server) -> list[str]:
    server.push(
        Scenario(text="Photosynthesis turns light into sugar."),
        Scenario(text="The mitochondria is the powerhouse."),
        Scenario(text="Ribosomes build proteins; photosynthesis does not happen there."),
    )
    ids = []
    for q in ("how do plants eat?", "what powers a cell?", "where are proteins made?"):
        r = cli.ask("-m", "M", "--format", "json", q)
        assert r.returncode == 0, r
        ids.append(json.loads(r.stdout)["conversation_id"])
    return ids


def test_list_json_text_and_limit(cli, server, home):
    ids = three_conversations(cli, server)
    r = cli("history", "list", "--format", "json")
    assert r.returncode == 0
    docs = json.loads(r.stdout)
    assert [d["id"] for d in docs] == ids[::-1]  # newest first
    assert {"id", "title", "model", "created", "updated", "messages"} <= set(docs[0])
    assert docs[0]["title"] == "where are proteins made?" and docs[0]["messages"] == 2
    assert docs[0]["model"] == "M" and docs[0]["created"].endswith("Z")
    r = cli("history", "list", "-n", "2")  # a pipe: tab-separated text
    lines = r.stdout.splitlines()
    assert (
        len(lines) == 2
        and lines[0].split("\t")[0] == ids[2]
        and lines[0].endswith("where are proteins made?")
    )
    assert json.loads(cli("history", "list", "-n", "1", "--format", "json").stdout)[0]["id"] == ids[2]


def test_list_and_search_on_a_terminal(cli, server, home):
    ids = three_conversations(cli, server)
    for args, wanted in (
        (["history", "list"], [b"updated (UTC)", b"msgs", ids[0].encode(), b"how do plants eat?"]),
        (["history", "search", "mitochondria"], [ids[1].encode(), b"what powers a cell?", b"powerhouse"]),
    ):
        child = pexpect.spawn(sys.executable, ["-m", "llmcli", *args], env=clean_env(home), timeout=20,
                              dimensions=(40, 160))  # fmt: skip
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        for w in wanted:
            assert w in child.before, (w, child.before)
        assert b"\t" not in child.before  # a table, not the pipe format
    assert b"\x1b[" in child.before  # the match is highlighted
    assert b"**" not in child.before


def test_history_on_a_fresh_install(offline_cli, home):
    r = offline_cli("history", "list", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = offline_cli("history", "show")
    assert r.returncode == 2 and "no conversations yet" in r.stderr
    r = offline_cli("history", "search", "anything")
    assert r.returncode == 0 and r.stdout == ""
    assert not db_file(home).exists()  # reading never creates the file


def test_show_json_and_markdown(cli, server, home):
    ids = three_conversations(cli, server)
    r = cli("history", "show", ids[0][:12], "--format", "json")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["id"] == ids[0]
    assert [(m["role"], m["content"], m["status"]) for m in doc["messages"]] == [
        ("user", "how do plants eat?", "complete"),
        ("assistant", "Photosynthesis turns light into sugar.", "complete"),
    ]
    md = cli("history", "show", ids[0]).stdout  # in a pipe: markdown text
    assert md.startswith("# how do plants eat?\n")
    assert (
        "## User\n\nhow do plants eat?\n\n## Assistant · M\n\nPhotosynthesis turns light into sugar.\n" in md
    )
    assert cli("history", "show", ids[0], "--format", "markdown").stdout == md
    assert cli("history", "show").stdout.startswith("# where are proteins made?")  # latest by default
    r = cli("history", "show", ids[0], "--format", "yaml")
    assert r.returncode == 2


def test_show_marks_partial_answers(cli, server, home):
    server.push(Scenario(text=WORDS, cut_after=3))
    cli.ask("-m", "M", "count")
    md = cli("history", "show").stdout
    assert "one two three " in md and "> *the answer was cut off (the stream ended early):" in md


def test_show_on_a_terminal_renders_and_neutralises(cli, server, home):
    server.push(Scenario(text="# Big heading\n\nsome **bold** text \x1b]0;pwned\x07 end"))
    assert cli.ask("-m", "M", "render me").returncode == 0
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "history", "show"],
        env=clean_env(home),
        timeout=20,
        dimensions=(40, 100),
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert child.exitstatus == 0, out
    assert b"Big heading" in out and b"bold" in out
    assert b"## User" not in out and b"**bold**" not in out  # rendered, not raw markdown
    assert b"\x1b]0;pwned" not in out  # the model cannot set the terminal title


def test_search_ranked_with_snippets(cli, server, home):
    ids = three_conversations(cli, server)
    r = cli("history", "search", "--format", "json", "photosynthesis")
    assert r.returncode == 0
    hits = json.loads(r.stdout)
    assert [h["conversation_id"] for h in hits] == [ids[0], ids[2]]  # the denser match first
    assert "**Photosynthesis**" in hits[0]["snippet"] and hits[0]["role"] == "assistant"
    assert set(hits[0]) >= {"conversation_id", "title", "message_id", "role", "created", "snippet"}
    text = cli("history", "search", "proteins").stdout.splitlines()
    assert text and all(line.startswith(ids[2] + "\t") for line in text)
    assert "**proteins**" in text[0] or "**Proteins**" in text[0]
    r = cli("history", "search", "unicorns")
    assert r.returncode == 0 and r.stdout == "" and "no messages match" in r.stderr
    r = cli("history", "search", 'C++ "oops')
    assert r.returncode == 0, r
    assert_no_traceback(r.stderr)
    assert (
        len(json.loads(cli("history", "search", "-n", "1", "--format", "json", "photosynthesis").stdout)) == 1
    )


def test_export_jsonl_and_markdown(cli, server, home):
    ids = three_conversations(cli, server)
    r = cli("history", "export", ids[1])
    assert r.returncode == 0
    (line,) = r.stdout.splitlines()
    assert json.loads(line) == json.loads(cli("history", "show", ids[1], "--format", "json").stdout)
    r = cli("history", "export", "--all")
    docs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [d["id"] for d in docs] == ids  # oldest first
    assert all(len(d["messages"]) == 2 for d in docs)
    md = cli("history", "export", "--all", "--format", "markdown").stdout
    assert md.count("\n## User\n") == 3 and md.index("how do plants eat?") < md.index(
        "where are proteins made?"
    )
    for args in ([], [ids[0], "--all"]):
        r = cli("history", "export", *args)
        assert r.returncode == 2 and r.stdout == ""


def test_rm_needs_yes_off_a_terminal_and_takes_prefixes(cli, server, home):
    ids = three_conversations(cli, server)
    r = cli("history", "rm", ids[0])
    assert r.returncode == 2 and "--yes" in r.stderr
    assert len(conversations(home)) == 3
    r = cli("history", "rm", "--yes", ids[0][:14])
    assert r.returncode == 0 and "deleted 1 conversation" in r.stderr
    assert conversations(home) == ids[1:]
    assert query(home, "SELECT count(*) FROM messages WHERE conversation_id = ?", (ids[0],)) == [(0,)]
    assert json.loads(cli("history", "search", "--format", "json", "plants").stdout) == []
    r = cli("history", "rm", "--yes", "zzzz", ids[1])  # one unknown id: nothing is deleted
    assert r.returncode == 2 and conversations(home) == ids[1:]
    r = cli("history", "rm", "--all")
    assert r.returncode == 2 and len(conversations(home)) == 2
    r = cli("history", "rm", "--all", "-y")
    assert r.returncode == 0 and "deleted 2 conversations" in r.stderr
    assert conversations(home) == [] and query(home, "SELECT count(*) FROM messages") == [(0,)]


@pytest.mark.parametrize("reply,kept", [("y", 0), ("n", 1)])
def test_rm_asks_on_a_terminal(cli, server, home, reply, kept):
    server.push(Scenario(text="x"))
    conv = json.loads(cli.ask("-m", "M", "--format", "json", "to delete?").stdout)["conversation_id"]
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "history", "rm", conv],
        env=clean_env(home),
        timeout=20,
        encoding="utf-8",
    )
    child.expect(r"Delete .*to delete\?.*\[y/N\]")
    child.sendline(reply)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert len(conversations(home)) == kept


# --- when the history file fails ---------------------------------------------------------------------


def assert_answer_unharmed(r, server_text: str = Scenario().text) -> None:
    assert r.returncode == 0, r
    assert r.stdout.startswith(server_text) or json.loads(r.stdout)["content"] == server_text
    lines = [x for x in r.stderr.splitlines() if x]
    assert len(lines) == 1 and lines[0].startswith("llmcli: history not saved: "), r.stderr
    assert_no_traceback(r.stderr)


def test_a_read_only_history_file(cli, server, home):
    assert cli.ask("-m", "M", "first").returncode == 0
    os.chmod(db_file(home), 0o400)
    r = run(cli, "ask", "--base-url", server.base_url, "-m", "M", "--format", "json", "second",
            preexec_fn=without_root_powers())  # fmt: skip
    assert_answer_unharmed(r)
    assert "read-only" in r.stderr
    assert json.loads(r.stdout)["conversation_id"] is None
    # reading still works; continuing still sends the context (and says it could not save)
    r = run(
        cli, "ask", "--base-url", server.base_url, "-m", "M", "-c", "third", preexec_fn=without_root_powers()
    )
    assert_answer_unharmed(r)
    assert sent(server)[0] == {"role": "user", "content": "first"}
    os.chmod(db_file(home), 0o600)
    assert [m["content"] for m in stored(home)] == ["first", Scenario().text]


def test_a_full_disk(cli, server, home):
    import resource

    assert cli.ask("-m", "M", "first").returncode == 0
    size = db_file(home).stat().st_size

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, size // 2))

    r = run(cli, "ask", "--base-url", server.base_url, "-m", "M", "second", preexec_fn=no_room)
    assert_answer_unharmed(r)
    assert integrity(home) == "ok"
    assert [m["content"] for m in stored(home)] == ["first", Scenario().text]


def test_a_history_locked_past_the_timeout(cli, server, home):
    assert cli.ask("-m", "M", "first").returncode == 0
    holder = sqlite3.connect(db_file(home), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer that never lets go
    try:
        started = time.monotonic()
        r = cli.ask("-m", "M", "second")
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_answer_unharmed(r)
    assert "locked" in r.stderr
    assert 4 < waited < 30  # it did wait for the lock (5 s), once
    assert len(stored(home)) == 2


def test_a_damaged_history_file_is_moved_aside(cli, server, home):
    home.mkdir(mode=0o700)
    junk = b"this is not an sqlite file\n" * 100
    db_file(home).write_bytes(junk)
    r = cli.ask("-m", "M", "--format", "json", "hello")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["content"] == Scenario().text
    assert "was damaged" in r.stderr and "history.db.corrupt-" in r.stderr and r.stderr.count("\n") == 1
    (aside,) = home.glob("history.db.corrupt-*")
    assert aside.read_bytes() == junk
    assert [m["content"] for m in stored(home)] == ["hello", Scenario().text]
    assert json.loads(r.stdout)["conversation_id"] == conversations(home)[0]


def test_a_file_damaged_inside_is_found_in_use_and_moved_aside(cli, server, home):
    assert cli.ask("-m", "M", "first").returncode == 0
    (root,) = query(home, "SELECT rootpage FROM sqlite_master WHERE name = 'messages'")[0]
    page = query(home, "PRAGMA page_size")[0][0]
    with open(db_file(home), "r+b") as fh:  # garble the messages table, leave the schema readable
        fh.seek((root - 1) * page)
        fh.write(os.urandom(page))
    r = cli.ask("-m", "M", "--format", "json", "second")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["content"] == Scenario().text
    assert "history.db.corrupt-" in r.stderr
    assert_no_traceback(r.stderr)
    assert len(list(home.glob("history.db.corrupt-*"))) == 1
    assert [m["content"] for m in stored(home)] == ["second", Scenario().text]
    assert integrity(home) == "ok"


def test_a_history_from_a_newer_llmcli_is_left_alone(cli, server, home):
    assert cli.ask("-m", "M", "first").returncode == 0
    conn = sqlite3.connect(db_file(home))
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2099-01-01T00:00:00.000Z')")
    conn.commit()
    conn.close()
    r = cli.ask("-m", "M", "second")
    assert_answer_unharmed(r)
    assert "newer llmcli" in r.stderr
    r = cli("history", "list")
    assert r.returncode == 1 and "newer llmcli" in r.stderr
    assert_no_traceback(r.stderr)

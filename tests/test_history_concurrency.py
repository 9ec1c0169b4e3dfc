"""No lost turn and no damaged file: many `ask` processes at once, and processes killed with SIGKILL
in the middle of a stream or at any moment of their life."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from refserver import Scenario

from llmcli.store.migrations import LATEST


def query(home: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(home / "history.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def check_file(home: Path) -> None:
    assert query(home, "PRAGMA integrity_check") == [("ok",)]
    assert query(home, "PRAGMA foreign_key_check") == []
    assert query(home, "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')") == []


def spawn(cli, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        cli.argv("ask", "--base-url", cli.server.base_url, "-m", "M", *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )


def test_24_concurrent_asks_all_saved(cli, server, home):
    text = "a b c d e f g h i j"
    server.default = Scenario(text=text, delay_between=0.1)
    # all start on a missing file: they race to create and migrate it, then to write their turns
    procs = [spawn(cli, f"question number {i}") for i in range(24)]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    for p, out, err in results:
        assert p.returncode == 0, err.decode()
        assert out.decode() == text
        assert err == b"", err.decode()  # no "history not saved", no "database is locked"
    assert len(server.chat_requests()) == 24
    check_file(home)
    rows = query(
        home,
        "SELECT c.title, group_concat(m.role || ':' || m.status || ':' || m.content, '|')"
        " FROM conversations c JOIN messages m ON m.conversation_id = c.id GROUP BY c.id",
    )
    assert len(rows) == 24
    assert {title for title, _ in rows} == {f"question number {i}" for i in range(24)}
    for title, msgs in rows:
        assert msgs == f"user:complete:{title}|assistant:complete:{text}"
    # the exchanges did overlap: some user turn was written while another answer was still streaming
    spans = query(
        home,
        "SELECT u.created, a.created FROM messages u JOIN messages a"
        " ON a.conversation_id = u.conversation_id AND u.role = 'user' AND a.role = 'assistant'",
    )
    busiest = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    print("most exchanges in flight at once:", busiest)
    assert busiest >= 2


def test_kill_9_mid_stream_repeatedly(cli, server, home):
    """SIGKILL while the answer streams: the file opens cleanly and every user turn is there."""
    server.default = Scenario(text="slow " * 200, delay_between=0.05)
    for i in range(5):
        proc = spawn(cli, f"doomed prompt {i}")
        try:
            first = os.read(proc.stdout.fileno(), 64)  # the answer has begun: the turn was written before
            assert first.startswith(b"slow")
            proc.kill()
            assert proc.wait(20) == -signal.SIGKILL
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        check_file(home)
        users = query(home, "SELECT content FROM messages WHERE role = 'user' ORDER BY id")
        assert users == [(f"doomed prompt {n}",) for n in range(i + 1)]
    assert query(home, "SELECT count(*) FROM messages WHERE role = 'assistant'") == [(0,)]
    # the history still works, and `-c` leaves out the exchange that never got an answer
    server.default = Scenario(text="alive")
    r = cli.ask("-m", "M", "-c", "still there?")
    assert r.returncode == 0 and r.stdout == "alive"
    assert server.chat_requests()[-1].body["messages"] == [{"role": "user", "content": "still there?"}]
    check_file(home)


def test_kill_9_at_any_moment_never_damages_the_file(cli, server, home):
    """SIGKILL at random moments of a process's life, from creating the file and migrating it to
    writing the answer; concurrent writers keep going meanwhile."""
    rng = random.Random(20240605)
    server.default = Scenario(text="x y z", delay_between=0.01)
    survivors = 0
    for round_ in range(4):
        procs = [spawn(cli, f"round {round_} proc {i}") for i in range(6)]
        time.sleep(rng.uniform(0.05, 0.6))
        victims = rng.sample(procs, 3)
        for p in victims:
            p.kill()
        for p in procs:
            p.communicate(timeout=60)
            if p not in victims:
                assert p.returncode == 0
                survivors += 1
        check_file(home)
    assert query(home, "SELECT max(version) FROM schema_migrations") == [(LATEST,)]
    done = query(home, "SELECT count(*) FROM messages WHERE role = 'assistant' AND status = 'complete'")[0][0]
    assert done >= survivors
    # every answer has its question
    orphans = query(
        home,
        "SELECT count(*) FROM messages a WHERE a.role = 'assistant' AND NOT EXISTS"
        " (SELECT 1 FROM messages u WHERE u.conversation_id = a.conversation_id AND u.role = 'user')",
    )
    assert orphans == [(0,)]

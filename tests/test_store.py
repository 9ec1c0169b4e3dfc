"""The history store on real SQLite files: privacy, the API, the -c rule, search, deletion, migrations,
processes racing to create and migrate the same file, damaged files, signals during a write."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmcli.core.types import Message
from llmcli.core.urls import host_of
from llmcli.errors import UsageError
from llmcli.store import db
from llmcli.store.db import StoreTooNew, connect, transaction
from llmcli.store.history import AmbiguousConversation, UnknownConversation, open_store
from llmcli.store.migrations import LATEST, MIGRATIONS
from llmcli.store.records import MATCH_END, MATCH_START, new_id, title_of

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.db"


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def answer(store, conv_id, content, status="complete", **kw):
    return store.add_assistant_message(conv_id, content=content, status=status, **kw)


# --- files -------------------------------------------------------------------------------------------


def test_folder_0700_file_0600_and_wal_files_private(path):
    store = open_store(path)
    conv, _ = store.start_exchange(None, "hello", model="m")
    answer(store, conv, "hi")
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600
    # while the store is open, WAL mode keeps its side files: private too
    for side in ("-wal", "-shm"):
        side_path = Path(f"{path}{side}")
        assert side_path.exists(), side
        assert mode(side_path) == 0o600, side
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    store.close()


def test_reading_never_creates_the_file(path):
    assert open_store(path, create=False) is None
    assert not path.exists()


# --- the API -----------------------------------------------------------------------------------------


def test_exchange_round_trip(path):
    store = open_store(path)
    conv_id, user_id = store.start_exchange(
        None,
        "What is   the\ncapital of Portugal?",
        system="be brief",
        profile="work",
        host="gpu-box:8000",
        model="m1",
        params={"temperature": 0.2, "stop": ["###"]},
    )
    answer(
        store,
        conv_id,
        "Lisbon.",
        reasoning="thinking...",
        model="m1-2024",
        finish_reason="stop",
        prompt_tokens=12,
        completion_tokens=2,
        total_tokens=14,
        ttft_s=0.1,
        total_s=0.2,
        tokens_per_s=20.0,
    )
    conv = store.get(conv_id)
    assert conv is not None
    assert conv.title == "What is the capital of Portugal?"
    assert (conv.profile, conv.host, conv.model, conv.messages) == ("work", "gpu-box:8000", "m1-2024", 3)
    assert conv.created.endswith("Z") and conv.updated >= conv.created
    msgs = store.messages(conv_id)
    assert [m.role for m in msgs] == ["system", "user", "assistant"]
    assert msgs[1].id == user_id and msgs[1].params == {"temperature": 0.2, "stop": ["###"]}
    a = msgs[2].to_dict()
    assert a["content"] == "Lisbon." and a["reasoning"] == "thinking..." and a["status"] == "complete"
    assert a["usage"] == {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14, "estimated": False}
    assert a["timing"] == {"ttft_s": 0.1, "total_s": 0.2, "tokens_per_s": 20.0}
    # the same system prompt again is not stored twice; a new one is
    store.start_exchange(conv_id, "again", system="be brief")
    store.start_exchange(conv_id, "and again", system="be verbose")
    assert [m.role for m in store.messages(conv_id)].count("system") == 2
    assert store.system_prompt(conv_id) == "be verbose"
    store.close()


def test_unknown_status_is_refused_and_nothing_written(path):
    store = open_store(path)
    conv_id, _ = store.start_exchange(None, "q")
    with pytest.raises(ValueError):
        answer(store, conv_id, "x", status="done")
    assert [m.role for m in store.messages(conv_id)] == ["user"]


def test_latest_and_list_order_newest_activity_first(path):
    store = open_store(path)
    a, _ = store.start_exchange(None, "first")
    b, _ = store.start_exchange(None, "second")
    assert store.latest_conversation().id == b
    time.sleep(0.002)
    store.start_exchange(a, "first again")  # activity moves `a` to the top
    assert [c.id for c in store.conversations()] == [a, b]
    assert [c.id for c in store.conversations(limit=1)] == [a]
    assert store.latest_conversation().id == a


def test_the_continue_rule_partial_answers(path):
    """Answers with text go back as the user saw them; exchanges without an answer text are left out."""
    store = open_store(path)
    c, _ = store.start_exchange(None, "q1 complete", system="sys")
    answer(store, c, "a1")
    store.start_exchange(c, "q2 failed before any answer")
    answer(store, c, "", status="error", error="HTTP 500")
    store.start_exchange(c, "q3 interrupted")
    answer(store, c, "a3 partial", status="interrupted", error="interrupted by Ctrl-C (SIGINT)")
    store.start_exchange(c, "q4 killed: no answer row at all")
    store.start_exchange(c, "q5 cut")
    answer(store, c, "a5 partial", status="cut", error="connection closed")
    store.start_exchange(c, "q6 length")
    answer(store, c, "a6 up to max_tokens", status="length")
    store.start_exchange(c, "q7 error mid-stream")
    answer(store, c, "a7 partial", status="error", error="model crashed")
    store.start_exchange(c, "q8 pending")
    assert store.messages_for_request(c) == [
        Message("system", "sys"),
        Message("user", "q1 complete"),
        Message("assistant", "a1"),
        Message("user", "q3 interrupted"),
        Message("assistant", "a3 partial"),
        Message("user", "q5 cut"),
        Message("assistant", "a5 partial"),
        Message("user", "q6 length"),
        Message("assistant", "a6 up to max_tokens"),
        Message("user", "q7 error mid-stream"),
        Message("assistant", "a7 partial"),
    ]
    statuses = [m.status for m in store.messages(c) if m.role == "assistant"]
    assert statuses == ["complete", "error", "interrupted", "cut", "length", "error"]


def test_ids_sort_by_time_and_are_unique():
    early, late = new_id(1_700_000_000_000), new_id(1_700_000_000_001)
    assert len(early) == 16 and early < late
    assert set(early) <= set("0123456789abcdefghjkmnpqrstvwxyz")
    many = {new_id() for _ in range(20000)}
    assert len(many) == 20000
    assert title_of("x" * 100).endswith("…") and len(title_of("x" * 100)) == 60


def test_resolve_full_id_prefix_ambiguous_unknown(path):
    store = open_store(path)
    a, _ = store.start_exchange(None, "one")
    b, _ = store.start_exchange(None, "two")
    common = os.path.commonprefix([a, b])
    assert store.resolve(a).id == a
    assert store.resolve(a[: len(common) + 1]).id == a
    assert store.resolve(b[: len(common) + 1].upper()).id == b  # case-blind
    with pytest.raises(AmbiguousConversation) as ei:
        store.resolve(common)
    assert set(ei.value.candidates) == {a, b} and a in ei.value.message and b in ei.value.message
    assert ei.value.exit_code == 2
    for bad in ("zzzzzzzz", "", "a%", "'; drop table messages; --"):
        with pytest.raises(UnknownConversation) as ei2:
            store.resolve(bad)
        assert ei2.value.exit_code == 2
    assert len(store.conversations()) == 2


# --- search ------------------------------------------------------------------------------------------


def test_search_ranks_stems_and_marks_matches(path):
    store = open_store(path)
    c1, _ = store.start_exchange(None, "tell me about gardens")
    answer(store, c1, "Gardening is pleasant. A long answer about many other things: " + "filler " * 60)
    c2, _ = store.start_exchange(None, "and about running?")
    answer(store, c2, "Running garden paths: the garden runner runs in the garden.")
    hits = store.search("garden")
    assert [h.conversation_id for h in hits][:1] == [c2]  # most, densest matches first
    assert {h.conversation_id for h in hits} == {c1, c2}
    assert all(MATCH_START in h.snippet and MATCH_END in h.snippet for h in hits)
    # stemming: "run" finds running/runs; accents and case do not matter
    assert any(h.conversation_id == c2 for h in store.search("RUN"))
    store.start_exchange(None, "Crème brûlée recipe")
    assert store.search("creme brulee")[0].role == "user"
    # all words must match
    assert store.search("garden pleasant")[0].conversation_id == c1
    assert store.search("garden zebra") == []
    # user input is never FTS syntax
    for odd in ('C++ "quoted', "NEAR(a b)", "a* OR -b", "col:value", '"'):
        store.search(odd)
    with pytest.raises(UsageError):
        store.search("   ")
    assert len(store.search("garden", limit=1)) == 1


def test_delete_removes_messages_index_and_the_words_from_the_files(path):
    store = open_store(path)
    keep, _ = store.start_exchange(None, "ordinary words")
    answer(store, keep, "nothing special")
    gone, _ = store.start_exchange(None, "xylophonist zanzibarine secretword")
    answer(store, gone, "the quixotically unguessable answer")
    assert store.search("zanzibarine")
    assert store.delete([gone]) == 1
    assert store.get(gone) is None and store.messages(gone) == []
    assert store.search("zanzibarine") == [] and store.search("quixotically") == []
    assert store.search("ordinary")
    n_left = store._conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert n_left == 2  # cascade removed the deleted conversation's messages
    store.close()
    blob = b"".join(p.read_bytes() for p in path.parent.iterdir())
    for word in (b"zanzibarine", b"quixotically", b"xylophonist", b"secretword"):
        assert word not in blob, word
    store = open_store(path)
    assert store.delete_all() == 1 and store.conversations() == []


# --- migrations --------------------------------------------------------------------------------------

V1_ONLY = MIGRATIONS[:1]


def make_v1_db(path: Path) -> None:
    """A file as the first schema version left it, with data in it."""
    conn, _ = connect(path, migrations=V1_ONLY)
    with transaction(conn):
        conn.execute(
            "INSERT INTO conversations (id, title, created, updated, profile, host, model)"
            " VALUES ('0000000000oldone', 'old conversation', '2024-01-01T00:00:00.000Z',"
            " '2024-01-01T00:00:00.000Z', 'default', 'old-host', 'old-model')"
        )
        for role, content in (("user", "what about pelicans?"), ("assistant", "Pelicans have pouches.")):
            conn.execute(
                "INSERT INTO messages (conversation_id, role, content, created) VALUES (?, ?, ?, ?)",
                ("0000000000oldone", role, content, "2024-01-01T00:00:00.000Z"),
            )
    conn.close()


def test_a_v1_database_upgrades_and_keeps_its_data(path):
    make_v1_db(path)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
    assert not raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").fetchall()
    raw.close()

    store = open_store(path)
    rows = store._conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS] and LATEST == len(MIGRATIONS)
    old = store.resolve("0000000000old")
    assert old.title == "old conversation" and old.messages == 2
    assert [h.conversation_id for h in store.search("pelican")] == ["0000000000oldone"] * 2  # indexed
    assert store.messages_for_request(old.id) == [
        Message("user", "what about pelicans?"),
        Message("assistant", "Pelicans have pouches."),
    ]
    store.start_exchange(old.id, "more pelicans")
    assert len(store.search("pelicans")) == 3  # new rows indexed by the triggers
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()
    # opening again applies nothing twice
    store = open_store(path)
    assert store._conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == LATEST


def test_a_newer_schema_is_left_alone(path):
    open_store(path).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', '2099-01-01T00:00:00Z')")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    with pytest.raises(StoreTooNew) as ei:
        open_store(path)
    assert "newer llmcli" in ei.value.reason and "99" in ei.value.reason
    assert path.read_bytes() == before


RACER = """
import sys, time
from pathlib import Path
from llmcli.store.db import connect, StoreTooNew
from llmcli.store.migrations import MIGRATIONS
path, known, start = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
while time.time() < start:
    pass
try:
    conn, _ = connect(path, migrations=MIGRATIONS[:known])
except StoreTooNew:
    print("too-new")
else:
    conn.execute("INSERT INTO conversations (id, title, created, updated) VALUES (lower(hex(randomblob(8))), 't', 'x', 'x')")
    print("ok")
"""


def test_processes_of_two_versions_create_and_migrate_one_file_at_once(path):
    """12 processes, half knowing only v1, start on a missing file at the same moment."""
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), str(1 if i % 2 else LATEST), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for i in range(12)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(out.strip())
    # the newer ones always succeed; an older one succeeds only before the upgrade, else refuses
    assert all(r == "ok" for i, r in enumerate(results) if i % 2 == 0)
    assert all(r in ("ok", "too-new") for r in results)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall() == [
        (m.version,) for m in MIGRATIONS
    ]
    assert raw.execute("SELECT count(*) FROM conversations").fetchone()[0] == results.count("ok")
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- damaged files -----------------------------------------------------------------------------------


def test_a_damaged_file_is_moved_aside_with_its_wal(path):
    path.parent.mkdir(mode=0o700)
    junk = os.urandom(8192)
    path.write_bytes(junk)
    Path(f"{path}-wal").write_bytes(b"stale wal")
    notices: list[str] = []
    store = open_store(path, notice=notices.append)
    assert len(notices) == 1 and "moved it to history.db.corrupt-" in notices[0]
    aside = [p for p in path.parent.iterdir() if p.name.startswith("history.db.corrupt-")]
    main = [p for p in aside if not p.name.endswith("-wal")]
    assert len(main) == 1 and main[0].read_bytes() == junk
    assert Path(f"{main[0]}-wal").read_bytes() == b"stale wal"  # never replayed into the new file
    conv, _ = store.start_exchange(None, "fresh start")
    assert store.get(conv).title == "fresh start"


def test_move_aside_leaves_a_file_another_process_already_replaced(path):
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"x" * 100)
    identity = db._identity(path)
    os.replace(path, path.with_name("elsewhere"))
    path.write_bytes(b"new file by someone else")
    assert db.move_aside(path, identity) is None
    assert path.read_bytes() == b"new file by someone else"


# --- signals during a write ----------------------------------------------------------------------------


def test_a_signal_during_a_write_waits_for_the_commit(path):
    store = open_store(path)
    conv, _ = store.start_exchange(None, "q")
    with pytest.raises(KeyboardInterrupt):
        with store._write() as conn:
            conn.execute(
                "INSERT INTO messages (conversation_id, role, content, created) VALUES (?, 'assistant', 'kept', 'now')",
                (conv,),
            )
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run by now: it only took note
            conn.execute("UPDATE conversations SET title = 'still here' WHERE id = ?", (conv,))
    assert [m.content for m in store.messages(conv)] == ["q", "kept"]
    assert store.get(conv).title == "still here"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_failed_write_leaves_nothing(path):
    store = open_store(path)
    conv, _ = store.start_exchange(None, "q")
    with pytest.raises(RuntimeError):
        with store._write() as conn:
            conn.execute("UPDATE conversations SET title = 'half' WHERE id = ?", (conv,))
            raise RuntimeError("boom")
    assert store.get(conv).title == "q"
    assert not store._conn.in_transaction


def test_host_of_keeps_no_credentials_or_query():
    assert host_of("https://user:pa55@api.example.com:8443/v1?key=abc#frag") == "api.example.com:8443"
    assert host_of("http://127.0.0.1:8080/v1") == "127.0.0.1:8080"


# --- the recorder (ask's and the REPL's way in) --------------------------------------------------------


def test_recorder_undo_retry_and_a_conversation_deleted_meanwhile(path):
    from llmcli.store.recorder import Recorder
    from llmcli.turn import Outcome

    said: list[str] = []
    rec = Recorder(path, warn=said.append)
    rec.start("q1", system="sys", model="m")
    rec.finish(Outcome(content="a1", model="m"))
    rec.start("q2", system="sys", model="m")
    rec.finish(Outcome(content="", status="error"))
    conv = rec.conversation_id
    store = open_store(path)
    assert [m.content for m in store.messages(conv)] == ["sys", "q1", "a1", "q2", ""]
    rec.drop_last_exchange()  # /retry of q2: its turn and failed answer go
    assert [m.content for m in store.messages(conv)] == ["sys", "q1", "a1"]
    rec.drop_last_exchange()  # /undo of the only exchange left: the conversation goes
    assert store.get(conv) is None and rec.conversation_id is None
    rec.start("q3", system="sys")
    rec.finish(Outcome(content="a3"))
    conv3 = rec.conversation_id
    assert conv3 != conv and [m.content for m in store.messages(conv3)] == ["sys", "q3", "a3"]
    store.delete([conv3])  # another terminal: llmcli history rm
    rec.start("q4")
    rec.finish(Outcome(content="a4"))
    assert rec.conversation_id not in (None, conv3) and rec.kept_id == rec.conversation_id
    assert [m.content for m in store.messages(rec.conversation_id)] == ["q4", "a4"]
    assert len(said) == 1 and "deleted meanwhile" in said[0] and "new conversation" in said[0]
    assert not rec.failed

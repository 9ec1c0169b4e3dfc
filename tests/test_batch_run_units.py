"""The local runner's parts without a server: result lines, reading an earlier output (torn ends, failure
lines, foreign files), compaction, the writer on a full disk, the lock, the input check, the tally."""

from __future__ import annotations

import errno
import json
import os

import pytest

from llmcli.batch import output
from llmcli.batch.ids import IdSet
from llmcli.batch.inputs import check_input, pending_requests
from llmcli.batch.output import OutputLock, ResultWriter, compact, encode, result_object, scan
from llmcli.batch.progress import Tally
from llmcli.batch.prompts import RequestShape
from llmcli.batch.reader import Source
from llmcli.errors import NetworkFailed, OutputError, RequestRejected, UsageError
from llmcli.load.types import RequestRecord


def ok_line(cid: str) -> str:
    body = {"choices": [{"message": {"content": "hi"}}]}
    obj = {
        "id": "batch_req_1",
        "custom_id": cid,
        "response": {"status_code": 200, "request_id": None, "body": body},
        "error": None,
    }
    return json.dumps(obj) + "\n"


def failed_line(cid: str) -> str:
    return (
        json.dumps(
            {
                "id": "batch_req_2",
                "custom_id": cid,
                "response": None,
                "error": {"code": "timeout", "message": "x"},
            }
        )
        + "\n"
    )


def test_result_objects_follow_the_batch_api_format():
    rec = RequestRecord(index=0, status=200, request_id="req-1", end=1.0, body={"id": "c"})
    assert result_object("a", rec, "batch_req_x") == {
        "id": "batch_req_x",
        "custom_id": "a",
        "response": {"status_code": 200, "request_id": "req-1", "body": {"id": "c"}},
        "error": None,
    }
    err = RequestRejected("h rejected the request (HTTP 400): bad", host="h", status=400)
    rec = RequestRecord(index=1, status=400, error=err, kind="rejected", body={"error": {"message": "bad"}})
    obj = result_object("b", rec, "batch_req_y")
    assert obj["response"]["status_code"] == 400 and obj["response"]["body"] == {"error": {"message": "bad"}}
    assert obj["error"] == {"code": "rejected", "message": "h rejected the request (HTTP 400): bad"}
    rec = RequestRecord(index=2, error=NetworkFailed("could not connect", host="h"), kind="connection")
    assert result_object("c", rec, "i")["response"] is None
    line = encode({"custom_id": "d", "text": "two\nlines\u2028and more"})
    assert line.count(b"\n") == 1 and line.endswith(b"\n")  # one physical line, whatever the text holds
    ids = output.LineIds()
    assert len({ids() for _ in range(1000)}) == 1000


def test_a_success_line_carries_the_servers_bytes_or_falls_back_to_encoding():
    body = {"id": "c", "choices": [{"message": {"content": "é \u2028 \\n"}}]}
    for raw in (
        json.dumps(body).encode(),  # as a server sends it: spliced in as is
        json.dumps(body, ensure_ascii=False).encode(),
        json.dumps(body, indent=1).encode(),  # several lines: encoded again, on one line
        b"\xef\xbb\xbf" + json.dumps(body).encode(),  # a byte-order mark: encoded again
        json.dumps(body).encode("utf-16"),
        None,
    ):
        rec = RequestRecord(index=0, status=200, request_id='id "1"', end=1.0, body=body, raw=raw)
        line = output.success_line("k\u00e9y", rec, "batch_req_1")
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert json.loads(line) == result_object("k\u00e9y", rec, "batch_req_1")
        if raw is not None and raw.startswith(b"{") and b"\n" not in raw:
            assert raw in line


def test_scan_finds_successes_failures_and_a_torn_end(tmp_path):
    path = tmp_path / "out.jsonl"
    assert scan(path).clean and len(scan(path).done) == 0  # no file yet
    path.write_text(ok_line("a") + failed_line("b") + ok_line("c") + ok_line("d")[:30])
    prev = scan(path)
    assert "a" in prev.done and "c" in prev.done and "b" not in prev.done and "d" not in prev.done
    assert (prev.succeeded, prev.failed) == (2, 1)
    assert prev.torn_at == len(ok_line("a") + failed_line("b") + ok_line("c"))
    path.write_text(ok_line("a") + ok_line("b").rstrip("\n"))  # complete, only its newline missing
    prev = scan(path)
    assert prev.open_end and prev.torn_at is None and "b" in prev.done
    path.write_bytes(ok_line("a").encode() + b"\x00" * 300)  # a power loss: zeros at the end
    prev = scan(path)
    assert prev.torn_at == len(ok_line("a")) and len(prev.done) == 1


@pytest.mark.parametrize(
    "text",
    ['{"some": "json"}\n', ok_line("a") + "not json at all\n" + ok_line("b"), "plain text notes\n"],
)
def test_scan_refuses_a_file_that_is_not_a_result_file(tmp_path, text):
    path = tmp_path / "notes.jsonl"
    path.write_text(text)
    with pytest.raises(UsageError, match="not a result file"):
        scan(path)


def test_compact_cuts_a_torn_end_in_place_and_rewrites_without_failure_lines(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(ok_line("a") + ok_line("b")[:25])
    inode = path.stat().st_ino
    compact(path, scan(path))
    assert path.read_text() == ok_line("a") and path.stat().st_ino == inode  # cut in place
    path.write_text(ok_line("a") + ok_line("b").rstrip("\n"))
    compact(path, scan(path))
    assert path.read_text() == ok_line("a") + ok_line("b")
    path.write_text(
        failed_line("x") + ok_line("a") + "\n" + failed_line("y") + ok_line("b") + ok_line("c")[:9]
    )
    compact(path, scan(path))
    assert path.read_text() == ok_line("a") + ok_line("b")
    assert scan(path).clean


def test_a_failed_write_leaves_no_part_of_a_line(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    writer = ResultWriter(path)
    writer.write(ok_line("a").encode())
    real = os.write
    calls = []

    def half_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OutputError, match="No space left on device"):
        writer.write(ok_line("b").encode())
    monkeypatch.undo()
    writer.close()
    assert path.read_text() == ok_line("a")
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_lock_admits_one_run_and_outlives_no_process(tmp_path):
    out = tmp_path / "out.jsonl"
    with OutputLock(out) as lock:
        assert lock.path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(
            UsageError, match=f"being written by another `llmcli batch run` \\(pid {os.getpid()}\\)"
        ):
            OutputLock(out).acquire()
    assert not lock.path.exists()
    lock.path.write_text("12345\n")  # left by a process that died: the kernel released its flock
    with OutputLock(out):
        pass


def test_check_input_counts_what_is_done_and_pending_requests_skip_it(tmp_path):
    src_path = tmp_path / "in.jsonl"
    reqs = [
        {"custom_id": f"r{i}", "method": "POST", "url": url, "body": {"model": "m", **field}}
        for i, (url, field) in enumerate(
            [
                ("/v1/chat/completions", {"messages": []}),
                ("/v1/completions", {"prompt": "p"}),
                ("/v1/embeddings", {"input": "e"}),
            ]
        )
    ]
    src_path.write_text("".join(json.dumps(r) + "\n" for r in reqs) + "oops\n")
    done = IdSet()
    done.add("r1")
    with Source(src_path) as src:
        check = check_input(src, None, done)
        assert (check.lines, check.requests, check.done, check.todo, check.skip) == (4, 3, 1, 2, {4})
        pending = list(pending_requests(src, None, done, check.skip))
    assert [(p.tag, p.path, p.streaming) for p in pending] == [
        ("r0", "chat/completions", False),
        ("r2", "embeddings", False),
    ]


def test_prompt_files_become_chat_requests_with_stable_ids(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("first\n\nsecond\n")
    shape = RequestShape("m", "sys", {"temperature": 0})
    with Source(path) as src:
        check = check_input(src, shape, IdSet())
        pending = list(pending_requests(src, shape, IdSet(), check.skip))
    assert check.requests == 2 and [p.tag for p in pending] == ["line-1", "line-3"]
    assert pending[1].body == {
        "model": "m",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "second"}],
        "temperature": 0,
    }


def test_tally_rates_and_eta():
    tally = Tally(total=100)
    for i in range(40):
        rec = RequestRecord(index=i, end=1.0, status=200, output_tokens=10, prompt_tokens=3)
        tally.add(rec, now=1.0 + i * 0.05)
    tally.add(RequestRecord(index=40, error=NetworkFailed("x", host="h"), kind="timeout"), now=3.0)
    s = tally.snapshot(3.0, in_flight=4, limit=8, paused=0, stopping=False)
    assert (s.succeeded, s.failed, s.done) == (40, 1, 41)
    assert s.requests_per_s == pytest.approx(41 / 3.0) and s.tokens_per_s == pytest.approx(400 / 3.0)
    assert s.eta == pytest.approx(59 / (41 / 3.0))
    assert tally.error_summary() == {"timeout": {"count": 1, "exit_code": 6, "first_message": "x"}}


def test_tally_memory_is_bounded_without_a_progress_bar():
    """Into a pipe nothing asks for a snapshot: a long run must not keep an entry per request."""
    from llmcli.batch.progress import WINDOW_S

    tally = Tally(total=200_000)
    for i in range(200_000):
        tally.add(RequestRecord(index=i, end=1.0, status=200, output_tokens=1), now=i * 0.001)
    assert len(tally._recent) <= WINDOW_S / 0.001 + 1
    s = tally.snapshot(200.0, in_flight=0, limit=8, paused=0, stopping=False)
    assert s.requests_per_s == pytest.approx(1000, rel=0.01)


def test_the_output_module_needs_nothing_heavy():
    import subprocess
    import sys

    code = "import sys, llmcli.batch.runner, llmcli.batch.report; print(sorted(m for m in ('aiohttp','rich','httpx') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"

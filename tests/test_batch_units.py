"""The pieces `batch submit|results` and the local runner share, without a server: reading a JSONL input
as a stream, validation with line numbers, prompt files, input order, atomic output, polling."""

from __future__ import annotations

import io
import json
import os
import statistics
from pathlib import Path

import pytest

from llmcli.batch.ids import IdSet
from llmcli.batch.order import write_in_input_order
from llmcli.batch.prompts import RequestShape, detect_format, input_ids, prompt_requests
from llmcli.batch.reader import Source
from llmcli.batch.validate import MAX_REQUESTS, Validator, describe, provider_limits, validate
from llmcli.core.files import AtomicOutput
from llmcli.errors import UsageError
from llmcli.jobs.poll import Backoff, DeadlinePassed, poll
from llmcli.jobs.stats import quantile, summary


def req(cid: str, *, url="/v1/chat/completions", model="m", **body) -> dict:
    b = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    if url == "/v1/embeddings":
        b = {"model": model, "input": body.get("input", "x")}
    return {"custom_id": cid, "method": "POST", "url": url, "body": b}


def write_lines(path: Path, *lines) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else json.dumps(x).encode()) + b"\n" for x in lines))
    return path


# --- reading ------------------------------------------------------------------------------------------


def test_lines_are_numbered_with_offsets_crlf_and_a_last_line_without_newline(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_bytes(b'{"a":1}\r\n\n{"b":2}')
    with Source(p) as src:
        lines = list(src.lines())
    assert [(x.number, x.text, x.offset, x.size) for x in lines] == [
        (1, '{"a":1}', 0, 9),
        (2, "", 9, 1),
        (3, '{"b":2}', 10, 7),
    ]


def test_bad_utf8_and_bom_are_problems_of_their_line(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a":1}\n{"b":"\xff"}\n')
    with Source(p) as src:
        first, second = src.lines()
    assert "byte-order mark" in first.problem
    assert second.text is None and "not valid UTF-8 (byte 7" in second.problem


def test_stdin_is_spooled_privately_and_read_twice(tmp_path, monkeypatch):
    data = b"".join(json.dumps(req(f"r{i}")).encode() + b"\n" for i in range(3))

    class Stdin(io.BytesIO):
        def isatty(self):
            return False

    src = Source("-", stdin=Stdin(data))
    assert src.label == "stdin" and os.stat(src.path).st_mode & 0o777 == 0o600
    assert validate(src).requests == 3 and validate(src).requests == 3
    spool = src.path
    src.close()
    assert not spool.exists()


def test_a_missing_file_or_a_folder_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        Source(tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match="is a folder"):
        Source(tmp_path)


# --- validation ------------------------------------------------------------------------------------------


def test_every_kind_of_bad_line_is_reported_with_its_number(tmp_path):
    p = write_lines(
        tmp_path / "in.jsonl",
        req("a"),
        b"[1, 2]",
        b"{oops",
        req("a"),
        {**req("b"), "method": "GET"},
        {**req("c"), "url": "/v1/responses"},
        {k: v for k, v in req("d").items() if k != "url"},
        {**req("e"), "body": "text"},
        {**req("f"), "body": {"messages": []}},
        {**req("g"), "extra": 1},
        {**req(""), "custom_id": 5},
        b"   ",
        {**req("h"), "body": {"model": "m"}},
        req("i", url="/v1/embeddings"),
    )
    with Source(p) as src:
        report = validate(src)
    found = {(x.line, x.message.split(" (")[0]) for x in report.problems}
    assert (2, "a request must be a JSON object, not a list") in found
    assert any(line == 3 and m.startswith("not JSON") for line, m in found)
    assert (4, "custom_id 'a' is used by an earlier line") in found
    assert (5, "method must be \"POST\", not 'GET'") in found
    assert any(line == 6 and "'/v1/responses' is not one of" in m for line, m in found)
    assert (7, "url is missing") in found
    assert (8, "body must be a JSON object, not a string") in found
    assert (9, "body.model is missing") in found
    assert (10, "unknown key 'extra'") in found
    assert (11, "custom_id must be a non-empty string, not a number") in found
    assert (12, "empty line") in found
    assert (13, "body.messages is missing") in found
    assert report.problem_lines == 12 and report.requests == 2 and not report.ok
    assert report.urls == {"/v1/chat/completions": 1, "/v1/embeddings": 14}
    lines = describe("in.jsonl", report.problems, report.lines, shown=3)
    assert (
        lines[0].startswith("in.jsonl:2: ")
        and lines[-1] == f"... and {len(report.problems) - 3} more problems"
    )


def test_an_empty_file_is_not_valid(tmp_path):
    with Source(write_lines(tmp_path / "e.jsonl")) as src:
        report = validate(src)
    assert not report.ok and report.problems[0].message == "the file is empty: no requests"


def test_provider_limits(tmp_path):
    with Source(write_lines(tmp_path / "a.jsonl", req("1"), req("2", model="other"))) as src:
        report = validate(src)
    assert "more than one model" in provider_limits(report, endpoint=None)[0].message
    with Source(
        write_lines(tmp_path / "b.jsonl", req("1"), req("2", url="/v1/embeddings", model="m"))
    ) as src:
        problems = provider_limits(validate(src), endpoint=None)
    assert any("more than one url" in p.message for p in problems)
    with Source(
        write_lines(tmp_path / "c.jsonl", req("1", url="/v1/embeddings", input=["x"] * 50_001))
    ) as src:
        problems = provider_limits(validate(src), endpoint="/v1/embeddings")
    assert [p.message.split(";")[0] for p in problems] == ["50,001 embedding inputs"]
    report = validate(Source(write_lines(tmp_path / "d.jsonl", req("1"))))
    report.requests, report.size = MAX_REQUESTS + 1, 201 * 1024 * 1024
    messages = " | ".join(p.message for p in provider_limits(report, endpoint="/v1/chat/completions"))
    assert "at most 50,000 per file" in messages and "at most 200 MB" in messages


def test_uniqueness_holds_over_many_ids():
    v = Validator()
    assert all(v.claim_id(f"id-{i}") for i in range(100_000))
    assert not v.claim_id("id-99999") and v.claim_id("id-100000")
    ids = IdSet(4)
    assert ids.add("é") and "é" in ids and "e" not in ids and not ids.add("é") and len(ids) == 1


# --- prompt files ---------------------------------------------------------------------------------------


def test_plain_prompt_file(tmp_path):
    p = tmp_path / "p.txt"
    p.write_text("first prompt\n\n  \nsecond prompt\n")
    shape = RequestShape("m", "sys", {"temperature": 0.2})
    with Source(p) as src:
        assert detect_format(src) == "text"
        out = list(prompt_requests(src, shape))
        ids = list(input_ids(src))
    assert [c.request["custom_id"] for c in out] == ["line-1", "line-4"] == ids
    assert out[1].request == {
        "custom_id": "line-4",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "m",
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "second prompt"}],
            "temperature": 0.2,
        },
    }


def test_jsonl_prompt_file_with_ids_messages_and_errors(tmp_path):
    p = write_lines(
        tmp_path / "p.jsonl",
        {"prompt": "one", "custom_id": "x"},
        {"messages": [{"role": "system", "content": "own"}, {"role": "user", "content": "two"}]},
        {"prompt": "dup", "custom_id": "x"},
        {"prompt": "a", "messages": []},
        {"text": "typo"},
        {"prompt": "  "},
    )
    with Source(p) as src:
        assert detect_format(src) == "jsonl"
        out = list(prompt_requests(src, RequestShape("m", "sys")))
        ids = list(input_ids(src))
    assert out[0].request["custom_id"] == "x"
    assert out[1].request["body"]["messages"][0] == {"role": "system", "content": "own"}  # not doubled
    assert out[1].request["custom_id"] == "line-2"
    assert "used by an earlier line" in out[2].problems[0]
    assert "either prompt" in out[3].problems[0]
    assert "unknown key 'text'" in out[4].problems[0]
    assert "non-empty string" in out[5].problems[0]
    assert ids == ["x", "line-2", "x", "line-4", "line-6"]


# --- input order ---------------------------------------------------------------------------------------


def test_results_in_input_order_keep_every_line(tmp_path):
    results = tmp_path / "r.jsonl"
    rows = [{"custom_id": c, "n": i} for i, c in enumerate(["c", "a", "zz", "b", "a"])]
    results.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    out = io.BytesIO()
    stats = write_in_input_order(results, ["a", "b", "missing", "c"], out)
    got = out.getvalue().decode().splitlines()
    assert [json.loads(x)["n"] for x in got[:4]] == [1, 4, 3, 0]  # a (both, in order), b, c
    assert got[4:] == ['{"custom_id": "zz", "n": 2}', "not json"]  # the rest, in the file's order
    assert (stats.written, stats.unmatched, stats.missing) == (6, 2, 1)


# --- atomic output ---------------------------------------------------------------------------------------


def test_atomic_output_appears_whole_private_and_never_clobbers(tmp_path):
    dest = tmp_path / "out.jsonl"
    with AtomicOutput(dest) as out:
        out.write(b"done\n")
        assert not dest.exists()  # not before commit
    assert dest.read_bytes() == b"done\n" and dest.stat().st_mode & 0o777 == 0o600
    with pytest.raises(UsageError, match="already exists"):
        with AtomicOutput(dest):
            pass
    with pytest.raises(RuntimeError):
        with AtomicOutput(dest, force=True) as out:
            out.write(b"half")
            raise RuntimeError("interrupted")
    assert dest.read_bytes() == b"done\n" and os.listdir(tmp_path) == ["out.jsonl"]
    other = tmp_path / "race.jsonl"
    with pytest.raises(UsageError, match="already exists"):
        with AtomicOutput(other) as out:
            out.write(b"mine")
            other.write_bytes(b"theirs")  # appeared while we were writing
    assert other.read_bytes() == b"theirs" and sorted(os.listdir(tmp_path)) == ["out.jsonl", "race.jsonl"]


# --- polling ---------------------------------------------------------------------------------------------


def test_backoff_grows_while_nothing_changes_and_resets_on_change():
    b = Backoff(2.0, 60.0)
    assert [b.next(False) for _ in range(3)] == [3.0, 4.5, 6.75]
    assert b.next(True) == 2.0
    assert max(b.next(False) for _ in range(30)) == 60.0


def test_poll_stops_at_done_and_at_the_deadline():
    clock = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        clock[0] += s

    states = iter(["a", "a", "b", "done"])
    seen = list(
        poll(
            lambda: next(states),
            done=lambda s: s == "done",
            fingerprint=lambda s: s,
            interval=1,
            sleep=sleep,
            clock=lambda: clock[0],
        )
    )
    assert seen == ["a", "a", "b", "done"] and slept == [1, 1.5, 1]
    clock[0], slept[:] = 0.0, []
    with pytest.raises(DeadlinePassed) as caught:
        list(
            poll(
                lambda: "x",
                done=lambda s: False,
                fingerprint=lambda s: s,
                interval=1,
                timeout=3.2,
                sleep=sleep,
                clock=lambda: clock[0],
            )
        )
    assert caught.value.last == "x" and sum(slept) == pytest.approx(3.2)  # the last sleep was clipped


# --- quantiles -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[7], [3, 1], list(range(1, 11)), [5, 1, 9, 9, 2, 30, 4, 4, 8, 1, 0, 12]])
def test_quantiles_are_type_7(values):
    ordered = sorted(values)
    if len(values) > 1:
        deciles = statistics.quantiles(values, n=10, method="inclusive")  # the same definition, independently
        assert quantile(ordered, 0.1) == pytest.approx(deciles[0])
        assert quantile(ordered, 0.9) == pytest.approx(deciles[8])
    assert quantile(ordered, 0.5) == pytest.approx(statistics.median(values))
    assert summary(values)["min"] == min(values) and summary(values)["max"] == max(values)
    assert summary(list(range(1, 11))) == {"min": 1, "p10": 1.9, "median": 5.5, "p90": 9.1, "max": 10}

"""`llmcli batch run` as a user meets it: a subprocess against the reference server, whose request log is
the proof of what was sent (and what was not sent again)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import assert_no_traceback
from refserver import Scenario

SENTINEL = "sk-sentinel-batch-0123456789"


def words(i: int) -> int:
    """Line i's prompt has this many words: the server's usage (prompt tokens = words) then proves that
    each answer was matched to its own custom_id."""
    return i % 7 + 1


def prompt(i: int) -> str:
    return " ".join([f"q{i}"] * words(i))


def batch_file(path: Path, n: int, *, start: int = 0) -> Path:
    with open(path, "w") as out:
        for i in range(start, start + n):
            body = {"model": "ref-model", "messages": [{"role": "user", "content": prompt(i)}]}
            out.write(
                json.dumps(
                    {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
                )
                + "\n"
            )
    return path


def results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sent_prompts(server, since: int = 0) -> Counter:
    """How many times each line's prompt reached the server: its log."""
    got: Counter = Counter()
    for rec in server.chat_requests()[since:]:
        got[rec.body["messages"][-1]["content"].split()[0]] += 1
    return got


def after_probe(server, *scenarios: Scenario) -> None:
    """Queue scenarios for the requests of the file: the run asks GET /models first (its probe)."""
    server.push(Scenario(), *scenarios)


def run(cli, *args, **kw):
    r = cli("batch", "run", *args, "--base-url", cli.server.base_url, **kw)
    assert_no_traceback(r.stderr)
    return r


def check_matched(lines: list[dict]) -> None:
    for line in lines:
        i = int(line["custom_id"][1:])
        assert line["error"] is None and line["response"]["status_code"] == 200, line
        assert line["response"]["body"]["usage"]["prompt_tokens"] == words(i), line
        assert line["id"].startswith("batch_req_")


def test_two_thousand_lines_run_with_every_custom_id_exactly_once(cli, server, tmp_path):
    src = batch_file(tmp_path / "in.jsonl", 2000)
    out = tmp_path / "out.jsonl"
    r = run(cli, str(src), "-o", str(out), "-j", "32", "--format", "json")
    assert r.returncode == 0, r
    lines = results(out)
    assert len(lines) == 2000
    assert Counter(x["custom_id"] for x in lines) == Counter(f"r{i}" for i in range(2000))
    check_matched(lines)
    assert sent_prompts(server) == Counter(f"q{i}" for i in range(2000))  # each sent once
    doc = json.loads(r.stdout)
    assert doc["succeeded"] == 2000 and doc["failed"] == 0 and doc["exit_code"] == 0
    assert doc["usage"]["prompt_tokens"] == sum(words(i) for i in range(2000))
    assert "batch run: 2,000 requests: 2,000 succeeded, 0 failed" in r.stderr
    assert "\x1b" not in r.stderr  # no progress bar into a pipe
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "out.jsonl.lock").exists()
    # a rerun has nothing to do and sends nothing
    r = run(cli, str(src), "-o", str(out))
    assert r.returncode == 0 and "nothing to do" in r.stderr, r
    assert len(server.chat_requests()) == 2000 and len(results(out)) == 2000


def popen(cli, *args):
    return subprocess.Popen(
        cli.argv("batch", "run", *args, "--base-url", cli.server.base_url),
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_lines(path: Path, n: int, proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"fewer than {n} lines in {path}")


def test_kill_9_mid_run_then_a_rerun_completes_without_resending_what_succeeded(cli, server, tmp_path):
    server.default = Scenario(delay_headers=0.01)
    src = batch_file(tmp_path / "in.jsonl", 1000)
    out = tmp_path / "out.jsonl"
    proc = popen(cli, str(src), "-o", str(out), "-j", "8")
    wait_for_lines(out, 200, proc)
    proc.kill()  # SIGKILL: no handler runs, no line is finished for it
    proc.wait(10)
    first = results(out)  # every line is whole: kill -9 cannot tear a write
    done_first = {x["custom_id"] for x in first}
    assert 200 <= len(first) < 1000 and len(done_first) == len(first)
    assert (tmp_path / "out.jsonl.lock").exists()  # left behind, but the kernel released the lock
    boundary = len(server.chat_requests())

    r = run(cli, str(src), "-o", str(out), "-j", "8")
    assert r.returncode == 0, r
    assert f"resuming: {len(first):,} of 1,000 requests already have a result" in r.stderr
    lines = results(out)
    assert Counter(x["custom_id"] for x in lines) == Counter(f"r{i}" for i in range(1000))  # no duplicate
    check_matched(lines)
    resent = sent_prompts(server, since=boundary)
    assert not {f"q{c[1:]}" for c in done_first} & set(resent)  # nothing that had succeeded went again
    assert set(resent) == {f"q{i}" for i in range(1000)} - {f"q{c[1:]}" for c in done_first}
    assert all(n == 1 for n in resent.values())
    assert not (tmp_path / "out.jsonl.lock").exists()


def test_a_torn_last_line_and_earlier_failures_are_dropped_and_run_again(cli, server, tmp_path):
    src = batch_file(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    after_probe(server, Scenario(status=400))  # r0 is rejected (never retried)
    r = run(cli, str(src), "-o", str(out), "-j", "1")
    assert r.returncode == 7, r
    assert "1 of 6 requests failed" in r.stderr and "run the same command again" in r.stderr
    lines = results(out)
    failed = [x for x in lines if x["error"] is not None]
    assert [x["custom_id"] for x in failed] == ["r0"]
    assert failed[0]["error"]["code"] == "rejected" and failed[0]["response"]["status_code"] == 400
    assert "Invalid request." in failed[0]["error"]["message"]
    assert failed[0]["response"]["body"]["error"]["type"] == "invalid_request_error"
    # a crash while writing r5's line: a torn end (drop r5's complete line, add half of it)
    text = out.read_text().splitlines(keepends=True)
    keep = [x for x in text if '"r5"' not in x]
    out.write_text("".join(keep) + [x for x in text if '"r5"' in x][0][:40])
    before = len(server.chat_requests())
    r = run(cli, str(src), "-o", str(out))
    assert r.returncode == 0, r
    assert "1 failed before and run again" in r.stderr and "torn last line" in r.stderr
    assert sent_prompts(server, since=before) == Counter({"q0": 1, "q5": 1})
    lines = results(out)
    assert sorted(x["custom_id"] for x in lines) == [f"r{i}" for i in range(6)]
    check_matched(lines)


def test_errors_file_and_ordered_output(cli, server, tmp_path):
    src = batch_file(tmp_path / "in.jsonl", 40)
    out, err = tmp_path / "out.jsonl", tmp_path / "failed.jsonl"
    after_probe(server, *[Scenario(delay_headers=0.05 * (5 - i)) for i in range(5)], Scenario(status=422))
    r = run(cli, str(src), "-o", str(out), "--errors", str(err), "--ordered", "-j", "6")
    assert r.returncode == 7, r
    assert [x["custom_id"] for x in results(out)] == [f"r{i}" for i in range(40) if i != 5]  # input order
    assert [x["custom_id"] for x in results(err)] == ["r5"]
    assert "in input order" in r.stderr
    r = run(cli, str(src), "-o", str(out), "--errors", str(err), "--ordered")
    assert r.returncode == 0, r
    assert [x["custom_id"] for x in results(out)] == [f"r{i}" for i in range(40)]
    assert err.read_text() == ""  # the one failure has succeeded since


def test_429_storm_lowers_concurrency_and_the_run_finishes(cli, server, tmp_path):
    server.default = Scenario(delay_headers=0.01)
    after_probe(server, *[Scenario(status=429, headers={"retry-after-ms": "40"}) for _ in range(40)])
    src = batch_file(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    r = run(cli, str(src), "-o", str(out), "-j", "16", "--format", "json")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["succeeded"] == 300 and doc["failed"] == 0
    assert doc["concurrency"]["max"] == 16 and doc["concurrency"]["lowest"] <= 4, doc["concurrency"]
    assert "lowered to" in r.stderr
    assert server.pending() == 0  # every 429 was served: the storm passed
    lines = results(out)
    assert len(lines) == 300 and len({x["custom_id"] for x in lines}) == 300
    check_matched(lines)


def test_invalid_input_is_refused_with_line_numbers_and_nothing_sent(cli, server, tmp_path):
    src = batch_file(tmp_path / "in.jsonl", 5)
    text = src.read_text().splitlines()
    text[1] = text[1].replace('"r1"', '"r0"')  # a duplicate custom_id
    text[3] = "{not json"
    bad = json.loads(text[4])
    bad["body"]["stream"] = True
    text[4] = json.dumps(bad)
    src.write_text("\n".join(text) + "\n")
    out = tmp_path / "out.jsonl"
    r = run(cli, str(src), "-o", str(out))
    assert r.returncode == 2, r
    assert f"{src}:2: custom_id 'r0' is used by an earlier line" in r.stderr
    assert f"{src}:4: not JSON" in r.stderr
    assert f"{src}:5: body.stream is true" in r.stderr
    assert "3 invalid lines; nothing was sent" in r.stderr
    assert not server.requests and not out.exists()
    r = run(cli, str(src), "-o", str(out), "--skip-invalid")
    assert r.returncode == 0, r
    assert "skipping 3 invalid lines" in r.stderr and "3 invalid lines skipped" in r.stderr
    assert sorted(x["custom_id"] for x in results(out)) == ["r0", "r2"]


def test_a_second_run_on_the_same_output_is_refused(cli, server, tmp_path):
    # slow enough (~7 s in all) that the first run is still writing when the second starts on a busy machine
    server.default = Scenario(delay_headers=0.5)
    src = batch_file(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    first = popen(cli, str(src), "-o", str(out), "-j", "2")
    wait_for_lines(out, 1, first)
    r = run(cli, str(src), "-o", str(out))
    assert r.returncode == 2, r
    assert f"{out} is being written by another `llmcli batch run` (pid {first.pid})" in r.stderr
    assert first.wait(30) == 0, first.communicate()
    assert len(results(out)) == 30


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_lets_what_is_in_flight_finish_and_the_rerun_resumes(cli, server, tmp_path, sig, code):
    server.default = Scenario(delay_headers=0.3)
    src = batch_file(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    proc = popen(cli, str(src), "-o", str(out), "-j", "4")
    wait_for_lines(out, 4, proc)
    sent = len(server.chat_requests())
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == code, stderr
    stderr = stderr.decode()
    assert "stopping: waiting up to 10 s for the 4 requests in flight" in stderr
    assert "batch run interrupted" in stderr and "not run" in stderr
    lines = results(out)
    # what was in flight finished and was written; between counting and the signal's arrival a request or
    # a few may have been issued on a busy machine, never more than the window
    assert len(lines) == len(server.chat_requests())
    assert sent <= len(lines) <= sent + 4
    assert all(x["error"] is None for x in lines)
    server.default = Scenario()
    r = run(cli, str(src), "-o", str(out), "-j", "8")
    assert r.returncode == 0, r
    assert sorted(x["custom_id"] for x in results(out)) == sorted(f"r{i}" for i in range(40))
    assert len(server.chat_requests()) == 40


def test_nothing_can_run_fails_fast_server_down_then_key_refused(cli, server, tmp_path):
    src = batch_file(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    r = cli(
        "batch", "run", str(src), "-o", str(out), "--base-url", "http://127.0.0.1:9/v1", "--max-retries", "0"
    )
    assert r.returncode == 6 and "could not connect to 127.0.0.1:9" in r.stderr, r
    assert not out.exists() and not (tmp_path / "out.jsonl.lock").exists()
    server.require_key = "sk-right"
    r = run(cli, str(src), "-o", str(out), env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 3, r
    assert SENTINEL not in r.stderr
    assert [x.method + " " + x.path for x in server.requests] == ["GET /v1/models"]  # the probe only
    assert not out.exists()


def test_the_key_refused_mid_run_stops_the_run(cli, server, tmp_path):
    """llama.cpp serves /models without a key: a refused key shows on the first requests instead."""
    after_probe(server, *[Scenario(status=401) for _ in range(50)])
    src = batch_file(tmp_path / "in.jsonl", 50)
    out = tmp_path / "out.jsonl"
    r = run(cli, str(src), "-o", str(out), "-j", "2", env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 3, r
    assert "stopping: the server refused the key" in r.stderr
    assert len(server.chat_requests()) <= 3  # one round in flight, not fifty
    assert SENTINEL not in out.read_text()


def test_a_key_the_server_echoes_never_reaches_the_output(cli, server, tmp_path):
    after_probe(
        server,
        Scenario(
            status=400, error_body={"error": {"message": f"bad key {SENTINEL} in request", "type": "x"}}
        ),
    )
    src = batch_file(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    r = run(cli, str(src), "-o", str(out), "-j", "1", env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 7, r
    text = out.read_text()
    assert "bad key" in text and SENTINEL not in text and SENTINEL not in r.stderr


def test_a_prompt_file_from_stdin_with_request_options(cli, server, tmp_path):
    out = tmp_path / "answers.jsonl"
    r = run(
        cli,
        "--prompts",
        "-",
        "-o",
        str(out),
        "-m",
        "ref-model",
        "-s",
        "Be brief.",
        "--temperature",
        "0.2",
        "--max-tokens",
        "50",
        "--option",
        "seed=7",
        input="What is 2+2?\n\nName a river.\n",
    )
    assert r.returncode == 0, r
    assert sorted(x["custom_id"] for x in results(out)) == ["line-1", "line-3"]
    bodies = sorted((rec.body for rec in server.chat_requests()), key=lambda b: b["messages"][1]["content"])
    assert bodies[0] == {
        "model": "ref-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a river."},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "seed": 7,
    }


def test_a_prompt_file_without_a_model_uses_the_servers_only_one(cli, server, tmp_path):
    server.models = server.models[:1]
    src = tmp_path / "prompts.txt"
    src.write_text("one\ntwo\n")
    out = tmp_path / "out.jsonl"
    r = run(cli, "--prompts", str(src), "-o", str(out))
    assert r.returncode == 0, r
    assert {rec.body["model"] for rec in server.chat_requests()} == {"ref-model"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "-"], "not to stdout"),
        (["-o", "{out}", "--errors", "{out}"], "--errors must name another file"),
        (["-o", "{src}"], "-o/--output is the input file"),
        (["-o", "{out}", "-j", "0"], "--concurrency must be at least 1"),
        (["-o", "{out}", "-m", "x"], "apply to --prompts only"),
        (["-o", "{out}", "--rps", "-1"], "--rps must be a number above 0"),
        (["-o", "{missing}/out.jsonl"], "does not exist"),
    ],
)
def test_usage_errors(cli, server, tmp_path, args, message):
    src = batch_file(tmp_path / "in.jsonl", 1)
    out = tmp_path / "out.jsonl"
    args = [a.format(out=out, src=src, missing=tmp_path / "nope") for a in args]
    r = run(cli, str(src), *args)
    assert r.returncode == 2 and message in r.stderr, r
    assert not server.requests


def test_an_output_that_is_not_a_result_file_is_never_touched(cli, server, tmp_path):
    src = batch_file(tmp_path / "in.jsonl", 2)
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"some": "thing"}\n{"else": 1}\n')
    r = run(cli, str(src), "-o", str(notes))
    assert r.returncode == 2 and f"{notes}:1: not a complete result line" in r.stderr, r
    assert notes.read_text() == '{"some": "thing"}\n{"else": 1}\n' and not server.requests


def test_a_progress_bar_on_a_terminal_and_ctrl_c_typed_into_it(home, server, tmp_path):
    """In a real pseudo-terminal: the bar with its figures while the run goes, then ^C typed: the
    requests in flight finish and are written, exit 130, the bar gone and the summary left."""
    import sys

    from test_pty_render import COLS, ROWS, PtyRun, pty_env, text_rows
    from test_render import emulate

    server.default = Scenario(delay_headers=0.1)
    src = batch_file(tmp_path / "in.jsonl", 200)
    out = tmp_path / "out.jsonl"
    argv = [sys.executable, "-m", "llmcli", "batch", "run", str(src), "-o", str(out), "-j", "4"]
    pty = PtyRun([*argv, "--base-url", server.base_url], pty_env(home))
    deadline = time.monotonic() + 30
    while b"req/s" not in bytes(pty.output) or len(server.chat_requests()) < 20:
        assert time.monotonic() < deadline and pty.proc.poll() is None, bytes(pty.output)
        time.sleep(0.02)
    pty.type(b"\x03")  # ^C through the terminal: a real SIGINT to the process group
    assert pty.wait(30) == 130
    raw = bytes(pty.output)
    assert b"\x1b[" in raw and "━".encode() in raw  # drawn: a bar, cursor movement
    for figure in (b"batch run", b"in flight 4 (limit 4)", b"req/s", b"tok/s", b"ETA", b"/200"):
        assert figure in raw, figure
    screen = "\n".join(text_rows(emulate(raw, COLS, ROWS)))
    assert "stopping: waiting up to 10 s for the 4 requests in flight" in screen
    assert "batch run interrupted (Ctrl-C)" in screen
    assert "━" not in screen.split("batch run interrupted")[1]  # transient: the bar is gone at the end
    assert len(results(out)) == len(server.chat_requests())  # the four in flight were written


def test_a_second_ctrl_c_ends_the_run_at_once_leaving_whole_lines(cli, server, tmp_path):
    after_probe(server, *[Scenario() for _ in range(3)])
    server.default = Scenario(delay_headers=5)
    src = batch_file(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    proc = popen(cli, str(src), "-o", str(out), "-j", "4")
    wait_for_lines(out, 3, proc)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.poll() is None  # the first one waits for what is in flight (5 s each)
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 130 and time.monotonic() - began < 2
    assert len(results(out)) == 3  # whole lines only


def test_completions_and_embeddings_lines_and_a_rate_cap(cli, server, tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [
        {
            "custom_id": f"e{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "ref-embed", "input": f"text {i}"},
        }
        for i in range(6)
    ] + [
        {
            "custom_id": f"c{i}",
            "method": "POST",
            "url": "/v1/completions",
            "body": {"model": "ref-model", "prompt": f"Once {i}"},
        }
        for i in range(6)
    ]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out.jsonl"
    r = run(cli, str(src), "-o", str(out), "-j", "8", "--rps", "10")
    assert r.returncode == 0, r
    got = {x["custom_id"]: x["response"]["body"] for x in results(out)}
    assert all(got[f"e{i}"]["data"][0]["embedding"] for i in range(6))
    assert all(got[f"c{i}"]["choices"][0]["text"] for i in range(6))
    paths = Counter(rec.path for rec in server.requests)
    assert paths == {"/v1/models": 1, "/v1/embeddings": 6, "/v1/completions": 6}
    arrivals = sorted(rec.received for rec in server.requests if rec.method == "POST")
    assert arrivals[-1] - arrivals[0] >= 0.8  # 12 requests at 10/s, a burst of 1: spread over ~1.1 s

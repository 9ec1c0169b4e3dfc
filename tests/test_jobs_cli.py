"""`llmcli files|batch|finetune` as a user meets them: subprocesses against the reference server's
/files, /batches and /fine_tuning/jobs (tests/refserver_jobs.py), whose jobs move one step per poll."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_no_traceback, clean_env
from refserver import RefServer, Scenario
from tiktoken_cache import fill

FAST = ["--interval", "0.02"]


def batch_file(
    path: Path, n: int = 3, *, model: str = "ref-model", url: str = "/v1/chat/completions"
) -> Path:
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": url,
            "body": {"model": model, "messages": [{"role": "user", "content": f"question {i}"}]},
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def chat_data(path: Path, n: int = 12) -> Path:
    ex = [
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": f"What is {i} + {i}?"},
                {"role": "assistant", "content": str(2 * i)},
            ]
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in ex))
    return path


@pytest.fixture(autouse=True)
def _tokens_offline(cli, tmp_path_factory):
    """`finetune create` from a path counts tokens: from a filled cache, never a download."""
    cli.env["TIKTOKEN_CACHE_DIR"] = str(fill(tmp_path_factory.mktemp("tiktoken")))


def run(cli, *args, **kw):
    r = cli(*args, "--base-url", cli.server.base_url, **kw)
    assert_no_traceback(r.stderr)
    return r


def submit(cli, tmp_path, n=3, *extra) -> str:
    r = run(cli, "batch", "submit", str(batch_file(tmp_path / "in.jsonl", n)), *extra)
    assert r.returncode == 0, r
    return r.stdout.strip()


# --- batch submit ----------------------------------------------------------------------------------


def test_submit_validates_uploads_creates_and_prints_the_id(cli, server, tmp_path):
    bid = submit(cli, tmp_path, 3, "--metadata", "project=tickets", "--metadata", "run=1")
    assert bid.startswith("batch_") and "\n" not in bid
    batch = server.jobs.batches[bid]
    assert batch["metadata"] == {"project": "tickets", "run": "1"}
    assert batch["endpoint"] == "/v1/chat/completions" and batch["completion_window"] == "24h"
    f = server.jobs.files[batch["input_file_id"]]
    assert f["purpose"] == "batch" and f["filename"] == "in.jsonl"
    assert server.jobs.contents[f["id"]] == (tmp_path / "in.jsonl").read_bytes()  # uploaded as is
    upload = next(r for r in server.requests if r.path == "/v1/files")
    assert upload.headers["content-type"].startswith("multipart/form-data")
    creates = [r for r in server.requests if r.method == "POST" and r.path == "/v1/batches"]
    assert len(creates) == 1 and creates[0].headers.get("idempotency-key", "").startswith("llmcli-")


def test_submit_json_is_the_batch_object(cli, server, tmp_path):
    r = run(cli, "batch", "submit", str(batch_file(tmp_path / "in.jsonl")), "--format", "json")
    assert r.returncode == 0, r
    obj = json.loads(r.stdout)
    assert obj["object"] == "batch" and obj["status"] == "validating" and obj["id"] in server.jobs.batches


def test_invalid_batch_file_exits_2_with_line_numbers_and_sends_nothing(cli, server, tmp_path):
    good = {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": []},
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "custom_id": "a"}),
        json.dumps({**good, "custom_id": "c", "method": "GET"}),
        json.dumps({k: v for k, v in {**good, "custom_id": "d"}.items() if k != "body"}),
        json.dumps({**good, "custom_id": "e", "url": "/v1/images"}),
        json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": []}}),
        json.dumps({**good, "custom_id": "f", "body": {"messages": []}}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    r = run(cli, "batch", "submit", str(path))
    assert r.returncode == 2, r
    err = r.stderr
    assert f"{path}:2: not JSON" in err
    assert f"{path}:3: custom_id 'a' is used by an earlier line" in err
    assert f'{path}:4: method must be "POST"' in err
    assert f"{path}:5: body is missing" in err
    assert f"{path}:6: url '/v1/images' is not one of" in err
    assert f"{path}:7: custom_id is missing" in err
    assert f"{path}:8: body.model is missing" in err
    assert "7 invalid lines; nothing was sent" in err
    assert server.requests == []  # nothing uploaded, nothing created


def test_submit_enforces_the_batch_api_limits(cli, server, tmp_path):
    path = tmp_path / "two.jsonl"
    batch_file(path, 2)
    other = batch_file(tmp_path / "x.jsonl", 1, model="ref-model-large").read_text().replace("req-0", "req-9")
    path.write_text(path.read_text() + other)
    r = run(cli, "batch", "submit", str(path))
    assert r.returncode == 2 and "more than one model" in r.stderr and "first on line 3" in r.stderr, r
    r = run(cli, "batch", "submit", str(batch_file(tmp_path / "e.jsonl", 2)), "--endpoint", "/v1/embeddings")
    assert r.returncode == 2 and "does not match --endpoint /v1/embeddings" in r.stderr, r
    assert server.requests == []


def test_submit_limit_of_50000_requests(cli, server, tmp_path):
    line = (
        '{"custom_id":"%d","method":"POST","url":"/v1/embeddings","body":{"model":"ref-embed","input":"x"}}\n'
    )
    path = tmp_path / "big.jsonl"
    path.write_text("".join(line % i for i in range(50_001)))
    r = run(cli, "batch", "submit", str(path))
    assert r.returncode == 2 and "50,001 requests" in r.stderr and "at most 50,000" in r.stderr, r
    assert server.requests == []


def test_submit_prompts_file_turns_prompts_into_chat_requests(cli, server, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Summarise the Iliad\n\nTranslate 'cat' to French\n")
    r = run(
        cli,
        "batch",
        "submit",
        "--prompts",
        str(prompts),
        "-m",
        "ref-model",
        "-s",
        "Be brief",
        "--max-tokens",
        "50",
        "--option",
        "logprobs=true",
    )
    assert r.returncode == 0, r
    batch = server.jobs.batches[r.stdout.strip()]
    lines = [json.loads(x) for x in server.jobs.contents[batch["input_file_id"]].decode().splitlines()]
    assert [x["custom_id"] for x in lines] == ["line-1", "line-3"]
    assert lines[1]["body"] == {
        "model": "ref-model",
        "messages": [
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": "Translate 'cat' to French"},
        ],
        "max_tokens": 50,
        "logprobs": True,
    }


# --- batch wait: every exit code ---------------------------------------------------------------------


def test_wait_completed_is_exit_0(cli, server, tmp_path):
    bid = submit(cli, tmp_path, 3)
    r = run(cli, "batch", "wait", bid, *FAST)
    assert r.returncode == 0, r
    assert "completed: 3 of 3 requests succeeded, 0 failed" in r.stderr
    assert r.stdout == ""
    assert server.jobs.batches[bid]["status"] == "completed"


def test_submit_wait_json_prints_one_final_object(cli, server, tmp_path):
    r = run(
        cli, "batch", "submit", str(batch_file(tmp_path / "in.jsonl", 2)), "--wait", "--format", "json", *FAST
    )
    assert r.returncode == 0, r
    obj = json.loads(r.stdout)
    assert obj["status"] == "completed" and obj["request_counts"] == {"total": 2, "completed": 2, "failed": 0}


def test_wait_with_failed_requests_is_exit_7(cli, server, tmp_path):
    server.jobs.fail_custom_ids = {"req-1"}
    bid = submit(cli, tmp_path, 3)
    r = run(cli, "batch", "wait", bid, *FAST)
    assert r.returncode == 7, r
    assert "1 of 3 requests failed" in r.stderr and f"llmcli batch results {bid}" in r.stderr


@pytest.mark.parametrize("outcome", ["expired", "cancelled"])
def test_wait_expired_or_cancelled_is_exit_7(cli, server, tmp_path, outcome):
    if outcome == "expired":
        server.jobs.batch_outcome, server.jobs.expire_after = "expired", 1
    bid = submit(cli, tmp_path, 3)
    if outcome == "cancelled":
        server.jobs.advance(bid, 2)  # in progress, one request done
        r = run(cli, "batch", "cancel", bid)
        assert r.returncode == 0 and "cancelling" in r.stderr, r
    r = run(cli, "batch", "wait", bid, *FAST)
    assert r.returncode == 7, r
    assert ("expired before its completion window" if outcome == "expired" else "was cancelled") in r.stderr
    assert server.jobs.batches[bid]["status"] == outcome


def test_wait_failed_validation_is_exit_4_with_the_errors(cli, server, tmp_path):
    path = batch_file(tmp_path / "in.jsonl", 2, model="no-such-model")
    r = run(cli, "batch", "submit", str(path), "--wait", *FAST)
    assert r.returncode == 4, r
    assert "failed validation: line 1: The provided model 'no-such-model' is not supported" in r.stderr
    assert "batch error: line 2:" in r.stderr and "(model_not_found)" in r.stderr


def test_wait_timeout_is_exit_124_and_the_batch_goes_on(cli, server, tmp_path):
    bid = submit(cli, tmp_path, 3)
    server.jobs.auto_advance = False
    began = time.monotonic()
    r = run(cli, "batch", "wait", bid, "--timeout-wait", "0.5", *FAST)
    assert r.returncode == 124, r
    assert time.monotonic() - began < 15
    assert "goes on" in r.stderr and "not cancelled" in r.stderr and f"llmcli batch wait {bid}" in r.stderr
    assert server.jobs.batches[bid]["status"] == "validating"
    assert not any(q.path.endswith("/cancel") for q in server.requests)


def test_wait_polls_with_backoff_when_nothing_changes(cli, server, tmp_path):
    bid = submit(cli, tmp_path, 3)
    server.jobs.auto_advance = False
    run(cli, "batch", "wait", bid, "--interval", "0.1", "--timeout-wait", "2")
    polls = server.jobs.polls[bid]
    assert 4 <= polls <= 9, polls  # 0.1 s growing by half: ~8 polls in 2 s (20 without backoff)


def test_interval_must_be_positive(cli, server):
    r = run(cli, "batch", "wait", "batch_x", "--interval", "0")
    assert r.returncode == 2 and "--interval" in r.stderr


def _until(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_waiting_and_never_cancels(cli, server, tmp_path, home, sig):
    bid = submit(cli, tmp_path, 3)
    server.jobs.advance(bid)  # in_progress
    server.jobs.auto_advance = False
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmcli", "batch", "wait", bid, "--base-url", server.base_url, *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=clean_env(home),
    )
    _until(lambda: server.jobs.polls.get(bid, 0) >= 2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
    assert b"Traceback" not in err
    assert (
        b"stopped waiting" in err and b"never cancels" in err and f"llmcli batch cancel {bid}".encode() in err
    )
    assert server.jobs.batches[bid]["status"] == "in_progress"  # still running on the server
    assert not any(q.path.endswith("/cancel") for q in server.requests)


def test_wait_retries_429_and_500_then_succeeds(cli, server, tmp_path):
    bid = submit(cli, tmp_path, 1)
    server.push(Scenario(status=429, headers={"retry-after": "0"}), Scenario(status=500))
    r = run(cli, "batch", "wait", bid, *FAST)
    assert r.returncode == 0, r
    gets = [q for q in server.requests if q.path == f"/v1/batches/{bid}"]
    assert len(gets) >= 3


def test_a_retry_after_beyond_60_s_is_exit_5(cli, server, tmp_path):
    server.push(Scenario(status=429, headers={"retry-after": "3600"}))
    r = run(cli, "batch", "status", "batch_x")
    assert r.returncode == 5 and "3600 s" in r.stderr, r


def test_500s_after_retries_are_exit_6(cli, server):
    server.default = Scenario(status=500)
    r = run(cli, "batch", "list", "--max-retries", "1")
    assert r.returncode == 6 and "HTTP 500" in r.stderr, r
    assert len(server.requests) == 2


def test_unknown_batch_is_exit_4_naming_the_id(cli, server):
    r = run(cli, "batch", "wait", "batch_nope")
    assert (
        r.returncode == 4 and "has no batch 'batch_nope'" in r.stderr and "llmcli batch list" in r.stderr
    ), r


# --- batch results ---------------------------------------------------------------------------------


def _finished(cli, server, tmp_path, n=4, fail=()):
    server.jobs.fail_custom_ids = set(fail)
    server.jobs.requests_per_step = n
    bid = submit(cli, tmp_path, n)
    server.jobs.advance(bid, 4)
    assert server.jobs.batches[bid]["status"] == "completed"
    return bid


def test_results_are_downloaded_with_failures_and_in_input_order(cli, server, tmp_path):
    bid = _finished(cli, server, tmp_path, 6, fail=["req-2"])
    out = tmp_path / "out.jsonl"
    r = run(cli, "batch", "results", bid, "-o", str(out), "--ordered", "--input", str(tmp_path / "in.jsonl"))
    assert r.returncode == 0, r
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == [f"req-{i}" for i in range(6)]
    assert lines[2]["response"]["status_code"] == 500 and lines[3]["response"]["status_code"] == 200
    assert lines[3]["response"]["body"]["choices"][0]["message"]["content"] == "Answer to req-3."
    assert out.stat().st_mode & 0o777 == 0o600


def test_results_unordered_by_default_and_errors_apart(cli, server, tmp_path):
    bid = _finished(cli, server, tmp_path, 6, fail=["req-2"])
    out, errs = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    r = run(cli, "batch", "results", bid, "-o", str(out), "--errors", str(errs))
    assert r.returncode == 0, r
    ids = [json.loads(x)["custom_id"] for x in out.read_text().splitlines()]
    assert sorted(ids) == [f"req-{i}" for i in range(6) if i != 2] and ids != sorted(
        ids
    )  # the server's order
    assert [json.loads(x)["custom_id"] for x in errs.read_text().splitlines()] == ["req-2"]


def test_results_never_overwrite_without_force(cli, server, tmp_path):
    bid = _finished(cli, server, tmp_path, 2)
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    r = run(cli, "batch", "results", bid, "-o", str(out))
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr, r
    assert out.read_text() == "precious\n"
    assert not [q for q in server.requests if q.path.endswith("/content")]  # refused before downloading
    errs = tmp_path / "errs.jsonl"
    errs.write_text("keep\n")
    r = run(cli, "batch", "results", bid, "-o", str(tmp_path / "new.jsonl"), "--errors", str(errs))
    assert r.returncode == 2 and errs.read_text() == "keep\n" and not (tmp_path / "new.jsonl").exists()
    r = run(cli, "batch", "results", bid, "-o", str(out), "--force")
    assert r.returncode == 0, r
    assert len(out.read_text().splitlines()) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_results_before_the_batch_ends(cli, server, tmp_path):
    bid = submit(cli, tmp_path, 2)
    r = run(cli, "batch", "results", bid, "-o", str(tmp_path / "o.jsonl"))
    assert r.returncode == 7 and "no results yet" in r.stderr and f"llmcli batch wait {bid}" in r.stderr, r
    assert not (tmp_path / "o.jsonl").exists()


def test_results_to_stdout(cli, server, tmp_path):
    bid = _finished(cli, server, tmp_path, 3)
    r = run(cli, "batch", "results", bid, "-o", "-", "--ordered", "--input", str(tmp_path / "in.jsonl"))
    assert r.returncode == 0, r
    assert [json.loads(x)["custom_id"] for x in r.stdout.splitlines()] == ["req-0", "req-1", "req-2"]


# --- batch status / list / json shapes ---------------------------------------------------------------


def test_status_list_json_shapes(cli, server, tmp_path):
    bid = _finished(cli, server, tmp_path, 2)
    status = json.loads(run(cli, "batch", "status", bid, "--format", "json").stdout)
    assert status["id"] == bid and status["request_counts"]["completed"] == 2 and status["output_file_id"]
    listed = json.loads(run(cli, "batch", "list", "--format", "json").stdout)
    assert isinstance(listed, list) and listed[0]["id"] == bid
    text = run(cli, "batch", "status", bid).stdout  # a pipe: tab-separated, no styling
    assert text.split("\t")[:6] == [bid, "completed", "/v1/chat/completions", "2", "0", "2"]
    assert "\x1b" not in text


def test_list_pages_through_everything(cli, server, tmp_path):
    for i in range(3):
        server.jobs.add_file(b"{}\n", purpose="batch", filename=f"f{i}.jsonl")
    for _ in range(105):
        server.jobs.add_file(b"x", purpose="user_data")
    r = run(cli, "files", "list", "--limit", "0", "--format", "json")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 108, r
    r = run(cli, "files", "list", "--purpose", "batch")
    assert [line.split("\t")[1] for line in r.stdout.splitlines()] == ["f2.jsonl", "f1.jsonl", "f0.jsonl"]


# --- files ---------------------------------------------------------------------------------------------


def test_files_upload_show_download_rm(cli, server, tmp_path):
    src = tmp_path / "data.jsonl"
    src.write_bytes(b'{"a": 1}\n' * 1000)
    r = run(cli, "files", "upload", str(src), "--purpose", "fine-tune")
    assert r.returncode == 0, r
    fid = r.stdout.strip()
    assert server.jobs.files[fid]["purpose"] == "fine-tune"
    shown = json.loads(run(cli, "files", "show", fid, "--format", "json").stdout)
    assert shown == server.jobs.files[fid]
    dest = tmp_path / "back.jsonl"
    r = run(cli, "files", "download", fid, "-o", str(dest))
    assert r.returncode == 0 and dest.read_bytes() == src.read_bytes(), r
    r = run(cli, "files", "download", fid, "-o", str(dest))
    assert r.returncode == 2 and "already exists" in r.stderr
    dest.write_text("old")
    r = run(cli, "files", "download", fid, "-o", str(dest), "--force")
    assert r.returncode == 0 and dest.read_bytes() == src.read_bytes()
    r = run(cli, "files", "download", fid, "-o", "-")
    assert r.stdout_bytes == src.read_bytes()
    r = run(cli, "files", "rm", fid)
    assert r.returncode == 0 and fid not in server.jobs.files and f"deleted {fid}" in r.stderr
    r = run(cli, "files", "show", fid)
    assert r.returncode == 4 and f"has no file '{fid}'" in r.stderr


def test_download_cut_midway_leaves_no_file(cli, server, tmp_path):
    f = server.jobs.add_file(b"x" * 300_000, purpose="batch_output")
    server.jobs.cut_downloads = True  # the server drops the connection halfway through the body
    dest = tmp_path / "cut.jsonl"
    r = run(cli, "files", "download", f["id"], "-o", str(dest), "--max-retries", "0")
    assert r.returncode == 6, r
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []  # and no temp file either


def test_download_to_an_unwritable_folder(cli, server, tmp_path):
    f = server.jobs.add_file(b"data", purpose="batch_output")
    r = run(cli, "files", "download", f["id"], "-o", str(tmp_path / "missing" / "x.jsonl"))
    assert r.returncode == 1 and "cannot write" in r.stderr, r


# --- fine-tuning ---------------------------------------------------------------------------------------


def test_create_from_a_path_validates_uploads_and_uses_the_id(cli, server, tmp_path):
    data = chat_data(tmp_path / "train.jsonl")
    r = run(
        cli,
        "finetune",
        "create",
        "-m",
        "ref-model",
        "--training-file",
        str(data),
        "--suffix",
        "tickets",
        "--seed",
        "7",
        "--epochs",
        "2",
        "--batch-size",
        "auto",
        "--learning-rate-multiplier",
        "0.5",
        "--metadata",
        "team=ml",
    )
    assert r.returncode == 0, r
    jid = r.stdout.strip()
    job = server.jobs.jobs[jid]
    uploaded = server.jobs.files[job["training_file"]]
    assert uploaded["purpose"] == "fine-tune" and server.jobs.contents[uploaded["id"]] == data.read_bytes()
    create = next(q for q in server.requests if q.method == "POST" and q.path == "/v1/fine_tuning/jobs")
    assert create.body == {
        "model": "ref-model",
        "training_file": uploaded["id"],
        "suffix": "tickets",
        "seed": 7,
        "metadata": {"team": "ml"},
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 0.5}
            },
        },
    }
    assert f"uploaded as {uploaded['id']}" in r.stderr


def test_create_with_an_id_uploads_nothing(cli, server):
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    r = run(
        cli,
        "finetune",
        "create",
        "-m",
        "ref-model",
        "--training-file",
        f["id"],
        "--method",
        "dpo",
        "--beta",
        "0.2",
    )
    assert r.returncode == 0, r
    assert not [q for q in server.requests if q.path == "/v1/files"]
    create = next(q for q in server.requests if q.method == "POST")
    assert create.body["training_file"] == f["id"]
    assert create.body["method"] == {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}


def test_create_with_invalid_data_uploads_nothing(cli, server, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    r = run(cli, "finetune", "create", "-m", "ref-model", "--training-file", str(bad))
    assert r.returncode == 2, r
    assert "line 1: messages has no assistant message" in r.stderr
    assert server.requests == []


def test_create_rejects_bad_hyperparameters_before_anything(cli, server, tmp_path):
    for args, words in (
        (["--epochs", "two"], "--epochs must be a whole number or auto"),
        (["--learning-rate-multiplier", "-1"], "greater than 0"),
        (["--beta", "0.1"], "--beta applies to --method dpo only"),
        (["--metadata", "novalue"], "KEY=VALUE"),
    ):
        r = run(cli, "finetune", "create", "-m", "ref-model", "--training-file", "file-abc", *args)
        assert r.returncode == 2 and words in r.stderr, (args, r)
    assert server.requests == []


def test_follow_to_success_shows_events_in_order_and_the_model(cli, server, tmp_path):
    r = run(
        cli,
        "finetune",
        "create",
        "-m",
        "ref-model",
        "--training-file",
        str(chat_data(tmp_path / "t.jsonl")),
        "--suffix",
        "s",
        "--follow",
        *FAST,
    )
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    jid = lines[0]
    job = server.jobs.jobs[jid]
    messages = [line.split("  ", 2)[2].strip() for line in lines[1:-2]]
    assert messages == [e["message"] for e in server.jobs.events[jid]]  # every event once, oldest first
    assert lines[-2] == f"fine-tuned model: {job['fine_tuned_model']}"
    assert (
        lines[-1] == f"try it: llmcli ask --base-url {server.base_url} -m {job['fine_tuned_model']} 'Hello!'"
    )


def test_follow_new_events_only_across_polls(cli, server, tmp_path):
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    server.jobs.ft_steps = 60  # many polls, each with a few new events
    r = run(cli, "finetune", "create", "-m", "ref-model", "--training-file", f["id"])
    jid = r.stdout.strip()
    r = run(cli, "finetune", "follow", jid, "--format", "jsonl", *FAST)
    assert r.returncode == 0, r
    ids = [json.loads(x)["id"] for x in r.stdout.splitlines()]
    assert ids == [e["id"] for e in server.jobs.events[jid]] and len(ids) == len(set(ids)) == 65


def test_follow_failure_is_exit_7_with_the_jobs_error(cli, server):
    server.jobs.ft_outcome = "failed"
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    jid = run(cli, "finetune", "create", "-m", "ref-model", "--training-file", f["id"]).stdout.strip()
    r = run(cli, "finetune", "follow", jid, *FAST)
    assert r.returncode == 7, r
    assert f"fine-tuning job {jid} failed: The job failed due to an invalid training file" in r.stderr
    assert "(invalid_training_file)" in r.stderr


def test_follow_cancelled_is_exit_7(cli, server):
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    jid = run(cli, "finetune", "create", "-m", "ref-model", "--training-file", f["id"]).stdout.strip()
    r = run(cli, "finetune", "cancel", jid, "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "cancelled", r
    r = run(cli, "finetune", "follow", jid, *FAST)
    assert r.returncode == 7 and "was cancelled" in r.stderr, r


def test_follow_timeout_is_exit_124_and_ctrl_c_130_leave_the_job_running(cli, server, home):
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    jid = run(cli, "finetune", "create", "-m", "ref-model", "--training-file", f["id"]).stdout.strip()
    server.jobs.advance(jid, 3)  # running, step 1
    server.jobs.auto_advance = False
    r = run(cli, "finetune", "follow", jid, "--timeout-wait", "0.4", *FAST)
    assert r.returncode == 124, r
    assert "goes on" in r.stderr and f"llmcli finetune follow {jid}" in r.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmcli", "finetune", "follow", jid, "--base-url", server.base_url, *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=clean_env(home),
    )
    before = server.jobs.polls[jid]
    _until(lambda: server.jobs.polls[jid] >= before + 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert b"never cancels" in err and f"llmcli finetune cancel {jid}".encode() in err
    assert b"Step 1/4" in out  # what it had shown stays
    assert server.jobs.jobs[jid]["status"] == "running"
    assert not any(q.path.endswith("/cancel") for q in server.requests)


def test_finetune_list_status_events_checkpoints_json(cli, server):
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    jid = run(cli, "finetune", "create", "-m", "ref-model", "--training-file", f["id"], "--format", "json")
    job = json.loads(jid.stdout)
    assert job["object"] == "fine_tuning.job" and job["status"] == "validating_files"
    server.jobs.advance(job["id"], 8)
    listed = json.loads(run(cli, "finetune", "list", "--format", "json").stdout)
    assert [j["id"] for j in listed] == [job["id"]]
    status = json.loads(run(cli, "finetune", "status", job["id"], "--format", "json").stdout)
    assert status["status"] == "succeeded" and status["fine_tuned_model"].startswith("ft:ref-model:")
    events = json.loads(run(cli, "finetune", "events", job["id"], "--format", "json").stdout)
    assert [e["id"] for e in events] == [e["id"] for e in server.jobs.events[job["id"]]]
    last2 = json.loads(run(cli, "finetune", "events", job["id"], "-n", "2", "--format", "json").stdout)
    assert [e["id"] for e in last2] == [e["id"] for e in server.jobs.events[job["id"]][-2:]]
    ckpts = json.loads(run(cli, "finetune", "checkpoints", job["id"], "--format", "json").stdout)
    assert {c["step_number"] for c in ckpts} == {2, 4}
    text = run(cli, "finetune", "checkpoints", job["id"]).stdout
    assert [line.split("\t")[0] for line in text.splitlines()] == ["2", "4"]


# --- credentials ---------------------------------------------------------------------------------------

SENTINEL = "sk-SENTINEL-jobs-0f1e2d3c4b5a69788796a5b4"


def test_the_key_is_sent_and_never_printed(cli, server, tmp_path, home):
    server.require_key = SENTINEL
    env = {"LLMCLI_API_KEY": SENTINEL}
    bid_r = run(
        cli, "batch", "submit", str(batch_file(tmp_path / "in.jsonl", 2)), "--wait", "--debug", *FAST, env=env
    )
    assert bid_r.returncode == 0, bid_r
    bid = bid_r.stdout.strip()
    outs = [bid_r]
    outs.append(run(cli, "batch", "results", bid, "-o", str(tmp_path / "o.jsonl"), env=env))
    outs.append(run(cli, "files", "list", "--debug", env=env))
    server.default = Scenario(
        status=401, error_body={"error": {"message": f"Incorrect API key provided: {SENTINEL}"}}
    )
    bad = cli("finetune", "list", "--debug", "--base-url", server.base_url, env=env)  # --debug: a traceback
    assert bad.returncode == 3 and "Incorrect API key provided" in bad.stderr
    outs.append(bad)
    assert all(q.headers.get("authorization") == f"Bearer {SENTINEL}" for q in server.requests)
    for r in outs:
        assert SENTINEL not in r.stdout + r.stderr
    for p in [*home.rglob("*"), *tmp_path.rglob("*")]:
        if p.is_file():
            assert SENTINEL.encode() not in p.read_bytes(), p


def test_no_key_no_authorization_header(cli, server, tmp_path):
    assert run(cli, "batch", "list").returncode == 0
    assert "authorization" not in server.requests[0].headers


@pytest.fixture(scope="module")
def elsewhere():
    srv = RefServer().start()
    yield srv
    srv.stop()


def test_the_key_is_not_sent_to_another_origin(cli, server, elsewhere):
    elsewhere.reset()
    server.push(Scenario(redirect_to=f"{elsewhere.base_url}/batches"))
    r = run(cli, "batch", "list", "--format", "json", env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 0, r
    assert server.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"
    assert len(elsewhere.requests) == 1 and "authorization" not in elsewhere.requests[0].headers
    assert SENTINEL not in json.dumps(elsewhere.requests[0].headers)


def test_a_server_without_the_apis_gets_a_clear_error(cli, server, tmp_path):
    # A bare OpenAI-compatible chat server (here: the reference server with the jobs APIs switched off).
    server.extensions = []
    try:
        for args, api in (
            (["files", "list"], "the Files API"),
            (["batch", "list"], "the Batch API"),
            (["batch", "status", "batch_x"], "the Batch API"),
            (["finetune", "follow", "ftjob-x"], "the fine-tuning API"),
        ):
            r = run(cli, *args)
            assert r.returncode == 4, r
            assert (
                f"does not offer {api} (HTTP 404" in r.stderr
                and "llama.cpp, vLLM and Ollama do not" in r.stderr
            )
            assert r.stderr.count("\n") == 1
    finally:
        server.extensions = [server.jobs]


def test_a_404_from_a_server_that_has_the_api_keeps_its_own_words(cli, server):
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    server.push(Scenario(status=404, error_body={"error": {"message": "The model 'gpt-9' does not exist"}}))
    r = run(cli, "finetune", "create", "-m", "gpt-9", "--training-file", f["id"])
    assert r.returncode == 4, r
    assert "The model 'gpt-9' does not exist" in r.stderr and "does not offer" not in r.stderr


def test_submit_reads_stdin(cli, server, tmp_path):
    data = batch_file(tmp_path / "in.jsonl", 2).read_bytes()
    r = run(cli, "batch", "submit", "-", input=data)
    assert r.returncode == 0, r
    batch = server.jobs.batches[r.stdout.strip()]
    f = server.jobs.files[batch["input_file_id"]]
    assert f["filename"] == "stdin.jsonl" and server.jobs.contents[f["id"]] == data


def test_events_over_many_pages_in_order(cli, server):
    server.jobs.ft_steps = 150
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    jid = run(cli, "finetune", "create", "-m", "ref-model", "--training-file", f["id"]).stdout.strip()
    server.jobs.advance(jid, 152)
    assert server.jobs.jobs[jid]["status"] == "succeeded" and len(server.jobs.events[jid]) == 155
    events = json.loads(run(cli, "finetune", "events", jid, "--format", "json").stdout)
    assert [e["id"] for e in events] == [e["id"] for e in server.jobs.events[jid]]
    r = run(cli, "finetune", "follow", jid, "--format", "jsonl", *FAST)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 155


def test_a_server_that_is_down_is_exit_6(cli, tmp_path):
    r = cli("finetune", "list", "--base-url", "http://127.0.0.1:9/v1", "--max-retries", "0")
    assert r.returncode == 6 and "could not connect to 127.0.0.1:9" in r.stderr, r
    assert_no_traceback(r.stderr)

"""The resource commands against the real llama.cpp server, which has no /files, /batches or fine-tuning
endpoints: each command is one clear line on stderr, exit 4, with a hint that the server does not offer
the API (and no traceback)."""

from __future__ import annotations

import json

import pytest
from conftest import Cli, assert_no_traceback

COMMANDS = [
    (["files", "list"], "the Files API"),
    (["files", "upload", "{data}", "--purpose", "batch"], "the Files API"),
    (["files", "show", "file-abc"], "the Files API"),
    (["files", "download", "file-abc", "-o", "{out}"], "the Files API"),
    (["files", "rm", "file-abc"], "the Files API"),
    (["batch", "submit", "{batch}"], "the Batch API"),
    (["batch", "status", "batch_abc"], "the Batch API"),
    (["batch", "wait", "batch_abc"], "the Batch API"),
    (["batch", "results", "batch_abc", "-o", "{out}"], "the Batch API"),
    (["batch", "cancel", "batch_abc"], "the Batch API"),
    (["batch", "list"], "the Batch API"),
    (["finetune", "create", "-m", "tiny-llama", "--training-file", "file-abc"], "the fine-tuning API"),
    (["finetune", "create", "-m", "tiny-llama", "--training-file", "{train}"], "the fine-tuning API"),
    (["finetune", "list"], "the fine-tuning API"),
    (["finetune", "status", "ftjob-abc"], "the fine-tuning API"),
    (["finetune", "events", "ftjob-abc"], "the fine-tuning API"),
    (["finetune", "checkpoints", "ftjob-abc"], "the fine-tuning API"),
    (["finetune", "cancel", "ftjob-abc"], "the fine-tuning API"),
    (["finetune", "follow", "ftjob-abc"], "the fine-tuning API"),
]


@pytest.mark.parametrize(
    ("args", "api"),
    COMMANDS,
    ids=[" ".join(a[:2]) + ("-path" if "{train}" in a else "") for a, _ in COMMANDS],
)
def test_each_resource_command_says_the_server_does_not_offer_it(llama_server, home, tmp_path, args, api):
    srv = llama_server()
    batch = tmp_path / "in.jsonl"
    batch.write_text(
        json.dumps(
            {
                "custom_id": "a",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": srv.model, "messages": [{"role": "user", "content": "hi"}]},
            }
        )
        + "\n"
    )
    train = tmp_path / "train.jsonl"
    train.write_text(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
        + "\n"
    )
    names = {"data": str(batch), "batch": str(batch), "train": str(train), "out": str(tmp_path / "out.jsonl")}
    argv = [a.format(**names) for a in args]
    r = Cli(home, None)(*argv, "--base-url", srv.base_url)
    assert_no_traceback(r.stderr)
    assert r.returncode == 4, r
    assert r.stderr.count("\n") == 1, r.stderr  # one line
    line = r.stderr
    host = srv.base_url.split("//")[1].split("/")[0]
    assert line.startswith(f"llmcli: error: {host} does not offer {api} (HTTP 404"), line
    assert "File Not Found" in line  # the server's own words
    assert "llama.cpp, vLLM and Ollama do not" in line
    assert r.stdout == ""
    assert not (tmp_path / "out.jsonl").exists()

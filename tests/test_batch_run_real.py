"""`batch run` against the real llama.cpp server (../shared/realserver, `-np 4`): a 500-line prompt file
runs to completion with zero errors, every answer matched to its line, and a rerun sends nothing."""

from __future__ import annotations

import json

from conftest import Cli, assert_no_traceback


def test_a_500_line_prompt_file_runs_with_zero_errors(llama_server, home, tmp_path):
    srv = llama_server("-np", "4")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"Question number {i}: what comes after {i}?\n" for i in range(500)))
    out = tmp_path / "answers.jsonl"
    cli = Cli(home, None)
    args = ["batch", "run", "--prompts", str(prompts), "-o", str(out), "--base-url", srv.base_url]
    r = cli(*args, "-j", "4", "--max-tokens", "8", "--temperature", "0", "--format", "json", timeout=300)
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["succeeded"] == 500 and doc["failed"] == 0 and doc["errors"] == {}, doc
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["custom_id"] for x in lines) == sorted(f"line-{i}" for i in range(1, 501))
    for x in lines:
        body = x["response"]["body"]
        assert x["error"] is None and x["response"]["status_code"] == 200
        assert body["model"] and body["choices"][0]["finish_reason"] == "length"
        assert body["usage"]["completion_tokens"] == 8
    # the server tokenised each prompt itself: a longer number, more prompt tokens — answers are matched
    by_id = {x["custom_id"]: x["response"]["body"]["usage"]["prompt_tokens"] for x in lines}
    assert by_id["line-1"] < by_id["line-500"]  # "0" vs "499"
    assert doc["usage"]["completion_tokens"] == 4000 and not doc["usage"]["estimated"]
    r = cli(*args, timeout=60)
    assert r.returncode == 0 and "nothing to do" in r.stderr, r

"""`complete` and `embed` against the real llama.cpp server (tests/llama.py; marker `real_server`)."""

from __future__ import annotations

import json

import pytest
from conftest import Cli, assert_no_traceback


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_complete_against_llama_cpp(llama_server, home, transport):
    srv = llama_server()
    cli = Cli(home, None)
    args = [
        "complete",
        "--base-url",
        srv.base_url,
        "--transport",
        transport,
        "--max-tokens",
        "6",
        "--temperature",
        "0",
    ]
    r = cli(*args, "Once upon a time")
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r  # cut at max_tokens: the text stays, stderr says so
    assert r.stdout and "max_tokens" in r.stderr
    doc = json.loads(cli(*args, "--logprobs", "2", "--format", "json", "Once upon a time").stdout)
    assert doc["content"] == r.stdout  # greedy decoding: the same text again
    assert doc["finish_reason"] == "length" and doc["usage"]["completion_tokens"] == 6
    assert len(doc["logprobs"]["content"]) == 6  # llama.cpp's per-token form, joined across chunks


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_embed_against_llama_cpp(llama_server, home, transport):
    srv = llama_server("--embeddings", "--pooling", "mean")
    cli = Cli(home, None)
    r = cli(
        "embed",
        "--base-url",
        srv.base_url,
        "--transport",
        transport,
        "--batch-size",
        "2",
        "--format",
        "jsonl",
        input="first line\nsecond line\nthird line\n",
    )
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["text"] for row in rows] == ["first line", "second line", "third line"]
    sizes = {len(row["embedding"]) for row in rows}
    assert len(sizes) == 1 and sizes.pop() > 0
    alone = json.loads(cli("embed", "--base-url", srv.base_url, "second line").stdout)["data"][0]["embedding"]
    assert alone == pytest.approx(rows[1]["embedding"], abs=1e-5)  # order kept across batches


def test_embed_against_llama_cpp_without_embeddings_is_a_clear_error(llama_server, home):
    srv = llama_server()
    r = Cli(home, None)("embed", "--base-url", srv.base_url, "hello")
    assert r.returncode == 4, r
    assert "does not offer embeddings" in r.stderr and "--embeddings" in r.stderr
    assert_no_traceback(r.stderr)

"""llmcli against a real llama.cpp server (tests/llama.py starts it; marker `real_server`).

The model is tiny and random (../shared/realserver/README.md): its text is gibberish in printable ASCII,
every answer runs to max_tokens unless a stop string matches, greedy decoding and a fixed seed are
deterministic, `"logit_bias": {"2": 100}` ends it at once with no text, and the context is 4096 tokens
shared by the slots (-np 4: 1024 each).
"""

from __future__ import annotations

import json

import pytest
from conftest import Cli, assert_no_traceback

TRANSPORTS = ["http", "sdk"]
EMPTY = 'logit_bias={"2":100}'


@pytest.fixture
def real(llama_server, home):
    srv = llama_server()
    cli = Cli(home, None)

    def run(*args: str, **kw):
        r = cli(*args, "--base-url", srv.base_url, **kw)
        assert_no_traceback(r.stderr)
        return r

    run.server = srv  # type: ignore[attr-defined]
    return run


def test_models_lists_the_real_model(real):
    r = real("models")
    assert r.returncode == 0, r
    assert r.stdout.split() == [real.server.model]
    r = real("models", "--format", "json")
    assert r.returncode == 0 and [m["id"] for m in json.loads(r.stdout)] == [real.server.model]


def test_ask_gives_the_same_answer_on_both_transports_streamed_or_not(real):
    """Greedy decoding is deterministic: four ways of asking must print the same text."""
    seen = {}
    for transport in TRANSPORTS:
        for stream in ([], ["--no-stream"]):
            r = real(
                "ask", "--transport", transport, *stream, "--temperature", "0", "--max-tokens", "16", "hi"
            )
            assert r.returncode == 0, (transport, stream, r)
            assert "cut at max_tokens (16 tokens)" in r.stderr  # the model never stops by itself
            seen[(transport, bool(stream))] = r.stdout
    texts = set(seen.values())
    assert len(texts) == 1, seen
    text = texts.pop()
    assert text.strip() and text.isascii()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_format_json_carries_the_servers_usage(real, transport):
    r = real("ask", "--transport", transport, "--format", "json", "--max-tokens", "9", "hi")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["model"] == real.server.model and doc["finish_reason"] == "length"
    usage = doc["usage"]
    assert usage["completion_tokens"] == 9 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert doc["timing"]["total_s"] > 0 and doc["content"]


def test_a_seed_makes_a_sampled_answer_reproducible(real):
    def sample(seed: str) -> str:
        r = real("ask", "--seed", seed, "--temperature", "1", "--max-tokens", "12", "--no-save", "hi")
        assert r.returncode == 0, r
        return r.stdout

    first = sample("7")
    assert sample("7") == first
    assert sample("8") != first


def test_option_fields_reach_the_server(real):
    r = real("ask", "-o", "max_tokens=5", "-o", "temperature=0", "--format", "json", "hi")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["usage"]["completion_tokens"] == 5 and doc["finish_reason"] == "length"
    greedy = real("ask", "--temperature", "0", "--max-tokens", "5", "--format", "json", "hi")
    assert json.loads(greedy.stdout)["content"] == doc["content"]  # -o temperature=0 was applied


def test_chat_from_a_pipe_answers_each_line_with_the_conversation(real):
    r = real("chat", "--max-tokens", "8", "--temperature", "0", input="hi\nand again\n")
    assert r.returncode == 0, r
    answers = r.stdout.splitlines()
    assert len(answers) == 2 and all(a.strip() for a in answers), r.stdout
    assert r.stderr.count("cut at max_tokens") == 2
    shown = json.loads(real("history", "show", "--format", "json").stdout)
    assert [(m["role"], m["status"]) for m in shown["messages"]] == [
        ("user", "complete"),
        ("assistant", "length"),
        ("user", "complete"),
        ("assistant", "length"),
    ]
    assert [m["content"] for m in shown["messages"][1::2]] == answers


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("stream", [[], ["--no-stream"]])
def test_a_prompt_longer_than_the_context_is_rejected_with_the_servers_words(real, transport, stream):
    r = real("ask", "--transport", transport, *stream, "-", input="word " * 3000)
    assert r.returncode == 4, r
    assert r.stdout == ""
    line = r.stderr.strip()
    assert line.count("\n") == 0 and "HTTP 400" in line, r.stderr
    assert "exceeds the available context size" in line  # the server's own words
    assert "127.0.0.1" in line


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("stream", [[], ["--no-stream"]])
def test_an_answer_ended_at_once_is_complete_and_empty(real, transport, stream):
    """CONTRACT.md: a stream that ends properly with no text is a complete, empty answer: exit 0 and a
    note on stderr."""
    r = real("ask", "--transport", transport, *stream, "-o", EMPTY, "--format", "json", "hi")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["content"] == "" and doc["finish_reason"] == "stop"
    assert "note:" in r.stderr and "ended the answer without any text (finish_reason: stop)" in r.stderr
    shown = json.loads(real("history", "show", doc["conversation_id"], "--format", "json").stdout)
    assert shown["messages"][-1]["status"] == "complete"

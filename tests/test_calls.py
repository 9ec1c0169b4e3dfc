"""`llmcli complete` (legacy /completions) and `llmcli embed` (/embeddings) against the reference server,
through the real CLI, once per transport: the same server behaviour gives the same output and exit code."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import assert_no_traceback
from refserver import Scenario
from refserver_calls import vector_for

TRANSPORTS = ["http", "sdk"]


def complete(cli, *args, transport="http", **kw):
    return cli(
        "complete", "--base-url", cli.server.base_url, "--transport", transport, "-m", "base", *args, **kw
    )


def embed(cli, *args, transport="http", **kw):
    return cli("embed", "--base-url", cli.server.base_url, "--transport", transport, "-m", "emb", *args, **kw)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_complete_streams_the_text_into_a_pipe_and_sends_a_completion_request(cli, server, transport):
    server.push(Scenario(text="upon a time, there was"))
    r = complete(
        cli,
        "Once",
        "--max-tokens",
        "7",
        "--temperature",
        "0.5",
        "--stop",
        "\n",
        "--seed",
        "3",
        transport=transport,
    )
    assert r.returncode == 0, r
    assert r.stdout == "upon a time, there was"  # exact, no newline added into a pipe
    (req,) = [q for q in server.requests if q.path.endswith("/completions")]
    assert req.path == "/v1/completions"
    body = req.body
    assert body["prompt"] == "Once" and body["model"] == "base" and body["stream"] is True
    assert (
        body["max_tokens"] == 7
        and body["temperature"] == 0.5
        and body["stop"] == ["\n"]
        and body["seed"] == 3
    )
    assert "messages" not in body and "echo" not in body and "logprobs" not in body


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_complete_prompt_from_arguments_and_stdin_like_ask(cli, server, transport):
    server.push(Scenario(text="done"))
    r = complete(cli, "Summarise:", input="line one\nline two\n", transport=transport)
    assert r.returncode == 0, r
    assert server.requests[-1].body["prompt"] == "Summarise:\n\nline one\nline two"
    r = complete(cli, input="   \n", transport=transport)
    assert r.returncode == 2 and "empty" in r.stderr and "llmcli complete" in r.stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_complete_json_shows_logprobs_and_echo_is_sent(cli, server, transport):
    server.push(Scenario(text="a b c"))
    r = complete(cli, "--echo", "--logprobs", "2", "--format", "json", "P", transport=transport)
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["content"] == "Pa b c"  # the server echoed the prompt
    assert doc["logprobs"]["tokens"] == ["P", "a ", "b ", "c"]  # one object, joined from the stream's pieces
    assert doc["logprobs"]["text_offset"] == [0, 1, 3, 5]
    assert len(doc["logprobs"]["top_logprobs"][0]) == 2
    assert doc["finish_reason"] == "stop" and doc["cached"] is False and doc["conversation_id"]
    body = server.requests[-1].body
    assert body["echo"] is True and body["logprobs"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_complete_no_stream_gives_the_same_output(cli, server, transport):
    server.push(Scenario(text="same text either way"))
    r = complete(cli, "--no-stream", "--logprobs", "1", "--format", "json", "x", transport=transport)
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["content"] == "same text either way"
    assert doc["logprobs"]["tokens"] == ["same ", "text ", "either ", "way"]
    assert server.requests[-1].body["stream"] is False


@pytest.mark.parametrize(
    "scenario,rc,words",
    [
        (Scenario(text="alpha beta gamma", cut_after=2), 7, "before the answer was complete"),
        (Scenario(text="alpha beta gamma", error_after=1), 7, "mid-stream"),
        (Scenario(status=401), 3, "HTTP 401"),
        (
            Scenario(status=404, error_body={"error": {"message": "model base not found"}}),
            4,
            "model base not found",
        ),
        (Scenario(text="alpha beta", finish_reason="length"), 0, "max_tokens"),
    ],
    ids=["cut", "error-event", "401", "404", "length"],
)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_complete_exit_codes_match_ask(cli, server, transport, scenario, rc, words):
    server.push(scenario)
    r = complete(cli, "go", transport=transport)
    assert r.returncode == rc, r
    assert words in r.stderr
    assert_no_traceback(r.stderr)


def test_complete_is_saved_as_a_completion_conversation_that_ask_c_does_not_continue(cli, server):
    server.push(Scenario(text=" continued"))
    assert complete(cli, "Start").returncode == 0
    listed = json.loads(cli("history", "list", "--format", "json").stdout)
    assert [c["kind"] for c in listed] == ["completion"]
    conv = json.loads(cli("history", "show", listed[0]["id"], "--format", "json").stdout)
    assert [(m["role"], m["content"], m["status"]) for m in conv["messages"]] == [
        ("user", "Start", "complete"),
        ("assistant", " continued", "complete"),
    ]
    r = cli.ask("-c", "-m", "m", "more")  # -c means the latest *chat*: there is none
    assert r.returncode == 2 and "no conversation to continue" in r.stderr
    r = cli.ask("--conversation", listed[0]["id"], "-m", "m", "more")
    assert r.returncode == 2 and "text completion" in r.stderr
    assert not server.chat_requests()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_complete_and_embed_say_clearly_when_the_server_lacks_the_endpoint(cli, server, transport):
    msg = {
        "error": {
            "code": 501,
            "message": "This server does not support embeddings. Start it with `--embeddings`",
        }
    }
    server.push(Scenario(status=501, error_body=msg))
    r = embed(cli, "hello", transport=transport)
    assert r.returncode == 4, r
    assert "does not offer embeddings" in r.stderr and "--embeddings" in r.stderr
    assert len(server.requests) == 1  # a 501 there is not retried
    server.push(Scenario(status=501))
    r = complete(cli, "hi", transport=transport)
    assert r.returncode == 4 and "does not offer legacy text completions" in r.stderr, r


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_embed_arguments_in_order_as_json(cli, server, transport):
    r = embed(cli, "first text", "second", "third one", "--dimensions", "4", transport=transport)
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert [d["text"] for d in doc["data"]] == ["first text", "second", "third one"]
    assert [d["embedding"] for d in doc["data"]] == [
        vector_for(t, 4) for t in ("first text", "second", "third one")
    ]
    assert doc["model"] == "emb" and doc["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    (req,) = server.requests
    assert req.path == "/v1/embeddings"
    assert req.body == {
        "model": "emb",
        "input": ["first text", "second", "third one"],
        "encoding_format": "float",
        "dimensions": 4,
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_embed_stdin_lines_batched_as_jsonl_and_csv(cli, server, transport):
    lines = [f"text number {i}" for i in range(7)]
    r = embed(
        cli, "--batch-size", "3", "--format", "jsonl", input="\n".join(lines) + "\n", transport=transport
    )
    assert r.returncode == 0, r
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["index"] for row in rows] == list(range(7))
    assert [row["text"] for row in rows] == lines
    assert all(row["embedding"] == vector_for(row["text"]) for row in rows)
    assert [len(q.body["input"]) for q in server.requests] == [3, 3, 1]
    server.requests.clear()
    r = embed(cli, "--format", "csv", input="b\r\na\r\n", transport=transport)
    assert r.returncode == 0, r
    got = [[float(x) for x in row] for row in csv.reader(io.StringIO(r.stdout))]
    assert got == [vector_for("b"), vector_for("a")]


def test_embed_refuses_empty_lines_and_no_input(cli, server):
    r = embed(cli, input="one\n\nthree\n")
    assert r.returncode == 2 and "line 2 is empty" in r.stderr
    r = embed(cli, input="")
    assert r.returncode == 2 and "no text" in r.stderr
    r = embed(cli, input=b"ok\n\xff\n")
    assert r.returncode == 2 and "byte offset 3" in r.stderr
    assert not server.requests


def test_embed_npy_with_numpy_and_a_clear_error_without(cli, server, tmp_path):
    numpy = pytest.importorskip("numpy")  # the `npy` extra; the test extra installs it
    r = embed(cli, "--format", "npy", "x", "y")
    assert r.returncode == 0, r
    arr = numpy.load(io.BytesIO(r.stdout_bytes))
    assert arr.shape == (2, 8) and arr.dtype == numpy.float32
    assert numpy.allclose(arr, [vector_for("x"), vector_for("y")], atol=1e-6)
    # Without numpy: a one-line error naming the extra, exit 2, nothing sent.
    hide = tmp_path / "nonumpy"
    hide.mkdir()
    (hide / "numpy.py").write_text("raise ImportError('No module named numpy')\n")
    server.requests.clear()
    r = embed(cli, "--format", "npy", "x", env={"PYTHONPATH": str(hide)})
    assert r.returncode == 2 and "llmcli[npy]" in r.stderr, r
    assert not server.requests

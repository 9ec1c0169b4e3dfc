"""Model text that is not valid Unicode, and every way a provider ends an answer, as the user meets
them after the stream: in `chat`, in the history file and in `llmcli history` (issue 9, items 2, 4, 5).

The transports' agreement on the same streams is in test_contract.py.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from rawserver import RawRequest, RawServer
from refserver import Scenario
from refserver_wire import answer, chunk, stream

TRANSPORTS = ["http", "sdk"]
MENDED = "smile \U0001f600 and half \ufffd of one"


def surrogate_scenario() -> Scenario:
    # JSON escapes no encoder would write: a pair split across two chunks, and half of one alone.
    return Scenario(raw_stream=answer("smile \ud83d", "\ude00 and half ", "\ud83d", " of one"))


def assistant_rows(home) -> list[tuple[str, str, str | None]]:
    conn = sqlite3.connect(home / "history.db")
    try:
        sql = "SELECT content, status, finish_reason FROM messages WHERE role = 'assistant' ORDER BY id"
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_chat_survives_text_that_is_not_valid_unicode(cli, server, home, transport):
    server.push(surrogate_scenario())
    r = cli("chat", "--transport", transport, "--base-url", server.base_url, "-m", "m", input="hi\nagain\n")
    assert r.returncode == 0, r
    out = r.stdout_bytes.decode("utf-8")  # strict: valid UTF-8 all through
    assert out == f"{MENDED}\nHello from the reference server.\n"
    assert [row[:2] for row in assistant_rows(home)] == [
        (MENDED, "complete"),
        ("Hello from the reference server.", "complete"),
    ]
    # ... and the second turn sent the mended answer back as the conversation so far
    sent = server.chat_requests()[-1].body["messages"]
    assert sent[1] == {"role": "assistant", "content": MENDED}


# A whole completion with JSON escapes the reference server's encoder refuses to write.
WHOLE = (
    b'{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"stop",'
    b'"message":{"role":"assistant","content":"a\\ud83d\\ude00b\\udc00"}}]}'
)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("no_stream", [True, False])
def test_whole_completions_are_mended_too(cli, server, transport, no_stream):
    def handler(req: RawRequest) -> None:
        req.reply(200, WHOLE, headers={"Content-Type": "application/json"})

    with RawServer(handler) as srv:  # --no-stream, or a server that ignores stream=true
        args = ["--no-stream"] if no_stream else []
        r = cli(
            "ask", "--transport", transport, "--base-url", srv.url, *args, "-m", "m", "--format", "json", "hi"
        )
    assert r.returncode == 0, r
    assert json.loads(r.stdout_bytes.decode("utf-8"))["content"] == "a\U0001f600b\ufffd"


def test_history_shows_an_answer_the_provider_stopped(cli, server, home):
    server.push(Scenario(text="the first part", finish_reason="content_filter"))
    r = cli.ask("-m", "m", "tell me")
    assert r.returncode == 7
    assert assistant_rows(home) == [("the first part", "filtered", "content_filter")]
    conv = json.loads(cli("history", "list", "--format", "json").stdout)[0]["id"]
    doc = json.loads(cli("history", "show", conv, "--format", "json").stdout)
    assert [m["status"] for m in doc["messages"]] == ["complete", "filtered"]
    md = cli("history", "show", conv, "--format", "markdown").stdout
    assert "the provider stopped the answer (finish_reason: content_filter)" in md
    # -c sends the partial text back like any partial answer
    assert cli.ask("-c", "go on").returncode == 0
    assert server.chat_requests()[-1].body["messages"][1] == {
        "role": "assistant",
        "content": "the first part",
    }


def test_tool_calls_only_are_kept_as_filtered_without_an_error(cli, server, home):
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    server.push(Scenario(raw_stream=stream(chunk(tool_calls=[call]), chunk(finish="tool_calls"))))
    r = cli.ask("-m", "m", "-o", 'tools=[{"type":"function","function":{"name":"lookup"}}]', "look it up")
    assert r.returncode == 0, r
    assert r.stdout == "" and r.stderr.count("llmcli does not run tools") == 1 and "rephrase" not in r.stderr
    assert assistant_rows(home) == [("", "filtered", "tool_calls")]
    # chat says it once as well
    server.push(Scenario(raw_stream=answer(finish="stop")))
    r = cli("chat", "--base-url", server.base_url, "-m", "m", input="say nothing\n")
    assert r.returncode == 0, r
    assert r.stderr.count("ended the answer without any text (finish_reason: stop)") == 1, r.stderr


def test_an_empty_but_complete_answer(cli, server, home):
    server.push(Scenario(raw_stream=answer(finish="stop")))
    r = cli.ask("-m", "m", "say nothing")
    assert r.returncode == 0 and r.stdout == ""
    assert r.stderr.count("ended the answer without any text (finish_reason: stop)") == 1, r.stderr
    assert assistant_rows(home) == [("", "complete", "stop")]
    # A stream that ends without a finish is still incomplete.
    server.push(Scenario(raw_stream=[], content_type=None))
    r = cli.ask("-m", "m", "say nothing")
    assert r.returncode == 7 and "without sending an answer" in r.stderr

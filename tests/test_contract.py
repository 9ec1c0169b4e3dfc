"""The transport contract: the same server behaviour gives the same stdout, exit code, history status,
kind of error and request body with `--transport http` and `--transport sdk`.

Each scenario runs through the real CLI (a subprocess) once per transport against the reference server.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import pytest
from conftest import assert_no_traceback
from refserver import Scenario
from refserver_wire import DONE, answer, chunk, event, stream

FAST_RETRY = {"retry-after-ms": "20"}
UNICODE = "Grüße é 漢字 🙂 — done."


@dataclass
class Case:
    name: str
    scenarios: list[Scenario]
    rc: int
    stdout: str
    stderr_has: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    requests: int | None = 1
    status: str | None = None  # the answer's history status; None: complete for 0, cut for 7, else error
    stderr_lacks: list[str] = field(default_factory=list)
    content_type: str | None = None  # for raw streams

    @property
    def history_status(self) -> str:
        if self.status is not None:
            return self.status
        return {0: "complete", 7: "cut"}.get(self.rc, "error")


CASES = [
    Case("plain", [Scenario(text="Hello there, general.")], 0, "Hello there, general."),
    Case("crlf framing", [Scenario(text="one two three", crlf=True)], 0, "one two three"),
    Case("data without space", [Scenario(text="no space here", no_space=True)], 0, "no space here"),
    Case("multi-line data", [Scenario(text="multi line data", multiline_data=True)], 0, "multi line data"),
    Case("utf-8 split across reads", [Scenario(text=UNICODE, split_bytes=3)], 0, UNICODE),
    Case(
        "azure empty choices first",
        [Scenario(text="azure style", empty_choices_first=True)],
        0,
        "azure style",
    ),
    Case("no usage chunk", [Scenario(text="no usage", usage=False)], 0, "no usage"),
    Case(
        "reasoning stays off stdout",
        [Scenario(text="The answer.", reasoning="secret thoughts here")],
        0,
        "The answer.",
    ),
    Case(
        "reasoning field 'reasoning'",
        [Scenario(text="Answer two.", reasoning="hmm hmm", reasoning_field="reasoning")],
        0,
        "Answer two.",
    ),
    Case(
        "cut at max_tokens",
        [Scenario(text="cut short", finish_reason="length")],
        0,
        "cut short",
        ["max_tokens"],
        status="length",
    ),
    Case("[DONE] without finish_reason", [Scenario(text="done only", finish_reason=None)], 0, "done only"),
    Case(
        "server ignored stream=true",
        [
            Scenario(
                json_body_on_stream={
                    "id": "x",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "whole answer"},
                            "finish_reason": "stop",
                        }
                    ],
                }
            )
        ],
        0,
        "whole answer",
    ),
    Case(
        "error event mid-stream",
        [Scenario(text="alpha beta gamma delta", error_after=2)],
        7,
        "alpha beta ",
        ["mid-stream", "The model crashed mid-stream"],
        status="error",
    ),
    Case(
        "clean close, no [DONE], no finish",
        [Scenario(text="alpha beta gamma delta", close_after=2, finish_reason=None, send_done=False)],
        7,
        "alpha beta ",
        ["before the answer was complete"],
    ),
    Case(
        "connection cut",
        [Scenario(text="alpha beta gamma delta", cut_after=2)],
        7,
        "alpha beta ",
        ["before the answer was complete"],
    ),
    Case(
        "malformed json",
        [Scenario(text="alpha beta gamma", malformed_after=1)],
        7,
        "alpha ",
        ["not a JSON chunk"],
    ),
    Case(
        "200 then immediate close", [Scenario(close_immediately=True)], 7, "", ["without sending an answer"]
    ),
    Case("200 empty body", [Scenario(empty_body=True)], 7, "", ["without sending an answer"]),
    # A stream that ends properly with no text is a complete, empty answer (llama.cpp does this when the
    # end-of-sequence token comes first): exit 0 and a note, not an error.
    Case("empty answer", [Scenario(text="", chunks=[])], 0, "", ["without any text"], stderr_lacks=["error"]),
    # --- legal streams the sdk transport once read differently (issue 9, item 3) -----------------
    Case(
        "event: error mid-stream, JSON data",
        [
            Scenario(
                raw_stream=stream(
                    chunk("alpha "), event({"message": "overloaded", "code": 503}, name="error")
                )
            )
        ],
        7,
        "alpha ",
        ["mid-stream", "overloaded"],
        status="error",
    ),
    Case(
        "event: error mid-stream, an error object",
        [
            Scenario(
                raw_stream=stream(
                    chunk("alpha "), event({"error": {"message": "GPU fell over"}}, name="error")
                )
            )
        ],
        7,
        "alpha ",
        ["mid-stream", "GPU fell over"],
        status="error",
    ),
    Case(
        "event: error mid-stream, plain-text data",
        [Scenario(raw_stream=stream(chunk("alpha "), event("upstream timed out", name="error"), done=False))],
        7,
        "alpha ",
        ["mid-stream", "upstream timed out"],
        status="error",
        stderr_lacks=["not a JSON chunk"],
    ),
    Case(
        "id: fields",
        [
            Scenario(
                raw_stream=[
                    event(chunk("one "), id="1"),
                    event(chunk("two"), id="2"),
                    event(chunk(finish="stop"), id="3"),
                    DONE,
                ]
            )
        ],
        0,
        "one two",
    ),
    Case(
        "an id:-only event",
        [Scenario(raw_stream=[event(chunk("one ")), b"id: 7\n\n", event(chunk("two")), *answer()])],
        0,
        "one two",
    ),
    Case(
        "empty data: heartbeats",
        [Scenario(raw_stream=[event(chunk("one ")), b"data:\n\n", b"data: \n\n", *answer("two")])],
        0,
        "one two",
    ),
    Case(
        # An event stream is UTF-8 whatever the charset says (the SSE standard, and what browsers do):
        # UTF-8 text is shown as it is, a byte that is not UTF-8 as U+FFFD.
        "charset=iso-8859-1",
        [
            Scenario(
                raw_stream=[
                    event(chunk("Grüße ")),
                    b'data: {"choices":[{"delta":{"content":"caf\xe9"}}]}\n\n',
                    *answer(),
                ],
                content_type="text/event-stream; charset=iso-8859-1",
            )
        ],
        0,
        "Grüße caf\ufffd",
    ),
    # --- text that is not valid Unicode (item 2) --------------------------------------------------
    Case(
        "a surrogate pair split across chunks, and a lone one",
        [Scenario(raw_stream=answer("smile \ud83d", "\ude00 and half ", "\ud83d", " of one"))],
        0,
        "smile \U0001f600 and half \ufffd of one",
    ),
    Case(
        "a lone surrogate at the very end",
        [Scenario(raw_stream=answer("end \udc00", "x\ud83d"))],
        0,
        "end \ufffdx\ufffd",
    ),
    # --- every way a provider can stop an answer (items 4 and 5) ----------------------------------
    Case(
        "content filter",
        [Scenario(text="the first part", finish_reason="content_filter")],
        7,
        "the first part",
        ["content filter", "content_filter", "partial"],
        status="filtered",
    ),
    Case(
        "content filter before any text",
        [Scenario(raw_stream=answer(finish="content_filter"))],
        7,
        "",
        ["content filter", "content_filter"],
        status="filtered",
        stderr_lacks=["without any text"],
    ),
    Case(
        "an unknown finish reason",
        [Scenario(text="half an answer", finish_reason="abort")],
        7,
        "half an answer",
        ["finish_reason: abort"],
        status="filtered",
    ),
    Case(
        "only tool calls, no text",
        [
            Scenario(
                raw_stream=stream(
                    chunk(
                        tool_calls=[
                            {
                                "index": 0,
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{}"},
                            }
                        ]
                    ),
                    chunk(finish="tool_calls"),
                )
            )
        ],
        0,
        "",
        ["tool", "finish_reason: tool_calls"],
        status="filtered",
        stderr_lacks=["rephrase", "empty answer"],
    ),
    Case(
        "TGI's eos_token is a normal end",
        [Scenario(text="fine answer", finish_reason="eos_token")],
        0,
        "fine answer",
    ),
    Case(
        "empty answer, [DONE] without a finish reason",
        [Scenario(text="", chunks=[], finish_reason=None)],
        7,
        "",
        ["empty answer"],
    ),
    Case(
        "json error body on a stream",
        [Scenario(json_body_on_stream={"error": {"message": "model overloaded", "type": "x"}})],
        4,
        "",
        ["model overloaded"],
    ),
    Case(
        "401",
        [Scenario(status=401, error_body={"error": {"message": "bad key given"}})],
        3,
        "",
        ["HTTP 401", "bad key given", "auth"],
    ),
    Case("403", [Scenario(status=403)], 3, "", ["HTTP 403"]),
    Case(
        "400",
        [Scenario(status=400, error_body={"error": {"message": "temperature too hot"}})],
        4,
        "",
        ["HTTP 400", "temperature too hot"],
    ),
    Case(
        "404 unknown model",
        [Scenario(status=404, error_body={"error": {"message": "The model `nope` does not exist"}})],
        4,
        "",
        ["HTTP 404", "does not exist", "llmcli models"],
    ),
    Case(
        "422",
        [Scenario(status=422, error_body={"detail": [{"msg": "field required"}]})],
        4,
        "",
        ["HTTP 422", "field required"],
    ),
    Case(
        "409 retried then rejected",
        [Scenario(status=409, headers=FAST_RETRY)] * 3,
        4,
        "",
        ["HTTP 409"],
        requests=3,
    ),
    Case(
        "429 retried then rate limited",
        [Scenario(status=429, headers=FAST_RETRY)] * 3,
        5,
        "",
        ["HTTP 429"],
        requests=3,
    ),
    Case(
        "500 retried then failed",
        [Scenario(status=500, headers=FAST_RETRY)] * 3,
        6,
        "",
        ["HTTP 500"],
        requests=3,
    ),
    Case(
        "502 html page",
        [
            Scenario(
                status=502,
                headers=FAST_RETRY,
                error_body="<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            )
        ]
        * 3,
        6,
        "",
        ["HTTP 502", "502 Bad Gateway"],
        requests=3,
    ),
    Case(
        "retry-after too long",
        [Scenario(status=503, headers={"Retry-After": "120"})],
        5,
        "",
        ["120 s"],
        requests=1,
    ),
    Case(
        "429 with retry-after too long",
        [Scenario(status=429, headers={"Retry-After": "3600"})],
        5,
        "",
        ["3600 s"],
        requests=1,
    ),
    Case(
        "retried then succeeded",
        [
            Scenario(status=500, headers=FAST_RETRY),
            Scenario(status=503, headers=FAST_RETRY),
            Scenario(text="third time lucky"),
        ],
        0,
        "third time lucky",
        requests=3,
    ),
    Case(
        "no retries when asked",
        [Scenario(status=500, headers=FAST_RETRY)] * 3,
        6,
        "",
        ["HTTP 500"],
        args=["--max-retries", "0"],
        requests=1,
    ),
    Case(
        "keep-alives only",
        [Scenario(keepalive_only=True, keepalive_every=0.2, keepalive_max=20)],
        6,
        "",
        ["timed out"],
        args=["--timeout", "1.5"],
    ),
    Case(
        "slow first token under keep-alives",
        [Scenario(text="late", delay_first=20, keepalive_every=0.2)],
        6,
        "",
        ["timed out"],
        args=["--timeout", "1.5"],
    ),
    Case(
        "stall mid-stream under keep-alives",
        [
            Scenario(
                text="one two three four",
                chunks=["one ", "two ", "three"],
                delay_between=20,
                keepalive_every=0.2,
            )
        ],
        7,
        "one ",
        ["stalled"],
        args=["--timeout", "1.5"],
    ),
    Case(
        "empty deltas are not progress",
        [Scenario(empty_events_only=True, keepalive_every=0.2, keepalive_max=20)],
        6,
        "",
        ["timed out"],
        args=["--timeout", "1.5"],
    ),
]


def last_answer_status(home) -> str | None:
    """The history status of the latest answer (None: nothing was stored)."""
    conn = sqlite3.connect(home / "history.db")
    try:
        rows = conn.execute("SELECT status FROM messages WHERE role = 'assistant' ORDER BY id DESC LIMIT 1")
        row = rows.fetchone()
    finally:
        conn.close()
    return row[0] if row else None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_transports_agree(case: Case, cli, server, home):
    seen = {}
    for transport in ("http", "sdk"):
        server.reset()
        server.push(*case.scenarios)
        r = cli.ask("--transport", transport, "-m", "ref-model", *case.args, "say something", timeout=60)
        bodies = [req.body for req in server.chat_requests()]
        assert r.returncode == case.rc, (transport, r)
        assert r.stdout == case.stdout, (transport, r)
        r.stdout_bytes.decode("utf-8")  # never invalid UTF-8 on stdout (strict: raises if there is)
        for needle in case.stderr_has:
            assert needle in r.stderr, (transport, needle, r.stderr)
        for needle in case.stderr_lacks:
            assert needle not in r.stderr, (transport, needle, r.stderr)
        assert_no_traceback(r.stderr)
        if case.rc not in (0,):
            assert "127.0.0.1" in r.stderr, (transport, r.stderr)
            assert r.stderr.count("\n") == 1, (transport, r.stderr)  # one line
        if case.requests is not None:
            assert len(bodies) == case.requests, (transport, bodies)
        status = last_answer_status(home)
        assert status == case.history_status, (transport, status)
        seen[transport] = (r.returncode, r.stdout, status, bodies[0] if bodies else None)
    assert seen["http"] == seen["sdk"]


def test_no_stream_gives_the_same_text(cli, server):
    for transport in ("http", "sdk"):
        server.reset()
        server.default = Scenario(text="Same words either way.")
        streamed = cli.ask("--transport", transport, "-m", "m", "hi")
        whole = cli.ask("--transport", transport, "-m", "m", "--no-stream", "hi")
        assert streamed.returncode == whole.returncode == 0
        assert streamed.stdout == whole.stdout == "Same words either way."
        bodies = [r.body for r in server.chat_requests()]
        assert bodies[0]["stream"] is True and bodies[0]["stream_options"] == {"include_usage": True}
        assert bodies[1]["stream"] is False and "stream_options" not in bodies[1]


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_no_stream_errors_map_the_same(transport, cli, server):
    server.push(Scenario(status=401))
    assert cli.ask("--transport", transport, "-m", "m", "--no-stream", "hi").returncode == 3
    server.push(Scenario(status=404))
    assert cli.ask("--transport", transport, "-m", "m", "--no-stream", "hi").returncode == 4
    server.push(Scenario(text="x", delay_headers=5))
    r = cli.ask("--transport", transport, "-m", "m", "--no-stream", "--timeout", "1", "hi")
    assert r.returncode == 6 and "timed out" in r.stderr
    server.reset()
    server.push(Scenario(close_immediately=True))  # 200, then the body is cut: not retried, exit 7
    r = cli.ask("--transport", transport, "-m", "m", "--no-stream", "hi")
    assert r.returncode == 7 and "before the answer was complete" in r.stderr
    assert len(server.requests) == 1


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_request_body_and_headers(transport, cli, server):
    r = cli.ask(
        "--transport",
        transport,
        "-m",
        "ref-model",
        "-s",
        "be brief",
        "--temperature",
        "0.2",
        "--top-p",
        "0.9",
        "--max-tokens",
        "50",
        "--stop",
        "END",
        "--stop",
        "STOP",
        "--seed",
        "7",
        "-o",
        "presence_penalty=0.5",
        "-o",
        'response_format={"type": "text"}',
        "-o",
        "user=alice",
        "hello",
    )
    assert r.returncode == 0, r
    req = server.chat_requests()[-1]
    assert req.path == "/v1/chat/completions"
    assert req.body == {
        "model": "ref-model",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "stop": ["END", "STOP"],
        "seed": 7,
        "stream": True,
        "stream_options": {"include_usage": True},
        "presence_penalty": 0.5,
        "response_format": {"type": "text"},
        "user": "alice",
    }
    assert "authorization" not in req.headers  # no key configured → no Authorization header


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_options_not_given_are_not_sent(transport, cli, server):
    assert cli.ask("--transport", transport, "-m", "ref-model", "hello").returncode == 0
    body = server.chat_requests()[-1].body
    assert set(body) == {"model", "messages", "stream", "stream_options"}


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_key_sent_as_bearer(transport, cli, server):
    server.require_key = "sk-test-0123456789"
    r = cli.ask("--transport", transport, "-m", "m", "hi", env={"LLMCLI_API_KEY": "sk-test-0123456789"})
    assert r.returncode == 0, r
    assert server.requests[-1].headers["authorization"] == "Bearer sk-test-0123456789"


@pytest.mark.parametrize("transport", ["http", "sdk"])
@pytest.mark.parametrize("suffix", ["", "/"])
def test_base_url_used_as_given(transport, suffix, cli, server):
    base = server.root_url + "/openai/deployments/x" + suffix
    r = cli("ask", "--base-url", base, "--transport", transport, "-m", "m", "hi")
    assert r.returncode == 0, r
    assert server.requests[-1].path == "/openai/deployments/x/chat/completions"
    r = cli("models", "--base-url", base, "--transport", transport)
    assert r.returncode == 0, r
    assert server.requests[-1].path == "/openai/deployments/x/models"


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_models_listing(transport, cli, server):
    r = cli("models", "--base-url", server.base_url, "--transport", transport)
    assert r.returncode == 0
    assert r.stdout == "ref-embed\nref-model\nref-model-large\n"
    import json

    r = cli("models", "--base-url", server.base_url, "--transport", transport, "--format", "json")
    assert json.loads(r.stdout) == server.models
    server.push(Scenario(status=401))
    r = cli("models", "--base-url", server.base_url, "--transport", transport)
    assert r.returncode == 3 and r.stdout == ""


@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_the_server_decides_with_x_should_retry(transport, cli, server):
    """`x-should-retry: false` stops retries a status would get; `true` retries a status that would not
    be (as the openai SDK does). Both transports alike."""
    server.push(Scenario(status=500, headers={"x-should-retry": "false", **FAST_RETRY}))
    r = cli.ask("--transport", transport, "-m", "m", "hi")
    assert r.returncode == 6 and len(server.chat_requests()) == 1, r
    server.reset()
    server.push(Scenario(status=429, headers={"X-Should-Retry": "false", **FAST_RETRY}))
    r = cli.ask("--transport", transport, "-m", "m", "hi")
    assert r.returncode == 5 and len(server.chat_requests()) == 1, r
    server.reset()
    server.push(Scenario(status=400, headers={"x-should-retry": "true", **FAST_RETRY}), Scenario(text="ok"))
    r = cli.ask("--transport", transport, "-m", "m", "hi")
    assert (r.returncode, r.stdout) == (0, "ok") and len(server.chat_requests()) == 2, r
    server.reset()
    server.push(*[Scenario(status=500, headers=FAST_RETRY)] * 2, Scenario(text="ok"))  # no header: the status
    r = cli.ask("--transport", transport, "-m", "m", "hi")
    assert (r.returncode, r.stdout) == (0, "ok") and len(server.chat_requests()) == 3, r

"""Tests of the reference server itself (tests/refserver.py), using httpx directly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from refserver import RefServer, Scenario, split_words  # noqa: E402

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "say hello to me"},
]


@pytest.fixture(scope="module")
def server():
    srv = RefServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _reset(server):
    server.reset()
    yield
    server.reset()


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def chat_body(stream: bool = True, **extra):
    body = {"model": "ref-model", "messages": MESSAGES, "stream": stream}
    body.update(extra)
    return body


def post_stream(client, server, **extra) -> httpx.Response:
    r = client.post(server.base_url + "/chat/completions", json=chat_body(True, **extra))
    assert r.status_code == 200, r.text
    return r


def parse_sse(raw: bytes) -> list[dict]:
    """Minimal SSE parser: returns [{"data": str} | {"comment": str}] in order."""
    text = raw.decode("utf-8")
    lines = text.replace("\r\n", "\n").split("\n")
    events: list[dict] = []
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                events.append({"data": "\n".join(data)})
                data = []
            continue
        if line.startswith(":"):
            events.append({"comment": line[1:].strip()})
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
    if data:
        events.append({"data": "\n".join(data)})
    return events


def data_events(raw: bytes) -> list[str]:
    return [e["data"] for e in parse_sse(raw) if "data" in e]


def json_chunks(raw: bytes) -> list[dict]:
    return [json.loads(d) for d in data_events(raw) if d != "[DONE]"]


def content_of(chunks: list[dict]) -> str:
    out = []
    for ch in chunks:
        for choice in ch.get("choices", []):
            c = choice.get("delta", {}).get("content")
            if c:
                out.append(c)
    return "".join(out)


def content_deltas(chunks: list[dict]) -> list[str]:
    return [
        ch["choices"][0]["delta"]["content"]
        for ch in chunks
        if ch.get("choices") and ch["choices"][0]["delta"].get("content")
    ]


def read_until_error(client, server, body) -> tuple[httpx.Response, bytes, BaseException | None]:
    got = bytearray()
    err = None
    with client.stream("POST", server.base_url + "/chat/completions", json=body) as r:
        try:
            for piece in r.iter_raw():
                got += piece
        except httpx.HTTPError as exc:
            err = exc
    return r, bytes(got), err


# ---------------------------------------------------------------- framing


def test_stream_framing_default(client, server):
    r = post_stream(client, server)
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    raw = r.content
    assert b"\r" not in raw
    # every event is exactly one "data: {json}" line followed by a blank line
    blocks = raw.decode().split("\n\n")
    assert blocks[-1] == ""
    for block in blocks[:-1]:
        assert block.startswith("data: ") and "\n" not in block
    assert blocks[-2] == "data: [DONE]"

    chunks = json_chunks(raw)
    first = chunks[0]
    assert first["object"] == "chat.completion.chunk"
    assert first["id"].startswith("chatcmpl-")
    assert isinstance(first["created"], int)
    assert first["model"] == "ref-model"
    assert "system_fingerprint" in first and first["system_fingerprint"] is None
    assert first["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": ""},
        "logprobs": None,
        "finish_reason": None,
    }
    assert len({c["id"] for c in chunks}) == 1
    last = chunks[-1]
    assert last["choices"][0]["delta"] == {} and last["choices"][0]["finish_reason"] == "stop"
    for mid in chunks[:-1]:
        assert mid["choices"][0]["finish_reason"] is None
    assert content_of(chunks) == "Hello from the reference server."
    assert content_deltas(chunks) == split_words("Hello from the reference server.")
    # no usage chunk unless asked for
    assert all("usage" not in c for c in chunks)


def test_split_words_concatenates():
    text = "  Hello,  world!\n\nnext line\t"
    assert "".join(split_words(text)) == text
    assert split_words("a b") == ["a ", "b"]


def test_usage_chunk_when_requested(client, server):
    server.push(Scenario(text="one two three", reasoning="think hard"))
    r = post_stream(client, server, stream_options={"include_usage": True})
    events = data_events(r.content)
    assert events[-1] == "[DONE]"
    usage_chunk = json.loads(events[-2])
    assert usage_chunk["choices"] == []
    # prompt: "You are terse." (3) + "say hello to me" (4); completion: 3 content + 2 reasoning
    assert usage_chunk["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    final = json.loads(events[-3])
    assert final["choices"][0]["finish_reason"] == "stop"
    # like OpenAI, the other chunks carry "usage": null
    assert all(json.loads(e)["usage"] is None for e in events[:-2])


def test_usage_switch_overrides_request(client, server):
    server.push(Scenario(usage=False), Scenario(usage=True))
    r1 = post_stream(client, server, stream_options={"include_usage": True})
    assert all("usage" not in c or c["usage"] is None for c in json_chunks(r1.content))
    r2 = post_stream(client, server)
    assert json_chunks(r2.content)[-1]["usage"]["completion_tokens"] == len(split_words(Scenario().text))


def test_prompt_tokens_count_content_parts(client, server):
    msgs = [{"role": "user", "content": [{"type": "text", "text": "a b c"}, {"type": "text", "text": "d"}]}]
    r = client.post(server.base_url + "/chat/completions", json={"model": "x", "messages": msgs})
    assert r.json()["usage"]["prompt_tokens"] == 4


def test_crlf(client, server):
    server.push(Scenario(crlf=True))
    raw = post_stream(client, server).content
    assert raw.count(b"\r\n") > 0
    assert raw.replace(b"\r\n", b"").count(b"\n") == 0
    assert raw.endswith(b"data: [DONE]\r\n\r\n")
    assert content_of(json_chunks(raw)) == Scenario().text


def test_no_space(client, server):
    server.push(Scenario(no_space=True))
    raw = post_stream(client, server).content
    lines = [ln for ln in raw.decode().split("\n") if ln]
    assert lines and all(ln.startswith("data:") and not ln.startswith("data: ") for ln in lines)
    assert lines[-1] == "data:[DONE]"
    assert content_of(json_chunks(raw)) == Scenario().text


def test_multiline_data(client, server):
    server.push(Scenario(multiline_data=True, text="multi line é"))
    raw = post_stream(client, server).content
    blocks = [b for b in raw.decode().split("\n\n") if b]
    json_blocks = [b for b in blocks if b != "data: [DONE]"]
    assert all(b.count("\ndata:") >= 3 for b in json_blocks)
    # each individual line is not valid JSON on its own, the joined data is
    with pytest.raises(ValueError):
        json.loads(json_blocks[0].split("\n")[0][len("data: ") :])
    assert content_of(json_chunks(raw)) == "multi line é"


def test_multiline_crlf_no_space_combined(client, server):
    server.push(Scenario(multiline_data=True, crlf=True, no_space=True, text="x y z"))
    raw = post_stream(client, server).content
    assert b"\ndata:" in raw and b"data: [DONE]" not in raw
    assert content_of(json_chunks(raw)) == "x y z"


def test_explicit_chunks_model_finish_and_no_done(client, server):
    server.push(
        Scenario(chunks=["Hel", "lo", ""], model="other-model", finish_reason="length", send_done=False)
    )
    raw = post_stream(client, server).content
    events = data_events(raw)
    assert "[DONE]" not in events
    chunks = [json.loads(e) for e in events]
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == ["Hel", "lo", ""]
    assert {c["model"] for c in chunks} == {"other-model"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_finish_reason_none(client, server):
    server.push(Scenario(finish_reason=None, text="a"))
    chunks = json_chunks(post_stream(client, server).content)
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


def test_reasoning_before_content(client, server):
    server.push(Scenario(text="answer", reasoning="step one", reasoning_field="reasoning"))
    chunks = json_chunks(post_stream(client, server).content)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1:3] == [{"reasoning": "step "}, {"reasoning": "one"}]
    assert deltas[3] == {"content": "answer"}
    assert all("reasoning_content" not in d for d in deltas)


def test_role_chunk_off_and_empty_choices_first(client, server):
    server.push(Scenario(role_chunk=False, empty_choices_first=True, text="hi"))
    chunks = json_chunks(post_stream(client, server).content)
    assert chunks[0]["choices"] == [] and chunks[0]["prompt_filter_results"] == []
    assert chunks[1]["choices"][0]["delta"] == {"content": "hi"}
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])


# ---------------------------------------------------------------- non-stream


def test_non_stream_body(client, server):
    server.push(Scenario(text="plain answer", reasoning="because"))
    r = client.post(
        server.base_url + "/chat/completions", json={"model": "llama-anything", "messages": MESSAGES}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int)
    assert body["model"] == "llama-anything"  # unknown models are accepted, echoed
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "plain answer", "reasoning_content": "because"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_non_stream_stream_false_and_usage_false(client, server):
    server.push(Scenario(usage=False, finish_reason="length"))
    r = client.post(server.base_url + "/chat/completions", json=chat_body(stream=False))
    body = r.json()
    assert "usage" not in body
    assert body["choices"][0]["finish_reason"] == "length"
    assert "reasoning_content" not in body["choices"][0]["message"]


# ---------------------------------------------------------------- errors


def test_error_status_default_body_and_retry_headers(client, server):
    server.push(
        Scenario(status=429, headers={"Retry-After": "2"}),
        Scenario(status=503, headers={"retry-after-ms": "150"}),
    )
    r = client.post(server.base_url + "/chat/completions", json=chat_body())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "code"}
    assert err["code"] == "rate_limit_exceeded" and err["message"]
    r = client.post(server.base_url + "/chat/completions", json=chat_body())
    assert r.status_code == 503
    assert r.headers["retry-after-ms"] == "150"
    assert r.json()["error"]["type"] == "server_error"


def test_error_body_dict_and_html(client, server):
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    server.push(
        Scenario(status=400, error_body={"error": {"message": "context too long", "type": "x", "code": "c"}}),
        Scenario(status=502, error_body=html),
        Scenario(status=500, error_body="oops", content_type="text/x-custom"),
    )
    r = client.post(server.base_url + "/chat/completions", json=chat_body())
    assert r.status_code == 400 and r.json()["error"]["message"] == "context too long"
    r = client.post(server.base_url + "/chat/completions", json=chat_body())
    assert r.status_code == 502
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == html
    r = client.post(server.base_url + "/chat/completions", json=chat_body())
    assert r.status_code == 500 and r.headers["content-type"] == "text/x-custom" and r.text == "oops"


def test_error_scenario_applies_to_models(client, server):
    server.push(Scenario(status=500, headers={"X-Test": "1"}))
    r = client.get(server.base_url + "/models")
    assert r.status_code == 500 and r.headers["x-test"] == "1"
    assert "error" in r.json()


def test_bad_json_and_missing_model(client, server):
    url = server.base_url + "/chat/completions"
    r = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = client.post(url, json={"messages": MESSAGES})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    # the bad request is still recorded, with body None
    assert server.requests[0].body is None and server.requests[0].raw_body == b"{not json"


def test_content_type_override_on_stream(client, server):
    server.push(Scenario(content_type="text/plain"))
    r = post_stream(client, server)
    assert r.headers["content-type"] == "text/plain"
    assert content_of(json_chunks(r.content)) == Scenario().text


# ---------------------------------------------------------------- faults


def test_cut_after_is_protocol_error(client, server):
    server.push(Scenario(text="a b c d e", cut_after=2))
    r, raw, err = read_until_error(client, server, chat_body())
    assert r.status_code == 200
    assert isinstance(err, httpx.RemoteProtocolError)
    chunks = json_chunks(raw)
    assert content_deltas(chunks) == ["a ", "b "]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert b"[DONE]" not in raw


def test_close_after_is_clean_end(client, server):
    server.push(Scenario(text="a b c d e", close_after=3))
    r, raw, err = read_until_error(client, server, chat_body())
    assert err is None
    chunks = json_chunks(raw)
    assert content_deltas(chunks) == ["a ", "b ", "c "]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert b"[DONE]" not in raw


def test_error_after(client, server):
    server.push(Scenario(text="a b c", error_after=1, error_message="boom"))
    r, raw, err = read_until_error(client, server, chat_body())
    assert err is None
    events = data_events(raw)
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last == {"error": {"message": "boom", "type": "server_error", "code": None}}
    assert content_deltas([json.loads(e) for e in events[:-1]]) == ["a "]


def test_malformed_after_then_continues(client, server):
    server.push(Scenario(text="a b c", malformed_after=1))
    raw = post_stream(client, server).content
    events = data_events(raw)
    bad = [e for e in events if e.startswith('{"choices": [{"delta": {"content": "x"')]
    assert len(bad) == 1
    with pytest.raises(ValueError):
        json.loads(bad[0])
    idx = events.index(bad[0])
    good = [json.loads(e) for e in events if e != bad[0] and e != "[DONE]"]
    assert content_deltas(good) == ["a ", "b ", "c"]
    assert content_of([json.loads(e) for e in events[:idx]]) == "a "
    assert events[-1] == "[DONE]"


def test_split_bytes_multibyte(client, server):
    text = "Grüße é漢字🙂 and more 🙂漢"
    server.push(Scenario(text=text, split_bytes=3))
    pieces = []
    with client.stream("POST", server.base_url + "/chat/completions", json=chat_body()) as r:
        for piece in r.iter_raw():
            pieces.append(piece)
    assert len(pieces) > 50
    # h11 keeps chunked-encoding chunks apart, so no piece exceeds split_bytes
    assert max(len(p) for p in pieces) <= 3
    undecodable = 0
    for p in pieces:
        try:
            p.decode("utf-8")
        except UnicodeDecodeError:
            undecodable += 1
    assert undecodable > 0  # multi-byte characters really were split
    raw = b"".join(pieces)
    assert content_of(json_chunks(raw)) == text
    assert "é漢字🙂".encode() in raw  # sent as raw UTF-8, not \u escapes


def test_json_body_on_stream(client, server):
    payload = {"id": "x", "object": "chat.completion", "choices": [{"message": {"content": "j"}}]}
    server.push(Scenario(json_body_on_stream=payload))
    r = client.post(server.base_url + "/chat/completions", json=chat_body())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == payload


def test_close_immediately(client, server):
    server.push(Scenario(close_immediately=True))
    r, raw, err = read_until_error(client, server, chat_body())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert raw == b""
    assert isinstance(err, httpx.RemoteProtocolError)


def test_empty_body(client, server):
    server.push(Scenario(empty_body=True))
    r, raw, err = read_until_error(client, server, chat_body())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert raw == b"" and err is None


def test_keepalive_only_bounded(client, server):
    server.push(Scenario(keepalive_only=True, keepalive_every=0.1, keepalive_max=0.5))
    t0 = time.monotonic()
    r, raw, err = read_until_error(client, server, chat_body())
    elapsed = time.monotonic() - t0
    assert err is None
    assert 0.4 <= elapsed < 2.0
    events = parse_sse(raw)
    assert events and all(e == {"comment": "keep-alive"} for e in events)
    assert 4 <= len(events) <= 6
    assert raw.startswith(b": keep-alive\n\n")


def test_empty_events_only(client, server):
    server.push(Scenario(empty_events_only=True, keepalive_every=0.1, keepalive_max=0.35))
    t0 = time.monotonic()
    r, raw, err = read_until_error(client, server, chat_body())
    assert err is None and time.monotonic() - t0 >= 0.3
    chunks = json_chunks(raw)
    assert len(chunks) >= 3
    assert all(c["choices"][0]["delta"] == {"content": ""} for c in chunks)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert b"[DONE]" not in raw


def test_delay_first_with_keepalive(client, server):
    server.push(Scenario(text="hi", delay_first=0.45, keepalive_every=0.1))
    t0 = time.monotonic()
    with client.stream("POST", server.base_url + "/chat/completions", json=chat_body()) as r:
        t_headers = time.monotonic() - t0
        raw = r.read()
    total = time.monotonic() - t0
    assert t_headers < 0.3 <= 0.4 <= total
    events = parse_sse(raw)
    n_comments = 0
    for e in events:
        if "comment" in e:
            n_comments += 1
        else:
            break
    assert n_comments >= 3  # comments came before any data event
    assert content_of(json_chunks(raw)) == "hi"


def test_delay_between(client, server):
    server.push(Scenario(text="a b c d", delay_between=0.1))
    t0 = time.monotonic()
    raw = post_stream(client, server).content
    assert time.monotonic() - t0 >= 0.3
    assert b"keep-alive" not in raw
    assert content_of(json_chunks(raw)) == "a b c d"


def test_delay_between_with_keepalive(client, server):
    server.push(Scenario(text="a b", delay_between=0.35, keepalive_every=0.1))
    raw = post_stream(client, server).content
    events = parse_sse(raw)
    kinds = ["c" if "comment" in e else "d" for e in events]
    i_a = next(i for i, e in enumerate(events) if "data" in e and '"a "' in e["data"])
    assert kinds[i_a + 1 : i_a + 4] == ["c", "c", "c"]


def test_delay_headers_does_not_block_others(client, server):
    server.push(Scenario(delay_headers=0.6, text="slow"))
    result = {}

    def slow():
        with httpx.Client(timeout=10) as c2:
            t0 = time.monotonic()
            r = c2.post(server.base_url + "/chat/completions", json=chat_body(stream=False))
            result["elapsed"] = time.monotonic() - t0
            result["text"] = r.json()["choices"][0]["message"]["content"]

    th = threading.Thread(target=slow)
    th.start()
    deadline = time.monotonic() + 5
    while len(server.requests) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    r = client.post(server.base_url + "/chat/completions", json=chat_body(stream=False))
    fast = time.monotonic() - t0
    th.join()
    assert r.json()["choices"][0]["message"]["content"] == Scenario().text
    assert fast < 0.4
    assert result["elapsed"] >= 0.55 and result["text"] == "slow"


def test_delay_headers_applies_to_errors(client, server):
    server.push(Scenario(status=500, delay_headers=0.3))
    t0 = time.monotonic()
    r = client.get(server.base_url + "/models")
    assert r.status_code == 500 and time.monotonic() - t0 >= 0.28


def test_prebuilt_large(client, server):
    text = "lorem ipsum dolor sit amet " * 800
    server.push(Scenario(text=text, prebuilt=True), Scenario(text=text))
    pieces = []
    with client.stream("POST", server.base_url + "/chat/completions", json=chat_body()) as r:
        for p in r.iter_raw():
            pieces.append(p)
    raw = b"".join(pieces)
    assert max(len(p) for p in pieces) > 16 * 1024  # big writes, not one per event
    normal = post_stream(client, server).content
    strip = lambda chunks: [{k: v for k, v in c.items() if k not in ("id", "created")} for c in chunks]  # noqa: E731
    assert strip(json_chunks(raw)) == strip(json_chunks(normal))
    assert content_of(json_chunks(raw)) == text
    assert raw.endswith(b"data: [DONE]\n\n")


def test_prebuilt_with_cut_after(client, server):
    server.push(Scenario(text="a b c", prebuilt=True, cut_after=1))
    r, raw, err = read_until_error(client, server, chat_body())
    assert isinstance(err, httpx.RemoteProtocolError)
    assert content_deltas(json_chunks(raw)) == ["a "]


# ---------------------------------------------------------------- auth, redirect, routing, recording


def test_require_key(client, server):
    server.require_key = "sk-secret-123"
    url = server.base_url + "/chat/completions"
    r = client.post(url, json=chat_body(stream=False), headers={"Authorization": "Bearer wrong-key"})
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "message": "Incorrect API key provided: wro***",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    assert client.get(server.base_url + "/models").status_code == 401  # no header at all
    r = client.post(url, json=chat_body(stream=False), headers={"Authorization": "Bearer sk-secret-123"})
    assert r.status_code == 200
    server.reset()
    assert server.require_key is None
    assert client.get(server.base_url + "/models").status_code == 200


def test_redirect_preserves_post(client, server):
    server.push(Scenario(redirect_to=server.root_url + "/other/v1/chat/completions"))
    r = client.post(server.base_url + "/chat/completions", json=chat_body(stream=False))
    assert r.status_code == 307
    assert r.headers["location"] == server.root_url + "/other/v1/chat/completions"
    server.push(Scenario(redirect_to="/other/v1/chat/completions"))
    r = client.post(
        server.base_url + "/chat/completions", json=chat_body(stream=False), follow_redirects=True
    )
    assert r.status_code == 200
    reqs = server.chat_requests()
    assert [q.path for q in reqs[-2:]] == ["/v1/chat/completions", "/other/v1/chat/completions"]
    assert reqs[-1].method == "POST" and reqs[-1].body == reqs[-2].body


def test_request_recording(client, server):
    body = chat_body(stream=False, temperature=0.5)
    client.post(
        server.base_url + "/chat/completions?api-version=1",
        json=body,
        headers={"Authorization": "Bearer k", "X-Custom-Thing": "Yes"},
    )
    client.get(server.base_url + "/models")
    assert len(server.requests) == 2
    rec = server.requests[0]
    assert rec.method == "POST"
    assert rec.path == "/v1/chat/completions"
    assert rec.query == "api-version=1"
    assert rec.headers["authorization"] == "Bearer k"
    assert rec.headers["x-custom-thing"] == "Yes"
    assert all(k == k.lower() for k in rec.headers)
    assert rec.body == body
    assert json.loads(rec.raw_body) == body
    assert server.requests[1].method == "GET" and server.requests[1].body is None
    assert server.chat_requests() == [rec]


def test_arbitrary_prefixes_and_unknown_paths(client, server):
    r = client.post(server.root_url + "/openai/v1/chat/completions", json=chat_body(stream=False))
    assert r.status_code == 200
    r = client.post(server.root_url + "/chat/completions", json=chat_body(stream=False))
    assert r.status_code == 200
    r = client.get(server.root_url + "/api/x/models")
    assert r.status_code == 200 and r.json()["object"] == "list"
    # (/completions and /embeddings are served: tests/refserver_calls.py)
    r = client.post(server.root_url + "/v1/no-such-endpoint", json={"model": "m", "prompt": "x"})
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert [q.path for q in server.requests] == [
        "/openai/v1/chat/completions",
        "/chat/completions",
        "/api/x/models",
        "/v1/no-such-endpoint",
    ]
    assert len(server.chat_requests()) == 2


def test_models_endpoint(client, server):
    r = client.get(server.base_url + "/models")
    data = r.json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["ref-model", "ref-model-large", "ref-embed"]
    assert data["data"][0] == {
        "id": "ref-model",
        "object": "model",
        "created": 1700000000,
        "owned_by": "llmcli-tests",
    }
    server.models = [{"id": "only", "object": "model", "created": 1, "owned_by": "me"}]
    assert [m["id"] for m in client.get(server.base_url + "/models").json()["data"]] == ["only"]
    server.reset()
    assert len(client.get(server.base_url + "/models").json()["data"]) == 3


def test_queue_order_and_default(client, server):
    server.default = Scenario(text="default text")
    server.push(Scenario(text="first"), Scenario(status=418), Scenario(text="third"))
    url = server.base_url + "/chat/completions"
    got = []
    for _ in range(4):
        r = client.post(url, json=chat_body(stream=False))
        got.append(r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.status_code)
    assert got == ["first", 418, "third", "default text"]


def test_queue_shared_across_endpoints(client, server):
    server.push(Scenario(status=503), Scenario(text="after models"))
    assert client.get(server.base_url + "/models").status_code == 503
    r = client.post(server.base_url + "/chat/completions", json=chat_body(stream=False))
    assert r.json()["choices"][0]["message"]["content"] == "after models"


def test_reset_clears_queue_and_requests(client, server):
    server.push(Scenario(status=500))
    server.default = Scenario(text="changed")
    client.get(server.base_url + "/nothing")
    server.reset()
    assert server.requests == []
    r = client.post(server.base_url + "/chat/completions", json=chat_body(stream=False))
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == Scenario().text


def test_stop_is_prompt_with_stream_in_flight():
    srv = RefServer().start()
    srv.push(Scenario(keepalive_only=True, keepalive_max=30))
    started = threading.Event()

    def reader():
        try:
            with httpx.Client(timeout=10) as c:
                with c.stream("POST", srv.base_url + "/chat/completions", json=chat_body()) as r:
                    for _ in r.iter_raw():
                        started.set()
        except httpx.HTTPError:
            pass

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    assert started.wait(5)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 5
    th.join(5)
    assert not th.is_alive()


# ---------------------------------------------------------------- script mode


def test_script_mode(tmp_path):
    text_file = tmp_path / "t.txt"
    text_file.write_text("ab ", encoding="utf-8")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "refserver.py"),
            "--text-file",
            str(text_file),
            "--repeat",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:") and line.endswith("/v1")
        r = httpx.post(line + "/chat/completions", json=chat_body(stream=False), timeout=10)
        assert r.json()["choices"][0]["message"]["content"] == "ab ab ab "
        r = httpx.post(line + "/chat/completions", json=chat_body(), timeout=10)
        assert content_of(json_chunks(r.content)) == "ab ab ab "
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

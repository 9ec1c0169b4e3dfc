"""Unit tests of the pure pieces: retry policy, wire mapping, error text, terminal safety, watchdog."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmcli.core.credentials import mask, redact
from llmcli.core.types import Finished, ModelSeen, ReasoningDelta, TextDelta, Usage
from llmcli.errors import NetworkFailed, RateLimited, RequestRejected
from llmcli.render.sink import neutralise
from llmcli.transport.base import endpoint, server_message
from llmcli.transport.retry import Retryable, backoff, call_with_retries, retry_after_seconds
from llmcli.transport.watchdog import BytePump, watched
from llmcli.transport.wire import chunk_events


def test_retry_after_forms():
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after_seconds({"Retry-After": when}) <= 31
    assert retry_after_seconds({"retry-after-ms": "20", "retry-after": "9"}) == 0.02  # ms wins
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"Retry-After": "soonish"}) is None


def test_backoff_grows_with_jitter_and_is_capped():
    for attempt in range(8):
        values = {backoff(attempt) for _ in range(50)}
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert len(values) > 1  # jitter


def _failing(errors):
    calls = []

    def attempt():
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return attempt, calls


def test_retries_then_succeeds_honouring_retry_after():
    slept = []
    final = NetworkFailed("HTTP 503", host="h", status=503)
    attempt, calls = _failing([Retryable(final, 1.25), Retryable(final, None)])
    assert call_with_retries(attempt, max_retries=2, sleep=slept.append) == "ok"
    assert len(calls) == 3 and slept[0] == 1.25 and 0.25 <= slept[1] <= 1.0


def test_retries_exhausted_raise_the_final_error():
    final = RateLimited("HTTP 429", host="h", status=429)
    attempt, calls = _failing([Retryable(final, 0)] * 5)
    with pytest.raises(RateLimited):
        call_with_retries(attempt, max_retries=2, sleep=lambda s: None)
    assert len(calls) == 3


def test_long_retry_after_fails_at_once():
    final = NetworkFailed("HTTP 503", host="h", status=503)
    attempt, calls = _failing([Retryable(final, 61)])
    slept = []
    with pytest.raises(RateLimited) as info:
        call_with_retries(attempt, max_retries=5, sleep=slept.append)
    assert "61 s" in str(info.value) and slept == [] and len(calls) == 1


def test_non_retryable_errors_pass_straight_through():
    attempt, calls = _failing([RequestRejected("HTTP 400", host="h", status=400)])
    with pytest.raises(RequestRejected):
        call_with_retries(attempt, max_retries=5, sleep=lambda s: None)
    assert len(calls) == 1


def test_chunk_events_reads_dicts_and_sdk_models_alike():
    chunk = {
        "model": "m1",
        "choices": [
            {"index": 0, "delta": {"content": "hi", "reasoning_content": "think"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    want = [ModelSeen("m1"), ReasoningDelta("think"), TextDelta("hi"), Finished("stop", "m1"), Usage(3, 4, 7)]
    assert list(chunk_events(chunk)) == want
    from openai.types.chat import ChatCompletionChunk

    model = ChatCompletionChunk.model_validate(
        {**chunk, "id": "x", "object": "chat.completion.chunk", "created": 1}
    )
    assert list(chunk_events(model)) == want


def test_chunk_events_ignore_other_choices_and_empty_parts():
    chunk = {"choices": [{"index": 1, "delta": {"content": "other"}}, {"index": 0, "delta": {"content": ""}}]}
    assert list(chunk_events(chunk)) == []
    assert list(chunk_events({"choices": [], "usage": None})) == []


@pytest.mark.parametrize(
    "body,ctype,want",
    [
        (b'{"error": {"message": "nope", "type": "x"}}', "application/json", "nope"),
        (b'{"error": "plain string"}', "application/json", "plain string"),
        (b'{"detail": "Not Found"}', "application/json", "Not Found"),
        (b"<html><title>502 Bad Gateway</title><body>x</body></html>", "text/html", "502 Bad Gateway"),
        (b"   ", "text/plain", None),
        (b"upstream connect error", "text/plain", "upstream connect error"),
    ],
)
def test_server_message(body, ctype, want):
    assert server_message(body, ctype) == want


def test_endpoint_keeps_the_base_url_as_given():
    assert endpoint("http://h/v1", "models") == "http://h/v1/models"
    assert endpoint("http://h/v1/", "models") == "http://h/v1/models"
    assert (
        endpoint("http://h/openai/deployments/x", "chat/completions")
        == "http://h/openai/deployments/x/chat/completions"
    )


def test_neutralise_defuses_terminal_control():
    evil = "a\x1b[2Jb\x1b]52;c;ZXZpbA==\x07c\x1b]8;;http://x\x1b\\d\re\x9bf\x7f"
    safe = neutralise(evil)
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in safe)
    assert "\x9b" not in safe and "\x7f" not in safe
    assert neutralise("tab\tnewline\n日本") == "tab\tnewline\n日本"


@given(st.text())
def test_neutralise_output_is_always_inert(s):
    out = neutralise(s)
    assert all(not (ord(ch) < 32 and ch not in "\n\t") and not (0x7F <= ord(ch) <= 0x9F) for ch in out)


def test_mask_and_redact():
    assert mask("sk-proj-abcdefghijklmnop1234") == "sk-…1234"
    assert mask("short") == "…"
    assert mask(None) == "(none)"
    assert (
        redact("key sk-proj-abcdefghijklmnop1234 leaked", "sk-proj-abcdefghijklmnop1234")
        == "key sk-…1234 leaked"
    )


def test_pump_stalls_when_only_non_progress_bytes_arrive():
    def source():
        yield b"data: real\n\n"
        for _ in range(100):
            time.sleep(0.05)
            yield b": keep-alive\n\n"

    pump = BytePump(source, timeout=0.5, on_stall=lambda: TimeoutError("stall"))
    got = []
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        for piece in pump:
            got.append(piece)
            if piece.startswith(b"data"):
                pump.progress()
    assert 0.4 < time.monotonic() - started < 2.0
    assert got[0] == b"data: real\n\n" and len(got) > 3
    pump.close()


def test_pump_progress_resets_the_clock():
    def source():
        for _ in range(10):
            time.sleep(0.1)
            yield b"x"

    pump = BytePump(source, timeout=0.35, on_stall=lambda: TimeoutError())
    got = []
    for piece in pump:
        got.append(piece)
        pump.progress()
    assert len(got) == 10  # 1 s in all, never 0.35 s without progress


def test_pump_does_not_count_the_consumers_time_and_bounds_memory():
    produced = []

    def source():
        for i in range(200):
            produced.append(i)
            yield b"y" * 1000

    pump = BytePump(source, timeout=0.3, on_stall=lambda: TimeoutError())
    it = iter(pump)
    next(it)
    time.sleep(0.6)  # a slow pipe reader: neither a stall nor unbounded read-ahead
    assert len(produced) < 50
    assert sum(1 for _ in it) == 199


def test_watched_bounds_a_whole_response():
    def slow():
        time.sleep(2)
        yield "late"

    closed = []
    with pytest.raises(TimeoutError):
        list(watched(slow, timeout=0.3, on_stall=lambda: TimeoutError(), close=lambda: closed.append(1)))
    assert closed == [1]


def test_should_retry_follows_the_server_then_the_status():
    from llmcli.transport.retry import should_retry

    assert should_retry(500, {}) and should_retry(429, {}) and not should_retry(400, {})
    assert not should_retry(503, {"X-Should-Retry": "false"})
    assert should_retry(400, {"x-should-retry": "true"})
    assert should_retry(502, {"x-should-retry": "maybe"})  # anything else: the status decides

"""The asyncio load engine (llmcli/load/) against the reference server, in-process: load shapes, records,
retries, AIMD, rate caps, lazy sources, cancellation, the key's origin, and its pure parts."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from refserver import RefServer, Scenario

from llmcli.core.types import ReasoningDelta, TextDelta
from llmcli.errors import ExitCode
from llmcli.load.engine import Engine
from llmcli.load.limits import ConcurrencyLimiter, TokenBucket, arrival_gaps
from llmcli.load.sse import SSEDecoder
from llmcli.load.types import ERROR_KINDS, EngineOptions, LoadRequest, LoadShape, StopWhen
from llmcli.load.wire import plain_text
from llmcli.transport.base import TransportConfig
from llmcli.transport.wire import StreamTracker, chunk_events

BODY = {
    "model": "m",
    "messages": [{"role": "user", "content": "one two three four"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


def run(server, requests, *, shape=None, stop=None, options=None, key=None, timeout=10.0, during=None):
    """Run the engine once; return (records, summary, elapsed)."""

    async def main():
        records = []
        config = TransportConfig(server.base_url, key, timeout=timeout)
        async with Engine(config, options or EngineOptions()) as engine:
            task = asyncio.create_task(
                engine.run(
                    requests, shape=shape or LoadShape(concurrency=1), stop=stop, on_record=records.append
                )
            )
            if during is not None:
                await during(engine)
            summary = await task
        return records, summary

    t = time.perf_counter()
    records, summary = asyncio.run(main())
    return records, summary, time.perf_counter() - t


def reqs(n, **kw):
    return [LoadRequest(body=dict(BODY, **kw)) for _ in range(n)]


# -- records ------------------------------------------------------------------------------------------


def test_records_carry_timings_tokens_and_status(server):
    server.default = Scenario(
        text="a b c d e ", delay_first=0.1, delay_between=0.02, headers={"x-request-id": "req-7"}
    )
    records, summary, _ = run(server, reqs(2))
    assert len(records) == 2 and all(r.ok for r in records)
    r = records[0]
    assert r.status == 200 and r.request_id == "req-7" and r.finish_reason == "stop"
    assert r.output_tokens == 5 and r.prompt_tokens == 4 and not r.usage_estimated
    assert r.chunks == 5 and len(r.chunk_times) == 5
    assert 0.09 < r.ttft < 0.3
    gaps = [b - a for a, b in zip(r.chunk_times, r.chunk_times[1:], strict=False)]
    assert all(0.015 < g < 0.1 for g in gaps), gaps
    assert r.e2el >= r.ttft + 0.07
    assert r.sent is not None and r.wait < 0.05  # closed loop, one slot: no waiting
    assert summary.stats.completed == 2 and summary.stats.failed == 0
    assert r.text is None  # no answer text kept unless asked


def test_usage_less_server_counts_chunks_and_says_estimated(server):
    server.default = Scenario(text="a b c ", usage=False)
    records, _, _ = run(server, reqs(1))
    r = records[0]
    assert r.ok and r.usage_estimated and r.output_tokens == 3
    assert r.prompt_tokens == round(18 / 4)  # "one two three four": ~4 characters a token


def test_keep_text_and_reasoning_counts_as_first_token(server):
    server.default = Scenario(text="answer here", reasoning="thinking first", delay_between=0.01)
    records, _, _ = run(server, reqs(1), options=EngineOptions(keep_text=True))
    r = records[0]
    assert r.text == "answer here"
    assert r.chunks == 4  # two reasoning chunks, then two of answer: all carry text
    assert r.first_token <= r.chunk_times[0] + 1e-9


# -- load shapes ----------------------------------------------------------------------------------------


def test_closed_loop_keeps_exactly_n_in_flight(server):
    server.default = Scenario(text="x ", delay_first=0.1)
    records, summary, elapsed = run(server, reqs(12), shape=LoadShape(concurrency=4))
    assert len(records) == 12 and all(r.ok for r in records)
    assert summary.stats.peak_in_flight == 4
    assert 0.28 < elapsed < 2.0  # three rounds of ~0.1 s


def test_open_loop_due_times_follow_the_rate_and_slot_waits_count(server):
    server.default = Scenario(text="x ", delay_first=0.15)
    shape = LoadShape(concurrency=1, rate=50.0, seed=3)
    records, _, _ = run(server, reqs(5), shape=shape)
    records.sort(key=lambda r: r.index)
    dues = [r.due for r in records]
    assert dues[0] == 0.0 and dues == sorted(dues) and dues[-1] < 0.5
    # one slot and 150 ms answers: later requests waited for the slot, and that wait is in their latency
    last = records[-1]
    assert last.wait > 0.3
    assert last.ttft >= last.wait + 0.14


def test_stop_after_requests_warmup_and_duration(server):
    server.default = Scenario(text="x ", delay_first=0.02)
    records, summary, _ = run(
        server, reqs(50), shape=LoadShape(concurrency=2), stop=StopWhen(requests=6, warmup=2)
    )
    assert len(records) == 8 and sum(r.warmup for r in records) == 2
    assert {r.index for r in records if r.warmup} == {0, 1}
    records, summary, elapsed = run(
        server,
        (LoadRequest(body=BODY) for _ in range(10**6)),
        shape=LoadShape(concurrency=2),
        stop=StopWhen(duration=0.3),
    )
    assert 0.25 < elapsed < 1.5 and 6 <= len(records) <= 40
    assert all(r.due < summary.stats.first_measured_due + 0.3 for r in records)


def test_source_is_consumed_lazily_sync_and_async(server):
    server.default = Scenario(text="x ")
    pulled = []

    def source():
        for i in range(10**6):
            pulled.append(i)
            yield LoadRequest(body=BODY, tag=i)

    records, _, _ = run(server, source(), shape=LoadShape(concurrency=3), stop=StopWhen(requests=7))
    assert len(pulled) == 7 and sorted(r.tag for r in records) == list(range(7))

    async def asource():
        for i in range(5):
            await asyncio.sleep(0)
            yield LoadRequest(body=BODY, tag=i)

    records, summary, _ = run(server, asource(), shape=LoadShape(concurrency=3))
    assert sorted(r.tag for r in records) == list(range(5)) and summary.source_exhausted


# -- errors, retries, rate limits ------------------------------------------------------------------------


def test_errors_are_classified_as_the_contract_exit_codes(server):
    server.push(
        Scenario(status=401),
        Scenario(status=404),
        Scenario(status=429, headers={"retry-after": "0"}),
        Scenario(status=503),
        Scenario(text="a b c d", cut_after=2),
        Scenario(delay_headers=4.0),
    )
    records, summary, _ = run(server, reqs(6), timeout=1.5)  # room for a loaded machine, not for 4 s
    kinds = [r.kind for r in sorted(records, key=lambda r: r.index)]
    assert kinds == ["auth", "rejected", "rate_limited", "server_error", "incomplete", "timeout"]
    assert summary.stats.failed == 6
    r401 = min(records, key=lambda r: r.index)
    assert r401.error.exit_code == ExitCode.AUTH and "HTTP 401" in r401.error.message
    assert [int(ERROR_KINDS[k]) for k in kinds] == [3, 4, 5, 6, 7, 6]


def test_connection_refused_is_a_connection_error():
    async def main():
        records = []
        async with Engine(TransportConfig("http://127.0.0.1:9/v1", None, timeout=5)) as engine:
            await engine.run(reqs(1), shape=LoadShape(concurrency=1), on_record=records.append)
        return records

    (rec,) = asyncio.run(main())
    assert rec.kind == "connection" and "Connection refused" in rec.error.message


def test_retries_before_the_first_byte_honouring_retry_after(server):
    server.push(Scenario(status=500), Scenario(status=429, headers={"retry-after-ms": "300"}))
    records, _, elapsed = run(server, reqs(1), options=EngineOptions(retries=2))
    (r,) = records
    assert r.ok and r.attempts == 3
    assert elapsed > 0.3  # the server's 300 ms were waited out
    server.push(Scenario(status=500))
    records, _, _ = run(server, reqs(1))  # retries default to 0: the error shows
    assert records[0].kind == "server_error" and records[0].attempts == 1


def test_a_stream_that_began_is_never_retried(server):
    server.push(Scenario(text="a b c d", cut_after=2))
    records, _, _ = run(server, reqs(1), options=EngineOptions(retries=3))
    assert records[0].kind == "incomplete" and records[0].attempts == 1
    assert len(server.chat_requests()) == 1


def test_adaptive_concurrency_halves_on_429_and_honours_retry_after(server):
    server.default = Scenario(text="x ", delay_first=0.05)
    server.push(*[Scenario(status=429, headers={"retry-after-ms": "200"}) for _ in range(4)])
    shape = LoadShape(concurrency=8, adaptive=True)
    seen = []

    async def watch(engine):
        while engine.limiter is None or engine.stats.completed < 30:
            if engine.limiter is not None:
                seen.append(engine.stats.concurrency)
            await asyncio.sleep(0.005)

    records, summary, elapsed = run(
        server, reqs(40), shape=shape, options=EngineOptions(retries=3), during=watch
    )
    assert all(r.ok for r in records)
    assert min(seen) == 4  # one halving for the round that got the 429s, not four
    assert elapsed > 0.2
    # fixed concurrency stays fixed
    server.push(*[Scenario(status=429, headers={"retry-after-ms": "10"}) for _ in range(4)])
    records, summary, _ = run(
        server, reqs(10), shape=LoadShape(concurrency=8), options=EngineOptions(retries=3)
    )
    assert summary.stats.concurrency == 8 and all(r.ok for r in records)


def test_adaptive_429_storm_is_ridden_out_on_its_own_retry_budget(server):
    """More 429s than --max-retries allows any one request: their own budget carries them through."""
    server.default = Scenario(text="x ", delay_first=0.03)
    server.push(*[Scenario(status=429, headers={"retry-after-ms": "30"}) for _ in range(24)])
    options = EngineOptions(retries=1, rate_limit_retries=12)
    records, summary, _ = run(
        server, reqs(40), shape=LoadShape(concurrency=8, adaptive=True), options=options
    )
    assert all(r.ok for r in records), [r.error for r in records if not r.ok][:2]
    assert max(r.attempts for r in records) > 2  # more tries than retries=1 would give
    assert server.pending() == 0
    # without adaptive mode a 429 is an ordinary retry: retries=1 lets it fail
    server.push(*[Scenario(status=429, headers={"retry-after-ms": "10"}) for _ in range(2)])
    records, _, _ = run(server, reqs(1), options=options)
    assert records[0].kind == "rate_limited" and records[0].attempts == 2


class _StormWire:
    """A stand-in for the wire: every attempt takes 10 ms; the first `storm` are 429s. Notes how many
    attempts are on the wire at once while the 429s after the first round (calls 9-storm) go out."""

    stale = 0

    def __init__(self, storm: int):
        self.storm, self.calls, self.active, self.peak_later = storm, 0, 0, 0

    async def attempt(self, req, rec, data, t0, task):
        from llmcli.errors import RateLimited
        from llmcli.transport.retry import Retryable

        self.calls += 1
        n = self.calls
        self.active += 1
        if 8 < n <= self.storm:
            self.peak_later = max(self.peak_later, self.active)
        try:
            await asyncio.sleep(0.01)
            if n <= self.storm:
                raise Retryable(RateLimited("429", host="h", status=429), 0.005)
            rec.status, rec.end = 200, time.perf_counter() - t0
        finally:
            self.active -= 1

    async def close(self):
        pass


def test_adaptive_retries_of_a_429_round_queue_under_the_lowered_limit():
    """8 in flight all get a 429: the limit halves to 4, and their retries go 4 at a time, not 8."""

    async def main():
        wire = _StormWire(storm=16)
        async with Engine(
            TransportConfig("http://127.0.0.1:9/v1", None), EngineOptions(rate_limit_retries=10)
        ) as e:
            await e._wire.close()
            e._wire = wire
            records = []
            await e.run(reqs(20), shape=LoadShape(concurrency=8, adaptive=True), on_record=records.append)
        return wire, records

    wire, records = asyncio.run(main())
    assert all(r.ok for r in records) and len(records) == 20
    assert wire.peak_later <= 4, wire.peak_later


def test_rps_cap_spaces_requests(server):
    server.default = Scenario(text="x ")
    records, _, elapsed = run(server, reqs(20), shape=LoadShape(concurrency=8, rps=40.0))
    # a bucket of 4 (100 ms of burst) then 40/s: 16 more take ~0.4 s
    assert elapsed > 0.35, elapsed
    arrivals = sorted(r.received for r in server.chat_requests())
    assert (arrivals[-1] - arrivals[4]) > 0.3


def test_tpm_cap_estimates_then_corrects_from_usage():
    bucket = TokenBucket(rate=100.0, capacity=100.0)
    assert bucket.delay(80) == 0
    bucket.level -= 80
    assert bucket.delay(80) > 0.5  # 20 left: 60 more needed at 100/s
    bucket.give(80 - 10)  # it really cost 10: the 70 overcharged come back
    assert bucket.delay(80) == 0
    assert TokenBucket(rate=10.0, capacity=5.0).delay(50) == 0  # bigger than the bucket: goes when full


def test_tpm_cap_limits_tokens_per_minute(server):
    server.default = Scenario(text="x ")
    body = dict(BODY, max_tokens=200)  # ~205 tokens estimated, ~6 really used (usage)
    shape = LoadShape(concurrency=4, tpm=60 * 1000.0)  # 1000 tokens/s, a minute's worth of bucket
    records, _, elapsed = run(server, [LoadRequest(body=body) for _ in range(30)], shape=shape)
    assert all(r.ok for r in records) and elapsed < 5  # refunds from usage keep it flowing
    server.reset()
    server.default = Scenario(text="x ", delay_first=0.5)
    tiny = LoadShape(concurrency=4, tpm=600.0)  # 10 tokens/s: a 500-token request leaves 100
    records, _, elapsed = run(server, [LoadRequest(body=body, tokens=500) for _ in range(2)], shape=tiny)
    assert all(r.ok for r in records)
    first, second = sorted(r.received for r in server.chat_requests())
    assert second - first > 0.45  # the second waited for the first's refund, not 40 s for the bucket


# -- cancellation ------------------------------------------------------------------------------------------


def test_stop_cancels_in_flight_and_delivers_their_records(server):
    server.default = Scenario(text="w " * 100, delay_between=0.05)

    async def stop_soon(engine):
        await asyncio.sleep(0.3)
        engine.stop(cancel=True)

    records, summary, elapsed = run(server, reqs(100), shape=LoadShape(concurrency=4), during=stop_soon)
    assert elapsed < 2
    assert len(records) == 4 and all(r.cancelled for r in records)
    assert summary.stopped and summary.stats.cancelled == 4
    assert records[0].chunks > 0  # what arrived before the cancel is on the record


def test_stop_with_grace_lets_in_flight_finish(server):
    server.default = Scenario(text="w " * 5, delay_between=0.05)

    async def stop_soon(engine):
        await asyncio.sleep(0.1)
        engine.stop(cancel=False, grace=5.0)

    records, summary, _ = run(server, reqs(100), shape=LoadShape(concurrency=3), during=stop_soon)
    assert len(records) == 3 and all(r.ok for r in records)

    async def stop_short(engine):
        await asyncio.sleep(0.1)
        engine.stop(cancel=False, grace=0.05)

    server.default = Scenario(text="w " * 50, delay_between=0.05)
    records, summary, elapsed = run(server, reqs(100), shape=LoadShape(concurrency=3), during=stop_short)
    assert all(r.cancelled for r in records) and elapsed < 2


def test_a_failing_callback_stops_the_run_and_raises(server):
    async def main():
        def boom(rec):
            raise OSError("disk full")

        async with Engine(TransportConfig(server.base_url, None, timeout=5)) as engine:
            # one at a time: nothing still on its way to the server when the next test begins
            await engine.run(reqs(50), shape=LoadShape(concurrency=1), on_record=boom)

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(main())


# -- what batch needs: non-streaming bodies -----------------------------------------------------------------


def test_non_streaming_requests_hand_over_the_body(server):
    server.default = Scenario(text="whole answer", headers={"x-request-id": "abc"})
    server.push(
        Scenario(status=400, error_body={"error": {"message": "bad field", "type": "invalid_request_error"}})
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    records, _, _ = run(
        server,
        [LoadRequest(body=body, tag="c1"), LoadRequest(body=body, tag="c2")],
        options=EngineOptions(keep_body=True, chunk_times=0),
    )
    by_tag = {r.tag: r for r in records}
    bad, good = by_tag["c1"], by_tag["c2"]
    assert bad.status == 400 and bad.kind == "rejected" and bad.body["error"]["message"] == "bad field"
    assert good.ok and good.status == 200 and good.request_id == "abc"
    assert good.body["choices"][0]["message"]["content"] == "whole answer"
    assert good.output_tokens == 2 and good.chunk_times is None
    assert "stream" not in json.loads(server.chat_requests()[-1].raw_body)


# -- the key and its origin ------------------------------------------------------------------------------------


def test_key_goes_only_to_the_base_urls_origin(server):
    other = RefServer().start()
    try:
        server.push(Scenario(redirect_to=other.base_url + "/chat/completions"))
        records, _, _ = run(server, reqs(1), key="sk-sentinel-load-000")
        assert records[0].ok
        assert server.requests[0].headers["authorization"] == "Bearer sk-sentinel-load-000"
        assert "authorization" not in other.requests[0].headers
    finally:
        other.stop()


def test_keepalive_only_server_times_out(server):
    server.default = Scenario(keepalive_only=True, keepalive_every=0.1, keepalive_max=5)
    records, _, elapsed = run(server, reqs(1), timeout=0.5)
    assert records[0].kind == "timeout" and elapsed < 2.5


# -- pure parts ---------------------------------------------------------------------------------------------


def test_sse_decoder_framing():
    d = SSEDecoder()
    events = d.feed(b"data: a\n\ndata:b\r\n\r\n: ping\n\nevent: error\ndata: {}\ndata: x\n\n")
    assert events == [(b"a", b""), (b"b", b""), (b"{}\nx", b"error")]
    assert d.comments == 1
    d = SSEDecoder()
    got = []
    for piece in (b"data: one\r", b"\n\r", b"\ndata: two\r\r", b"data: three", b"\n", b"\n"):
        got += [data for data, _ in d.feed(piece)]
    assert got == [b"one", b"two", b"three"]


@given(st.binary(min_size=1, max_size=40), st.lists(st.integers(1, 30), max_size=6))
def test_sse_decoder_any_split_gives_the_same_events(payload, cuts):
    text = b"data: " + payload.replace(b"\n", b"").replace(b"\r", b"") + b"\n\ndata: [DONE]\n\n"
    whole = SSEDecoder().feed(text)
    d = SSEDecoder()
    got, pos = [], 0
    for c in cuts:
        got += d.feed(text[pos : pos + c])
        pos += c
    got += d.feed(text[pos:])
    assert got == whole


_delta = st.fixed_dictionaries(
    {},
    optional={
        "content": st.one_of(st.none(), st.text(max_size=3)),
        "role": st.just("assistant"),
        "reasoning_content": st.one_of(st.none(), st.text(max_size=3)),
        "reasoning": st.text(max_size=3),
        "tool_calls": st.just([]),
    },
)
_choice = st.fixed_dictionaries(
    {"delta": st.one_of(_delta, st.none())},
    optional={"index": st.integers(0, 1), "finish_reason": st.one_of(st.none(), st.just("stop"))},
)
_chunk = st.fixed_dictionaries(
    {"choices": st.lists(_choice, max_size=2)},
    optional={"usage": st.one_of(st.none(), st.just({"completion_tokens": 3})), "model": st.just("m")},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chunk)
def test_fast_path_reads_chunks_as_chunk_events_does(chunk):
    text = plain_text(chunk)
    if text is None:
        return  # chunk_events itself reads it
    events = [e for e in chunk_events(chunk, StreamTracker("h")) if type(e).__name__ != "ModelSeen"]
    assert all(type(e) is TextDelta for e in events)
    assert "".join(e.text for e in events) == text
    assert not any(type(e) is ReasoningDelta for e in events)


def test_arrival_gaps_mean_rate_and_shape():
    n = 50000
    poisson = list(_take(arrival_gaps(20.0, 1.0, seed=1), n))
    assert statistics.fmean(poisson) == pytest.approx(1 / 20, rel=0.02)
    assert statistics.pstdev(poisson) / statistics.fmean(poisson) == pytest.approx(1.0, rel=0.03)
    regular = list(_take(arrival_gaps(20.0, 4.0, seed=1), n))
    assert statistics.fmean(regular) == pytest.approx(1 / 20, rel=0.02)
    assert statistics.pstdev(regular) / statistics.fmean(regular) == pytest.approx(0.5, rel=0.03)
    assert list(_take(arrival_gaps(math.inf), 3)) == [0.0, 0.0, 0.0]


def _take(it, n):
    for _ in range(n):
        yield next(it)


def test_concurrency_limiter_is_fifo_and_aimd():
    async def main():
        lim = ConcurrencyLimiter(4, adaptive=True)
        for _ in range(4):
            await lim.acquire()
        order = []

        async def waiter(i):
            await lim.acquire()
            order.append(i)

        tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
        await asyncio.sleep(0)
        lim.on_rate_limited(sent_at=time.perf_counter(), retry_after=None)
        assert lim.current == 2
        lim.on_rate_limited(sent_at=0.0, retry_after=None)  # sent before the decrease: same round
        assert lim.current == 2
        for _ in range(4):
            lim.release()
        await asyncio.sleep(0)
        assert order == [0, 1] and lim.in_flight == 2  # two slots under the new limit, in order
        for _ in range(8):
            lim.on_success()
        assert lim.current >= 4
        await asyncio.sleep(0)
        assert order == [0, 1, 2]
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_connections_the_server_closes_after_each_answer_are_not_errors():
    from refserver_bench import ClosingServer

    srv = ClosingServer().start()
    try:
        records, _, _ = run(srv, reqs(60), shape=LoadShape(concurrency=4))
    finally:
        srv.stop()
    assert len(records) == 60 and all(r.ok for r in records), [r.error for r in records if not r.ok][:2]
    assert len(srv.requests) == 60  # each went out once: a resend happens only when none got through
    # after a few stale connections the engine stopped reusing them
    assert srv.requests[-1].get("connection") == "close"


def test_proxy_from_the_environment_as_the_sync_transport_picks_it(server, monkeypatch):
    from llmcli.load.wire import env_proxy

    monkeypatch.setenv("HTTP_PROXY", server.root_url)
    monkeypatch.setenv("NO_PROXY", "localhost,.internal")
    assert env_proxy("http://api.example/v1") == server.root_url
    assert env_proxy("http://localhost:8000/v1") is None
    assert env_proxy("http://gpu.internal/v1") is None

    async def main():
        records = []
        config = TransportConfig("http://llmcli-proxy-test.invalid/v1", None, timeout=5)
        async with Engine(config) as engine:
            await engine.run(reqs(1), shape=LoadShape(concurrency=1), on_record=records.append)
        return records

    (rec,) = asyncio.run(main())
    # The name does not resolve: any HTTP answer came from the proxy (the reference server, which does
    # not route an absolute-form target and says 404), not a connection error.
    assert rec.status == 404 and rec.kind == "rejected", rec.error


def test_the_engine_keeps_nothing_of_a_request_once_its_record_is_handed_over(server):
    import gc
    import tracemalloc

    server.default = Scenario(text="a b c d e f g h")

    def after(n):
        async def main():
            config = TransportConfig(server.base_url, None, timeout=10)
            async with Engine(config, EngineOptions(keep_text=True)) as engine:
                await engine.run(reqs(n), shape=LoadShape(concurrency=8), on_record=lambda rec: None)
                gc.collect()
                snap = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(True, "*/llmcli/load/*")]
                )
                return sum(s.size for s in snap.statistics("filename"))

        tracemalloc.start()
        try:
            return asyncio.run(main())
        finally:
            tracemalloc.stop()

    small, large = after(50), after(500)
    # ten times the requests, not ten times the memory (keeping the records would hold ~250 kB more)
    assert large < small + 20_000, (small, large)

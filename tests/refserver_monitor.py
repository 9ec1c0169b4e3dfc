"""The reference server's monitoring side: /health, /metrics, /props, /version, /api/version, `/`.

`install(app, srv)` (called by refserver.py) registers these before the catch-all API route and puts
the switches at `srv.monitor`:

    srv.monitor.health = "ok" | "loading" | "absent" | "error"
    srv.monitor.metrics = "vllm" | "llamacpp" | "sglang" | "tgi" | "custom" | "disabled" | "html" | None
    srv.monitor.server_header = "llama.cpp"        # the Server header of every response (None: uvicorn's)
    srv.monitor.props = True                       # llama.cpp's /props (n_ctx = srv.monitor.n_ctx)
    srv.monitor.version = "0.6.3"                  # vLLM's /version
    srv.monitor.ollama_version = "0.5.1"           # Ollama's /api/version, and "Ollama is running" at /
    srv.monitor.metrics_need_key = True            # /metrics answers 401 without srv.require_key
    srv.monitor.restart()                          # the next scrape comes from a restarted server

The metric names and shapes follow each server's own documentation and source (vLLM
`vllm/v1/metrics/loggers.py`, llama.cpp `tools/server/server.cpp`, SGLang
`sglang/srt/metrics/collector.py`, TGI's metrics reference). Every scrape advances the counters by
a known step and adds a known set of observations to each latency histogram, so a test can predict
exactly what two scrapes give (see STEP and OBSERVED).

This module must not import anything from ``llmcli``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

# What each scrape adds.
STEP = {"prompt": 120, "generation": 48, "preemptions": 1, "requests": 4}
# Observations each scrape adds to a latency histogram: (upper bound of the bucket, how many).
# Over one interval: 10 requests, sum 2.0 s → mean 0.2 s; p50 = 0.1 + 0.15 * (5 - 4) / 4 = 0.1375 s;
# p99 = 0.5 + 0.5 * (9.9 - 9) / 1 = 0.95 s (Prometheus' histogram_quantile).
BOUNDS = (0.1, 0.25, 0.5, 1.0, 2.5, float("inf"))
OBSERVED = {0.1: 4, 0.25: 4, 0.5: 1, 1.0: 1}
OBSERVED_SUM = 2.0
EXPECTED = {"mean": 0.2, "p50": 0.1375, "p99": 0.95, "count": 10}
GAUGES = {"running": 3, "waiting": 2, "kv": 0.42}
MODEL = "ref-model"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]


@dataclass
class MonitorState:
    health: str = "ok"
    metrics: str | None = "vllm"
    server_header: str | None = None
    props: bool = False
    n_ctx: int = 4096
    version: str | None = None
    ollama_version: str | None = None
    metrics_need_key: bool = False
    scrapes: int = 0
    base: int = 1000  # counters start here (a server that has been up a while)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.health, self.metrics, self.server_header = "ok", "vllm", None
            self.props, self.n_ctx, self.version, self.ollama_version = False, 4096, None, None
            self.metrics_need_key, self.scrapes, self.base = False, 0, 1000
            self.requests.clear()

    def restart(self) -> None:
        """The server restarted: the next scrape's counters start again from zero."""
        with self.lock:
            self.scrapes, self.base = 0, 0

    def scrape(self) -> int:
        with self.lock:
            self.scrapes += 1
            return self.scrapes


# --- the four formats ----------------------------------------------------------------------------


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _fmt(v: float) -> str:
    return "+Inf" if v == float("inf") else repr(float(v))


def _histogram(name: str, help_: str, n: int, labels: dict[str, str], scale: float = 1.0) -> list[str]:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
    total = 0
    for le in BOUNDS:
        total += OBSERVED.get(le, 0)
        bucket_labels = {**labels, "le": _fmt(le * scale if le != float("inf") else le)}
        lines.append(f"{name}_bucket{_labels(bucket_labels)} {float(total * n)}")
    lines.append(f"{name}_sum{_labels(labels)} {OBSERVED_SUM * scale * n}")
    lines.append(f"{name}_count{_labels(labels)} {float(EXPECTED['count'] * n)}")
    return lines


def _metric(
    kind: str, name: str, help_: str, value: float, labels: dict[str, str] | None = None
) -> list[str]:
    # As llama.cpp and prometheus_client write them: HELP and TYPE name the sample, _total included.
    return [
        f"# HELP {name} {help_}",
        f"# TYPE {name} {kind}",
        f"{name}{_labels(labels or {})} {float(value)}",
    ]


def vllm_text(state: MonitorState, n: int) -> str:
    lab = {"engine": "0", "model_name": MODEL}
    c = state.base
    lines: list[str] = []
    lines += _metric(
        "gauge",
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        GAUGES["running"],
        lab,
    )
    lines += _metric(
        "gauge",
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        GAUGES["waiting"],
        lab,
    )
    lines += _metric(
        "gauge", "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", GAUGES["kv"], lab
    )
    lines += _metric(
        "counter",
        "vllm:num_preemptions_total",
        "Cumulative number of preemption from the engine.",
        c + STEP["preemptions"] * n,
        lab,
    )
    lines += _metric(
        "counter",
        "vllm:prompt_tokens_total",
        "Number of prefill tokens processed.",
        c + STEP["prompt"] * n,
        lab,
    )
    lines += _metric(
        "counter",
        "vllm:generation_tokens_total",
        "Number of generation tokens processed.",
        c + STEP["generation"] * n,
        lab,
    )
    lines += _metric(
        "counter",
        "vllm:request_success_total",
        "Count of successfully processed requests.",
        c + STEP["requests"] * n,
        {**lab, "finished_reason": "stop"},
    )
    lines += _histogram(
        "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", n + c // 100, lab
    )
    lines += _histogram(
        "vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        n + c // 100,
        lab,
        0.1,
    )
    lines += _histogram(
        "vllm:e2e_request_latency_seconds",
        "Histogram of e2e request latency in seconds.",
        n + c // 100,
        lab,
        10,
    )
    return "\n".join(lines) + "\n"


def llamacpp_text(state: MonitorState, n: int) -> str:
    c = state.base
    lines: list[str] = []
    lines += _metric(
        "counter",
        "llamacpp:prompt_tokens_total",
        "Number of prompt tokens processed.",
        c + STEP["prompt"] * n,
    )
    lines += _metric("counter", "llamacpp:prompt_seconds_total", "Prompt process time", (c + n) / 100)
    lines += _metric(
        "counter",
        "llamacpp:tokens_predicted_total",
        "Number of generation tokens processed.",
        c + STEP["generation"] * n,
    )
    lines += _metric(
        "counter", "llamacpp:tokens_predicted_seconds_total", "Predict process time", (c + n) / 50
    )
    lines += _metric("counter", "llamacpp:n_decode_total", "Total number of llama_decode() calls", c + n * 10)
    lines += _metric(
        "gauge",
        "llamacpp:n_busy_slots_per_decode",
        "Average number of busy slots per llama_decode() call",
        1.5,
    )
    lines += _metric(
        "gauge", "llamacpp:prompt_tokens_seconds", "Average prompt throughput in tokens/s.", 800.0
    )
    lines += _metric(
        "gauge", "llamacpp:predicted_tokens_seconds", "Average generation throughput in tokens/s.", 90.0
    )
    lines += _metric(
        "gauge", "llamacpp:kv_cache_usage_ratio", "KV-cache usage. 1 means 100 percent usage.", GAUGES["kv"]
    )
    lines += _metric("gauge", "llamacpp:kv_cache_tokens", "KV-cache tokens.", 1720)
    lines += _metric(
        "gauge", "llamacpp:requests_processing", "Number of requests processing.", GAUGES["running"]
    )
    lines += _metric("gauge", "llamacpp:requests_deferred", "Number of requests deferred.", GAUGES["waiting"])
    return "\n".join(lines) + "\n"


def sglang_text(state: MonitorState, n: int) -> str:
    lab = {"model_name": MODEL}
    c = state.base
    lines: list[str] = []
    lines += _metric(
        "counter",
        "sglang:prompt_tokens_total",
        "Number of prefill tokens processed.",
        c + STEP["prompt"] * n,
        lab,
    )
    lines += _metric(
        "counter",
        "sglang:generation_tokens_total",
        "Number of generation tokens processed.",
        c + STEP["generation"] * n,
        lab,
    )
    lines += _metric(
        "gauge", "sglang:num_running_reqs", "The number of running requests.", GAUGES["running"], lab
    )
    lines += _metric(
        "gauge",
        "sglang:num_queue_reqs",
        "The number of requests in the waiting queue.",
        GAUGES["waiting"],
        lab,
    )
    lines += _metric("gauge", "sglang:token_usage", "The token usage.", GAUGES["kv"], lab)
    lines += _metric("gauge", "sglang:gen_throughput", "The generation throughput (token/s).", 95.5, lab)
    lines += _metric("gauge", "sglang:cache_hit_rate", "The prefix cache hit rate.", 0.0075, lab)
    lines += _metric("gauge", "sglang:num_retracted_reqs", "The number of retracted requests.", 0, lab)
    lines += _metric(
        "counter",
        "sglang:num_retracted_requests_total",
        "Total number of retracted requests.",
        c + STEP["preemptions"] * n,
        lab,
    )
    lines += _histogram(
        "sglang:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        n + c // 100,
        lab,
    )
    lines += _histogram(
        "sglang:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        n + c // 100,
        lab,
        0.1,
    )
    lines += _histogram(
        "sglang:e2e_request_latency_seconds",
        "Histogram of End-to-end request latency in seconds",
        n + c // 100,
        lab,
        10,
    )
    return "\n".join(lines) + "\n"


def tgi_text(state: MonitorState, n: int) -> str:
    # TGI's exporter writes TYPE lines without HELP; its token counts are per-request histograms,
    # whose _sum only grows: that is what a rate of tokens/s is taken from.
    c = state.base
    k = n + c // 100  # scrapes' worth of observations so far: 10 requests each
    lines = ["# TYPE tgi_queue_size gauge", f"tgi_queue_size {GAUGES['waiting']}"]
    lines += ["# TYPE tgi_batch_current_size gauge", f"tgi_batch_current_size {GAUGES['running']}"]
    lines += ["# TYPE tgi_batch_current_max_tokens gauge", "tgi_batch_current_max_tokens 4096"]
    lines += ["# TYPE tgi_request_count counter", f"tgi_request_count {10 * k}"]
    lines += ["# TYPE tgi_request_success counter", f'tgi_request_success{{stop_reason="length"}} {10 * k}']
    for name, step in (
        ("tgi_request_input_length", STEP["prompt"]),
        ("tgi_request_generated_tokens", STEP["generation"]),
    ):
        lines.append(f"# TYPE {name} histogram")
        lines += [
            f'{name}_bucket{{le="{_fmt(le)}"}} {10 * k}' for le in (16.0, 64.0, 256.0, 1024.0, float("inf"))
        ]
        lines += [f"{name}_sum {c + step * n}", f"{name}_count {10 * k}"]
    lines += _histogram("tgi_request_duration", "", k, {}, 10)[1:]
    lines += _histogram("tgi_request_mean_time_per_token_duration", "", k, {}, 0.1)[1:]
    return "\n".join(lines) + "\n"


def custom_text(state: MonitorState, n: int) -> str:
    lines = [
        "# HELP myserver_jobs_total Jobs done.",
        "# TYPE myserver_jobs_total counter",
        f"myserver_jobs_total {state.base + 5 * n}",
    ]
    lines += ["# HELP myserver_busy Busy workers.", "# TYPE myserver_busy gauge", "myserver_busy 7"]
    return "\n".join(lines) + "\n"


FORMATS = {
    "vllm": vllm_text,
    "llamacpp": llamacpp_text,
    "sglang": sglang_text,
    "tgi": tgi_text,
    "custom": custom_text,
}


def _not_found(path: str) -> JSONResponse:
    body = {
        "error": {
            "message": f"Invalid URL (GET {path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    return JSONResponse(body, status_code=404)


class _ServerHeader:
    """Sets the Server header of every response (uvicorn's own is off): `uvicorn` unless switched.
    Plain ASGI, so streamed bodies and dropped connections pass through untouched."""

    def __init__(self, app, state: MonitorState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_header(message):
            if message["type"] == "http.response.start":
                name = (self.state.server_header or "uvicorn").encode("latin-1")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                message = {**message, "headers": [*headers, (b"server", name)]}
            await send(message)

        await self.app(scope, receive, with_header)


def install(app: FastAPI, srv: Any) -> None:
    """Register the monitoring endpoints (before the catch-all route) and put the switches at srv.monitor."""
    state = MonitorState()
    srv.monitor = state

    app.add_middleware(_ServerHeader, state=state)

    def record(request: Request) -> None:
        with state.lock:
            state.requests.append(
                Recorded(request.url.path, {k.lower(): v for k, v in request.headers.items()})
            )

    @app.get("/health")
    async def health(request: Request) -> Response:
        record(request)
        if state.health == "ok":
            return JSONResponse({"status": "ok"})
        if state.health == "loading":
            body = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
            return JSONResponse(body, status_code=503)
        if state.health == "error":
            return JSONResponse(
                {"error": {"message": "engine dead", "type": "server_error"}}, status_code=500
            )
        return _not_found("/health")

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        record(request)
        if state.metrics_need_key and request.headers.get("authorization") != f"Bearer {srv.require_key}":
            return JSONResponse(
                {"error": {"message": "Invalid API Key", "type": "authentication_error"}}, status_code=401
            )
        if state.metrics is None:
            return _not_found("/metrics")
        if state.metrics == "disabled":  # llama.cpp started without --metrics
            body = {
                "error": {
                    "code": 501,
                    "message": "This server does not support metrics endpoint. Start it with `--metrics`",
                    "type": "not_supported_error",
                }
            }
            return JSONResponse(body, status_code=501)
        if state.metrics == "html":
            return Response("<html><body>Login</body></html>", media_type="text/html")
        text = FORMATS[state.metrics](state, state.scrape())
        return PlainTextResponse(text, headers={"content-type": "text/plain; version=0.0.4; charset=utf-8"})

    @app.get("/props")
    async def props(request: Request) -> Response:
        record(request)
        if not state.props:
            return _not_found("/props")
        return JSONResponse(
            {
                "default_generation_settings": {"n_ctx": state.n_ctx, "params": {"seed": 4294967295}},
                "total_slots": 4,
                "model_alias": MODEL,
                "build_info": "b9999-refserver",
            }
        )

    @app.get("/version")
    async def version(request: Request) -> Response:
        record(request)
        return JSONResponse({"version": state.version}) if state.version else _not_found("/version")

    @app.get("/api/version")
    async def ollama_version(request: Request) -> Response:
        record(request)
        return (
            JSONResponse({"version": state.ollama_version})
            if state.ollama_version
            else _not_found("/api/version")
        )

    @app.get("/")
    async def root(request: Request) -> Response:
        record(request)
        return PlainTextResponse("Ollama is running") if state.ollama_version else _not_found("/")

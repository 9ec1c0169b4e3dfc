"""Which metric means what, per server: the one table to change when a server renames a metric.

Each quantity lists candidate sample names, newest name first; the first one the server exposes is
used. Sources: vLLM's `vllm/v1/metrics/loggers.py` (and the older `vllm/engine/metrics.py` names),
llama.cpp's `tools/server/server.cpp` (`--metrics`), SGLang's `sglang/srt/metrics/collector.py`, and
TGI's metrics reference (docs/source/reference/metrics.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# kind: "gauge" (shown as it is), "counter" (shown as a rate over the interval; TGI's token counts
# are the _sum of a per-request histogram, which only grows, so they count as counters), or
# "histogram" (mean and quantiles of what was observed during the interval).


@dataclass(frozen=True, slots=True)
class Source:
    kind: str
    names: tuple[str, ...]
    how: str = "sum"  # how samples over several label sets combine: sum, mean, max
    fallback: Source | None = None  # another kind of metric for the same thing (older releases)


@dataclass(frozen=True, slots=True)
class ServerMetrics:
    server: str
    prefix: str
    quantities: dict[str, Source] = field(default_factory=dict)


# The quantities `top` shows, in order, with their labels.
QUANTITIES: dict[str, str] = {
    "requests_running": "requests running",
    "requests_waiting": "requests waiting",
    "kv_cache_usage": "KV cache used",
    "prompt_tokens": "prompt tokens/s",
    "generation_tokens": "generation tokens/s",
    "preemptions": "preemptions",
    "ttft": "time to first token",
    "itl": "inter-token latency",
    "e2e_latency": "end-to-end latency",
}

SERVERS: tuple[ServerMetrics, ...] = (
    ServerMetrics(
        "vLLM",
        "vllm:",
        {
            "requests_running": Source("gauge", ("vllm:num_requests_running",)),
            "requests_waiting": Source("gauge", ("vllm:num_requests_waiting",)),
            "kv_cache_usage": Source(
                "gauge", ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"), "mean"
            ),  # a fraction 0..1 despite the name
            "prompt_tokens": Source("counter", ("vllm:prompt_tokens_total",)),
            "generation_tokens": Source("counter", ("vllm:generation_tokens_total",)),
            "preemptions": Source("counter", ("vllm:num_preemptions_total",)),
            "ttft": Source("histogram", ("vllm:time_to_first_token_seconds",)),
            "itl": Source(
                "histogram", ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds")
            ),
            "e2e_latency": Source("histogram", ("vllm:e2e_request_latency_seconds",)),
        },
    ),
    ServerMetrics(
        "llama.cpp",
        "llamacpp:",
        {
            "requests_running": Source("gauge", ("llamacpp:requests_processing",)),
            # requests waiting for a free slot
            "requests_waiting": Source("gauge", ("llamacpp:requests_deferred",)),
            "kv_cache_usage": Source("gauge", ("llamacpp:kv_cache_usage_ratio",)),  # older builds only
            "prompt_tokens": Source("counter", ("llamacpp:prompt_tokens_total",)),
            "generation_tokens": Source("counter", ("llamacpp:tokens_predicted_total",)),
        },
    ),
    ServerMetrics(
        "SGLang",
        "sglang:",
        {
            "requests_running": Source("gauge", ("sglang:num_running_reqs",)),
            "requests_waiting": Source("gauge", ("sglang:num_queue_reqs",)),
            "kv_cache_usage": Source("gauge", ("sglang:token_usage",), "mean"),
            "prompt_tokens": Source("counter", ("sglang:prompt_tokens_total",)),
            "generation_tokens": Source("counter", ("sglang:generation_tokens_total",)),
            # retracted requests are SGLang's preemptions: a counter in newer releases, a gauge before
            "preemptions": Source(
                "counter",
                ("sglang:num_retracted_requests_total",),
                fallback=Source("gauge", ("sglang:num_retracted_reqs",)),
            ),
            "ttft": Source("histogram", ("sglang:time_to_first_token_seconds",)),
            "itl": Source(
                "histogram", ("sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds")
            ),
            "e2e_latency": Source("histogram", ("sglang:e2e_request_latency_seconds",)),
        },
    ),
    ServerMetrics(
        "TGI",
        "tgi_",
        {
            "requests_running": Source("gauge", ("tgi_batch_current_size",)),
            "requests_waiting": Source("gauge", ("tgi_queue_size",)),
            "prompt_tokens": Source("counter", ("tgi_request_input_length_sum",)),
            "generation_tokens": Source("counter", ("tgi_request_generated_tokens_sum",)),
            "itl": Source("histogram", ("tgi_request_mean_time_per_token_duration",)),
            "e2e_latency": Source("histogram", ("tgi_request_duration",)),
        },
    ),
)


def recognise(names: list[str]) -> ServerMetrics | None:
    """The server whose prefix most sample names carry; None when no known prefix appears."""
    best, best_count = None, 0
    for spec in SERVERS:
        count = sum(1 for n in names if n.startswith(spec.prefix))
        if count > best_count:
            best, best_count = spec, count
    return best

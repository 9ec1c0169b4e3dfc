"""The monitor's logic without a server: exposition text → snapshot → rates and quantiles, the name
table, stop-sequence picking, URLs, and the optional value of --watch."""

from __future__ import annotations

import math

import pytest
import refserver_monitor as rm

from llmcli.cli.health import optional_value
from llmcli.monitor.checks import pick_stop
from llmcli.monitor.net import metrics_url, root_url, same_origin
from llmcli.monitor.prom import Histogram, parse
from llmcli.monitor.rates import compute, counter_delta
from llmcli.monitor.servers import SERVERS, recognise


def snaps(fmt: str, dt: float = 2.0, restart: bool = False):
    state = rm.MonitorState()
    text = rm.FORMATS[fmt]
    first = parse(text(state, state.scrape()), at=100.0)
    if restart:
        state.restart()
    second = parse(text(state, state.scrape()), at=100.0 + dt)
    return first, second


@pytest.mark.parametrize(
    ("fmt", "server"), [("vllm", "vLLM"), ("llamacpp", "llama.cpp"), ("sglang", "SGLang"), ("tgi", "TGI")]
)
def test_rates_from_two_scrapes_of_each_server(fmt, server):
    first, second = snaps(fmt, dt=2.0)
    view = compute(second, first)
    assert view.server == server and view.interval_s == 2.0
    q = view.quantities
    assert q["requests_running"].value == rm.GAUGES["running"]
    assert q["requests_waiting"].value == rm.GAUGES["waiting"]
    assert q["prompt_tokens"].delta == rm.STEP["prompt"]
    assert q["prompt_tokens"].value == pytest.approx(rm.STEP["prompt"] / 2.0)
    assert q["generation_tokens"].value == pytest.approx(rm.STEP["generation"] / 2.0)
    if fmt == "tgi":
        assert q["kv_cache_usage"].kind == "absent" and q["ttft"].kind == "absent"
    else:
        assert q["kv_cache_usage"].value == pytest.approx(rm.GAUGES["kv"])
    if fmt in ("vllm", "sglang"):
        assert q["preemptions"].delta == rm.STEP["preemptions"]
        ttft = q["ttft"]
        assert ttft.count == rm.EXPECTED["count"]
        assert ttft.mean == pytest.approx(rm.EXPECTED["mean"])
        assert ttft.p50 == pytest.approx(rm.EXPECTED["p50"])
        assert ttft.p99 == pytest.approx(rm.EXPECTED["p99"])
        # e2e is the same shape at 10x the scale: the quantiles scale with it
        assert q["e2e_latency"].p50 == pytest.approx(10 * rm.EXPECTED["p50"])
    if fmt == "llamacpp":
        assert q["ttft"].kind == "absent" and q["preemptions"].kind == "absent"
    if fmt == "tgi":
        assert q["e2e_latency"].p99 == pytest.approx(10 * rm.EXPECTED["p99"])


def test_latency_covers_the_interval_not_the_servers_lifetime():
    # The server has been up for a while (counters at 1000, 100 scrapes' worth of observations);
    # the statistics must come from what was added between the two scrapes only.
    first, second = snaps("vllm")
    lifetime = second.histogram("vllm:time_to_first_token_seconds")
    assert lifetime.count > rm.EXPECTED["count"] * 5
    view = compute(second, first)
    assert view.quantities["ttft"].count == rm.EXPECTED["count"]
    assert view.to_dict()["window"] == "interval"


def test_a_restarted_server_counts_from_zero():
    first, second = snaps("vllm", restart=True)
    view = compute(second, first)
    q = view.quantities["prompt_tokens"]
    assert q.delta == rm.STEP["prompt"]  # not negative: the new counter counted up from zero
    assert view.quantities["ttft"].count == rm.EXPECTED["count"]
    assert counter_delta(5, 100) == 5 and counter_delta(150, 100) == 50 and counter_delta(None, 3) is None


def test_first_scrape_alone_has_gauges_but_no_rates():
    first, _ = snaps("sglang")
    view = compute(first)
    assert view.interval_s is None
    assert view.quantities["requests_running"].value == rm.GAUGES["running"]
    assert view.quantities["prompt_tokens"].value is None


def test_unknown_server_is_a_generic_list_with_counter_rates():
    first, second = snaps("custom", dt=5.0)
    view = compute(second, first)
    assert view.server is None
    by_name = {m.name: m for m in view.generic}
    assert by_name["myserver_jobs_total"].per_s == pytest.approx(1.0)
    assert by_name["myserver_busy"].value == 7 and by_name["myserver_busy"].per_s is None
    assert view.to_dict()["metrics"][0]["name"]


def test_quantile_follows_histogram_quantile():
    h = Histogram({0.1: 4, 0.25: 8, 0.5: 9, 1.0: 10, math.inf: 10}, 2.0, 10)
    assert h.quantile(0.5) == pytest.approx(0.1375)
    assert h.quantile(0.99) == pytest.approx(0.95)
    assert h.quantile(0.2) == pytest.approx(0.05)  # first bucket: interpolated up from 0
    above = Histogram({0.1: 1, math.inf: 10}, 50.0, 10)
    assert above.quantile(0.99) == 0.1  # in the +Inf bucket: the highest finite bound
    assert Histogram({0.1: 0, math.inf: 0}, 0, 0).quantile(0.5) is None  # nothing observed
    assert Histogram({0.1: 0, math.inf: 0}, 0, 0).mean is None


def test_parse_error_is_a_format_error():
    from llmcli.monitor.prom import MetricsFormatError

    with pytest.raises(MetricsFormatError):
        parse("this is { not prometheus\n", at=0)


def test_each_server_has_a_distinct_prefix_and_is_recognised():
    assert len({s.prefix for s in SERVERS}) == len(SERVERS)
    assert recognise(["vllm:a", "vllm:b", "tgi_x"]).server == "vLLM"
    assert recognise(["process_cpu_seconds_total"]) is None


def test_pick_stop_takes_a_first_occurrence_past_the_first_third():
    text = "abcabcabc xyz hello world"
    stop, at = pick_stop(text)
    assert text.find(stop) == at and at >= len(text) // 3
    assert not stop[0].isspace() and not stop[-1].isspace()
    assert pick_stop("hi") is None


@pytest.mark.parametrize(
    ("base", "root"),
    [
        ("http://h:8000/v1", "http://h:8000"),
        ("http://h:8000/v1/", "http://h:8000"),
        ("https://api.example.com/openai/v1", "https://api.example.com/openai"),
        ("http://h:8080", "http://h:8080"),
    ],
)
def test_root_url_strips_a_trailing_v1(base, root):
    assert root_url(base) == root
    assert metrics_url(base, None) == root + "/metrics"


def test_same_origin_compares_scheme_host_and_port():
    assert same_origin("http://h:80/v1", "http://h/metrics")
    assert not same_origin("http://h:8000/v1", "http://h:9000/metrics")
    assert not same_origin("http://127.0.0.1:8000/v1", "http://localhost:8000/metrics")
    assert not same_origin("https://h/v1", "http://h:443/metrics")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--watch"], ["--watch", "5"]),
        (["--watch", "2"], ["--watch", "2"]),
        (["--watch", "--full"], ["--watch", "5", "--full"]),
        (["--full", "--watch", "0.5"], ["--full", "--watch", "0.5"]),
        (["--", "--watch"], ["--", "--watch"]),
    ],
)
def test_watch_takes_an_optional_value(args, expected):
    assert optional_value(args, "--watch", "5") == expected


def test_health_and_top_import_nothing_heavy_at_startup(home):
    from test_boundary import loaded_after

    mods = loaded_after(
        "import llmcli.__main__, llmcli.cli.app as a\na.app", home
    )  # health and top with the rest
    for heavy in ("prometheus_client", "httpx", "rich", "llmcli.monitor.net", "llmcli.monitor.prom"):
        assert heavy not in mods, heavy


def test_top_help_does_not_import_the_parser(offline_cli):
    r = offline_cli("top", "--help")
    assert r.returncode == 0 and "--metrics-url" in r.stdout and "--once" in r.stdout


def test_docs_name_every_check_and_every_quantity():
    from pathlib import Path

    from llmcli.monitor.checks import check_names
    from llmcli.monitor.servers import QUANTITIES, SERVERS

    docs = Path(__file__).resolve().parent.parent / "docs"
    health_md = (docs / "health.md").read_text()
    for name in check_names(full=True):
        assert f"| `{name}`" in health_md, name
    top_md = (docs / "top.md").read_text()
    for key in QUANTITIES:
        assert f"`{key}`" in top_md, key
    for spec in SERVERS:  # every metric name of the table is in the docs' table
        for source in spec.quantities.values():
            while source is not None:
                for metric in source.names:
                    short = metric.removeprefix(spec.prefix) if spec.prefix != "tgi_" else metric
                    assert f"`{short}`" in top_md, metric
                source = source.fallback

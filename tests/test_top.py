"""`llmcli top` against the reference server's /metrics in each server's format."""

from __future__ import annotations

import json
import signal

import pytest
import refserver_monitor as rm
from conftest import assert_no_traceback
from test_health import spawn

SENTINEL = "sk-top-sentinel-0a1b2c3d4e5f"


def top(cli, server, *args, env=None):
    r = cli("top", "--base-url", server.base_url, *args, env=env)
    assert_no_traceback(r.stderr)
    return r


@pytest.mark.parametrize(
    ("fmt", "name"), [("vllm", "vLLM"), ("llamacpp", "llama.cpp"), ("sglang", "SGLang"), ("tgi", "TGI")]
)
def test_once_json_rates_over_the_interval(cli, server, fmt, name):
    server.monitor.metrics = fmt
    r = top(cli, server, "--once", "--format", "json", "--interval", "0.3")
    assert r.returncode == 0, r
    d = json.loads(r.stdout)
    assert d["server"] == name and d["window"] == "interval" and d["url"] == server.root_url + "/metrics"
    assert 0.3 <= d["interval_s"] < 2
    q = d["quantities"]
    assert q["requests_running"]["value"] == rm.GAUGES["running"]
    assert q["requests_waiting"]["value"] == rm.GAUGES["waiting"]
    gen = q["generation_tokens"]
    assert gen["delta"] == rm.STEP["generation"]  # exactly two scrapes, one step apart
    assert gen["per_s"] == pytest.approx(rm.STEP["generation"] / d["interval_s"], rel=1e-4)
    assert q["prompt_tokens"]["per_s"] == pytest.approx(rm.STEP["prompt"] / d["interval_s"], rel=1e-4)
    if fmt in ("vllm", "sglang"):
        assert q["ttft"] == {"metric": q["ttft"]["metric"], "kind": "histogram", **rm.EXPECTED}
        assert q["preemptions"]["delta"] == rm.STEP["preemptions"]
    if fmt == "llamacpp":
        assert q["ttft"] == {"metric": None, "kind": "absent"}
    assert server.monitor.scrapes == 2


def test_once_text_is_a_plain_table_in_a_pipe(cli, server):
    server.monitor.metrics = "vllm"
    r = top(cli, server, "--once", "--interval", "0.2")
    assert r.returncode == 0
    assert "\x1b[" not in r.stdout
    lines = r.stdout.splitlines()
    assert "vLLM" in lines[0]
    assert any(line.startswith("requests running") and line.rstrip().endswith(" 3") for line in lines)
    assert any(
        "time to first token" in line and "p50 138 ms" in line and "p99 950 ms" in line for line in lines
    )
    assert all(line == line.rstrip() for line in lines)  # no width padding into a pipe


def test_unknown_server_is_shown_as_a_generic_list(cli, server):
    server.monitor.metrics = "custom"
    r = top(cli, server, "--once", "--format", "json", "--interval", "0.2")
    assert r.returncode == 0
    d = json.loads(r.stdout)
    assert d["server"] is None
    jobs = next(m for m in d["metrics"] if m["name"] == "myserver_jobs_total")
    assert jobs["kind"] == "counter" and jobs["per_s"] == pytest.approx(5 / d["interval_s"], rel=1e-4)


@pytest.mark.parametrize(
    ("switch", "words"),
    [(None, "has no metrics at /metrics (HTTP 404)"), ("disabled", "does not offer metrics (HTTP 501)")],
)
def test_no_metrics_is_one_line_and_exit_4(cli, server, switch, words):
    server.monitor.metrics = switch
    r = top(cli, server, "--once")
    assert r.returncode == 4
    assert r.stdout == "" and r.stderr.count("\n") == 1
    assert words in r.stderr and "--metrics" in r.stderr
    if switch == "disabled":
        assert "Start it with `--metrics`" in r.stderr  # the server's own words


def test_not_prometheus_text_is_exit_4(cli, server):
    server.monitor.metrics = "html"
    r = top(cli, server, "--once")
    assert r.returncode == 4 and "not Prometheus metrics" in r.stderr


def test_key_goes_to_metrics_on_the_same_origin_only(cli, server):
    server.require_key = SENTINEL
    server.monitor.metrics_need_key = True
    r = top(cli, server, "--once", "--interval", "0.1", env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 0, r
    assert all(q.headers.get("authorization") == f"Bearer {SENTINEL}" for q in server.monitor.requests)
    server.monitor.requests.clear()
    # the same server under another name is another origin: no key, so it refuses (exit 3)
    other = f"http://localhost:{server.port}/metrics"
    r = top(cli, server, "--once", "--metrics-url", other, env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 3
    assert server.monitor.requests and all("authorization" not in q.headers for q in server.monitor.requests)
    assert SENTINEL not in r.stdout + r.stderr


def test_metrics_url_elsewhere(cli, server):
    server.monitor.metrics = "sglang"
    r = cli(
        "top",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--metrics-url",
        server.root_url + "/metrics",
        "--once",
        "--format",
        "json",
        "--interval",
        "0.1",
    )
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["server"] == "SGLang"


def test_server_down_is_exit_6(cli):
    r = cli("top", "--base-url", "http://127.0.0.1:9/v1", "--once")
    assert r.returncode == 6 and r.stderr.count("\n") == 1


def test_counter_reset_between_scrapes_is_not_a_negative_rate(cli, server):
    server.monitor.metrics = "vllm"
    proc = spawn(cli, "top", "--base-url", server.base_url, "--interval", "0.3", "--format", "json")
    first = json.loads(proc.stdout.readline())
    server.monitor.restart()
    docs = [json.loads(proc.stdout.readline()) for _ in range(2)]
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 130
    for d in [first, *docs]:
        gen = d["quantities"]["generation_tokens"]
        assert gen["delta"] >= 0 and gen["per_s"] >= 0
    assert first["quantities"]["generation_tokens"]["delta"] == rm.STEP["generation"]
    # the scrape after the restart counts from zero: one step (the restarted counter's value)
    assert docs[0]["quantities"]["generation_tokens"]["delta"] == rm.STEP["generation"]


def test_pipe_without_once_is_one_line_per_interval(cli, server):
    server.monitor.metrics = "llamacpp"
    proc = spawn(cli, "top", "--base-url", server.base_url, "--interval", "0.2")
    lines = [proc.stdout.readline().decode() for _ in range(2)]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and b"Traceback" not in err
    for line in lines:
        assert "llama.cpp" in line and "running=3" in line and "waiting=2" in line and "gen_tps=" in line
        assert "\x1b[" not in line


def test_bad_options_are_usage_errors(cli, server):
    for args in (["--interval", "0"], ["--format", "csv"], ["--metrics-url", "ftp://x/metrics"]):
        r = top(cli, server, *args)
        assert r.returncode == 2, (args, r)

"""`llmcli health` against the reference server: each check passing and failing with its exit code."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import pytest
from conftest import assert_no_traceback
from refserver import Scenario

from llmcli.monitor.checks import pick_stop

NAMES = ["connect", "health", "identity", "models", "key", "stream"]
FULL = [*NAMES, "complete", "seed", "stop", "context"]
SENTINEL = "sk-health-sentinel-9f8e7d6c5b4a"


def health(cli, server, *args, env=None, timeout=60):
    r = cli("health", "--base-url", server.base_url, *args, env=env, timeout=timeout)
    assert_no_traceback(r.stderr)
    return r


def doc(r) -> dict:
    d = json.loads(r.stdout)
    return d


def spawn(cli, *args: str) -> subprocess.Popen:
    """The CLI as a long-running process with piped stdout and stderr (the test stops it)."""
    return subprocess.Popen(
        cli.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=cli.env
    )


def row(r, name: str) -> str:
    return next(line for line in r.stdout.splitlines()[2:] if line.split()[0] == name)


def checks(r) -> dict[str, dict]:
    return {c["name"]: c for c in doc(r)["checks"]}


def test_all_green_in_order_into_a_pipe(cli, server):
    server.monitor.server_header = "llama.cpp"
    server.monitor.props = True
    r = health(cli, server, "-m", "ref-model")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == f"health of {server.base_url}"
    assert lines[1].split() == ["check", "result", "time", "detail"]
    rows = lines[2:-1]
    assert [row.split()[0] for row in rows] == NAMES  # one line per check, in order
    assert all(row.split()[1] == "ok" for row in rows), rows
    assert "llama.cpp b9999-refserver" in rows[2] and "Server: llama.cpp" in rows[2]
    assert "ref-model is among them" in rows[3]
    assert "usage yes" in rows[5] and "finish stop" in rows[5] and "ttft" in rows[5]
    assert lines[-1] == "6 checks passed"
    assert "\x1b[" not in r.stdout and r.stderr == ""  # a pipe gets plain text, nothing on stderr


def test_json_document_shape(cli, server):
    r = health(cli, server, "-m", "ref-model", "--format", "json", "--max-tokens", "7")
    assert r.returncode == 0, r
    d = doc(r)
    assert set(d) == {"base_url", "model", "time", "ok", "exit_code", "full", "checks"}
    assert d["ok"] is True and d["exit_code"] == 0 and d["model"] == "ref-model" and d["full"] is False
    assert [c["name"] for c in d["checks"]] == NAMES
    for c in d["checks"]:
        assert set(c) == {"name", "status", "seconds", "detail", "exit_code", "hint", "data"}
        assert c["status"] in ("ok", "skip") and isinstance(c["seconds"], float)
    stream = checks(r)["stream"]["data"]
    assert stream["usage"] is True and stream["finish_reason"] == "stop" and stream["max_tokens"] == 7
    assert stream["ttft_s"] >= 0 and stream["completion_tokens"] == 5
    body = server.chat_requests()[-1].body
    assert (
        body["max_tokens"] == 7
        and body["stream"] is True
        and body["stream_options"] == {"include_usage": True}
    )
    connect = checks(r)["connect"]["data"]
    assert connect["port"] == server.port and set(connect["steps_s"]) == {"dns", "tcp"}


def test_health_endpoint_absent_is_not_offered_not_a_failure(cli, server):
    server.monitor.health = "absent"
    r = health(cli, server, "-m", "ref-model", "--format", "json")
    assert r.returncode == 0
    h = checks(r)["health"]
    assert h["status"] == "skip" and "not offered" in h["detail"]


def test_health_loading_is_exit_6_with_the_servers_words(cli, server):
    server.monitor.health = "loading"
    r = health(cli, server, "-m", "ref-model")
    assert r.returncode == 6
    line = row(r, "health")
    assert "FAIL" in line and "503" in line and "Loading model" in line
    assert "1 of 6 checks failed; first: health (exit 6)" in r.stdout


def test_health_endpoint_at_the_root_with_the_key_on_the_same_origin(cli, server):
    server.require_key = SENTINEL
    r = health(cli, server, "-m", "ref-model", env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 0, r
    seen = [q for q in server.monitor.requests if q.path == "/health"]
    assert seen and seen[0].headers.get("authorization") == f"Bearer {SENTINEL}"  # /health, not /v1/health
    assert SENTINEL not in r.stdout + r.stderr


def test_key_refused_is_exit_3_and_the_key_never_shows(cli, server):
    server.require_key = "sk-the-right-one-123456"
    r = health(cli, server, "-m", "ref-model", "--format", "json", env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 3
    c = checks(r)
    assert c["models"]["status"] == "skip" and c["key"]["status"] == "fail" and c["key"]["exit_code"] == 3
    assert "refused" in c["key"]["detail"] and c["key"]["data"]["source"] == "env LLMCLI_API_KEY"
    assert c["stream"]["status"] == "skip"
    assert SENTINEL not in r.stdout + r.stderr and SENTINEL[:12] not in r.stdout


def test_key_wanted_but_none_configured_is_exit_3(cli, server):
    server.require_key = "sk-the-right-one-123456"
    r = health(cli, server, "-m", "ref-model", "--format", "json")
    assert r.returncode == 3
    key = checks(r)["key"]
    assert "none is configured" in key["detail"] and "LLMCLI_API_KEY" in key["hint"]


def test_key_accepted_and_required(cli, server):
    server.require_key = SENTINEL
    r = health(cli, server, "-m", "ref-model", "--format", "json", env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 0
    key = checks(r)["key"]
    assert key["data"]["state"] == "accepted" and "required" in key["detail"]
    # the probe that tells "required" from "not needed" carried no key
    probes = [q for q in server.chat_requests() if q.body == {}]
    assert len(probes) == 1 and "authorization" not in probes[0].headers


def test_key_set_but_not_needed(cli, server):
    r = health(cli, server, "-m", "ref-model", "--format", "json", env={"LLMCLI_API_KEY": SENTINEL})
    assert r.returncode == 0
    assert checks(r)["key"]["data"]["state"] == "not_needed"


def test_no_key_and_none_needed(cli, server):
    r = health(cli, server, "-m", "ref-model", "--format", "json")
    key = checks(r)["key"]
    assert key["data"]["state"] == "not_needed" and "no key is configured" in key["detail"]


def test_configured_model_missing_is_exit_4(cli, server):
    r = health(cli, server, "-m", "no-such-model", "--format", "json")
    assert r.returncode == 4
    m = checks(r)["models"]
    assert m["status"] == "fail" and m["exit_code"] == 4 and "no-such-model" in m["detail"]
    assert m["data"]["present"] is False and m["data"]["count"] == 3


def test_without_a_model_the_only_one_is_used(cli, server):
    server.models = [{"id": "solo", "object": "model", "owned_by": "llamacpp"}]
    r = health(cli, server, "--format", "json")
    assert r.returncode == 0
    assert doc(r)["model"] == "solo" and checks(r)["stream"]["status"] == "ok"
    assert server.chat_requests()[-1].body["model"] == "solo"


def test_without_a_model_among_several_the_completion_is_skipped_with_a_reason(cli, server):
    r = health(cli, server)
    assert r.returncode == 0
    line = row(r, "stream")
    assert "skip" in line and "no model configured" in line and "-m MODEL" in line
    assert server.chat_requests() == []


def test_broken_stream_is_exit_7(cli, server):
    server.default = Scenario(text="one two three four", cut_after=2)
    r = health(cli, server, "-m", "ref-model", "--format", "json")
    assert r.returncode == 7
    s = checks(r)["stream"]
    assert s["status"] == "fail" and s["exit_code"] == 7


def test_stream_without_usage_is_a_warning(cli, server):
    server.default = Scenario(usage=False)
    r = health(cli, server, "-m", "ref-model", "--format", "json")
    assert r.returncode == 0
    s = checks(r)["stream"]
    assert s["status"] == "warn" and "no usage" in s["detail"] and s["data"]["usage"] is False


def test_rejected_completion_is_exit_4(cli, server):
    server.push(
        Scenario(), Scenario(status=400, error_body={"error": {"message": "max_tokens is too large"}})
    )
    r = health(cli, server, "-m", "ref-model", "--format", "json")
    assert r.returncode == 4
    assert "max_tokens is too large" in checks(r)["stream"]["detail"]


def test_nothing_listening_is_exit_6_and_the_rest_is_skipped(cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("health", "--base-url", f"http://127.0.0.1:{port}/v1", "--format", "json")
    assert r.returncode == 6
    c = checks(r)
    assert c["connect"]["status"] == "fail" and "TCP" in c["connect"]["detail"]
    assert all(c[n]["status"] == "skip" for n in NAMES[1:])


def test_unresolvable_host_fails_at_dns(cli):
    r = cli(
        "health", "--base-url", "http://no-such-host.invalid/v1", "--format", "json", "--check-timeout", "5"
    )
    assert r.returncode == 6
    assert "DNS" in checks(r)["connect"]["detail"]


def test_each_check_has_a_timeout_so_health_never_hangs(cli, server):
    server.push(Scenario(), Scenario(delay_first=30))  # /models, then a completion that never starts
    began = time.monotonic()
    r = health(cli, server, "-m", "ref-model", "--format", "json", "--check-timeout", "0.5")
    assert time.monotonic() - began < 15
    assert r.returncode == 6
    assert "timed out" in checks(r)["stream"]["detail"]


def test_slow_answer_is_cut_by_the_check_timeout(cli, server):
    server.push(Scenario(), Scenario(text=" ".join(["w"] * 40), delay_between=0.1))
    r = health(
        cli, server, "-m", "ref-model", "--format", "json", "--check-timeout", "0.6", "--max-tokens", "40"
    )
    assert r.returncode == 7
    assert "did not finish within 0.6 s" in checks(r)["stream"]["detail"]


def test_identity_vllm_and_context_length_from_models(cli, server):
    server.monitor.version = "0.6.3"
    server.models = [{"id": "Qwen", "object": "model", "owned_by": "vllm", "max_model_len": 32768}]
    r = health(cli, server, "--format", "json", "--full")
    c = checks(r)
    assert c["identity"]["data"]["server"] == "vLLM" and c["identity"]["data"]["version"] == "0.6.3"
    assert c["context"]["data"] == {"tokens": 32768, "from": "/models max_model_len"}


def test_identity_ollama_and_its_root_page(cli, server):
    server.monitor.health = "absent"
    server.monitor.ollama_version = "0.5.1"
    r = health(cli, server, "-m", "ref-model", "--format", "json")
    c = checks(r)
    assert c["health"]["status"] == "ok" and "Ollama is running" in c["health"]["detail"]
    assert c["identity"]["data"]["server"] == "Ollama" and "Ollama 0.5.1" in c["identity"]["detail"]


def test_full_reports_a_stop_sequence_that_is_not_honoured(cli, server):
    # The reference server ignores `stop`: the check must catch it.
    server.default = Scenario(text="The quick brown fox jumps over the lazy dog.")
    r = health(cli, server, "-m", "ref-model", "--full", "--format", "json")
    assert r.returncode == 7
    c = checks(r)
    assert [x["name"] for x in doc(r)["checks"]] == FULL
    assert c["complete"]["status"] == "ok" and c["seed"]["status"] == "ok"
    assert c["stop"]["status"] == "fail" and "not honoured" in c["stop"]["detail"]
    bodies = [q.body for q in server.chat_requests()]
    assert [b["stream"] for b in bodies] == [True, False, False, False]
    assert bodies[1]["seed"] == bodies[2]["seed"] and bodies[3]["stop"] == [c["stop"]["data"]["stop"]]


def test_full_all_green_when_stop_is_honoured_and_seed_reproducible(cli, server):
    text = "The quick brown fox jumps over the lazy dog."
    stop, at = pick_stop(text)
    server.monitor.props = True
    server.monitor.n_ctx = 8192
    server.push(
        Scenario(),  # GET /models
        Scenario(text=text),  # stream
        Scenario(text=text),  # complete
        Scenario(text=text),  # seed: the same again
        Scenario(text=text[:at]),  # stop: ends where the stop sequence begins
    )
    r = health(cli, server, "-m", "ref-model", "--full")
    assert r.returncode == 0, r
    assert "10 checks passed" in r.stdout
    assert "8192 tokens (/props n_ctx)" in r.stdout and f"{stop!r} ended the answer" in r.stdout


def test_seed_not_reproducible_is_a_warning_only(cli, server):
    server.push(Scenario(), Scenario(), Scenario(text="one answer here"), Scenario(text="another answer"))
    r = health(cli, server, "-m", "ref-model", "--full", "--format", "json")
    assert checks(r)["seed"]["status"] == "warn"


def test_sdk_transport_gives_the_same_result(cli, server):
    r = health(cli, server, "-m", "ref-model", "--transport", "sdk", "--format", "json")
    assert r.returncode == 0, r
    assert checks(r)["stream"]["data"]["usage"] is True


def test_bad_options_are_usage_errors(cli, server):
    for args in (["--format", "xml"], ["--check-timeout", "0"], ["--watch", "-1"], ["--max-tokens", "0"]):
        r = health(cli, server, *args)
        assert r.returncode == 2, (args, r)
        assert r.stderr.count("\n") == 1


def test_watch_into_a_pipe_is_one_json_document_per_round_and_ctrl_c_is_130(cli, server):
    proc = spawn(
        cli, "health", "--base-url", server.base_url, "-m", "ref-model", "--watch", "0.2", "--format", "json"
    )
    lines: list[bytes] = []
    while len(lines) < 3:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        lines.append(line)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert b"Traceback" not in err
    docs = [json.loads(x) for x in [*lines, *out.splitlines()]]
    assert len(docs) >= 3 and all(d["ok"] and [c["name"] for c in d["checks"]] == NAMES for d in docs)
    times = [d["time"] for d in docs]
    assert times == sorted(times)


def test_watch_text_lines_report_a_failing_round(cli, server):
    server.monitor.health = "loading"
    proc = spawn(cli, "health", "--base-url", server.base_url, "-m", "ref-model", "--watch", "0.2")
    first = proc.stdout.readline().decode()
    server.monitor.health = "ok"
    second = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        second = proc.stdout.readline()
        if b"  ok  " in second:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "FAIL exit 6" in first and "health: not ready" in first
    assert b"6/6 passed" in second


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143)])
def test_watch_sigterm_is_143(cli, server, signum, code):
    proc = spawn(cli, "health", "--base-url", server.base_url, "-m", "ref-model", "--watch", "0.2")
    assert proc.stdout.readline()
    proc.send_signal(signum)
    proc.communicate(timeout=20)
    assert proc.returncode == code

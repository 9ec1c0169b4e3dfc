"""`health` and `top` against the real llama.cpp server (tests/llama.py; marker real_server)."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import httpx
import pytest
from conftest import Cli, assert_no_traceback

KEY = "sk-llama-real-5a6b7c8d9e"


def test_health_all_green_and_identifies_llama_cpp(llama_server, home):
    srv = llama_server()
    r = Cli(home, None)("health", "--base-url", srv.base_url, "--full", "--format", "json")
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    d = json.loads(r.stdout)
    checks = {c["name"]: c for c in d["checks"]}
    assert [c["status"] for c in d["checks"]] == ["ok"] * 10, [
        (c["name"], c["status"], c["detail"]) for c in d["checks"]
    ]
    assert checks["health"]["detail"] == "/health: ok"
    ident = checks["identity"]["data"]
    assert ident["server"] == "llama.cpp" and ident["version"] and ident["server_header"] == ["llama.cpp"]
    assert d["model"] == srv.model  # the server's only model, as `ask` picks it
    stream = checks["stream"]["data"]
    assert (
        stream["usage"] is True and stream["finish_reason"] == "length" and stream["completion_tokens"] == 16
    )
    assert checks["seed"]["data"]["same"] is True and checks["stop"]["data"]["finish_reason"] == "stop"
    assert checks["context"]["data"]["from"] == "/props n_ctx" and checks["context"]["data"]["tokens"] > 0


def test_health_with_a_key_required_by_llama_cpp(llama_server, home):
    srv = llama_server("-np", "1", "--api-key", KEY)
    cli = Cli(home, None)
    r = cli("health", "--base-url", srv.base_url, "--format", "json", env={"LLMCLI_API_KEY": KEY})
    assert r.returncode == 0, r
    key = next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "key")
    assert key["data"]["state"] == "accepted" and "required" in key["detail"]
    r = cli("health", "--base-url", srv.base_url, env={"LLMCLI_API_KEY": "sk-wrong-key-000000"})
    assert r.returncode == 3 and "Invalid API Key" in r.stdout
    assert KEY not in r.stdout + r.stderr


def _load(base_url: str, home, stop: threading.Event, done: list[int]) -> None:
    cli = Cli(home, None)
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        r = cli("ask", "--no-save", "--base-url", base_url, "--max-tokens", "200", "tell me a story")
        done.append(r.returncode)


def test_top_once_shows_generation_while_asks_run(llama_server, home):
    srv = llama_server()
    before = httpx.get(srv.root_url + "/metrics").text
    stop, done = threading.Event(), []
    workers = [threading.Thread(target=_load, args=(srv.base_url, home, stop, done)) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        while not done:  # the load is running
            time.sleep(0.05)
        r = Cli(home, None)(
            "top", "--base-url", srv.base_url, "--once", "--format", "json", "--interval", "1.5"
        )
    finally:
        stop.set()
        for w in workers:
            w.join(60)
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    d = json.loads(r.stdout)
    assert d["server"] == "llama.cpp" and 1.5 <= d["interval_s"] < 5
    gen = d["quantities"]["generation_tokens"]
    assert gen["per_s"] > 0 and gen["delta"] > 0, d
    assert set(done) == {0}
    # every metric top reads is one llama.cpp really exposes (a check of the name table)
    for key, q in d["quantities"].items():
        if q["metric"] is not None:
            assert f"\n{q['metric']} " in "\n" + before, key
    assert d["quantities"]["requests_running"]["metric"] == "llamacpp:requests_processing"


def test_top_text_once_on_the_real_server(llama_server, home):
    srv = llama_server()
    r = Cli(home, None)("top", "--base-url", srv.base_url, "--once", "--interval", "0.3")
    assert r.returncode == 0, r
    assert "llama.cpp" in r.stdout.splitlines()[0]
    assert "time to first token  not exposed" in r.stdout  # llama.cpp has no latency histograms


@pytest.mark.real_server
def test_no_metrics_flag_is_explained(home, tmp_path):
    """llama-server without --metrics answers 501; start.sh always adds the flag, so start one directly."""
    import os
    import socket

    from llama import folder

    root = folder()
    if root is None:
        pytest.skip("LLMCLI_TEST_LLAMA_SERVER is not set")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "llama.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(root / "llama-server"),
            "-m",
            str(root / "tiny-llama.gguf"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-t",
            "1",
            "--no-webui",
        ],
        stdout=log,
        stderr=log,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        r = Cli(home, None)("top", "--base-url", f"http://127.0.0.1:{port}/v1", "--once")
        assert r.returncode == 4
        assert r.stderr.count("\n") == 1 and "HTTP 501" in r.stderr and "--metrics" in r.stderr
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()

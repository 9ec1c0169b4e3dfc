"""`llmcli bench` as a user runs it: a subprocess against the reference server, whose TTFT and per-token
delay are set, so every expected figure is known in advance.

Most tests use the session's reference server in this test process (a uvicorn thread). The tests whose
figures are timings use the lean server of tests/refserver_bench.py instead — the same chunks, written
by a raw asyncio protocol in a process of its own — and run it and the CLI at a raised scheduling
priority where allowed (root, as in CI). Measured here with other suites loading the 2 cores to 15-25
runnable processes: FastAPI/uvicorn needs ~0.5 ms of CPU per chunk, and 16 streams released at the same
instant then queue behind each other for tens of milliseconds (TTFT +15 %); the lean server needs
~20 µs. What remains is timer overshoot, ~1 ms — 3 % of the 40 ms per token and 0.3 % of the 300 ms TTFT
chosen here — so 10 % is an honest tolerance.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import signal
import stat
import statistics
import subprocess
import sys
import time

import pytest
from conftest import assert_no_traceback, clean_env
from refserver import Scenario

from llmcli.bench.metrics import DEFINITIONS
from llmcli.load.limits import arrival_gaps

TTFT, ITL, TOKENS = 0.3, 0.04, 8
VLLM_FIELDS = [
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "request_goodput",
    "output_throughput",
    "total_token_throughput",
    "max_output_tokens_per_s",
    "max_concurrent_requests",
    "max_concurrency",
    "request_rate",
    "burstiness",
    "num_prompts",
] + [
    f"{s}_{m}_ms"
    for m in ("ttft", "tpot", "itl", "e2el")
    for s in ("mean", "median", "std", "p90", "p95", "p99")
]


def bench(cli, *args, **kw):
    return cli("bench", "--base-url", cli.server.base_url, "-m", "m", "--input-len", "16", *args, **kw)


def bench_json(cli, *args, **kw):
    r = bench(cli, "--format", "json", *args, **kw)
    assert r.returncode == 0, r
    return json.loads(r.stdout), r


def chat_bodies(server):
    return [r.body for r in server.chat_requests()]


@pytest.mark.parametrize("concurrency,requests", [(1, 4), (16, 32)])
def test_timings_match_what_the_server_was_told(home, concurrency, requests):
    from refserver_bench import ServerProcess, raise_priority

    timed = (
        "--tokens",
        str(TOKENS),
        "--ttft-ms",
        str(TTFT * 1000),
        "--itl-ms",
        str(ITL * 1000),
        "--quick",
        "2",
    )
    # One round of warm-up, as a benchmark should: the first round also opens its connections.
    with ServerProcess(*timed) as srv:
        proc = subprocess.run(
            [sys.executable, "-m", "llmcli", "bench", "--base-url", srv.base_url, "-m", "m", "--format", "json",
             "--input-len", "16", "-c", str(concurrency), "-n", str(requests), "--warmup", str(concurrency)],
            capture_output=True, text=True, env=clean_env(home), timeout=60, preexec_fn=raise_priority,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not a terminal: no live view, nothing else
    (s,) = json.loads(proc.stdout)["stages"]
    assert s["completed"] == requests and s["failed"] == 0 and not s["usage_estimated"]
    assert s["total_output_tokens"] == requests * TOKENS
    assert s["max_concurrent_requests"] == concurrency
    expected = {"ttft": TTFT, "tpot": ITL, "itl": ITL, "e2el": TTFT + (TOKENS - 1) * ITL}
    for metric, seconds in expected.items():
        for stat_ in ("mean", "median"):
            got = s[f"{stat_}_{metric}_ms"]
            assert got == pytest.approx(seconds * 1000, rel=0.10), (metric, stat_, got)
    assert s["request_throughput"] == pytest.approx(requests / s["duration"])
    assert s["output_throughput"] == pytest.approx(requests * TOKENS / s["duration"])


def test_a_sweep_reports_rising_throughput_and_draws_the_table(cli, server, tmp_path):
    server.default = Scenario(text="w " * 4, delay_first=0.1, delay_between=0.01)
    saved = tmp_path / "sweep.json"
    r = bench(cli, "-c", "1,4", "-n", "8", "--save", str(saved))
    assert r.returncode == 0, r
    assert "stage 1/2: concurrency 1" in r.stdout and "stage 2/2: concurrency 4" in r.stdout
    assert "sweep" in r.stdout and "\x1b" not in r.stdout and r.stderr == ""
    one, four = json.loads(saved.read_text())["stages"]
    assert four["request_throughput"] > 2.5 * one["request_throughput"]
    assert four["output_throughput"] > 2.5 * one["output_throughput"]


def test_poisson_arrivals_have_the_requested_mean_rate(cli, server):
    server.default = Scenario(text="x")
    rate, n, seed = 40.0, 120, 7
    doc, _ = bench_json(cli, "--rate", str(rate), "-n", str(n), "--seed", str(seed))
    assert doc["load"]["mode"] == "open" and doc["load"]["latency_origin"] == "due"
    (s,) = doc["stages"]
    assert s["request_rate"] == rate and s["burstiness"] == 1.0 and s["completed"] == n
    arrivals = sorted(r.received for r in server.chat_requests())[-n:]  # the probes came first
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    planned = [next(g) for g in [arrival_gaps(rate, 1.0, seed)] for _ in range(n - 1)]
    # the server saw the schedule that was drawn (timing jitter aside) ...
    assert sum(gaps) == pytest.approx(sum(planned), abs=0.15)
    # ... and that schedule is Poisson at the requested rate: mean gap 1/rate, as spread as its mean
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.2)
    assert 0.7 < statistics.pstdev(gaps) / statistics.fmean(gaps) < 1.3


def test_goodput_counts_exactly_the_requests_that_meet_the_slo(cli, server):
    fast = Scenario(text="a b c", delay_first=0.01, delay_between=0.005)
    slow = Scenario(text="a b c", delay_first=0.35)
    server.push(Scenario(), Scenario(), fast, slow, fast, slow, slow, fast, fast)  # two probes first
    doc, _ = bench_json(cli, "-c", "1", "-n", "7", "--slo", "ttft=200ms,e2el=2s")
    (s,) = doc["stages"]
    assert s["completed"] == 7 and s["good_requests"] == 4
    assert s["request_goodput"] == pytest.approx(4 / s["duration"])
    assert doc["slo_ms"] == {"ttft": 200.0, "e2el": 2000.0}
    doc, _ = bench_json(cli, "-c", "1", "-n", "3")
    assert doc["stages"][0]["request_goodput"] is None  # no --slo, no goodput


def test_a_server_without_usage_gives_estimated_counts(cli, server):
    server.default = Scenario(text="a b c", usage=False)
    doc, _ = bench_json(cli, "-c", "2", "-n", "4")
    (s,) = doc["stages"]
    assert s["usage_estimated"] and s["estimated_requests"] == 4 and s["total_output_tokens"] == 12
    r = bench(cli, "-c", "2", "-n", "4")
    assert "estimated: the server sent no usage" in r.stdout


def test_errors_are_counted_by_kind_with_their_first_message(cli, server):
    server.push(
        Scenario(),
        Scenario(),  # the probe and the tokenizer calibration
        Scenario(status=401),
        Scenario(status=429),
        Scenario(status=503),
        Scenario(text="a b c d", cut_after=2),
        Scenario(status=404),
        Scenario(delay_headers=5.0),
    )
    server.default = Scenario(text="ok")
    doc, r = bench_json(cli, "-c", "1", "-n", "8", "--timeout", "2")  # room for a loaded machine
    (s,) = doc["stages"]
    assert s["completed"] == 2 and s["failed"] == 6
    errors = s["errors"]
    assert {k: e["count"] for k, e in errors.items()} == {
        "auth": 1,
        "rate_limited": 1,
        "server_error": 1,
        "incomplete": 1,
        "rejected": 1,
        "timeout": 1,
    }
    assert {k: e["exit_code"] for k, e in errors.items()} == {
        "auth": 3,
        "rate_limited": 5,
        "server_error": 6,
        "incomplete": 7,
        "rejected": 4,
        "timeout": 6,
    }
    assert "Incorrect API key provided" in errors["auth"]["first_message"]
    assert "HTTP 503" in errors["server_error"]["first_message"]
    assert r.returncode == 0  # errors are reported, not fatal ...
    server.reset()
    server.push(Scenario(), Scenario(), Scenario(status=500), Scenario(status=500))
    r = bench(cli, "-c", "1", "-n", "4", "--max-error-rate", "0.25")  # ... unless more than allowed
    assert r.returncode == 7, r
    assert "server_error ×2" in r.stdout
    assert "2 of 4 requests" in r.stderr and "--max-error-rate" in r.stderr and r.stderr.count("\n") == 1


def test_json_carries_the_documented_fields_and_definitions(cli, server):
    doc, _ = bench_json(cli, "-c", "2", "-n", "4", "--warmup", "2", "-s", "be brief")
    for key in (
        "llmcli_version",
        "date",
        "base_url",
        "model_id",
        "profile",
        "load",
        "dataset",
        "definitions",
    ):
        assert key in doc
    assert doc["definitions"] == DEFINITIONS
    assert doc["load"]["warmup"] == 2 and doc["load"]["latency_origin"] == "start"
    (s,) = doc["stages"]
    missing = [k for k in VLLM_FIELDS if k not in s]
    assert not missing, missing
    assert s["num_prompts"] == 4 and s["completed"] == 4  # warm-up left out
    assert len(server.chat_requests()) == 2 + 2 + 4  # probe + calibration, warm-up, measured


def test_metric_definitions_are_written_in_the_docs():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    page = open(os.path.join(root, "docs", "bench.md"), encoding="utf-8").read()
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    for name, text in DEFINITIONS.items():
        assert text in " ".join(page.split()), name
    for name in ("ttft", "tpot", "itl", "e2el"):
        assert DEFINITIONS[name] in " ".join(readme.split()), name


def test_csv_has_a_row_per_stage(cli, server):
    r = bench(cli, "-c", "1,2", "-n", "2", "--format", "csv")
    assert r.returncode == 0, r
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["label"] for row in rows] == ["concurrency 1", "concurrency 2"]
    assert all(row["completed"] == "2" for row in rows) and "median_ttft_ms" in rows[0]


def test_request_options_reach_every_request(cli, server):
    doc, _ = bench_json(
        cli,
        "-n", "3",
        "-s", "be terse",
        "--temperature", "0.5",
        "--top-p", "0.9",
        "--stop", "###",
        "--seed", "11",
        "-o", "presence_penalty=0.25",
        "--output-len", "7",
        "--ignore-eos",
    )  # fmt: skip
    bodies = chat_bodies(server)
    for body in bodies[2:]:  # the measured ones (the probes ask for one token)
        assert body["messages"][0] == {"role": "system", "content": "be terse"}
        assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["stop"] == ["###"]
        assert body["seed"] == 11 and body["presence_penalty"] == 0.25
        assert body["max_tokens"] == 7 and body["ignore_eos"] is True
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    prompts = [b["messages"][-1]["content"] for b in bodies[2:]]
    assert len(set(prompts)) == 3 and len(set(p.split()[0] for p in prompts)) >= 2  # no shared prefix


def test_datasets_jsonl_and_sharegpt(cli, server, tmp_path):
    jl = tmp_path / "prompts.jsonl"
    jl.write_text(
        json.dumps({"prompt": "first prompt", "output_len": 5})
        + "\n\n"
        + json.dumps({"messages": [{"role": "user", "content": "second"}]})
        + "\n"
    )
    doc, _ = bench_json(cli, "-n", "3", "--dataset", str(jl))
    bodies = chat_bodies(server)[1:]  # one probe: no calibration for a file
    assert (
        bodies[0]["messages"] == [{"role": "user", "content": "first prompt"}]
        and bodies[0]["max_tokens"] == 5
    )
    assert bodies[1]["messages"] == [{"role": "user", "content": "second"}] and "max_tokens" not in bodies[1]
    assert bodies[2]["messages"][0]["content"] == "first prompt"  # cycled
    assert doc["dataset"] == {
        "kind": "jsonl",
        "path": str(jl),
        "prompts": 2,
        "skipped": 0,
        "wrapped": True,
    }
    server.reset()
    sg = tmp_path / "sharegpt.json"
    sg.write_text(
        json.dumps(
            [
                {
                    "id": "a",
                    "conversations": [{"from": "human", "value": "Why?"}, {"from": "gpt", "value": "x" * 40}],
                },
                {"id": "b", "conversations": [{"from": "gpt", "value": "orphan"}]},
            ]
        )
    )
    doc, _ = bench_json(cli, "-n", "1", "--dataset", str(sg))
    body = chat_bodies(server)[-1]
    assert body["messages"] == [{"role": "user", "content": "Why?"}] and body["max_tokens"] == 10
    assert doc["dataset"]["kind"] == "sharegpt" and doc["dataset"]["skipped"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"nope": 1}\n')
    sent = len(server.chat_requests())
    r = bench(cli, "--dataset", str(bad))
    assert r.returncode == 2 and "line 2" in r.stderr and r.stdout == ""
    assert len(server.chat_requests()) == sent  # nothing sent for the bad file


def test_save_and_save_requests_write_private_files_and_never_overwrite(cli, server, tmp_path):
    out, log = tmp_path / "run.json", tmp_path / "requests.jsonl"
    server.default = Scenario(text="hello there")
    doc, _ = bench_json(cli, "-n", "3", "--warmup", "1", "--save", str(out), "--save-requests", str(log))
    assert json.loads(out.read_text()) == doc
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 4 and sum(x["warmup"] for x in lines) == 1
    line = lines[-1]
    for key in ("due_s", "sent_s", "ttft_s", "e2el_s", "input_tokens", "output_tokens", "status", "error"):
        assert key in line
    assert line["status"] == "ok" and line["text"] == "hello there" and line["output_tokens"] == 2
    for f in (out, log):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    before = out.read_bytes()
    r = bench(cli, "-n", "1", "--save", str(out))
    assert r.returncode == 2 and "already exists" in r.stderr and out.read_bytes() == before
    r = bench(cli, "-n", "1", "--save", str(out), "--force")
    assert r.returncode == 0 and out.read_bytes() != before


def test_down_server_and_refused_key_fail_fast_with_one_line(cli, server, home):
    t = time.monotonic()
    r = cli("bench", "--base-url", "http://127.0.0.1:9/v1", "-m", "m")
    assert r.returncode == 6 and time.monotonic() - t < 10
    assert r.stdout == "" and r.stderr.count("\n") == 1 and "127.0.0.1:9" in r.stderr
    server.require_key = "sk-right-key-123456"
    r = bench(cli, env={"LLMCLI_API_KEY": "sk-wrong-sentinel-999"})
    assert r.returncode == 3 and r.stdout == "" and r.stderr.count("\n") == 1
    assert "refused the credentials" in r.stderr and "sk-wrong-sentinel-999" not in r.stderr
    assert len(server.chat_requests()) == 1  # only the probe
    server.require_key = None
    r = bench(cli, "-o", "stream=false")
    assert r.returncode == 2 and r.stdout == ""
    assert_no_traceback(r.stderr)


def test_ctrl_c_gives_a_partial_report_marked_interrupted_and_130(cli, server, home, tmp_path):
    fast = Scenario(text="a b")
    server.push(Scenario(), Scenario(), fast, fast, fast)
    server.default = Scenario(text="w " * 400, delay_between=0.05)  # 20 s each if nobody stops it
    log = tmp_path / "r.jsonl"
    argv = [sys.executable, "-m", "llmcli", "bench", "--base-url", server.base_url, "-m", "m", "-c", "2"]
    proc = subprocess.Popen(
        [*argv, "-n", "50", "--format", "json", "--save-requests", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(home),
    )
    deadline = time.monotonic() + 20
    while len(server.chat_requests()) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the two slow ones are streaming
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert_no_traceback(err.decode())
    doc = json.loads(out)
    (s,) = doc["stages"]
    assert doc["interrupted"] and s["interrupted"]
    assert s["completed"] == 3 and s["cancelled"] == 2 and s["failed"] == 0
    statuses = [json.loads(x)["status"] for x in log.read_text().splitlines()]
    assert sorted(statuses) == ["cancelled", "cancelled", "ok", "ok", "ok"]


def test_sigterm_is_143_with_the_report(cli, server, home):
    server.push(Scenario(), Scenario())  # quick probes
    server.default = Scenario(text="w " * 400, delay_between=0.05)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmcli", "bench", "--base-url", server.base_url, "-m", "m", "-n", "5"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(home),
    )
    deadline = time.monotonic() + 20
    while len(server.chat_requests()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert b"INTERRUPTED" in out and b"interrupted" in out


def test_plot_writes_a_chart_file_or_says_what_is_missing(cli, server, tmp_path, home):
    from llmcli.render import bench_plot

    page, saved = tmp_path / "sweep.html", tmp_path / "sweep.json"
    r = bench(cli, "-n", "3", "-c", "1,2", "--plot", str(page), "--save", str(saved))
    assert r.returncode == 0, r
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html and "TTFT" in html
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    doc = json.loads(saved.read_text())
    png = bench_plot.render(doc, {"TTFT": [1.0, 2.0, 2.5], "E2EL": [3.0, 4.0, 4.5]}, ".png")
    assert png.startswith(b"\x89PNG")
    code = (
        "import sys, llmcli.render.bench_plot as p, llmcli.__main__ as m\n"
        "p.available = lambda: False\nsys.argv = ['llmcli', *sys.argv[1:]]\nm.main()\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "bench",
            "--base-url",
            server.base_url,
            "-m",
            "m",
            "--plot",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        env=clean_env(home),
    )
    assert r.returncode == 2 and "pip install 'llmcli[plot]'" in r.stderr


@pytest.mark.parametrize(
    "args,words",
    [
        (["--duration", "soon"], "not a duration"),
        (["--slo", "ttft=1s,speed=3"], "METRIC=TIME"),
        (["-c", "1,2", "--rate", "1,2"], "not both"),
        (["--max-error-rate", "2"], "between 0 and 1"),
        (["--percentiles", "150"], "between 0 and 100"),
        (["--format", "xml"], "table, json or csv"),
    ],
)
def test_bad_options_are_one_line_exit_2_before_any_request(cli, server, args, words):
    r = bench(cli, *args)
    assert r.returncode == 2 and words in r.stderr and r.stderr.count("\n") == 1 and r.stdout == ""
    assert server.chat_requests() == []


def test_duration_stops_issuing_and_profile_settings_apply(cli, server, home):
    r = cli("profile", "add", "lab", "--base-url", server.base_url, "-m", "prof-model")
    assert r.returncode == 0, r
    server.default = Scenario(text="x", delay_first=0.05)
    t = time.monotonic()
    r = cli("bench", "-P", "lab", "--duration", "1s", "-c", "2", "--format", "json", "--input-len", "8")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    (s,) = doc["stages"]
    assert doc["model_id"] == "prof-model" and doc["profile"] == "lab"
    assert 0.9 < s["duration"] < 1.6 and 10 <= s["completed"] <= 45
    assert time.monotonic() - t < 15
    assert {b["model"] for b in chat_bodies(server)} == {"prof-model"}


def _in_pty(home, argv, rows=30, cols=100):
    """Run with stderr (and stdin) on a pseudo-terminal and stdout on a pipe; returns (proc, master, buf)."""
    import fcntl
    import struct
    import termios
    import threading

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = clean_env(home, TERM="xterm-256color")
    for name in ("COLUMNS", "LINES", "COLORTERM"):
        env.pop(name, None)
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # ^C typed into the pty is a SIGINT
    )
    os.close(slave)
    buf = bytearray()

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            buf.extend(data)

    threading.Thread(target=drain, daemon=True).start()
    return proc, master, buf


def test_live_panel_on_the_terminal_and_only_the_report_on_stdout(cli, server, home):
    server.push(Scenario(), Scenario())
    server.default = Scenario(text="w " * 10, delay_between=0.06)
    argv = [sys.executable, "-m", "llmcli", "bench", "--base-url", server.base_url, "-m", "m"]
    proc, master, screen = _in_pty(home, [*argv, "-c", "2", "-n", "6", "--format", "json"])
    out = proc.stdout.read()
    assert proc.wait(30) == 0
    time.sleep(0.2)
    os.close(master)
    doc = json.loads(out)  # stdout: the one document, nothing else
    assert doc["stages"][0]["completed"] == 6 and b"\x1b" not in out
    seen = bytes(screen)
    for words in (b"bench \xc2\xb7 concurrency 2", b"in flight", b"/6 requests", b"TTFT p50", b"ETA"):
        assert words in seen, words
    assert b"TTFT distribution (ms)" in seen and b"E2EL distribution (ms)" in seen  # the charts, at the end
    assert (
        seen.rfind(b"\x1b[?25h") > seen.rfind(b"\x1b[?25l") > -1
    )  # the panel hid the cursor, and gave it back


def test_ctrl_c_typed_in_the_terminal_stops_the_live_view_cleanly(cli, server, home):
    server.push(Scenario(), Scenario(), Scenario(text="a"), Scenario(text="b"))
    server.default = Scenario(text="w " * 400, delay_between=0.05)
    argv = [sys.executable, "-m", "llmcli", "bench", "--base-url", server.base_url, "-m", "m", "-c", "2"]
    proc, master, screen = _in_pty(home, [*argv, "-n", "20"])
    deadline = time.monotonic() + 20
    while b"in flight" not in screen and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.write(master, b"\x03")
    out = proc.stdout.read()
    assert proc.wait(20) == 130
    os.close(master)
    text = out.decode()
    assert "INTERRUPTED" in text and "2 completed" in text and "2 cancelled" in text
    assert "\x1b" not in text and "Traceback" not in bytes(screen).decode("utf-8", "replace")


def test_real_llama_server_sweep_without_errors_and_with_server_usage(llama_server, home):
    from conftest import Cli

    srv = llama_server("-np", "4")
    r = Cli(home, None)(
        "bench", "--base-url", srv.base_url, "-c", "1,2,4", "-n", "12", "--input-len", "64",
        "--output-len", "24", "--ignore-eos", "--format", "json", timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["model_id"] == srv.model  # the server's only model, found by itself
    assert [s["max_concurrency"] for s in doc["stages"]] == [1, 2, 4]
    for s in doc["stages"]:
        assert s["completed"] == 12 and s["failed"] == 0 and s["cancelled"] == 0
        assert not s["usage_estimated"] and s["estimated_requests"] == 0
        assert s["total_output_tokens"] == 12 * 24  # ignore_eos honoured: every answer is --output-len long
        assert s["mean_input_tokens"] == pytest.approx(64, rel=0.25)  # calibrated to its tokenizer
        assert s["median_ttft_ms"] > 0 and s["max_concurrent_requests"] == s["max_concurrency"]


def test_the_key_appears_in_no_output_and_no_file(cli, server, tmp_path):
    key = "sk-sentinel-bench-424242"
    server.require_key = key
    out, log = tmp_path / "run.json", tmp_path / "req.jsonl"
    r = bench(
        cli, "-n", "2", "--debug", "--format", "json", "--save", str(out), "--save-requests", str(log),
        env={"LLMCLI_API_KEY": key},
    )  # fmt: skip
    assert r.returncode == 0, r
    assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {key}"
    for text in (r.stdout, r.stderr, out.read_text(), log.read_text()):
        assert key not in text


def test_no_retries_unless_asked_on_the_command_line(cli, server, home):
    cli("profile", "add", "retrying", "--base-url", server.base_url, "-m", "m")
    cli("profile", "set", "retrying", "max_retries", "3")
    server.push(Scenario(), Scenario(), Scenario(status=503))
    r = cli("bench", "-P", "retrying", "-n", "1", "--format", "json", "--input-len", "8")
    assert json.loads(r.stdout)["stages"][0]["failed"] == 1  # the profile's retries do not apply
    server.reset()
    server.push(Scenario(), Scenario(), Scenario(status=503))
    r = cli(
        "bench", "-P", "retrying", "-n", "1", "--format", "json", "--input-len", "8", "--max-retries", "1"
    )
    doc = json.loads(r.stdout)
    assert doc["stages"][0]["completed"] == 1 and doc["load"]["retries"] == 1


def test_synthetic_prompts_are_sized_in_the_servers_tokens_template_included():
    """A tokenizer that counts 1.5 tokens a word and 15 for the chat template: after calibration the
    prompts the server counts are --input-len long, not --input-len plus the template."""
    from llmcli.bench.datasets import CALIBRATION_WORDS, calibrate, synthetic

    def server_count(text: str) -> float:
        units = len(text.split()) + text.count(".")  # a word, or a full stop: a unit each
        return 15 + 1.5 * units

    dataset = synthetic(100, 10, seed=7)
    calibrate(dataset, base_tokens=int(server_count("Hello")), text_tokens_=int(15 + 1.5 * CALIBRATION_WORDS))
    sizes = [server_count(p.messages[0]["content"]) for p in itertools.islice(dataset.prompts, 30)]
    assert sum(sizes) / len(sizes) == pytest.approx(100, abs=2)
    assert all(abs(s - 100) <= 3 for s in sizes), sizes

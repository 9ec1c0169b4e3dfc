"""The response cache: a deterministic repeat makes no request, only whole answers are kept (never a
Ctrl-C'd, cut, `length` or failed one), concurrent processes are safe, the file is private and bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import pytest
from conftest import clean_env
from refserver import Scenario

DET = ["-m", "m", "--temperature", "0", "--cache"]


def cached_ask(cli, *args, **kw):
    return cli.ask(*DET, *args, **kw)


def test_second_identical_deterministic_ask_makes_no_request(cli, server, home):
    server.push(Scenario(text="Lisbon,\n exactly  as sent \u00e9"))
    first = cached_ask(cli, "capital of Portugal?")
    assert first.returncode == 0 and len(server.chat_requests()) == 1
    second = cached_ask(cli, "--stats", "capital of Portugal?")
    assert second.returncode == 0, second
    assert len(server.chat_requests()) == 1  # the server saw no second request
    assert second.stdout_bytes == first.stdout_bytes == "Lisbon,\n exactly  as sent \u00e9".encode()
    assert "cached" in second.stderr
    doc = json.loads(cached_ask(cli, "--format", "json", "capital of Portugal?").stdout)
    assert doc["cached"] is True and doc["content"] == first.stdout
    assert len(server.chat_requests()) == 1
    # --no-stream asks the same question: the same entry. Another prompt or option: another one.
    assert cached_ask(cli, "--no-stream", "capital of Portugal?").stdout == first.stdout
    assert len(server.chat_requests()) == 1
    cached_ask(cli, "--max-tokens", "9", "capital of Portugal?")
    assert len(server.chat_requests()) == 2
    # The file is private from the start, in a private folder, and holds no key.
    db = home / "cache.db"
    assert db.stat().st_mode & 0o777 == 0o600 and home.stat().st_mode & 0o777 == 0o700
    # A hit is still history: both exchanges are saved.
    assert len(json.loads(cli("history", "list", "--format", "json").stdout)) == 5


def test_the_key_is_not_part_of_the_cache(cli, server, home):
    server.push(Scenario(text="same answer"))
    key = "sk-CACHEKEY-0123456789abcdef"
    assert cached_ask(cli, "q", env={"LLMCLI_API_KEY": key}).returncode == 0
    r = cached_ask(cli, "q", env={"LLMCLI_API_KEY": "sk-other-key-000000000000"})
    assert r.stdout == "same answer" and len(server.chat_requests()) == 1
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_only_deterministic_requests_unless_cache_any(cli, server):
    cli.ask("-m", "m", "--cache", "q")
    cli.ask("-m", "m", "--cache", "q")
    assert len(server.chat_requests()) == 2  # no temperature 0, no seed: not cached
    cli.ask("-m", "m", "--cache", "--seed", "4", "q")
    cli.ask("-m", "m", "--cache", "--seed", "4", "q")
    assert len(server.chat_requests()) == 3  # a seed makes it deterministic
    cli.ask("-m", "m", "--cache-any", "--temperature", "0.9", "q")
    r = cli.ask("-m", "m", "--cache-any", "--temperature", "0.9", "q")
    assert len(server.chat_requests()) == 4 and r.stdout == "Hello from the reference server."


@pytest.mark.parametrize(
    "scenario,rc",
    [
        (Scenario(text="alpha beta gamma", cut_after=2), 7),
        (Scenario(text="alpha beta gamma", error_after=2), 7),
        (Scenario(text="cut at the limit", finish_reason="length"), 0),
        (Scenario(text="filtered", finish_reason="content_filter"), 7),  # stopped by the provider
        (Scenario(status=500, headers={"retry-after-ms": "10"}), 6),
        (Scenario(text="", chunks=[]), 0),  # complete but empty (CONTRACT.md): still not kept
    ],
    ids=["cut", "error-event", "length", "content-filter", "5xx", "empty"],
)
def test_incomplete_or_failed_answers_are_never_replayed(cli, server, scenario, rc):
    server.push(scenario)
    first = cached_ask(cli, "--max-retries", "0", "q")
    assert first.returncode == rc, first
    server.push(Scenario(text="the real answer"))
    second = cached_ask(cli, "q")
    assert second.returncode == 0 and second.stdout == "the real answer"
    assert len(server.chat_requests()) == 2  # asked again


def test_an_interrupted_answer_is_never_replayed(cli, server, home):
    server.push(Scenario(text="word " * 200, delay_between=0.03))
    env = clean_env(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmcli", "ask", "--base-url", server.base_url, *DET, "slow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    got = proc.stdout.read(20)  # the answer has begun
    assert got.startswith(b"word")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode in (130, -2)
    server.push(Scenario(text="fresh"))
    r = cached_ask(cli, "slow")
    assert r.stdout == "fresh" and len(server.chat_requests()) == 2


def test_complete_is_cached_too_and_the_profile_can_turn_it_on(cli, server, home):
    cli("profile", "add", "cached", "--base-url", server.base_url)
    cli("profile", "set", "cached", "cache", "true")
    base = [
        "complete",
        "-P",
        "cached",
        "-m",
        "base",
        "--seed",
        "1",
        "--logprobs",
        "1",
        "--format",
        "json",
        "Once",
    ]
    first = json.loads(cli(*base).stdout)
    second = json.loads(cli(*base).stdout)
    assert len(server.requests) == 1
    assert second["cached"] is True and first["cached"] is False
    assert second["content"] == first["content"] and second["logprobs"] == first["logprobs"]
    cli(*base, "--no-cache")
    assert len(server.requests) == 2  # --no-cache wins over the profile


def test_cache_stats_and_clear(cli, server, home):
    r = cli("cache", "stats", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["entries"] == 0
    cached_ask(cli, "one")
    cached_ask(cli, "two")
    cached_ask(cli, "two")
    s = json.loads(cli("cache", "stats", "--format", "json").stdout)
    assert s["entries"] == 2 and s["hits"] == 1 and s["bytes"] > 0 and s["path"].endswith("cache.db")
    assert "entries: 2" in cli("cache", "stats").stdout
    r = cli("cache", "clear")
    assert r.returncode == 0 and "2 answers removed" in r.stderr
    assert json.loads(cli("cache", "stats", "--format", "json").stdout)["entries"] == 0
    cached_ask(cli, "two")
    assert len(server.chat_requests()) == 3


# --- the file itself -------------------------------------------------------------------------------


def _writer(path: str, worker: int, n: int) -> None:
    from llmcli.store.cache import CacheFile

    cache = CacheFile(Path(path), max_bytes=50 * 1024 * 1024)
    for i in range(n):
        cache.put(f"k{worker}-{i}", "http://x/v1/chat/completions", {"content": f"{worker}:{i}" * 20})
        assert cache.get(f"k{worker}-{i}") is not None
    cache.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    from llmcli.store.cache import CacheFile

    path = tmp_path / "data" / "cache.db"
    ctx = get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = CacheFile(path, max_bytes=50 * 1024 * 1024)
    try:
        assert cache.stats().entries == 160
        assert cache.get("k3-39") == {"content": "3:39" * 20}
        assert cache._read("PRAGMA integrity_check")[0][0] == "ok"
    finally:
        cache.close()
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_size_bound_evicts_the_least_recently_used(tmp_path):
    from llmcli.store.cache import CacheFile

    cache = CacheFile(tmp_path / "cache.db", max_bytes=10_000)
    for i in range(5):
        cache.put(f"k{i}", "u", {"content": "x" * 1000})
        time.sleep(0.002)
    cache.get("k0")  # used again: now the most recent
    for i in range(5, 12):
        cache.put(f"k{i}", "u", {"content": "x" * 1000})
        time.sleep(0.002)
    s = cache.stats()
    assert s.bytes <= 10_000
    assert cache.get("k0") is not None  # kept: it was used
    assert cache.get("k1") is None  # the oldest unused went first
    assert cache.get("k11") is not None
    cache.close()


def test_an_unusable_cache_file_is_a_warning_not_a_failure(cli, server, home):
    home.mkdir(mode=0o700, exist_ok=True)
    (home / "cache.db").mkdir()  # a folder where the file should be
    r = cached_ask(cli, "q")
    assert r.returncode == 0 and r.stdout == "Hello from the reference server."
    assert "cache not used" in r.stderr

"""`llmcli ask` as a user and a pipeline meet it: prompt sources, outputs, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import assert_no_traceback, clean_env
from refserver import Scenario


def user_message(server) -> str:
    return server.chat_requests()[-1].body["messages"][-1]["content"]


def test_pipeline_prints_exactly_the_answer(cli, server):
    server.default = Scenario(text="A summary.\nSecond line, no newline at the end")
    r = cli.ask("-m", "M", "summarise:", input="data\n")
    assert r.returncode == 0
    assert r.stdout_bytes == b"A summary.\nSecond line, no newline at the end"
    assert r.stderr == ""
    assert user_message(server) == "summarise:\n\ndata"


def test_arguments_are_joined_with_spaces(cli, server):
    assert cli.ask("-m", "M", "what", "is", "2+2?").returncode == 0
    assert user_message(server) == "what is 2+2?"


def test_stdin_alone_and_trailing_newlines_stripped(cli, server):
    assert cli.ask("-m", "M", input="line one\nline two\n\n\n").returncode == 0
    assert user_message(server) == "line one\nline two"
    assert cli.ask("-m", "M", "-", input="from stdin only\n").returncode == 0
    assert user_message(server) == "from stdin only"


@pytest.mark.parametrize("prompt,stdin", [("", None), ("   ", None), ("", "  \n\n"), (None, "\n \t\n")])
def test_empty_prompt_is_a_usage_error_and_sends_nothing(cli, server, prompt, stdin):
    args = ["-m", "M"] + ([prompt] if prompt is not None else [])
    r = cli.ask(*args, input=stdin)
    assert r.returncode == 2, r
    assert "empty" in r.stderr and r.stdout == ""
    assert server.requests == []


def test_invalid_utf8_names_the_offset_and_sends_nothing(cli, server):
    r = cli.ask("-m", "M", "hi", input=b"good text \xff\xfe then bad")
    assert r.returncode == 2
    assert "byte offset 10" in r.stderr
    assert r.stderr.count("\n") == 1  # one line
    assert server.requests == []


def test_no_prompt_on_a_terminal_is_a_usage_hint(home, server):
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "ask", "--base-url", server.base_url, "-m", "M"],
        env=clean_env(home),
        timeout=20,
        encoding="utf-8",
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "no prompt" in child.before
    assert server.requests == []


def test_unknown_option_is_exit_2(cli, server):
    r = cli.ask("--frobnicate", "hi")
    assert r.returncode == 2 and server.requests == []
    assert_no_traceback(r.stderr)


def test_bad_option_syntax(cli, server):
    r = cli.ask("-m", "M", "-o", "novalue", "hi")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr and server.requests == []


def test_options_are_accepted_after_the_command(cli, server):
    r = cli("ask", "--base-url", server.base_url, "-m", "M", "--debug", "hi")
    assert r.returncode == 0
    assert "POST" in r.stderr  # --debug shows the request on stderr, never on stdout
    assert r.stdout == Scenario().text


def test_format_json(cli, server):
    server.default = Scenario(text="forty-two", chunks=["forty", "-two"])
    r = cli.ask("-m", "M", "--format", "json", "question")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc["content"] == "forty-two"
    assert doc["model"] == "M"
    assert doc["finish_reason"] == "stop"
    assert doc["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert set(doc["timing"]) == {"ttft_s", "total_s", "tokens_per_s"}
    assert doc["timing"]["ttft_s"] <= doc["timing"]["total_s"]
    assert "conversation_id" in doc
    assert r.stdout.count("\n") == 1


def test_stats_line_on_stderr(cli, server):
    r = cli.ask("-m", "M", "--stats", "question")
    assert r.returncode == 0
    assert r.stdout == Scenario().text
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ttft" in lines[0] and "tokens/s" in lines[0] and "completion tokens" in lines[0]
    assert "estimated" not in lines[0]


def test_stats_say_when_token_counts_are_estimates(cli, server):
    server.default = Scenario(usage=False)
    r = cli.ask("-m", "M", "--stats", "question")
    assert r.returncode == 0 and "estimated" in r.stderr


def test_length_keeps_the_answer_and_says_so(cli, server):
    server.default = Scenario(text="partial answ", finish_reason="length")
    r = cli.ask("-m", "M", "--max-tokens", "3", "q")
    assert r.returncode == 0
    assert r.stdout == "partial answ"
    assert "max_tokens (3 tokens)" in r.stderr


def test_reasoning_never_reaches_stdout(cli, server):
    server.default = Scenario(text="final", reasoning="private chain of thought")
    for extra in ([], ["--no-stream"], ["--format", "json"]):
        r = cli.ask("-m", "M", *extra, "q")
        assert r.returncode == 0
        assert "private" not in r.stdout


def test_model_defaults_to_the_servers_only_model(cli, server):
    server.models = [{"id": "only-one", "object": "model", "created": 1, "owned_by": "me"}]
    r = cli.ask("hi")
    assert r.returncode == 0, r
    assert server.chat_requests()[-1].body["model"] == "only-one"


def test_no_model_with_many_on_the_server_is_a_usage_error(cli, server):
    r = cli.ask("hi")
    assert r.returncode == 2 and "ref-model" in r.stderr
    assert server.chat_requests() == []


def test_streamed_deltas_are_flushed_as_they_arrive(home, server):
    """Into a pipe, each delta is readable before the next one is sent."""
    server.default = Scenario(text="first second", chunks=["first ", "second"], delay_between=3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmcli", "ask", "--base-url", server.base_url, "-m", "M", "go"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(home),
    )
    try:
        first = os.read(proc.stdout.fileno(), 100)
        assert first == b"first "
        assert proc.poll() is None  # still waiting for the second delta
        assert proc.stdout.read() == b"second"
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait()


def test_unreachable_server_is_exit_6_with_host(cli):
    r = cli("ask", "--base-url", "http://127.0.0.1:9/v1", "-m", "M", "--max-retries", "0", "hi")
    assert r.returncode == 6
    assert "127.0.0.1:9" in r.stderr and "could not connect" in r.stderr
    assert r.stderr.count("\n") == 1
    assert_no_traceback(r.stderr)


def test_write_failure_is_exit_1(cli, server):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            cli.argv("ask", "--base-url", server.base_url, "-m", "M", "hi"),
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            env=cli.env,
            timeout=30,
        )
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "cannot write" in err and err.count("\n") == 1
    assert_no_traceback(err)


def test_closed_pipe_is_quiet_141(cli, server):
    server.default = Scenario(text="line one\n" * 2000, chunks=["line one\n"] * 2000)
    proc = subprocess.run(
        f"{sys.executable} -m llmcli ask --base-url {server.base_url} -m M hi | head -c 20",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        env={**cli.env, "PIPESTATUS_PLEASE": "1"},
        timeout=30,
    )
    assert proc.stdout == b"line one\nline one\nli"
    assert proc.stderr == b""
    script = f"{sys.executable} -m llmcli ask --base-url {server.base_url} -m M hi | head -c 20 >/dev/null; echo ${{PIPESTATUS[0]}}"
    proc = subprocess.run(
        script, shell=True, executable="/bin/bash", capture_output=True, env=cli.env, timeout=30
    )
    assert proc.stdout.strip() == b"141"
    assert proc.stderr == b""


def test_closed_stdout_is_one_clear_error(cli, server):
    proc = subprocess.run(
        f"{sys.executable} -m llmcli ask --base-url {server.base_url} -m M hi >&-",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        env=cli.env,
        timeout=30,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "cannot write to stdout" in err and err.count("\n") == 1
    assert_no_traceback(err)


@pytest.mark.parametrize("args", [["--temperature", "nan"], ["--top-p", "inf"], ["--temperature", "-inf"]])
def test_non_finite_numbers_are_usage_errors(cli, server, args):
    r = cli.ask("-m", "M", *args, "hi")
    assert r.returncode == 2 and "finite" in r.stderr and server.requests == []


def test_option_values_that_are_not_strict_json_are_sent_as_text(cli, server):
    assert cli.ask("-m", "M", "-o", "x=NaN", "-o", "y=Infinity", "hi").returncode == 0
    body = server.chat_requests()[-1].body
    assert body["x"] == "NaN" and body["y"] == "Infinity"


def test_stream_false_option_drops_stream_options(cli, server):
    assert cli.ask("-m", "M", "-o", "stream=false", "hi").returncode == 0
    body = server.chat_requests()[-1].body
    assert body["stream"] is False and "stream_options" not in body


def test_parent_folders_are_private_even_under_umask_000(tmp_path, server):
    import stat

    home = tmp_path / "a" / "b" / "home"
    env = {**clean_env(home)}
    proc = subprocess.run(
        f"umask 000; {sys.executable} -m llmcli ask --base-url {server.base_url} -m M hi",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    for folder in (tmp_path / "a", tmp_path / "a" / "b", home):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder

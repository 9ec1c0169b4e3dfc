"""Bad input is a usage error, never an internal error (issue 9, items 8 and 11).

Bytes that are not UTF-8 in arguments and LLMCLI_* variables, a timeout no timer can take, a lone
surrogate in -o, the REPL's /set checked like ask's flags, and the error-masking path of a turn.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import assert_no_traceback, clean_env


def raw(data: bytes) -> str:
    """Bytes as Python hands them over from argv or the environment (undecodable ones as surrogates)."""
    return data.decode("utf-8", "surrogateescape")


def one_line_usage_error(r) -> None:
    assert r.returncode == 2, r
    assert r.stderr.count("\n") == 1, r.stderr
    assert "internal error" not in r.stderr
    assert_no_traceback(r.stderr)


@pytest.mark.parametrize(
    "args,named",
    [
        (["-m", raw(b"mod\xffel")], "the value of -m is not valid UTF-8 (byte 0xff at offset 3)"),
        (["-s", raw(b"\xe9t\xe9")], "the value of -s is not valid UTF-8 (byte 0xe9 at offset 0)"),
        (["--stop", raw(b"END\xfe")], "the value of --stop is not valid UTF-8 (byte 0xfe at offset 3)"),
        ([raw(b"--stop=\xfe")], "the value of --stop is not valid UTF-8 (byte 0xfe at offset 0)"),
        ([raw(b"caf\xe9 au lait")], "('caf\\xe9 au lait') is not valid UTF-8 (byte 0xe9 at offset 3)"),
    ],
)
@pytest.mark.parametrize("save", [True, False])
def test_arguments_that_are_not_utf8_are_named(cli, server, home, args, named, save):
    extra = [] if save else ["--no-save"]
    r = cli.ask("-m", "m", *extra, *args, "hi" if args[0].startswith("-") else "there")
    one_line_usage_error(r)
    assert named in r.stderr, r.stderr
    assert server.requests == [] and not (home / "history.db").exists()


def test_history_search_text_that_is_not_utf8(offline_cli):
    r = offline_cli("history", "search", raw(b"\xfe\xff"))
    one_line_usage_error(r)
    assert "argument 3 ('\\xfe\\xff') is not valid UTF-8" in r.stderr


@pytest.mark.parametrize("name", ["LLMCLI_MODEL", "LLMCLI_BASE_URL", "LLMCLI_PROFILE", "LLMCLI_HOME"])
def test_llmcli_variables_that_are_not_utf8_are_named(cli, server, home, name):
    value = raw(b"/tmp/h\xffome") if name == "LLMCLI_HOME" else raw(b"x\xff")
    r = cli.ask("hi", env={name: value})
    one_line_usage_error(r)
    assert f"the environment variable {name} is not valid UTF-8 (byte 0xff at offset" in r.stderr
    assert server.requests == []


@pytest.mark.parametrize("value", ["1e10", "1e300", "2e6"])
def test_a_timeout_beyond_any_timer_is_a_usage_error(cli, server, value):
    r = cli.ask("-m", "m", "--timeout", value, "--no-save", "hi")
    one_line_usage_error(r)
    assert "at most 1000000 seconds" in r.stderr and server.requests == []
    r = cli("profile", "add", "slow", "--base-url", server.base_url, "--timeout", value)
    one_line_usage_error(r)


def test_the_longest_timeout_is_taken(cli, server):
    r = cli.ask("-m", "m", "--timeout", "1e6", "hi")
    assert r.returncode == 0, r


def test_a_lone_surrogate_escape_in_an_option_value(cli, server):
    r = cli.ask("-m", "m", "-o", 'stop="\\ud800"', "hi")
    one_line_usage_error(r)
    assert "-o stop: the value holds half of a UTF-16 surrogate pair" in r.stderr
    assert server.requests == []


# A bug planted in the transport: a ValueError (UnicodeEncodeError is one) raised inside the turn.
PLANTED = """
import sys
import llmcli.__main__ as m
from llmcli.transport.http import HttpTransport

def boom(self, request):
    raise ValueError("planted: the real error")
    yield

HttpTransport.stream_chat = boom
sys.argv = ["llmcli", *sys.argv[1:]]
m.main()
"""


@pytest.mark.parametrize("save", [True, False])
def test_an_error_inside_a_turn_is_not_masked(server, home, save):
    argv = ["ask", "--base-url", server.base_url, "-m", "m", "hi", *([] if save else ["--no-save"])]
    r = subprocess.run(
        [sys.executable, "-c", PLANTED, *argv],
        capture_output=True,
        env=clean_env(home),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "internal error: ValueError: planted: the real error" in err
    assert "generator didn't stop" not in err


# --- /set checks values like the flags do (item 11) -------------------------------------------------


@pytest.mark.parametrize(
    "set_line,ask_args,message",
    [
        ("/set max_tokens -5", ["--max-tokens", "-5"], "--max-tokens must be at least 1"),
        ("/set max_tokens 0", ["-o", "max_tokens=0"], "--max-tokens must be at least 1"),
        (
            "/set temperature hot",
            ["-o", "temperature=hot"],
            "--temperature must be a finite number, not 'hot'",
        ),
        ("/set temperature NaN", ["--temperature", "nan"], "--temperature must be a finite number, not "),
        ("/set seed 1.5", ["-o", "seed=1.5"], "--seed must be a whole number, not 1.5"),
        ("/set stream maybe", ["-o", "stream=maybe"], "stream must be true or false, not 'maybe'"),
        ("/set messages []", ["-o", "messages=[]"], "messages cannot be set as an option"),
        ("/set model other", ["-o", "model=other"], "model cannot be set as an option"),
    ],
)
def test_set_refuses_what_ask_refuses_with_the_same_message(cli, server, set_line, ask_args, message):
    r = cli("chat", "--base-url", server.base_url, "-m", "m", input=f"{set_line}\n/set\n")
    assert r.returncode == 0, r
    assert f"llmcli: {message}" in r.stderr, r.stderr
    assert "llmcli: " + set_line.split()[1] + " = " not in r.stderr  # not taken
    a = cli.ask("-m", "m", *ask_args, "hi")
    one_line_usage_error(a)
    assert f"llmcli: error: {message}" in a.stderr, a.stderr
    assert server.chat_requests() == []


def test_set_takes_good_values_and_sends_them(cli, server):
    lines = "/set max_tokens 5\n/set temperature 0.5\n/set stream false\n/set seed 7\nhello\n"
    r = cli("chat", "--base-url", server.base_url, "-m", "m", input=lines)
    assert r.returncode == 0, r
    body = server.chat_requests()[-1].body
    assert body["max_tokens"] == 5 and body["temperature"] == 0.5 and body["seed"] == 7
    assert body["stream"] is False

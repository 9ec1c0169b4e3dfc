"""`--show-request`: every form prints the request the transport would send; curl, python and openai
forms are executed against the reference server and get the same answer llmcli gets; no key appears
in any form; nothing is sent while showing."""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import clean_env
from refserver import Scenario

SENTINEL = "sk-SHOW-" + secrets.token_hex(10)
FORMS = ["curl", "python", "openai", "json", "httpie"]

# (command, its arguments, the answer the reference server gives, how a snippet's stdout shows it)
CASES = {
    "ask": (
        [
            "ask",
            "-m",
            "m",
            "-s",
            "be brief",
            "--temperature",
            "0",
            "-o",
            'response_format={"type":"text"}',
            "it's",
        ],
        "Grüße, it's fine",
    ),
    "ask-no-stream": (["ask", "-m", "m", "--no-stream", "--max-tokens", "5", "hi"], "whole answer"),
    "complete": (["complete", "-m", "base", "--max-tokens", "4", "--logprobs", "1", "Once"], " upon a time"),
    "embed": (["embed", "-m", "emb", "--dimensions", "3", "one", "two"], None),
}


def run(cli, *args, env=None, **kw):
    return cli(
        *args, "--base-url", cli.server.base_url, env={"LLMCLI_API_KEY": SENTINEL, **(env or {})}, **kw
    )


def execute(form: str, text: str, home) -> subprocess.CompletedProcess:
    env = clean_env(home, LLMCLI_API_KEY=SENTINEL)
    if form == "curl":
        return subprocess.run(["bash", "-c", text], capture_output=True, env=env, timeout=60)
    return subprocess.run([sys.executable, "-c", text], capture_output=True, env=env, timeout=60)


def sse_text(raw: bytes, field: str) -> str:
    out = []
    for line in raw.decode().splitlines():
        if line.startswith("data: ") and line[6:] != "[DONE]":
            for choice in json.loads(line[6:]).get("choices") or []:
                piece = choice["delta"].get("content") if field == "delta" else choice.get("text")
                out.append(piece or "")
    return "".join(out)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", list(CASES))
def test_each_form_is_the_request_llmcli_sends_and_gets_the_same_answer(cli, server, home, case, form):
    args, answer = CASES[case]
    server.require_key = SENTINEL

    # What llmcli itself sends and gets.
    if answer is not None:
        server.push(Scenario(text=answer))
    real = run(cli, *args)
    assert real.returncode == 0, real
    (sent,) = server.requests
    server.requests.clear()

    shown = run(cli, *args, "--show-request", form)
    assert shown.returncode == 0, shown
    assert not server.requests  # nothing was sent while showing
    assert SENTINEL not in shown.stdout + shown.stderr  # no key in any form
    assert "$LLMCLI_API_KEY" in shown.stderr and "nothing was sent" in shown.stderr

    if form == "json":
        doc = json.loads(shown.stdout)
        assert doc["url"] == server.base_url.removesuffix("/v1") + sent.path
        assert doc["body"] == sent.body
        assert doc["headers"]["Authorization"] == "Bearer $LLMCLI_API_KEY"
        assert doc["headers"]["User-Agent"] == sent.headers["user-agent"]
        return
    if form == "httpie":
        words = shlex.split(shown.stdout.replace("\\\n", " "))
        assert words[:2] == ["http", "--ignore-stdin"] and "POST" in words
        assert json.loads(words[words.index("--raw") + 1]) == sent.body
        assert "Authorization:Bearer $LLMCLI_API_KEY" in words
        if shutil.which("http") is None:
            return  # httpie is not installed here: its command line is checked above
    if form == "httpie" or form == "curl":
        assert f"Bearer {SENTINEL}" not in shown.stdout

    if answer is not None:
        server.push(Scenario(text=answer))
    ran = execute(form, shown.stdout, home)
    assert ran.returncode == 0, (ran.stdout, ran.stderr[-2000:])
    (again,) = server.requests
    assert again.body == sent.body and again.path == sent.path
    assert again.headers["authorization"] == f"Bearer {SENTINEL}"  # read from the environment
    if form == "curl":
        assert again.raw_body == sent.raw_body  # byte for byte
        assert again.headers["user-agent"] == sent.headers["user-agent"]
        assert again.headers["content-type"] == sent.headers["content-type"]
    out = ran.stdout.decode()
    if case == "embed":
        vectors = [d["embedding"] for d in json.loads(real.stdout)["data"]]
        if form == "curl":
            got = sorted(json.loads(out)["data"], key=lambda d: d["index"])
            assert [d["embedding"] for d in got] == vectors
        elif form == "python":
            got = sorted(json.loads(out)["data"], key=lambda d: d["index"])
            assert [d["embedding"] for d in got] == vectors
        else:  # openai: one vector a line, in the SDK's order (by index)
            assert [json.loads(line) for line in out.splitlines()] == vectors
        return
    if form == "curl":
        if "--no-stream" in args:
            assert json.loads(out)["choices"][0]["message"]["content"] == real.stdout
        else:
            assert sse_text(ran.stdout, "text" if case == "complete" else "delta") == real.stdout
    else:
        assert out == real.stdout + "\n"  # the snippet ends its output with a newline


def test_no_key_means_no_authorization_in_any_form(offline_cli, home):
    for form in FORMS:
        r = offline_cli("ask", "--base-url", "http://127.0.0.1:9/v1", "-m", "m", "--show-request", form, "hi")
        assert r.returncode == 0, r
        assert "Authorization" not in r.stdout and "no key is configured" in r.stderr


def test_openai_key_source_is_named_and_keyring_key_is_never_printed(offline_cli):
    r = offline_cli(
        "ask",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "-m",
        "m",
        "--show-request",
        "python",
        "hi",
        env={"OPENAI_API_KEY": SENTINEL},
    )
    assert (
        r.returncode == 0
        and 'os.environ["OPENAI_API_KEY"]' in r.stdout
        and SENTINEL not in r.stdout + r.stderr
    )


def test_show_request_without_a_model_does_not_ask_the_server(cli, server):
    r = cli.ask("--show-request", "curl", "hi")
    assert r.returncode == 2 and "pass -m" in r.stderr
    assert not server.requests
    # Once llmcli has seen the server's only model, it is used without asking again.
    server.models = [{"id": "solo", "object": "model", "created": 1, "owned_by": "x"}]
    assert cli("models", "--base-url", server.base_url).stdout == "solo\n"
    server.requests.clear()
    r = cli.ask("--show-request", "json", "hi")
    assert r.returncode == 0 and json.loads(r.stdout)["body"]["model"] == "solo"
    assert not server.requests


def test_show_request_saves_nothing_and_rejects_unknown_forms(cli, server, home):
    r = cli.ask("-m", "m", "--show-request", "curl", "hi")
    assert r.returncode == 0
    assert not (home / "history.db").exists()
    r = cli.ask("-m", "m", "--show-request", "wget", "hi")
    assert r.returncode == 2 and "curl, python, openai, json, httpie" in r.stderr


def test_chat_slash_show_request(cli, server):
    lines = "first question\n/show-request json\n/show-request curl next one\n"
    r = cli("chat", "--base-url", server.base_url, "-m", "m", "--no-save", input=lines)
    assert r.returncode == 0, r
    assert len(server.chat_requests()) == 1  # only the real message was sent
    shown_json = r.stdout[r.stdout.index("{") : r.stdout.index("curl ")]
    body = json.loads(shown_json)["body"]
    assert body == server.chat_requests()[0].body  # the last request, as it was sent
    curl = r.stdout[r.stdout.index("curl ") :]
    sent = json.loads(shlex.split(curl.replace("\\\n", " "))[-1])
    assert [m["content"] for m in sent["messages"]] == [
        "first question",
        "Hello from the reference server.",
        "next one",
    ]

"""llmcli against a real llama.cpp server (tests/llama.py starts it; marker `real_server`)."""

from __future__ import annotations

from conftest import Cli, assert_no_traceback


def test_models_lists_the_real_model(llama_server, home):
    srv = llama_server()
    r = Cli(home, None)("models", "--base-url", srv.base_url)
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    assert r.stdout.split() == [srv.model]


def test_an_empty_answer_from_llama_cpp_is_an_answer(llama_server, home):
    """llama.cpp ends at once when the end-of-sequence token comes first: finish_reason stop, no text.
    That is a complete, empty answer on both transports (issue 9, item 5), not an error."""
    import json

    srv = llama_server()
    cli = Cli(home, None)
    for transport in ("http", "sdk"):
        r = cli(
            "ask", "--base-url", srv.base_url, "--transport", transport, "-o", 'logit_bias={"2": 100}',
            "--format", "json", "hi",
        )  # fmt: skip
        assert_no_traceback(r.stderr)
        assert r.returncode == 0, (transport, r)
        doc = json.loads(r.stdout)
        assert doc["content"] == "" and doc["finish_reason"] == "stop", doc
        assert "ended the answer without any text (finish_reason: stop)" in r.stderr
        shown = json.loads(cli("history", "show", doc["conversation_id"], "--format", "json").stdout)
        assert shown["messages"][-1]["status"] == "complete"

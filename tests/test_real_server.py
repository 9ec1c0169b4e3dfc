"""llmcli against a real llama.cpp server (tests/llama.py starts it; marker `real_server`)."""

from __future__ import annotations

from conftest import Cli, assert_no_traceback


def test_models_lists_the_real_model(llama_server, home):
    srv = llama_server()
    r = Cli(home, None)("models", "--base-url", srv.base_url)
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    assert r.stdout.split() == [srv.model]

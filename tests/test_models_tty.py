"""`llmcli models` on a real terminal: a table, not bare ids."""

from __future__ import annotations

import sys

import pexpect
from conftest import clean_env


def test_models_table_on_a_terminal(home, server):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmcli", "models", "--base-url", server.base_url],
        env=clean_env(home, COLUMNS="100", LINES="30"),
        timeout=20,
        encoding="utf-8",
        dimensions=(30, 100),
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert child.exitstatus == 0
    assert "owned by" in out and "created" in out  # table headers
    assert "ref-model-large" in out and "llmcli-tests" in out and "2023-11-14" in out

"""The error boundary and startup hygiene: no traceback unless --debug, heavy modules stay unloaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import clean_env

CRASH = """
import sys, llmcli.cli.ask as ask, llmcli.__main__ as m
def boom(*a, **k):
    raise RuntimeError("kaboom sk-sentinel-key-000111")
ask.read_prompt = boom
sys.argv = ["llmcli", *sys.argv[1:]]
m.main()
"""


def crash(home, *args):
    env = clean_env(home, LLMCLI_API_KEY="sk-sentinel-key-000111")
    return subprocess.run(
        [sys.executable, "-c", CRASH, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


def test_internal_error_is_exit_1_with_report_hint_and_no_traceback(home):
    r = crash(home, "ask", "--base-url", "http://127.0.0.1:9/v1", "hi")
    assert r.returncode == 1
    assert "internal error" in r.stderr and "report" in r.stderr and "--debug" in r.stderr
    assert "Traceback" not in r.stderr
    assert "sk-sentinel-key-000111" not in r.stderr  # scrubbed even from exception text
    assert r.stdout == ""


def test_debug_shows_the_traceback(home):
    r = crash(home, "ask", "--debug", "--base-url", "http://127.0.0.1:9/v1", "hi")
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "RuntimeError" in r.stderr
    assert "sk-sentinel-key-000111" not in r.stderr


HEAVY = [
    "openai",
    "httpx2",
    "keyring",
    "prompt_toolkit",
    "rich.markdown",
    "rich.live",
    "sqlite3",
    "aiohttp",
    "plotext",
    "matplotlib",
]


def loaded_after(code: str, home) -> set[str]:
    probe = f"import sys, json, atexit\natexit.register(lambda: print(chr(10) + json.dumps(sorted(sys.modules))))\n{code}"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=clean_env(home), check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_nothing_heavy(home):
    mods = loaded_after("import llmcli.__main__, llmcli.cli.app", home)
    assert not {m for m in HEAVY if m in mods}, mods & set(HEAVY)
    assert "httpx" not in mods and "rich" not in mods  # --help and --version need neither


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["ask", "--help"]])
def test_help_and_version_never_import_openai(home, args):
    code = (
        "import sys\nsys.argv=['llmcli', *" + repr(args) + "]\n"
        "import llmcli.__main__ as m\n"
        "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
    )
    mods = loaded_after(code, home)
    assert "openai" not in mods and "httpx2" not in mods and "keyring" not in mods


def test_ask_with_http_transport_does_not_import_the_sdk(home, server):
    # With an environment key the keyring is never consulted, so never imported (CONTRACT.md; without
    # any key llmcli does look in the keyring: tests/test_auth.py covers both).
    code = (
        "import os, sys\nos.environ['LLMCLI_API_KEY'] = 'sk-boundary-0123456789'\n"
        "sys.argv=['llmcli','ask','--base-url','" + server.base_url + "','-m','m','hi']\n"
        "import llmcli.__main__ as m\n"
        "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
    )
    mods = loaded_after(code, home)
    assert "httpx" in mods  # it did make the request
    for heavy in ("openai", "httpx2", "keyring", "rich.markdown", "prompt_toolkit"):
        assert heavy not in mods, heavy


def test_ruff_bans_heavy_module_level_imports():
    """The same rule, enforced statically (TID253) for every module outside its own layer."""
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "TID253", "llmcli"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_python_dash_m_works(home):
    r = subprocess.run(
        [sys.executable, "-m", "llmcli", "--version"], capture_output=True, text=True, env=clean_env(home)
    )
    assert r.returncode == 0 and r.stdout.startswith("llmcli ")


@pytest.mark.parametrize(
    "args", [["bogus"], ["ask", "--temperature", "hot", "x"], ["ask", "--frob"], ["profile", "show"]]
)
def test_usage_errors_are_one_line_exit_2(offline_cli, args):
    r = offline_cli(*args)
    assert r.returncode == 2
    assert r.stderr.startswith("llmcli: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "--help" in r.stderr and r.stdout == ""

"""The error boundary and startup hygiene: no traceback unless --debug, heavy modules stay unloaded."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import clean_env, crash


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
    mods = loaded_after("import llmcli.__main__, llmcli.cli.app as a\na.app", home)  # the whole tree
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
    # Into a pipe nothing draws; and httpx's own CLI (click, rich, pygments) stays out although click
    # is installed here (the test extra brings it).
    for heavy in ("rich", "click", "pygments"):
        assert heavy not in mods, heavy


@pytest.mark.parametrize(
    "args,stdin",
    [
        (["ask", "-m", "m", "hi"], None),
        (["ask", "-m", "m", "--no-stream", "--no-save", "hi"], None),
        (["chat", "-m", "m"], "hello\n"),
        (["models"], None),
        (["config", "show"], None),
    ],
)
def test_the_keyless_path_never_imports_keyring(home, server, args, stdin):
    """No key anywhere and no profile marked by `auth login`: keyring is not even imported (CONTRACT.md:
    a server that needs no key works at no cost)."""
    code = (
        "import sys\n"
        f"sys.argv = ['llmcli', *{args!r}, '--base-url', {server.base_url!r}]\n"
        "import llmcli.__main__ as m\n"
        "try:\n    m.main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    )
    probe = f"import sys, json, atexit\natexit.register(lambda: print(chr(10) + json.dumps(sorted(sys.modules))))\n{code}"
    env = clean_env(home, PYTHON_KEYRING_BACKEND="")  # what a user has: keyring would discover backends
    out = subprocess.run(
        [sys.executable, "-c", probe], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not {m for m in mods if m.split(".")[0] == "keyring"}, sorted(m for m in mods if "keyring" in m)
    assert "warning" not in out.stderr


REPO = Path(__file__).resolve().parent.parent


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    # From the repository root, so that ruff reads this project's pyproject.toml wherever pytest runs.
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ruff_bans_heavy_module_level_imports():
    """The same rule, enforced statically (TID253) for every module outside its own layer."""
    listed = ruff("check", "--show-files", "--select", "TID253", "llmcli")
    files = {
        Path(line.strip()).resolve() for line in listed.stdout.splitlines() if line.strip().endswith(".py")
    }
    package = {p.resolve() for p in (REPO / "llmcli").rglob("*.py")}
    assert package and files == package, listed.stdout + listed.stderr  # ruff sees every module
    r = ruff("check", "--select", "TID253", "llmcli")
    assert r.returncode == 0, r.stdout + r.stderr
    # and the ban is this project's: a heavy import at module level in a command module is caught
    probe = ruff(
        "check", "--select", "TID253", "--stdin-filename", "llmcli/cli/probe.py", "-", stdin="import httpx\n"
    )
    assert probe.returncode == 1 and "TID253" in probe.stdout, probe.stdout + probe.stderr


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


# --- layers (DESIGN.md): which part of llmcli may import which --------------------------------------

PACKAGE = Path(__file__).resolve().parent.parent / "llmcli"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (relative imports made absolute), at any depth of the file."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def layer_imports(layer: str) -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): imports_of(p) for p in sorted((PACKAGE / layer).glob("*.py"))}


def test_repl_and_render_never_import_the_cli_layer():
    for layer in ("repl", "render"):
        for name, mods in layer_imports(layer).items():
            assert not {m for m in mods if m.startswith("llmcli.cli")}, name


def test_chat_and_ask_share_turn_not_each_other():
    chat = imports_of(PACKAGE / "cli" / "chat.py")
    assert not {m for m in chat if m.startswith("llmcli.cli.ask")}, chat
    ask = imports_of(PACKAGE / "cli" / "ask.py")
    assert not {m for m in ask if m.startswith("llmcli.cli.chat")}, ask


def test_core_imports_no_other_layer_and_nothing_heavy():
    allowed = ("llmcli.core", "llmcli.errors")
    for name, mods in layer_imports("core").items():
        project = {m for m in mods if m.startswith("llmcli.") and not m.startswith(allowed)}
        assert not project, (name, project)
        assert not {m for m in mods if m.split(".")[0] in HEAVY_ROOTS}, name


def test_transport_draws_nothing_and_render_speaks_no_http():
    for name, mods in layer_imports("transport").items():
        assert not {m for m in mods if m.split(".")[0] == "rich" or m.startswith("llmcli.render")}, name
    for name, mods in layer_imports("render").items():
        bad = {m for m in mods if m.split(".")[0] in ("httpx", "httpx2", "openai", "httpx_sse")}
        assert not bad and not {m for m in mods if m.startswith("llmcli.transport")}, name


HEAVY_ROOTS = {"typer", "rich", "httpx", "httpx2", "openai", "keyring", "prompt_toolkit", "sqlite3"}

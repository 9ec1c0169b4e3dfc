"""Shell completion: the scripts are generated, and completion queries are answered in a subprocess
through the shells' protocol (commands, options, profiles, models from the cache, history ids) without
any network call."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import clean_env


def query(home, words: list[str], cword: int | None = None, **env) -> list[str]:
    """What `_LLMCLI_COMPLETE=complete_bash llmcli` answers for the words typed so far."""
    cword = len(words) - 1 if cword is None else cword
    r = subprocess.run(
        [sys.executable, "-m", "llmcli"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=clean_env(
            home, _LLMCLI_COMPLETE="complete_bash", COMP_WORDS=" ".join(words), COMP_CWORD=str(cword), **env
        ),
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout.split()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_scripts_are_generated(offline_cli, shell):
    r = offline_cli("completion", shell)
    assert r.returncode == 0, r
    assert "_LLMCLI_COMPLETE" in r.stdout and f"complete_{shell}" in r.stdout
    if shell == "bash":
        assert "complete -o default -F _llmcli_completion llmcli" in r.stdout
    if shell == "zsh":
        assert r.stdout.startswith("#compdef llmcli")


def test_show_completion_detects_the_shell(offline_cli):
    # The nearest shell among llmcli's parent processes (the one running pytest here), else $SHELL.
    r = offline_cli("--show-completion", env={"SHELL": "/bin/zsh"})
    assert (r.returncode == 0 and "_LLMCLI_COMPLETE=complete_" in r.stdout) or (
        r.returncode == 2 and "completion bash" in r.stderr
    ), r


def test_commands_options_and_profiles_complete(offline_cli, home):
    assert {"ask", "chat", "complete", "embed", "cache", "completion"} <= set(query(home, ["llmcli", ""]))
    assert query(home, ["llmcli", "em"]) == ["embed"]
    assert "--show-request" in query(home, ["llmcli", "ask", "--sho"])
    assert set(query(home, ["llmcli", "ask", "--show-request", ""])) == {
        "curl",
        "python",
        "openai",
        "json",
        "httpie",
    }
    offline_cli("profile", "add", "work", "--base-url", "http://127.0.0.1:9/v1")
    offline_cli("profile", "add", "wonder", "--base-url", "http://127.0.0.1:9/v1")
    assert set(query(home, ["llmcli", "ask", "-P", "wo"])) == {"work", "wonder"}


def test_models_come_from_the_cache_never_the_network(cli, server, home):
    assert query(home, ["llmcli", "ask", "--base-url", server.base_url, "-m", ""]) == []
    assert cli("models", "--base-url", server.base_url).returncode == 0  # fills the cache
    server.requests.clear()
    got = query(home, ["llmcli", "ask", "--base-url", server.base_url, "-m", "ref-model"])
    assert set(got) == {"ref-model", "ref-model-large"}
    assert not server.requests  # completing asked nothing of the server
    cache = json.loads((home / "models-cache.json").read_text())
    assert list(cache) == [server.base_url]
    assert (home / "models-cache.json").stat().st_mode & 0o777 == 0o600


def test_history_ids_complete(cli, server, home):
    cli.ask("-m", "m", "first question")
    (conv,) = json.loads(cli("history", "list", "--format", "json").stdout)
    assert query(home, ["llmcli", "history", "show", conv["id"][:4]]) == [conv["id"]]
    assert query(home, ["llmcli", "ask", "--conversation", ""]) == [conv["id"]]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_bash_script_completes_in_a_real_bash(offline_cli, home, tmp_path):
    script = tmp_path / "llmcli.bash"
    script.write_text(offline_cli("completion", "bash").stdout)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "llmcli").write_text(f'#!/bin/sh\nexec {sys.executable} -m llmcli "$@"\n')
    (shim / "llmcli").chmod(0o755)
    env = clean_env(home, PATH=f"{shim}:/usr/bin:/bin")
    probe = f"source {script}; COMP_WORDS=(llmcli comp); COMP_CWORD=1; _llmcli_completion llmcli; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    r = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["complete", "completion"]


def test_install_writes_the_script_and_one_line_once(offline_cli, tmp_path):
    fake_home = tmp_path / "user"
    fake_home.mkdir()
    (fake_home / ".bashrc").write_text("alias ll='ls -l'")
    for _ in range(2):
        r = offline_cli("completion", "bash", "--install", env={"HOME": str(fake_home)})
        assert r.returncode == 0, r
    rc = (fake_home / ".bashrc").read_text()
    assert rc.startswith("alias ll='ls -l'\n") and rc.count("llmcli.sh") == 1
    assert "_llmcli_completion" in (fake_home / ".bash_completions" / "llmcli.sh").read_text()
    r = offline_cli("completion", "fish", "--install", env={"HOME": str(fake_home)})
    assert r.returncode == 0 and (fake_home / ".config/fish/completions/llmcli.fish").exists()

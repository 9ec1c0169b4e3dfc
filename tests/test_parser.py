"""One argument parser: the connection options (-P, --base-url, --transport, --timeout, --max-retries,
--debug) are parsed by Click, before or after the command name, and a command line means exactly what
Click reads from it. No hand-written scan of argv second-guesses it."""

from __future__ import annotations

import json
import os

import pytest
import typer
from conftest import assert_no_traceback, clean_env, crash
from refserver import Scenario
from typer.main import get_command

from llmcli.cli.app import app
from llmcli.cli.common import load_settings
from llmcli.cli.options import RunState


@pytest.fixture
def env(home, monkeypatch):
    """In this process: the environment the CLI subprocesses get (tests/conftest.py: clean_env)."""
    for key in list(os.environ):
        if key.startswith(("LLMCLI_", "OPENAI_")):
            monkeypatch.delenv(key)
    for key, value in clean_env(home).items():
        monkeypatch.setenv(key, value)
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text(
        '[profiles.a]\nbase_url = "http://a.example/v1"\n[profiles.b]\nbase_url = "http://b.example/v1"\n'
    )
    return home


def parse(capsys, *argv: str, command=None) -> tuple[RunState, dict]:
    """Run llmcli's own Click command in-process on argv; `config show --format json` reports what
    load_settings resolved. Returns the run's state and the settings document."""
    state = RunState()
    capsys.readouterr()
    group = command or get_command(app)
    group.main(args=list(argv), prog_name="llmcli", standalone_mode=False, obj=state)
    return state, json.loads(capsys.readouterr().out or "{}")


@pytest.mark.parametrize(
    "argv,field,value,source",
    [
        (["-P", "a", "config", "show"], "profile", "a", "flag --profile"),
        (["config", "show", "-P", "a"], "profile", "a", "flag --profile"),
        (["config", "show", "-Pb"], "profile", "b", "flag --profile"),
        (["--profile=b", "config", "show"], "profile", "b", "flag --profile"),
        # the value given closest to the command wins
        (
            ["-P", "a", "config", "show", "-P", "b"],
            "base_url",
            "http://b.example/v1",
            "profile 'b' (config.toml)",
        ),
        (
            ["config", "show", "--base-url=http://eq.example/v1"],
            "base_url",
            "http://eq.example/v1",
            "flag --base-url",
        ),
        (
            ["--base-url", "http://root.example/v1", "config", "show", "--base-url", "http://cmd.example/v1"],
            "base_url",
            "http://cmd.example/v1",
            "flag --base-url",
        ),
        # a repeated option: Click keeps the last one
        (["config", "show", "--timeout", "5", "--timeout", "7"], "timeout", "7", "flag --timeout"),
        (["--timeout", "5", "config", "show", "--max-retries", "1"], "timeout", "5", "flag --timeout"),
        (
            ["--timeout", "5", "config", "show", "--max-retries", "1"],
            "max_retries",
            "1",
            "flag --max-retries",
        ),
        (["--transport", "sdk", "config", "show"], "transport", "sdk", "flag --transport"),
        (["--debug", "config", "show"], "debug", "true", "flag --debug"),
        (["config", "show", "--debug"], "debug", "true", "flag --debug"),
        (["config", "show"], "debug", "false", "default"),
    ],
)
def test_connection_options_before_or_after_the_command(env, capsys, argv, field, value, source):
    _, doc = parse(capsys, *argv, "--format", "json")
    assert doc[field] == {"value": value, "source": source}


def test_debug_is_noted_for_the_error_boundary_wherever_it_stands(env, capsys):
    assert parse(capsys, "--debug", "config", "show", "--format", "json")[0].debug
    assert parse(capsys, "config", "show", "--debug", "--format", "json")[0].debug
    assert not parse(capsys, "config", "show", "--format", "json")[0].debug


def test_a_command_that_does_not_declare_them_still_gets_them_from_the_root(env, capsys):
    probe = typer.Typer()

    @probe.command()
    def where() -> None:
        s = load_settings()
        print(json.dumps({"base_url": s.base_url, "profile": s.profile, "timeout": s.timeout}))

    group = get_command(app)
    group.add_command(get_command(probe), "probe")
    _, doc = parse(
        capsys, "--base-url", "http://root.example/v1", "-P", "a", "--timeout", "3", "probe", command=group
    )
    assert doc == {"base_url": "http://root.example/v1", "profile": "a", "timeout": 3.0}
    with pytest.raises(Exception) as exc:  # after the command name it is not that command's option
        parse(capsys, "probe", "--base-url", "http://x/v1", command=group)
    assert "No such command" in str(exc.value) or "No such option" in str(exc.value)


# --- through the real CLI ------------------------------------------------------------------------


def test_an_option_value_that_looks_like_a_flag_is_a_value(cli, server):
    """`-s --debug`: Click reads --debug as the system prompt, so llmcli does too (no debug output)."""
    r = cli.ask("-m", "x", "-s", "--debug", "hi")
    assert r.returncode == 0, r
    assert "debug:" not in r.stderr
    assert server.chat_requests()[-1].body["messages"] == [
        {"role": "system", "content": "--debug"},
        {"role": "user", "content": "hi"},
    ]


def test_double_dash_ends_the_options(cli, server):
    r = cli.ask("-m", "x", "--", "--debug", "-P", "nope")
    assert r.returncode == 0, r
    assert "debug:" not in r.stderr
    assert server.chat_requests()[-1].body["messages"][-1]["content"] == "--debug -P nope"


def test_debug_before_and_after_the_command(cli, server):
    for argv in (
        ["--debug", "ask", "--base-url", server.base_url],
        ["ask", "--base-url", server.base_url, "--debug"],
    ):
        r = cli(*argv, "-m", "x", "hi")
        assert r.returncode == 0 and "llmcli: debug: POST" in r.stderr, (argv, r)


def test_profile_add_keeps_its_own_base_url_transport_and_timeout(offline_cli):
    cli = offline_cli
    r = cli(
        "--base-url",
        "http://root.example/v1",
        "--timeout",
        "9",
        "profile",
        "add",
        "p",
        "--base-url",
        "http://own.example/v1",
        "--transport",
        "sdk",
        "--timeout",
        "30",
        "--debug",
    )
    assert r.returncode == 0, r
    shown = json.loads(cli("profile", "show", "p", "--format", "json").stdout)
    assert shown == {"name": "p", "base_url": "http://own.example/v1", "transport": "sdk", "timeout": 30}


@pytest.mark.parametrize(
    "argv,words",
    [
        (["ask", "--timeout", "soon", "hi"], ["'--timeout'", "'soon'"]),
        (["ask", "--timeout", "nan", "hi"], ["'--timeout'", "finite"]),
        (["--timeout", "inf", "ask", "hi"], ["'--timeout'", "finite"]),
        (["ask", "--max-retries", "lots", "hi"], ["'--max-retries'", "'lots'"]),
        (["ask", "--timeout"], ["--timeout", "requires an argument"]),
        (["--debug=yes", "ask", "hi"], ["--debug"]),
    ],
)
def test_bad_connection_option_values_are_one_line_usage_errors(offline_cli, argv, words):
    r = offline_cli(*argv)
    assert r.returncode == 2, r
    assert r.stderr.startswith("llmcli: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert all(w in r.stderr for w in words), r.stderr
    assert_no_traceback(r.stderr)


@pytest.mark.parametrize(
    "argv,extra_env,traceback",
    [
        (["ask", "-s", "--debug", "hi"], {}, False),  # --debug is the system prompt here
        (["ask", "-s", "x", "--debug", "hi"], {}, True),
        (["--debug", "ask", "hi"], {}, True),
        (["ask", "hi"], {"LLMCLI_DEBUG": "1"}, True),
        (["ask", "hi"], {}, False),
    ],
)
def test_the_error_boundary_reads_debug_as_click_does(home, argv, extra_env, traceback):
    r = crash(home, *argv, **extra_env)
    assert r.returncode == 1 and "internal error" in r.stderr
    assert ("Traceback" in r.stderr) is traceback, r.stderr


def test_version_answers_alone(offline_cli):
    r = offline_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("llmcli ")
    r = offline_cli("-V")
    assert r.returncode == 0 and r.stdout.startswith("llmcli ")
    r = offline_cli("--version", "--bogus")  # Click reads the whole line first: a usage error
    assert r.returncode == 2


def test_the_server_sees_the_base_url_given_closest_to_the_command(cli, server):
    server.default = Scenario(text="ok")
    r = cli("--base-url", "http://127.0.0.1:9/v1", "ask", "--base-url", server.base_url, "-m", "x", "hi")
    assert r.returncode == 0 and r.stdout == "ok", r


def test_the_scan_for_the_command_name_knows_every_root_option_that_takes_a_value():
    """Only the command a run names is built (cli/app.py: command_named): the scan must skip exactly the
    root's options that take a value, or a value could be taken for the command."""
    from llmcli.cli.app import COMMANDS, ROOT_VALUE_OPTIONS

    root = get_command(app)
    taking = {name for p in root.params if not p.is_flag and p.nargs == 1 for name in p.opts}
    assert taking == ROOT_VALUE_OPTIONS
    assert set(COMMANDS) == set(root.commands)  # every command is in the table


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["ask", "hi"], "ask"),
        (["--debug", "-P", "work", "--timeout", "5", "models"], "models"),
        (["--base-url=http://h/v1", "-Pwork", "health", "--watch"], "health"),
        (["-P", "ask", "chat"], "chat"),  # a profile named like a command is a value
        (["--help"], None),
        (["asc", "hi"], None),  # unknown: the whole tree, for Click's "did you mean"
        (["--", "ask"], None),
        ([], None),
    ],
)
def test_command_named(argv, name):
    from llmcli.cli.app import command_named

    assert command_named(argv) == name


def test_a_run_builds_only_its_command(home):
    from test_boundary import loaded_after

    code = (
        "import sys\nimport llmcli.__main__ as m\n"
        "try:\n    m.run(['--debug', 'ask', '--help'])\nexcept SystemExit:\n    pass\n"
    )
    mods = loaded_after(code, home)
    assert "llmcli.cli.ask" in mods
    assert not {"llmcli.cli.batch", "llmcli.cli.finetune", "llmcli.cli.template", "llmcli.cli.bench"} & mods

"""Settings, profiles and the config file: precedence, atomic private writes, clear errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcli.core.config import Config, dump_config, load_config, validate
from llmcli.core.settings import Flags, resolve
from llmcli.errors import ConfigError


def show(cli, *args, env=None) -> dict:
    r = cli("config", "show", "--format", "json", *args, env=env)
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def test_precedence_flag_env_profile_openai_default(offline_cli):
    cli = offline_cli
    assert (
        cli(
            "profile", "add", "work", "--base-url", "http://profile.example/v1", "-m", "prof-model"
        ).returncode
        == 0
    )
    # profile (the default once added) beats OPENAI_BASE_URL
    s = show(cli, env={"OPENAI_BASE_URL": "http://openai-env.example/v1"})
    assert s["base_url"] == {"value": "http://profile.example/v1", "source": "profile 'work' (config.toml)"}
    assert s["model"]["value"] == "prof-model"
    # LLMCLI_* env beats the profile
    s = show(cli, env={"LLMCLI_BASE_URL": "http://llmcli-env.example/v1", "LLMCLI_MODEL": "env-model"})
    assert s["base_url"] == {"value": "http://llmcli-env.example/v1", "source": "env LLMCLI_BASE_URL"}
    assert s["model"] == {"value": "env-model", "source": "env LLMCLI_MODEL"}
    # the flag beats everything
    s = show(
        cli,
        "--base-url",
        "http://flag.example/v1",
        "-m",
        "flag-model",
        env={"LLMCLI_BASE_URL": "http://x/v1"},
    )
    assert s["base_url"] == {"value": "http://flag.example/v1", "source": "flag --base-url"}
    assert s["model"]["source"] == "flag --model"


def test_openai_env_then_default(offline_cli):
    s = show(offline_cli, env={"OPENAI_BASE_URL": "http://openai-env.example/v1"})
    assert s["base_url"] == {"value": "http://openai-env.example/v1", "source": "env OPENAI_BASE_URL"}
    s = show(offline_cli)
    assert s["base_url"] == {"value": "https://api.openai.com/v1", "source": "default"}
    assert s["transport"] == {"value": "http", "source": "default"}
    assert s["timeout"]["value"] == "600"
    assert s["max_retries"]["value"] == "2"


def test_key_precedence_and_masking(offline_cli):
    s = show(offline_cli, env={"OPENAI_API_KEY": "sk-openai-0000000000wxyz"})
    assert s["api_key"] == {"value": "sk-…wxyz", "source": "env OPENAI_API_KEY"}
    s = show(
        offline_cli,
        env={"OPENAI_API_KEY": "sk-openai-0000000000wxyz", "LLMCLI_API_KEY": "sk-llmcli-000000000abcd"},
    )
    assert s["api_key"] == {"value": "sk-…abcd", "source": "env LLMCLI_API_KEY"}
    s = show(offline_cli)
    assert s["api_key"]["source"] == "none"


def test_profile_selection_by_flag_and_env(offline_cli):
    cli = offline_cli
    cli("profile", "add", "a", "--base-url", "http://a.example/v1")
    cli("profile", "add", "b", "--base-url", "http://b.example/v1")
    assert show(cli)["profile"]["value"] == "a"  # the first profile becomes the default
    assert show(cli, env={"LLMCLI_PROFILE": "b"})["base_url"]["value"] == "http://b.example/v1"
    assert show(cli, "-P", "a", env={"LLMCLI_PROFILE": "b"})["base_url"]["value"] == "http://a.example/v1"
    assert cli("profile", "use", "b").returncode == 0
    assert show(cli)["profile"] == {"value": "b", "source": "config.toml default_profile"}
    r = cli("config", "show", "-P", "nope")
    assert r.returncode == 2 and "no profile named 'nope'" in r.stderr


def test_profile_commands(offline_cli):
    cli = offline_cli
    assert cli("profile", "list").returncode == 0
    assert (
        cli("profile", "add", "local", "--base-url", "http://127.0.0.1:8080/v1", "--timeout", "30").returncode
        == 0
    )
    assert cli("profile", "add", "local", "--base-url", "http://x/v1").returncode == 2  # exists
    assert cli("profile", "set", "local", "model", "qwen").returncode == 0
    assert cli("profile", "set", "local", "temperature", "0.3").returncode == 0
    assert cli("profile", "set", "local", "temperature", "hot").returncode == 2
    assert cli("profile", "set", "local", "colour", "blue").returncode == 2
    assert cli("profile", "set", "local", "base_url", "not-a-url").returncode == 2
    r = cli("profile", "show", "local", "--format", "json")
    assert json.loads(r.stdout) == {
        "name": "local",
        "base_url": "http://127.0.0.1:8080/v1",
        "timeout": 30,
        "model": "qwen",
        "temperature": 0.3,
    }
    assert cli("profile", "set", "local", "model", "--unset").returncode == 0
    assert "model" not in json.loads(cli("profile", "show", "local", "--format", "json").stdout)
    r = cli("profile", "list")
    assert r.stdout.startswith("local\thttp://127.0.0.1:8080/v1")
    assert cli("profile", "remove", "local").returncode == 0
    assert cli("profile", "show", "local").returncode == 2
    assert cli("profile", "add", "bad name!").returncode == 2


def test_profile_defaults_are_sent(cli, server):
    cli("profile", "add", "p", "--base-url", server.base_url, "-m", "ref-model", "-s", "you are terse")
    cli("profile", "set", "p", "temperature", "0.1")
    r = cli("ask", "hello")
    assert r.returncode == 0, r
    body = server.chat_requests()[-1].body
    assert body["model"] == "ref-model" and body["temperature"] == 0.1
    assert body["messages"][0] == {"role": "system", "content": "you are terse"}
    r = cli("ask", "--temperature", "0.9", "-s", "other", "hello")
    body = server.chat_requests()[-1].body
    assert body["temperature"] == 0.9 and body["messages"][0]["content"] == "other"


def test_files_are_private_from_the_start(offline_cli, home):
    assert offline_cli("profile", "add", "x", "--base-url", "http://x.example/v1").returncode == 0
    cfg = home / "config.toml"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    # no temp files left behind; the lock file of config writes (private too) stays
    assert sorted(p.name for p in home.iterdir()) == ["config.toml", "config.toml.lock"]
    assert stat.S_IMODE((home / "config.toml.lock").stat().st_mode) == 0o600


def test_config_path(offline_cli, home):
    r = offline_cli("config", "path")
    assert r.returncode == 0 and r.stdout == f"{home / 'config.toml'}\n"


@pytest.mark.parametrize(
    "text,needle",
    [
        ("default_profile = \n", "line 1"),
        ('[profiles.a]\nbase_url = "http://x/v1"\nmodle = "typo"\n', "line 3"),
        ('[profiles.a]\ntimeout = "soon"\n', "line 2"),
        ("[profiles.a\n", "line 1"),
    ],
)
def test_malformed_config_is_exit_2_with_path_and_line_and_untouched(offline_cli, home, text, needle, server):
    home.mkdir(mode=0o700)
    cfg = home / "config.toml"
    cfg.write_text(text)
    before = cfg.read_bytes()
    for args in (
        ["config", "show"],
        ["ask", "--base-url", server.base_url, "-m", "m", "hi"],
        ["profile", "add", "z"],
    ):
        r = offline_cli(*args)
        assert r.returncode == 2, (args, r)
        assert str(cfg) in r.stderr and needle in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert cfg.read_bytes() == before
    assert server.requests == []


def test_bad_transport_env_is_a_usage_error(offline_cli):
    r = offline_cli("config", "show", env={"LLMCLI_TRANSPORT": "carrier-pigeon"})
    assert r.returncode == 2 and "carrier-pigeon" in r.stderr


def test_debug_from_env(cli, server):
    r = cli.ask("-m", "m", "hi", env={"LLMCLI_DEBUG": "1"})
    assert r.returncode == 0 and "debug:" in r.stderr


# --- unit level ---------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    profiles=st.dictionaries(
        names,
        st.fixed_dictionaries(
            {},
            optional={
                "base_url": st.builds(
                    lambda h: f"http://{h}/v1", st.from_regex(r"[a-z]{1,10}", fullmatch=True)
                ),
                "model": text,
                "system": text,
                "timeout": st.floats(min_value=0.1, max_value=1e6),
                "max_retries": st.integers(0, 10),
                "seed": st.integers(-(2**62), 2**62),
            },
        ),
        max_size=4,
    ),
    default=st.one_of(st.none(), names),
)
def test_config_round_trips(tmp_path_factory, profiles, default):
    data: dict = {}
    if default:
        data["default_profile"] = default
    data["profiles"] = profiles
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(dump_config(data))
    loaded = load_config(path)
    assert loaded.profiles == profiles
    assert loaded.default_profile == default


def test_resolution_is_pure(tmp_path: Path):
    cfg = Config(
        tmp_path / "c.toml",
        {"profiles": {"p": {"base_url": "http://p/v1", "timeout": 5}}, "default_profile": "p"},
    )
    validate(cfg.data, cfg.path)
    s = resolve(Flags(timeout=9), {}, cfg)
    assert (s.base_url, s.timeout, s.sources["timeout"]) == ("http://p/v1", 9.0, "flag --timeout")
    with pytest.raises(ConfigError):
        resolve(Flags(profile="missing"), {}, cfg)


def test_global_options_anywhere(cli, server):
    """-P, --base-url, --transport, --timeout, --max-retries and --debug before or after any command."""
    assert (
        cli(
            "profile", "add", "p", "--base-url", server.base_url, "-m", "ref-model", "--timeout", "30"
        ).returncode
        == 0
    )
    assert cli("profile", "add", "q", "--base-url", "http://127.0.0.1:9/v1").returncode == 0
    r = cli("-P", "p", "ask", "hi")
    assert r.returncode == 0, r
    r = cli("ask", "-Pp", "hi", "--debug")
    assert r.returncode == 0 and "debug:" in r.stderr
    shown = json.loads(cli("-P", "q", "profile", "show", "p", "--format", "json").stdout)
    assert shown["timeout"] == 30  # the profile's own --timeout was kept, not lifted
    for args in (
        ["history", "list", "--debug"],
        ["config", "path", "--debug"],
        ["profile", "list", "--debug"],
        ["--debug", "history", "list"],
        ["auth", "status", "-P", "p", "--debug"],
    ):
        r = cli(*args)
        assert r.returncode in (0, 3), (args, r)  # auth status: 3 = no key, which is right here
        assert "No such option" not in r.stderr
    s = json.loads(cli("--base-url", "http://flag.example/v1", "config", "show", "--format", "json").stdout)
    assert s["base_url"] == {"value": "http://flag.example/v1", "source": "flag --base-url"}
    r = cli("ask", "--timeout", "soon", "hi")
    assert r.returncode == 2 and "'--timeout'" in r.stderr and "'soon'" in r.stderr


@pytest.mark.parametrize("text", ['api_key = "sk-x"\n', '[profiles.a]\napi_key = "sk-x"\n'])
def test_a_key_in_the_config_file_is_refused_with_guidance(offline_cli, home, text):
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text(text)
    r = offline_cli("config", "show")
    assert r.returncode == 2 and "auth login" in r.stderr and "sk-x" not in r.stderr


def test_adding_a_profile_keeps_an_existing_default_profile(offline_cli, home):
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text("[profiles.default]\nkey_in_keyring = true\n")
    assert offline_cli("profile", "add", "w", "--base-url", "http://w.example/v1").returncode == 0
    assert show(offline_cli)["profile"]["value"] == "default"


def test_concurrent_profile_writes_lose_nothing(offline_cli, home):
    """Ten `profile add` at once (and a `profile set` racing them) leave every change in config.toml:
    the read-modify-write runs under a lock (config.toml.lock), the write is temp + fsync + rename."""
    import subprocess

    assert offline_cli("profile", "add", "base", "--base-url", "http://base.example/v1").returncode == 0
    procs = [
        subprocess.Popen(
            offline_cli.argv("profile", "add", f"p{i}", "--base-url", f"http://h{i}.example/v1"),
            env=offline_cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(10)
    ]
    procs.append(
        subprocess.Popen(
            offline_cli.argv("profile", "set", "base", "temperature", "0.3"),
            env=offline_cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    )
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    r = offline_cli("profile", "list", "--format", "json")
    profiles = json.loads(r.stdout)["profiles"]
    assert sorted(profiles) == sorted(["base", *(f"p{i}" for i in range(10))])
    assert profiles["base"]["temperature"] == 0.3
    assert all(profiles[f"p{i}"]["base_url"] == f"http://h{i}.example/v1" for i in range(10))
    assert sorted(p.name for p in home.iterdir()) == ["config.toml", "config.toml.lock"]  # no temp files

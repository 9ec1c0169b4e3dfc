"""Templates: placeholders, save/list/show/edit/rm, presets, and precedence flags > template > profile."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from refserver import Scenario

from llmcli.core import templates as t
from llmcli.errors import UsageError


def body(server) -> dict:
    return server.chat_requests()[-1].body


def user_text(server) -> str:
    return body(server)["messages"][-1]["content"]


# --- placeholders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,values,out",
    [
        ("Translate to {lang}: {input}", {"lang": "French", "input": "hi"}, "Translate to French: hi"),
        ('Answer as {"a": 1, "b": [2]} for {x}', {"x": "y"}, 'Answer as {"a": 1, "b": [2]} for y'),
        ("Keep {{lang}} literally, {lang}", {"lang": "fr"}, "Keep {lang} literally, fr"),
        ("no placeholders { } {1} {a b} {{", {}, "no placeholders { } {1} {a b} {{"),
        ("{x}{x}", {"x": "{y}"}, "{y}{y}"),  # a value is never filled again
        ("fn() { return {a}; }", {"a": "1"}, "fn() { return 1; }"),
    ],
)
def test_fill(text, values, out):
    assert t.fill(text, values, "x") == out


def test_placeholders_in_order_without_escaped_ones():
    assert t.placeholders("{b} {a} {{c}} {b} {input}") == ["b", "a", "input"]


def test_a_missing_placeholder_names_itself():
    with pytest.raises(UsageError) as err:
        t.fill("to {lang}", {}, "tr")
    assert "{lang}" in err.value.message and "-p lang" in err.value.hint


def test_apply_appends_input_when_the_prompt_does_not_place_it():
    tpl = t.Template("x", prompt="Summarise in {n} words.", system="You are {who}.")
    assert t.apply(tpl, "the text", {"n": "5", "who": "terse"}) == (
        "Summarise in 5 words.\n\nthe text",
        "You are terse.",
    )
    assert t.apply(t.Template("y", system="S"), "just input", {}) == ("just input", "S")


def test_template_files_are_checked(tmp_path):
    with pytest.raises(UsageError) as err:
        t.from_toml('temperature = "hot"\n', "x", "x.toml")
    assert "temperature must be" in err.value.message
    with pytest.raises(UsageError) as err:
        t.from_toml("colour = 1\n", "x", "x.toml")
    assert "unknown key 'colour'" in err.value.message
    with pytest.raises(UsageError):
        t.from_toml("options = ['novalue']\n", "x", "x.toml")
    assert t.from_toml('stop = "###"\n', "x", "x.toml").stop == ["###"]


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b", "", "x" * 65, "-dash"])
def test_bad_names(name):
    with pytest.raises(UsageError):
        t.check_name(name)


# --- the commands -----------------------------------------------------------------------------------


def test_save_show_list_rm(cli, server, home):
    r = cli("template", "save", "review", "Review", "this:", "{input}", "-s", "Be {tone}.", "-p", "tone", "blunt",
            "-m", "big-model", "--temperature", "0.3", "--max-tokens", "300", "--stop", "###", "--seed", "7",
            "-o", "presence_penalty=0.5", "--schema", "verdict, reasons list[str]")  # fmt: skip
    assert r.returncode == 0, r
    path = home / "templates" / "review.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    shown = json.loads(cli("template", "show", "review", "--format", "json").stdout)
    assert shown == {
        "name": "review", "source": str(path), "system": "Be {tone}.", "prompt": "Review this: {input}",
        "model": "big-model", "temperature": 0.3, "max_tokens": 300, "seed": 7, "stop": ["###"],
        "options": ["presence_penalty=0.5"], "schema": "verdict, reasons list[str]", "defaults": {"tone": "blunt"},
    }  # fmt: skip
    assert cli("template", "show", "review").stdout == path.read_text()
    assert cli("template", "list").stdout.split() == [
        "balanced",
        "code",
        "creative",
        "json",
        "precise",
        "review",
    ]
    listed = {d["name"]: d["source"] for d in json.loads(cli("template", "list", "--format", "json").stdout)}
    assert listed["review"] == "file" and listed["precise"] == "preset"

    # an existing template is replaced only with --force
    r = cli("template", "save", "review", "other")
    assert r.returncode == 2 and "--force" in r.stderr
    assert cli("template", "save", "review", "--prompt", "other", "--force").returncode == 0
    assert json.loads(cli("template", "show", "review", "--format", "json").stdout)["prompt"] == "other"

    assert cli("template", "rm", "review").returncode == 0
    assert not path.exists()
    r = cli("template", "rm", "review")
    assert r.returncode == 2 and "no template" in r.stderr
    assert server.requests == []


def test_save_refuses_what_ask_would_refuse(cli, server, tmp_path):
    for args, words in [
        (["-o", "novalue"], "KEY=VALUE"),
        (["--schema", "age integer"], "unknown type"),
        (["-f", str(tmp_path / "missing")], "no such file"),
        (["-f", "-"], "stdin"),
        (["-p", "nope", "x", "--prompt", "{input}"], "no placeholder {nope}"),
        ([], "nothing to save"),
        (["--prompt", "a", "b"], "not both"),
    ]:
        r = cli("template", "save", "x", *args)
        assert r.returncode == 2 and words in r.stderr, (args, r)
    assert not (cli.home / "templates" / "x.toml").exists()


def test_ask_with_a_template_fills_placeholders(cli, server):
    cli(
        "template",
        "save",
        "tr",
        'Translate to {lang}, reply as {"text": "..."}: {input}',
        "-s",
        "You translate into {lang}.",
    )
    assert cli.ask("-m", "M", "-t", "tr", "-p", "lang", "French", "good", "morning").returncode == 0
    msgs = body(server)["messages"]
    assert msgs[0] == {"role": "system", "content": "You translate into French."}
    assert msgs[1]["content"] == 'Translate to French, reply as {"text": "..."}: good morning'
    # {input} from stdin
    assert cli.ask("-m", "M", "-t", "tr", "-p", "lang", "German", input="from a pipe\n").returncode == 0
    assert user_text(server) == 'Translate to German, reply as {"text": "..."}: from a pipe'


@pytest.mark.parametrize(
    "args,stdin,words",
    [
        (["-t", "tr", "hello"], None, ["{lang}", "-p lang"]),
        (["-t", "tr", "-p", "lang", "fr"], None, ["{input}"]),
        (["-t", "tr", "-p", "lang", "fr", "-p", "tone", "x", "hi"], None, ["no placeholder {tone}"]),
        (["-p", "lang", "fr", "hi"], None, ["-t NAME"]),
        (["-t", "nosuch", "hi"], None, ["no template named 'nosuch'"]),
    ],
)
def test_template_usage_errors_send_nothing(cli, server, args, stdin, words):
    cli("template", "save", "tr", "Translate to {lang}: {input}")
    r = cli.ask("-m", "M", *args, input=stdin)
    assert r.returncode == 2, r
    assert r.stderr.count("\n") == 1 and all(w in r.stderr for w in words), r.stderr
    assert server.requests == []


def test_a_template_without_input_placeholder_takes_no_input_or_appends_it(cli, server):
    cli("template", "save", "joke", "Tell a joke about {topic}.", "-p", "topic", "cats")
    assert cli.ask("-m", "M", "-t", "joke").returncode == 0
    assert user_text(server) == "Tell a joke about cats."
    assert cli.ask("-m", "M", "-t", "joke", "-p", "topic", "dogs", "keep it short").returncode == 0
    assert user_text(server) == "Tell a joke about dogs.\n\nkeep it short"


def test_precedence_flags_over_template_over_profile(cli, server, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'default_profile = "p"\n[profiles.p]\nbase_url = "{server.base_url}"\nmodel = "profile-model"\n'
        'temperature = 0.9\ntop_p = 0.5\nmax_tokens = 100\nsystem = "profile system"\n'
    )
    cli(
        "template",
        "save",
        "tp",
        "-m",
        "template-model",
        "--temperature",
        "0.4",
        "--max-tokens",
        "50",
        "-s",
        "template system",
    )
    assert cli("ask", "-t", "tp", "--max-tokens", "20", "q").returncode == 0
    b = body(server)
    assert b["model"] == "template-model"  # template over profile
    assert b["temperature"] == 0.4  # template over profile
    assert b["top_p"] == 0.5  # only the profile sets it
    assert b["max_tokens"] == 20  # flag over template
    assert b["messages"][0] == {"role": "system", "content": "template system"}
    assert cli("ask", "-t", "tp", "-m", "flag-model", "-s", "flag system", "q").returncode == 0
    b = body(server)
    assert b["model"] == "flag-model" and b["messages"][0]["content"] == "flag system"
    # without the template: the profile
    assert cli("ask", "q").returncode == 0
    assert body(server)["model"] == "profile-model" and body(server)["temperature"] == 0.9

    shown = json.loads(cli("config", "show", "-t", "tp", "--format", "json").stdout)
    assert shown["template"] == {"value": "tp", "source": "flag --template"}
    assert shown["model"] == {"value": "template-model", "source": "template 'tp'"}
    assert shown["temperature"]["source"] == "template 'tp'" and shown["top_p"]["source"].startswith(
        "profile 'p'"
    )
    assert shown["system"] == {"value": "template system", "source": "template 'tp'"}
    shown = json.loads(cli("config", "show", "-t", "tp", "-m", "x", "--format", "json").stdout)
    assert shown["model"] == {"value": "x", "source": "flag --model"}


@pytest.mark.parametrize(
    "preset,expected",
    [
        ("precise", {"temperature": 0.2}),
        ("balanced", {"temperature": 0.7}),
        ("creative", {"temperature": 1.0, "top_p": 0.95}),
        ("code", {"temperature": 0.2}),
        ("json", {"response_format": {"type": "json_object"}}),
    ],
)
def test_presets(cli, server, preset, expected):
    assert cli.ask("-m", "M", "-t", preset, "q").returncode == 0
    b = body(server)
    for k, v in expected.items():
        assert b[k] == v
    if preset in ("code", "json"):
        assert b["messages"][0]["role"] == "system" and b["messages"][0]["content"]
    else:
        assert b["messages"][0]["role"] == "user"


def test_presets_are_not_overwritten_silently(cli, server, home):
    r = cli("template", "save", "precise", "--temperature", "0.1")
    assert r.returncode == 2 and "built-in preset" in r.stderr and "--force" in r.stderr
    assert cli("template", "rm", "precise").returncode == 2
    assert cli("template", "save", "precise", "--temperature", "0.1", "--force").returncode == 0
    assert cli.ask("-m", "M", "-t", "precise", "q").returncode == 0
    assert body(server)["temperature"] == 0.1
    listed = {d["name"]: d["source"] for d in json.loads(cli("template", "list", "--format", "json").stdout)}
    assert listed["precise"] == "file (overrides a preset)"
    r = cli("template", "rm", "precise")
    assert r.returncode == 0 and "preset is back" in r.stderr
    cli.ask("-m", "M", "-t", "precise", "q")
    assert body(server)["temperature"] == 0.2


def test_a_schema_given_wins_over_the_json_presets_response_format(cli, server):
    server.default = Scenario(text='{"a": "x"}')
    assert cli.ask("-m", "M", "-t", "json", "--schema", "a", "q").returncode == 0
    assert body(server)["response_format"]["type"] == "json_schema"


def test_a_template_keeps_schema_and_files(cli, server, tmp_path):
    (tmp_path / "guide.md").write_text("be kind")
    cli(
        "template",
        "save",
        "rev",
        "-f",
        str(tmp_path / "guide.md"),
        "--schema",
        "ok bool",
        "--prompt",
        "check: {input}",
    )
    server.default = Scenario(text='{"ok": true}')
    r = cli.ask("-m", "M", "-t", "rev", "the diff")
    assert r.returncode == 0, r
    b = body(server)
    assert (
        b["messages"][-1]["content"]
        == f"File: {tmp_path / 'guide.md'}\n```markdown\nbe kind\n```\n\ncheck: the diff"
    )
    assert b["response_format"]["json_schema"]["schema"]["properties"] == {"ok": {"type": "boolean"}}


# An $EDITOR: `editor.py [NEW]` FILE writes NEW's text into FILE (the file to edit comes last).
FAKE_EDITOR = """
import sys, pathlib
p = pathlib.Path(sys.argv[-1])
p.write_text(pathlib.Path(sys.argv[1]).read_text() if len(sys.argv) > 2 else p.read_text())
"""


def editor(tmp_path: Path, content: str | None) -> str:
    script = tmp_path / "editor.py"
    script.write_text(FAKE_EDITOR)
    if content is None:
        return f"{sys.executable} {script}"
    (tmp_path / "new.toml").write_text(content)
    return f"{sys.executable} {script} {tmp_path / 'new.toml'}"


def test_edit_opens_the_editor_and_checks_what_comes_back(cli, server, home, tmp_path):
    env = {"EDITOR": editor(tmp_path, 'system = "edited"\ntemperature = 0.5\n'), "VISUAL": ""}
    r = cli("template", "edit", "mine", env=env)
    assert r.returncode == 0, r
    path = home / "templates" / "mine.toml"
    assert path.read_text() == 'system = "edited"\ntemperature = 0.5\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # invalid: nothing saved, the edit kept for another try, exit 2
    env["EDITOR"] = editor(tmp_path, 'temperature = "warm"\n')
    r = cli("template", "edit", "mine", env=env)
    assert r.returncode == 2 and "temperature must be" in r.stderr and "kept in" in r.stderr
    kept = Path(r.stderr.rsplit("kept in ", 1)[1].split()[0])
    assert kept.read_text() == 'temperature = "warm"\n'
    assert path.read_text() == 'system = "edited"\ntemperature = 0.5\n'
    kept.unlink()

    # unchanged: nothing to do
    env["EDITOR"] = editor(tmp_path, None)
    r = cli("template", "edit", "mine", env=env)
    assert r.returncode == 0 and "no changes" in r.stderr
    # a preset needs --force, then the edited copy overrides it
    r = cli("template", "edit", "creative", env=env)
    assert r.returncode == 2 and "--force" in r.stderr
    env["EDITOR"] = editor(tmp_path, "temperature = 1.3\n")
    assert cli("template", "edit", "creative", "--force", env=env).returncode == 0
    assert json.loads(cli("template", "show", "creative", "--format", "json").stdout)["temperature"] == 1.3
    # a failing editor changes nothing
    env["EDITOR"] = f"{sys.executable} -c 'import sys; sys.exit(3)'"
    r = cli("template", "edit", "mine", env=env)
    assert r.returncode == 2 and "status 3" in r.stderr
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_the_repl_template_wraps_each_message(cli, server, home):
    cli(
        "template", "save", "tr", "Into {lang}: {input}", "-s", "Translator ({lang}).", "--temperature", "0.1"
    )
    r = cli("chat", "--base-url", server.base_url, "-m", "M", input="/template tr lang=Dutch\nhello\nbye\n")
    assert r.returncode == 0, r
    first, second = server.chat_requests()
    assert first.body["messages"] == [
        {"role": "system", "content": "Translator (Dutch)."},
        {"role": "user", "content": "Into Dutch: hello"},
    ]
    assert first.body["temperature"] == 0.1
    assert second.body["messages"][-1] == {"role": "user", "content": "Into Dutch: bye"}
    # chat -t -p: the same from the command line; a missing value is refused before the chat starts
    r = cli("chat", "--base-url", server.base_url, "-m", "M", "-t", "tr", input="hi\n")
    assert r.returncode == 2 and "{lang}" in r.stderr
    assert (
        cli(
            "chat", "--base-url", server.base_url, "-m", "M", "-t", "tr", "-p", "lang", "Welsh", input="hi\n"
        ).returncode
        == 0
    )
    assert server.chat_requests()[-1].body["messages"][-1]["content"] == "Into Welsh: hi"


def test_a_broken_template_file_is_named(cli, server, home):
    (home / "templates").mkdir(parents=True)
    (home / "templates" / "bad.toml").write_text("this is = not toml [")
    r = cli.ask("-m", "M", "-t", "bad", "q")
    assert r.returncode == 2 and "bad.toml" in r.stderr and "invalid TOML" in r.stderr
    assert server.requests == []
    listed = json.loads(cli("template", "list", "--format", "json").stdout)
    assert any(d["name"] == "bad" and "error" in d for d in listed)


def test_templates_folder_honours_llmcli_home(cli, home):
    cli("template", "save", "h", "--temperature", "0.5")
    assert os.path.exists(home / "templates" / "h.toml")


def test_the_docs_presets_table_matches_the_presets():
    import re

    doc = (Path(__file__).parent.parent / "docs" / "templates.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|$", doc, re.M))
    assert set(rows) == set(t.PRESETS)
    for name, tpl in t.PRESETS.items():
        for key in ("temperature", "top_p"):
            value = getattr(tpl, key)
            assert (value is not None) == (key in rows[name]), (name, key)
            if value is not None:
                assert f"{key} {value}" in rows[name], (name, key)
        assert ("system prompt" in rows[name]) == (tpl.system is not None)
        assert ("json_object" in rows[name]) == bool(tpl.options)

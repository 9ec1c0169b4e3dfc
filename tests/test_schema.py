"""Structured output: the concise form, `response_format`, the answer checked (0/7/7), `llmcli schema`."""

from __future__ import annotations

import json

import pytest
from conftest import Cli, assert_no_traceback
from refserver import Scenario

from llmcli.core import schema as sch
from llmcli.errors import UsageError


def obj(properties: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


S, INT, F, B = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}

CONCISE = [
    ("name", obj({"name": S})),
    ("name, age int", obj({"name": S, "age": INT})),
    (
        "name str, age int, height float, alive bool, tags list[str]",
        obj({"name": S, "age": INT, "height": F, "alive": B, "tags": {"type": "array", "items": S}}),
    ),
    ("grid list[list[int]]", obj({"grid": {"type": "array", "items": {"type": "array", "items": INT}}})),
    ("  a  int ,b,  c list[ float ] ", obj({"a": INT, "b": S, "c": {"type": "array", "items": F}})),
    ("name: the full name", obj({"name": {"type": "string", "description": "the full name"}})),
    (
        "name, age int, tags list[str]: what applies",
        obj({"name": S, "age": INT, "tags": {"type": "array", "items": S, "description": "what applies"}}),
    ),
    (  # newline separated: a description may hold commas
        "name: first, then last\nage int: in years, rounded down\n\n",
        obj(
            {
                "name": {"type": "string", "description": "first, then last"},
                "age": {"type": "integer", "description": "in years, rounded down"},
            }
        ),
    ),
    ("NAME INT", obj({"NAME": INT})),
]


@pytest.mark.parametrize("text,expected", CONCISE)
def test_the_concise_form_makes_exactly_this_schema(text, expected):
    assert sch.concise(text) == expected
    assert list(sch.concise(text)["properties"]) == list(expected["properties"])  # order kept


@pytest.mark.parametrize(
    "text,words",
    [
        ("age integer", ["integer", "age"]),
        ("full name", ["'name'", "'full'"]),
        ("a, a int", ["twice"]),
        (" , ,", ["no fields"]),
        ("tags list[]", ["list[]"]),
        ("x dict", ["dict"]),
    ],
)
def test_concise_mistakes_are_usage_errors(text, words):
    with pytest.raises(UsageError) as err:
        sch.concise(text)
    for w in words:
        assert w in err.value.message


def test_multi_wraps_items():
    assert sch.multi(obj({"a": S})) == obj({"items": {"type": "array", "items": obj({"a": S})}})


@pytest.mark.parametrize(
    "answer,problem",
    [
        ('{"name": "Ann", "age": 3}', None),
        ('{"name": "Ann", "age": "3"}', "at $.age: '3' is not of type 'integer'"),
        ('{"name": "Ann"}', "'age' is a required property"),
        ("Sure! Here is the JSON", "not JSON"),
        ("", "empty"),
        ('{"name": "An', "not JSON"),
    ],
)
def test_answers_are_checked(answer, problem):
    found = sch.first_error(answer, sch.concise("name, age int"))
    if problem is None:
        assert found is None
    else:
        assert problem in found


# --- through the CLI --------------------------------------------------------------------------------

PERSON = '{"name": "Ann",  "age": 41}'  # spacing as a model might send it: a pipe gets it exactly


def sent_format(server) -> dict:
    return server.chat_requests()[-1].body["response_format"]


def test_the_schema_goes_as_response_format(cli, server):
    assert cli.ask("-m", "M", "--schema", "name, age int", "who?").returncode in (0, 7)
    assert sent_format(server) == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": obj({"name": S, "age": INT}), "strict": False},
    }
    cli.ask("-m", "M", "--schema", "name", "--schema-strict", "--schema-multi", "who?")
    fmt = sent_format(server)["json_schema"]
    assert fmt["strict"] is True and fmt["schema"] == obj(
        {"items": {"type": "array", "items": obj({"name": S})}}
    )


def test_json_schema_inline_and_from_a_file(cli, server, tmp_path):
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}, "required": ["n"]}
    cli.ask("-m", "M", "--schema", json.dumps(schema), "q")
    assert sent_format(server)["json_schema"]["schema"] == schema
    (tmp_path / "s.json").write_text(json.dumps(schema))
    cli.ask("-m", "M", "--schema", f"@{tmp_path / 's.json'}", "q")
    assert sent_format(server)["json_schema"]["schema"] == schema


@pytest.mark.parametrize(
    "value,words",
    [
        ('{"type": "bogus"}', ["not a valid JSON Schema", "bogus"]),
        ("{not json", ["not valid JSON"]),
        ("age integer", ["unknown type"]),
        ("@/nonexistent/s.json", ["no such file"]),
    ],
)
def test_a_bad_schema_is_exit_2_and_nothing_is_sent(cli, server, value, words):
    r = cli.ask("-m", "M", "--schema", value, "q")
    assert r.returncode == 2, r
    assert r.stderr.count("\n") == 1 and all(w in r.stderr for w in words), r.stderr
    assert server.requests == []


def test_option_response_format_wins_as_given(cli, server):
    given = {"type": "json_object"}
    server.default = Scenario(text=PERSON)
    r = cli.ask("-m", "M", "--schema", "name, age int", "-o", f"response_format={json.dumps(given)}", "q")
    assert r.returncode == 0
    assert sent_format(server) == given


def test_a_valid_answer_goes_into_a_pipe_exactly_as_received_exit_0(cli, server):
    server.default = Scenario(text=PERSON)
    r = cli.ask("-m", "M", "--schema", "name, age int", "who?")
    assert (r.returncode, r.stdout_bytes, r.stderr) == (0, PERSON.encode(), "")


@pytest.mark.parametrize(
    "answer,words",
    [
        ('{"name": "Ann", "age": "forty"}', ["does not match the schema", "at $.age", "'forty' is not of type 'integer'"]),
        ("I think Ann is 41.", ["not JSON"]),
    ],
)  # fmt: skip
def test_an_invalid_or_non_json_answer_stays_on_stdout_with_one_line_and_exit_7(cli, server, answer, words):
    server.default = Scenario(text=answer)
    r = cli.ask("-m", "M", "--schema", "name, age int", "who?")
    assert r.returncode == 7, r
    assert r.stdout == answer  # the text intact
    assert r.stderr.count("\n") == 1 and all(w in r.stderr for w in words), r.stderr
    assert_no_traceback(r.stderr)


def test_an_answer_cut_at_max_tokens_is_exit_7_naming_the_cut(cli, server):
    server.default = Scenario(text='{"name": "Annnnnnnnn', finish_reason="length")
    r = cli.ask("-m", "M", "--schema", "name, age int", "--max-tokens", "5", "who?")
    assert r.returncode == 7 and r.stdout == '{"name": "Annnnnnnnn'
    assert r.stderr.count("\n") == 1 and "max_tokens" in r.stderr and "not JSON" in r.stderr


def test_compact_prints_one_line_of_json(cli, server):
    server.default = Scenario(text='{\n  "name": "Ann",\n  "age": 41\n}')
    r = cli.ask("-m", "M", "--schema", "name, age int", "--compact", "who?")
    assert (r.returncode, r.stdout) == (0, '{"name":"Ann","age":41}\n')
    server.default = Scenario(text="not json")  # invalid: the text as received, not re-laid
    r = cli.ask("-m", "M", "--schema", "name, age int", "--compact", "who?")
    assert (r.returncode, r.stdout) == (7, "not json")


def test_format_json_carries_the_schema_error(cli, server):
    server.default = Scenario(text='{"name": 1, "age": 2}')
    r = cli.ask("-m", "M", "--schema", "name, age int", "--format", "json", "q")
    doc = json.loads(r.stdout)
    assert r.returncode == 7
    assert doc["content"] == '{"name": 1, "age": 2}' and "at $.name" in doc["schema_error"]
    server.default = Scenario(text=PERSON)
    doc = json.loads(cli.ask("-m", "M", "--schema", "name, age int", "--format", "json", "q").stdout)
    assert doc["schema_error"] is None


def test_schema_flags_without_a_schema(cli, server):
    r = cli.ask("-m", "M", "--schema-strict", "q")
    assert r.returncode == 2 and "--schema" in r.stderr and server.requests == []


def test_llmcli_schema_prints_the_json_schema(offline_cli):
    r = offline_cli("schema", "name, age int, tags list[str]: labels")
    assert r.returncode == 0
    assert json.loads(r.stdout) == obj(
        {"name": S, "age": INT, "tags": {"type": "array", "items": S, "description": "labels"}}
    )
    r = offline_cli("schema", "--multi", "name")
    assert json.loads(r.stdout) == obj({"items": {"type": "array", "items": obj({"name": S})}})
    r = offline_cli("schema", "name wrong")
    assert r.returncode == 2 and "unknown type" in r.stderr and r.stdout == ""


def test_a_terminal_gets_the_valid_answer_indented(server, home):
    import pexpect

    server.default = Scenario(text='{"name":"Ann","age":41}')
    cli = Cli(home, server)
    child = pexpect.spawn(
        cli.argv("ask", "--base-url", server.base_url, "-m", "M", "--schema", "name, age int", "q")[0],
        cli.argv("ask", "--base-url", server.base_url, "-m", "M", "--schema", "name, age int", "q")[1:],
        env=cli.env,
        timeout=30,
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before.decode().replace("\r\n", "\n")
    assert '{\n  "name": "Ann",\n  "age": 41\n}\n' in out
    assert child.exitstatus == 0


def test_the_repl_checks_each_answer_against_the_schema(cli, server):
    server.push(Scenario(text=PERSON), Scenario(text="nope"))
    script = "/schema name, age int\nfirst\nsecond\n/schema -\nthird\n"
    r = cli("chat", "--base-url", server.base_url, "-m", "M", input=script)
    assert r.returncode == 7  # the first failing turn's code; later lines still answered
    reqs = server.chat_requests()
    assert reqs[0].body["response_format"]["json_schema"]["schema"] == obj({"name": S, "age": INT})
    assert "response_format" not in reqs[2].body
    assert r.stderr.count("not JSON") == 1


# --- against the real llama.cpp server ------------------------------------------------------------


BOUNDED = json.dumps(
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3},
            "ok": {"type": "boolean"},
        },
        "required": ["name", "tags", "ok"],
        "additionalProperties": False,
    }
)


def test_real_server_follows_a_bounded_schema(llama_server, home):
    """llama.cpp turns the schema into a grammar: even the random tiny model answers JSON that matches."""
    srv = llama_server()
    r = Cli(home, None)(
        "ask", "--base-url", srv.base_url, "--schema", BOUNDED, "--max-tokens", "200", "--temperature", "0",
        "describe a person",
    )  # fmt: skip
    assert_no_traceback(r.stderr)
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert sch.first_error(r.stdout, json.loads(BOUNDED)) is None
    assert len(doc["name"]) <= 12 and isinstance(doc["ok"], bool)


def test_real_server_cut_inside_an_unbounded_string_is_exit_7(llama_server, home):
    srv = llama_server()
    r = Cli(home, None)(
        "ask", "--base-url", srv.base_url, "--schema", "story", "--max-tokens", "8", "--temperature", "0",
        "tell a story",
    )  # fmt: skip
    assert_no_traceback(r.stderr)
    assert r.returncode == 7, r
    assert r.stdout.startswith("{") and "max_tokens" in r.stderr and r.stderr.count("\n") == 1


def test_the_docs_example_is_what_llmcli_schema_prints(offline_cli):
    import re
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "schema.md").read_text()
    example = re.search(r"`llmcli schema '([^']+)'` prints:\n\n```json\n(.*?)```", doc, re.S)
    assert example is not None
    r = offline_cli("schema", example.group(1))
    assert r.returncode == 0 and r.stdout == example.group(2)

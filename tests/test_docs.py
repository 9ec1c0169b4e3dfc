"""The README and docs/ stay true, checked in-process (no subprocess): links and anchors resolve, every
`llmcli ...` they show parses with the CLI's own parser, every command has a page linked from the
README with an example of each of its subcommands, the README's test command is the one CI runs, and
the reference tables (exit codes, settings, REPL commands) list what the code has."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from docs_examples import (
    DOCS,
    README,
    ROOT,
    examples,
    fenced_blocks,
    invocations,
    pages,
    parse,
    prose_lines,
    root_command,
)

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def without_code_spans(line: str) -> str:
    return _CODE_SPAN.sub("CODE", line)


def headings(path: Path) -> list[tuple[int, str]]:
    """(level, text) of each heading outside code blocks."""
    out = []
    for _, line in prose_lines(path):
        m = _HEADING.match(line)
        if m:
            out.append((len(m.group(1)), m.group(2)))
    return out


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped (letters, digits,
    `_`, `-` and spaces kept), spaces to `-`; a repeated one gets `-1`, `-2`, ..."""
    seen: dict[str, int] = {}
    out = set()
    for _, text in headings(path):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link shows its text
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    return [
        (n, target) for n, line in prose_lines(path) for target in _LINK.findall(without_code_spans(line))
    ]


# --- (a) links and anchors ------------------------------------------------------------------------


@pytest.mark.parametrize("page", pages(), ids=ids(pages()))
def test_relative_links_and_anchors_resolve(page):
    broken = []
    for n, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{page.name}:{n}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{page.name}:{n}: {target}: no heading #{anchor} in {dest.name}")
    assert not broken, "\n".join(broken)


def test_the_anchor_rule_is_githubs():
    page = DOCS / "batch.md"
    assert {"prompt-files---prompts", "the-providers-batch-api", "wait-id"} <= anchors(page)


# --- (b) every command line shown is a real command with real options ------------------------------


def inline_examples(page: Path) -> list[tuple[int, str, list[str]]]:
    """`llmcli ...` in inline code in the prose, when it is a whole command (no `...` or [optional])."""
    found = []
    for n, line in prose_lines(page):
        for m in _CODE_SPAN.finditer(line):
            span = m.group(2).strip()
            if span.startswith("llmcli ") and not re.search(r"\.\.\.|…|\[", span):
                found.extend((n, span, args) for args in invocations(span))
    return found


@pytest.mark.parametrize("page", pages(), ids=ids(pages()))
def test_every_command_line_shown_parses(page):
    shown = [(e.line, e.text, list(e.args)) for e in examples([page])] + inline_examples(page)
    wrong = []
    for n, text, args in shown:
        try:
            parse(args)
        except Exception as exc:  # Click's UsageError: no such command or option, a missing value
            wrong.append(f"{page.name}:{n}: {text}\n    {type(exc).__name__}: {exc}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_catches_what_it_should():
    """The parser behind these tests refuses what the CLI refuses (so a passing page means something)."""
    from typer._click.exceptions import UsageError

    for bad in (
        ["nosuch"],
        ["ask", "--no-such-option", "hi"],
        ["profile", "set", "lab", "--base-url", "http://x/v1"],  # a profile's URL is `set NAME base_url URL`
        ["chat", "--show-request", "curl"],  # /show-request in the REPL, not a flag of chat
        ["history", "list", "--format"],
    ):
        with pytest.raises(UsageError):
            parse(bad)
    assert parse(["-P", "x", "batch", "run", "f.jsonl", "-o", "o", "-j", "3"])[0] == ("batch", "run")
    assert parse(["health", "--watch", "--full"])[0] == ("health",)  # --watch's optional value
    assert invocations("if ! out=$(llmcli ask -m m hi 2>e); then :; fi")[0][:3] == ["ask", "-m", "m"]
    assert invocations("SSL_CERT_FILE=/x llmcli models | sort") == [["models"]]
    assert invocations("pip install llmcli") == []


# --- (c) every command has a page, linked from the README, that shows each of its subcommands --------


def page_of(command: str) -> Path | None:
    """The docs page whose title names `llmcli COMMAND`."""
    for page in sorted(DOCS.glob("*.md")):
        title = next((text for level, text in headings(page) if level == 1), "")
        if f"`llmcli {command}`" in title:
            return page
    return None


def readme_targets() -> set[Path]:
    return {(ROOT / t.partition("#")[0]).resolve() for _, t in links(README) if not t.startswith("http")}


def test_every_command_has_a_page_linked_from_the_readme():
    linked = readme_targets()
    for name in root_command().commands:
        page = page_of(name)
        assert page is not None, f"no docs page titled `llmcli {name}`"
        assert page.resolve() in linked, f"README does not link {page.name} (llmcli {name})"


def test_every_docs_page_is_linked_from_the_readme():
    linked = readme_targets()
    missing = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not missing, missing


def test_every_subcommand_has_an_example_on_its_page():
    missing = []
    for name, command in root_command().commands.items():
        page = page_of(name)
        shown = set()
        for e in examples([page]):
            try:
                shown.add(parse(e.args)[0])
            except Exception:
                pass  # reported by test_every_command_line_shown_parses
        for sub in getattr(command, "commands", {None: None}):
            path = (name,) if sub is None else (name, sub)
            if path not in shown:
                missing.append(f"{page.name} shows no `llmcli {' '.join(path)}`")
    assert not missing, "\n".join(missing)


# --- (d) the README's test command is the one CI runs ----------------------------------------------


def readme_section_block(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0].strip()


def normal(command: str) -> str:
    return " ".join(shlex.split(command))


def test_the_readme_test_command_is_what_ci_runs():
    steps = [normal(s) for s in readme_section_block("Run the tests (fresh machine)").split("&&")]
    assert steps[:2] == ["python3 -m venv .venv", ". .venv/bin/activate"], steps
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_pytest = [normal(m) for m in re.findall(r"^\s*exec (pytest\b.*)$", ci, re.M)]
    assert ci_pytest == [steps[-1]], (ci_pytest, steps[-1])
    installs = [normal(m).replace(" --quiet", "") for m in re.findall(r"^\s*(pip install .*)$", ci, re.M)]
    assert steps[2] in installs, (steps[2], installs)


def test_the_readme_install_command_installs_and_runs_llmcli():
    steps = [normal(s) for s in readme_section_block("Install and run (fresh machine)").split("&&")]
    assert steps[:3] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install -e ."], steps
    parse(shlex.split(steps[3])[1:])


# --- the reference tables list what the code has ----------------------------------------------------


def table_rows(page: Path) -> list[list[str]]:
    """Every table row outside code blocks, as cells (an escaped `\\|` stays inside its cell)."""
    rows = []
    for _, line in prose_lines(page):
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip() for c in cells])
    return rows


@pytest.mark.parametrize("page", pages(), ids=ids(pages()))
def test_tables_have_as_many_cells_in_each_row_as_in_the_header(page):
    """An unescaped `|` in a cell (even inside `code`) splits it on GitHub and shifts the row."""
    lines = [(n, line) for n, line in prose_lines(page) if line.startswith("|")]
    width = None
    previous = -1
    for n, line in lines:
        cells = len(re.split(r"(?<!\\)\|", line.strip())) - 2
        if n != previous + 1:
            width = cells  # a new table: its header
        assert cells == width, f"{page.name}:{n}: {cells} cells, the header has {width}"
        previous = n


def test_exit_code_tables_list_every_exit_code():
    from llmcli.errors import ExitCode

    for page in (DOCS / "exit-codes.md", README):
        listed = {code for row in table_rows(page) for code in re.findall(r"\b\d+\b", row[0])}
        assert {str(int(c)) for c in ExitCode} <= listed, page.name


def test_config_page_lists_every_setting_and_variable():
    from llmcli.core.config import PROFILE_KEYS, TOP_KEYS, validate

    page = DOCS / "config.md"
    text = page.read_text(encoding="utf-8")
    for key in [*PROFILE_KEYS, *TOP_KEYS]:
        assert f"`{key}`" in text or f"\n{key} = " in text, key
    used = set()
    for source in (ROOT / "llmcli").rglob("*.py"):
        used |= set(re.findall(r"(?<![A-Z_])LLMCLI_[A-Z_]+", source.read_text(encoding="utf-8")))
    missing = [name for name in sorted(used) if name not in text]
    assert not missing, f"docs/config.md does not mention {missing}"
    (example,) = [b for b in fenced_blocks(page) if b.lang == "toml"]
    validate(tomllib.loads("\n".join(example.lines)), page)  # the example is a valid config file


def test_chat_page_lists_every_repl_command():
    from llmcli.repl import inputs, session  # noqa: F401 - importing registers the commands

    text = (DOCS / "chat.md").read_text(encoding="utf-8")
    for command in session.REGISTRY.all():
        assert re.search(rf"^\| `/{re.escape(command.name)}[` ]", text, re.M), command.name
        for alias in command.aliases:
            assert f"`/{alias}`" in text, alias

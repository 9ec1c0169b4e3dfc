"""Reading the docs as a test sees them: the pages, their fenced code blocks, the `llmcli ...` command
lines those show, and each such line parsed in-process by the CLI's own parser (Click, via Typer).

Shared by tests/test_docs.py (every page) and tests/test_jobs_docs.py (the job pages)."""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import typer
from typer.main import get_command

from llmcli.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

# Blocks that hold commands to run. `console` blocks are sessions: only their `$ ` lines are commands.
SHELL_LANGS = ("sh", "bash", "shell", "console")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line number of the opening fence
    lang: str
    lines: tuple[str, ...]


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a markdown file (CommonMark fences: a closing fence is the same character,
    at least as long as the opening one, with no info string)."""
    blocks: list[Block] = []
    opened: tuple[str, int, str] | None = None  # fence, line, language
    body: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _FENCE.match(line)
        if opened is None:
            if m:
                opened, body = (m.group(1), n, m.group(2).lower()), []
            continue
        fence, start, lang = opened
        if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2):
            blocks.append(Block(path, start, lang, tuple(body)))
            opened = None
        else:
            body.append(line)
    return blocks


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered."""
    inside: set[int] = set()
    for block in fenced_blocks(path):
        inside.update(range(block.line, block.line + len(block.lines) + 2))
    text = path.read_text(encoding="utf-8").splitlines()
    return [(n, line) for n, line in enumerate(text, 1) if n not in inside]


def shell_lines(block: Block) -> list[tuple[int, str]]:
    """The command lines of a shell block, with their line numbers; `\\` continuations joined."""
    if block.lang not in SHELL_LANGS:
        return []
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for i, raw in enumerate(block.lines):
        n = block.line + 1 + i
        if pending is not None:
            text = pending[1] + " " + raw.strip()
            n = pending[0]
        elif block.lang == "console":
            if not raw.startswith("$ "):
                continue
            text = raw[2:]
        else:
            text = raw
        if text.endswith("\\"):
            pending = (n, text[:-1])
            continue
        pending = None
        out.append((n, text))
    return out


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: not a command line after all
        return []


def _is_operator(token: str) -> bool:
    return bool(token) and all(c in "();<>|&" for c in token)


def invocations(text: str) -> list[list[str]]:
    """Every `llmcli ...` in a shell command line (also after a pipe, `$(`, `&&` or `VAR=value`), as the
    words after `llmcli` up to the next shell operator; comments are dropped."""
    words = _tokens(text)
    found: list[list[str]] = []
    for i, word in enumerate(words):
        if word != "llmcli":
            continue
        j = i - 1
        while j >= 0 and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[j]):  # VAR=value llmcli ...
            j -= 1
        if j >= 0 and not _is_operator(words[j]) and not words[j].endswith("$"):
            continue  # an argument of another command (`which llmcli`), not a command of its own
        args: list[str] = []
        for rest in words[i + 1 :]:
            if _is_operator(rest):
                break
            args.append(rest)
        found.append(args)
    return found


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    text: str
    args: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def examples(paths: list[Path] | None = None) -> list[Example]:
    """Every llmcli command line shown in a shell block of the given pages (default: all of them)."""
    out = []
    for path in paths or pages():
        for block in fenced_blocks(path):
            for n, text in shell_lines(block):
                for args in invocations(text):
                    out.append(Example(path, n, text.strip(), tuple(args)))
    return out


@functools.cache
def root_command():
    """The Click command tree Typer builds from the app (once: building it takes a fifth of a second)."""
    return get_command(app)


def parse(args: tuple[str, ...] | list[str]) -> tuple[tuple[str, ...], object]:
    """Parse `llmcli ARGS` as the CLI would, running nothing: Click's own parser, with the same option
    tables and value counts. Returns the command path (`("batch", "run")`) and the leaf command.

    An unknown command or option, or an option missing its value, raises Click's UsageError. Values are
    not checked: an example may show a placeholder (`--timeout SECONDS`, `show ID`)."""
    root = root_command()
    command, name, parent, path = root, "llmcli", None, []
    rest = list(args)
    while hasattr(command, "resolve_command"):  # a group: its options, then the name of a command
        ctx = command.context_class(command, info_name=name, parent=parent)
        _, rest, _ = command.make_parser(ctx).parse_args(args=rest)  # no callbacks: --install-completion
        if not rest:
            return tuple(path), command
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        parent = ctx
    try:  # the leaf's own parse_args: custom hooks too (health's optional --watch value)
        command.make_context(name, rest, parent=parent)
    except (typer.BadParameter, typer.Exit):
        pass  # a placeholder value that does not convert, a missing argument, or -h: not the docs' fault
    return tuple(path), command

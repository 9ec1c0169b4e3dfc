"""The job docs stay true: every `llmcli files|batch|finetune ...` line they show names a real command
and only options that command takes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.main import get_command

from llmcli.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / name for name in ("batch.md", "files.md", "finetune.md")] + [ROOT / "README.md"]


def shown_commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        in_block = False
        for line in doc.read_text().splitlines():
            if line.startswith("```"):
                in_block = not in_block
                continue
            text = line.strip().removeprefix("$ ")
            if in_block and re.match(r"llmcli (files|batch|finetune) ", text):
                words = shlex.split(text.split("  #")[0].split(" | ")[0])
                found.append((doc.name, words[1:]))
    return found


COMMANDS = shown_commands()


def test_the_docs_show_every_command():
    shown = {tuple(words[:2]) for _, words in COMMANDS}
    root = get_command(app)
    for group in ("files", "batch", "finetune"):
        for name in root.commands[group].commands:
            assert (group, name) in shown, f"docs show no example of llmcli {group} {name}"


@pytest.mark.parametrize(("doc", "words"), COMMANDS, ids=[" ".join(w[:3]) for _, w in COMMANDS])
def test_each_shown_command_exists_with_its_options(doc, words):
    root = get_command(app)
    group = root.commands[words[0]]
    command = group.commands.get(words[1])
    assert command is not None, f"{doc}: llmcli {words[0]} {words[1]}"
    known = {opt for c in (command, root) for p in c.params for opt in (*p.opts, *p.secondary_opts)}
    for word in words[2:]:
        if word.startswith("-") and word != "-":
            assert word.split("=")[0] in known, (
                f"{doc}: {word} is not an option of llmcli {words[0]} {words[1]}"
            )

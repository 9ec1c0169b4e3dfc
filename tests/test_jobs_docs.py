"""The job docs stay true: every `llmcli files|batch|finetune ...` line they show names a real command and
only options that command takes, and each group's page shows every one of its commands.

(tests/test_docs.py checks every page the same way; this keeps the job pages' own promise explicit.)"""

from __future__ import annotations

import pytest
from docs_examples import DOCS, README, examples, parse, root_command

GROUPS = ("files", "batch", "finetune")
PAGES = {group: DOCS / f"{group}.md" for group in GROUPS}
SHOWN = [e for e in examples([*PAGES.values(), README]) if e.args and e.args[0] in GROUPS]


def test_each_group_page_shows_every_command_of_its_group():
    root = root_command()
    for group, page in PAGES.items():
        shown = {parse(e.args)[0] for e in examples([page]) if e.args and e.args[0] == group}
        for name in root.commands[group].commands:
            assert (group, name) in shown, f"{page.name} shows no example of llmcli {group} {name}"


@pytest.mark.parametrize("example", SHOWN, ids=[e.where for e in SHOWN])
def test_each_shown_command_exists_with_its_options(example):
    path, _ = parse(example.args)  # an unknown command or option raises
    assert path[0] in GROUPS and len(path) == 2, example.text

"""Tab completion: slash command names, then each command's argument (models come from the server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .session import REGISTRY


class SlashCompleter(Completer):
    def __init__(self, session: Any):
        self.session = session

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        name, space, arg = text[1:].partition(" ")
        if not space:
            for command in REGISTRY.all():
                if command.name.startswith(name):
                    yield Completion("/" + command.name, start_position=-len(text), display_meta=command.help)
            return
        command = REGISTRY.get(name)
        if command is None or command.complete_arg is None or " " in arg:
            return
        for option in command.complete_arg(self.session, arg):
            yield Completion(option, start_position=-len(arg))

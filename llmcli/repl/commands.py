"""Slash commands: a small registry the REPL dispatches to and the completer reads from.

A line that starts with `/` is a command, never a message to the model; an unknown one gets a hint.
(`//text` sends `/text` to the model.)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Any, str], None]
ArgCompleter = Callable[[Any, str], Iterable[str]]


@dataclass(slots=True)
class Command:
    name: str
    usage: str
    help: str
    handler: Handler
    complete_arg: ArgCompleter | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)


class CommandError(Exception):
    """A command was used wrongly: one line for the user, the REPL goes on."""


class Registry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._aliases: dict[str, str] = {}

    def command(
        self,
        name: str,
        usage: str,
        help: str,
        *,
        complete: ArgCompleter | None = None,
        aliases: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self._commands[name] = Command(name, usage, help, fn, complete, aliases)
            for alias in aliases:
                self._aliases[alias] = name
            return fn

        return register

    def get(self, name: str) -> Command | None:
        name = self._aliases.get(name, name)
        return self._commands.get(name)

    def names(self) -> list[str]:
        return sorted(self._commands)

    def all(self) -> list[Command]:
        return [self._commands[n] for n in self.names()]

    def suggest(self, name: str) -> list[str]:
        known = [*self._commands, *self._aliases]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        prefixed = [k for k in self.names() if k.startswith(name)] if name else []
        return list(dict.fromkeys([*prefixed, *close]))

    def dispatch(self, session: Any, line: str) -> None:
        """Run the command in `line` (which starts with '/')."""
        name, _, arg = line[1:].partition(" ")
        name = name.strip()
        command = self.get(name)
        if command is None:
            hints = self.suggest(name)
            did_you_mean = f"; did you mean {', '.join('/' + h for h in hints)}?" if hints else ""
            raise CommandError(
                f"unknown command /{name}{did_you_mean} (/help lists them; //text sends /text)"
            )
        command.handler(session, arg.strip())


def is_command(line: str) -> bool:
    return line.startswith("/") and not line.startswith("//")


def unescape(line: str) -> str:
    """`//text` is a message that starts with a slash."""
    return line[1:] if line.startswith("//") else line


def parse_value(text: str) -> Any:
    """A /set value: JSON when it parses (numbers, true, lists, objects), otherwise the string."""
    from ..core.request import json_or_text

    return json_or_text(text)

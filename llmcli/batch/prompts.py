"""Prompt files (`--prompts`) turned into batch requests, and the custom_ids of any input file.

A prompt file is either plain text, one prompt per line (blank lines skipped), or JSONL whose lines hold
`prompt` (a string) or `messages` (a list), and optionally `custom_id`. Which one is decided by the first
non-blank line: a JSON object means JSONL. Each prompt becomes a chat request with the usual request
options; a line's custom_id defaults to `line-N` (its line number), stable across reruns of the same file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .reader import Line, Source
from .validate import Checked, Validator, kind_of

CHAT_URL = "/v1/chat/completions"
PROMPT_KEYS = ("prompt", "messages", "custom_id")


@dataclass(slots=True)
class RequestShape:
    """What every converted request carries: the model, an optional system prompt, body fields."""

    model: str
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, -o fields, ...


def _json_object(text: str) -> dict | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def detect_format(source: Source) -> str:
    """ "jsonl" when the first non-blank line is a JSON object, else "text"."""
    for line in source.lines():
        if line.text is None or line.blank:
            continue
        return "jsonl" if _json_object(line.text) is not None else "text"
    return "text"


def default_id(number: int) -> str:
    return f"line-{number}"


def prompt_requests(
    source: Source, shape: RequestShape, *, fmt: str = "auto", validator: Validator | None = None
) -> Iterator[Checked]:
    """Each prompt of `source` as a checked batch request (`request` None and `problems` set when bad)."""
    validator = validator or Validator((CHAT_URL,))
    fmt = detect_format(source) if fmt == "auto" else fmt
    for line in source.lines():
        if line.text is None or (line.problem and line.number == 1):
            yield Checked(line.number, None, [line.problem or "unreadable line"])
            continue
        if line.blank:
            continue
        yield _convert(line, shape, fmt, validator)


def _convert(line: Line, shape: RequestShape, fmt: str, validator: Validator) -> Checked:
    assert line.text is not None
    custom_id: Any = default_id(line.number)
    if fmt == "text":
        messages: Any = [{"role": "user", "content": line.text}]
    else:
        try:
            obj = json.loads(line.text)
        except ValueError as exc:
            return Checked(line.number, None, [f"not JSON: {exc}"])
        if not isinstance(obj, dict):
            return Checked(line.number, None, [f"a prompt line must be a JSON object, not {kind_of(obj)}"])
        problems = [
            f"unknown key {k!r} (a prompt line has prompt or messages, and optionally custom_id)"
            for k in obj
            if k not in PROMPT_KEYS
        ]
        if ("prompt" in obj) == ("messages" in obj):
            problems.append("give either prompt (a string) or messages (a list), not both or neither")
        elif "prompt" in obj and (not isinstance(obj["prompt"], str) or not obj["prompt"].strip()):
            problems.append("prompt must be a non-empty string")
        elif "messages" in obj and (not isinstance(obj["messages"], list) or not obj["messages"]):
            problems.append("messages must be a non-empty list of messages")
        if "custom_id" in obj:
            custom_id = obj["custom_id"]
        if problems:
            return Checked(line.number, None, problems)
        messages = obj["messages"] if "messages" in obj else [{"role": "user", "content": obj["prompt"]}]
    if shape.system and not (
        messages and isinstance(messages[0], dict) and messages[0].get("role") == "system"
    ):
        messages = [{"role": "system", "content": shape.system}, *messages]
    body = {"model": shape.model, "messages": messages, **shape.params}
    request = {"custom_id": custom_id, "method": "POST", "url": CHAT_URL, "body": body}
    return validator.check_request(line.number, request)


def input_ids(source: Source) -> Iterator[str]:
    """The custom_ids of an input file in file order: a batch file's custom_ids, or a prompt file's
    (given, or `line-N`). Lines without one are skipped (validation reports them elsewhere)."""
    fmt = detect_format(source)
    for line in source.lines():
        if line.text is None or line.blank:
            continue
        if fmt == "text":
            yield default_id(line.number)
            continue
        obj = _json_object(line.text)
        if obj is None:
            continue
        cid = obj.get("custom_id")
        if isinstance(cid, str) and cid:
            yield cid
        elif "prompt" in obj or "messages" in obj:
            yield default_id(line.number)

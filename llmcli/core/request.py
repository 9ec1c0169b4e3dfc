"""Request shaping, pure Python: option values → body fields, a conversation → the messages to send.

`ask`, `chat` and the REPL's `/set` all go through here, so a value means the same wherever it is typed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .settings import Settings
from .types import ChatRequest, Message

if TYPE_CHECKING:
    from .attachments import Attachment
    from .schema import Schema


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def json_or_text(value: str) -> Any:
    """A value as JSON when it parses as strict JSON (no NaN or Infinity, which no server accepts), else the text."""
    try:
        return json.loads(value, parse_constant=_no_constants)
    except ValueError:
        return value


# Body fields llmcli itself fills in: an option may not replace them.
MANAGED_FIELDS = {
    "messages": "llmcli sends the conversation itself",
    "model": "choose the model with -m/--model (in chat: /model NAME)",
}


def check_param(key: str, value: Any) -> Any:
    """A request parameter as `ask`'s flags, `-o KEY=VALUE` and the REPL's `/set` all take it: the same
    checks and the same messages wherever it is typed. Returns the value to send."""
    flag = "--" + key.replace("_", "-")
    if key in MANAGED_FIELDS:
        raise UsageError(f"{key} cannot be set as an option: {MANAGED_FIELDS[key]}")
    if key in ("temperature", "top_p"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number, not {value!r}")
    elif key in ("max_tokens", "seed"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{flag} must be a whole number, not {value!r}")
        if key == "max_tokens" and value < 1:
            raise UsageError("--max-tokens must be at least 1")
    elif key == "stop":
        if not (
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            raise UsageError(f"--stop must be text (or a list of texts), not {value!r}")
    elif key == "stream":
        if not isinstance(value, bool):
            raise UsageError(f"stream must be true or false, not {value!r}")
    return value


def parse_extra_options(options: list[str] | None) -> dict[str, Any]:
    """`-o KEY=VALUE` items as body fields."""
    extra: dict[str, Any] = {}
    for item in options or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"-o/--option wants KEY=VALUE, got {item!r}",
                hint='for example -o max_completion_tokens=200 -o \'response_format={"type":"json_object"}\'',
            )
        extra[key] = check_param(key, json_or_text(value))
        try:
            json.dumps(extra[key], ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a JSON \ud800 escape: half a surrogate pair, which no server can take
            raise UsageError(
                f"-o {key}: the value holds half of a UTF-16 surrogate pair (a lone \\uD800-\\uDFFF escape)",
                hint="give the whole character, e.g. \\ud83d\\ude00 or 😀",
            ) from None
    return extra


def build_request(
    settings: Settings,
    model: str,
    messages: list[Message],
    *,
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
    stop: list[str] | None,
    seed: int | None,
    options: list[str] | None,
    schema: Schema | None = None,
) -> ChatRequest:
    """The request: the profile's (and template's) request defaults, then the options given (an option
    not given is not sent). A schema becomes `response_format`, unless `-o response_format=...` on the
    command line says otherwise (a template's own response_format gives way to a schema)."""
    params: dict[str, Any] = dict(settings.request_defaults)
    given = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "seed": seed}
    params.update({k: check_param(k, v) for k, v in given.items() if v is not None})
    if stop:
        params["stop"] = check_param("stop", list(stop))
    extra = dict(settings.extra_defaults)
    if schema is not None:
        params["response_format"] = schema.response_format()
        extra.pop("response_format", None)
    extra.update(parse_extra_options(options))
    return ChatRequest(model=model, messages=messages, params=params, extra=extra)


# --- a conversation → messages -------------------------------------------------------------------


def system_in_force(system: str | None, default: str | None, earlier: list[Message] | None) -> str | None:
    """The system prompt of the next turn.

    A new conversation (`earlier` None) takes `-s` or the profile's system prompt; a continued one keeps
    its own (the first of `earlier` when it is a system message) unless `-s` is given again.
    """
    if system is not None:
        return system or None
    if earlier is None:
        return default or None
    return earlier[0].content if earlier and earlier[0].role == "system" else None


def earlier_turns(earlier: list[Message] | None) -> list[Message]:
    """The user and assistant turns of a continued conversation (its system prompt left out)."""
    return [m for m in earlier or () if m.role != "system"]


def compose_messages(
    text: str,
    *,
    system: str | None,
    default_system: str | None,
    earlier: list[Message] | None,
    attachments: Sequence[Attachment] = (),
) -> tuple[list[Message], str | None]:
    """The request's messages for a new prompt (with its attachments), and the system prompt in force
    (see `system_in_force`)."""
    system_prompt = system_in_force(system, default_system, earlier)
    head = [Message("system", system_prompt)] if system_prompt else []
    user = Message("user", text, tuple(attachments))
    return [*head, *earlier_turns(earlier), user], system_prompt

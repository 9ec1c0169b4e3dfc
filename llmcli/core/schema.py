"""Structured output (`--schema`, `llmcli schema`, the REPL's `/schema`): a schema in, `response_format`
out, and the answer checked against it. Pure Python; jsonschema is imported only to check.

SCHEMA is a JSON Schema (inline text starting with `{`, or `@file.json`) or the concise form:

    name, age int, tags list[str]: the tags that apply

- fields are separated by newlines when the text has any (then a description may contain commas), by
  commas otherwise;
- a field is `NAME [TYPE][: DESCRIPTION]`; TYPE is str (the default), int, float, bool, or list[T] of
  those (list[list[int]] nests); the description becomes the property's `description`;
- every field is required and no other property is allowed: the result is an object schema that
  OpenAI's strict mode, vLLM's guided decoding, llama.cpp's grammars and Ollama all accept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SchemaMismatch, UsageError

SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_FIELD = re.compile(r"^(?P<name>[^\s:]+)(?:\s+(?P<type>[^:]*?))?\s*(?::\s*(?P<desc>.*))?$", re.S)
_NAME = re.compile(r"^[\w-]+$")
# What `-o response_format=...` replaces and what the server is told the schema is called.
SCHEMA_NAME = "response"


@dataclass(frozen=True, slots=True)
class Schema:
    schema: dict[str, Any]
    strict: bool = False

    def response_format(self) -> dict[str, Any]:
        return {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": self.schema, "strict": self.strict},
        }


def _type_schema(type_text: str, field: str) -> dict[str, Any]:
    t = "".join(type_text.split()).lower()
    if t in SCALARS:
        return {"type": SCALARS[t]}
    if t.startswith("list[") and t.endswith("]") and len(t) > 6:
        return {"type": "array", "items": _type_schema(t[5:-1], field)}
    raise UsageError(
        f"unknown type {type_text.strip()!r} for field {field!r} in the schema",
        hint="types: str, int, float, bool, list[T] (e.g. 'name, age int, tags list[str]')",
    )


def concise(text: str) -> dict[str, Any]:
    """The concise form → an object JSON Schema (the rules are in the module docstring)."""
    body = text.strip()
    items = body.splitlines() if "\n" in body else body.split(",")
    properties: dict[str, Any] = {}
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        m = _FIELD.match(item)
        if m is None or not _NAME.match(m.group("name")):
            raise UsageError(
                f"cannot read the schema field {item!r}",
                hint="write NAME [TYPE][: DESCRIPTION], e.g. 'age int: in years'",
            )
        name = m.group("name")
        if name in properties:
            raise UsageError(f"field {name!r} appears twice in the schema")
        prop = _type_schema(m.group("type") or "str", name)
        desc = (m.group("desc") or "").strip()
        if desc:
            prop["description"] = desc
        properties[name] = prop
    if not properties:
        raise UsageError("the schema has no fields", hint="e.g. --schema 'name, age int'")
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def multi(schema: dict[str, Any]) -> dict[str, Any]:
    """`--schema-multi`: many objects of the schema, as `{"items": [...]}`."""
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": schema}},
        "required": ["items"],
        "additionalProperties": False,
    }


def _read(path_text: str) -> str:
    path = Path(path_text).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"schema file {path_text}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"schema file {path_text} is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read schema file {path_text}: {exc.strerror or exc}") from None


def parse(value: str, *, read: Callable[[str], str] = _read) -> dict[str, Any]:
    """`--schema` text → a JSON Schema: `@FILE`, inline JSON (starts with `{`), or the concise form.

    The result is checked as a JSON Schema before anything is sent (exit 2 when it is not one)."""
    where = "--schema"
    text = value
    if value.startswith("@"):
        where = value[1:]
        text = read(value[1:])
    if not text.strip():
        raise UsageError(f"the schema ({where}) is empty", hint="e.g. --schema 'name, age int'")
    if text.lstrip().startswith("{"):
        try:
            schema = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"the schema ({where}) is not valid JSON: {exc}") from None
        if not isinstance(schema, dict):
            raise UsageError(f"the schema ({where}) must be a JSON object")
    else:
        schema = concise(text)
    check(schema, where)
    return schema


def check(schema: dict[str, Any], where: str = "--schema") -> None:
    """Is it a JSON Schema at all? (An answer can only be checked against a schema that is one.)"""
    validator = _validator_class(schema)
    from jsonschema.exceptions import SchemaError

    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        path = _path(exc.absolute_path)
        raise UsageError(
            f"the schema ({where}) is not a valid JSON Schema: at {path}: {_short(exc.message)}"
        ) from None


def _validator_class(schema: dict[str, Any]) -> Any:
    try:
        from jsonschema.validators import validator_for
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        raise UsageError(
            "--schema needs the jsonschema package",
            hint="pip install jsonschema (it is a dependency of llmcli)",
        ) from None
    from jsonschema.validators import Draft202012Validator

    return validator_for(schema, default=Draft202012Validator)


def _path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += (
            f"[{p}]"
            if isinstance(p, int)
            else (f".{p}" if re.fullmatch(r"\w+", str(p)) else f"[{json.dumps(p)}]")
        )
    return out


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_error(text: str, schema: dict[str, Any]) -> str | None:
    """None when `text` is JSON that the schema accepts; else the first problem, one line."""
    stripped = text.strip()
    if not stripped:
        return "the answer is empty, not JSON"
    try:
        doc = json.loads(stripped)
    except ValueError as exc:
        return f"the answer is not JSON ({exc})"
    from jsonschema.exceptions import best_match

    err = best_match(_validator_class(schema)(schema).iter_errors(doc))
    if err is None:
        return None
    return f"the answer does not match the schema: at {_path(err.absolute_path)}: {_short(err.message)}"


def mismatch(text: str, schema: dict[str, Any], *, cut: bool = False) -> SchemaMismatch | None:
    """The error (exit 7) for an answer the schema does not accept, or None."""
    problem = first_error(text, schema)
    if problem is None:
        return None
    if cut:
        problem += " — the answer was cut at max_tokens"
        hint = "raise --max-tokens, or bound the strings (maxLength) so the answer ends in time"
    else:
        hint = "the text is on stdout as received; a model or server without structured output may ignore the schema"
    return SchemaMismatch(problem, hint=hint)


def render(doc_text: str, *, compact: bool) -> str:
    """A valid answer re-laid: one line (`--compact`) or indented by two (a terminal)."""
    doc = json.loads(doc_text)
    if compact:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"

"""Templates (`llmcli template ...`, `-t/--template NAME`, the REPL's `/template`): a prompt worth keeping.

A template holds any of: a system prompt, a prompt with placeholders, a model, request defaults
(temperature, top_p, max_tokens, seed, stop), extra body fields (`-o KEY=VALUE`, kept as typed), a schema
(as `--schema` takes it), attachments (`-f`), and default values for its placeholders. Each is one TOML
file, `<config dir>/templates/NAME.toml` (0600 in a 0700 folder, written atomically). Five built-in
presets (`PRESETS`) work as templates too; a file of the same name overrides one, and making such a file
needs `--force`, as replacing any existing template does.

Placeholders: `{name}` (a letter or `_`, then letters, digits, `_`) is filled with `-p name VALUE`, or
the template's default for it; `{input}` is the text given as arguments and/or on stdin. Nothing else
in braces is touched, so JSON and code survive as written; `{{name}}` stands for a literal `{name}`. A
placeholder without a value is an error (exit 2) naming it. When the prompt has no `{input}`, the input
(if any) follows the prompt after a blank line.

Precedence when a template is used: command-line flags > the template > LLMCLI_* environment (for the
model) > the profile > built-in defaults. `core.settings.resolve` applies it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .files import atomic_write, ensure_private_dir

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
INPUT = "input"

# key → the types its value may have (list[str] written as (list, str))
_KEYS: dict[str, Any] = {
    "system": str,
    "prompt": str,
    "model": str,
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": int,
    "seed": int,
    "stop": (list, str),
    "options": (list, str),
    "schema": str,
    "schema_strict": bool,
    "schema_multi": bool,
    "files": (list, str),
    "defaults": dict,
}
REQUEST_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop")


@dataclass(slots=True)
class Template:
    name: str
    system: str | None = None
    prompt: str | None = None
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | None = None
    options: list[str] = field(default_factory=list)  # `-o KEY=VALUE` items, as typed
    schema: str | None = None  # as `--schema` takes it: JSON Schema text or the concise form
    schema_strict: bool = False
    schema_multi: bool = False
    files: list[str] = field(default_factory=list)  # absolute paths or http(s) URLs
    defaults: dict[str, str] = field(default_factory=dict)  # placeholder → default value
    builtin: bool = False  # a preset (no file)
    path: Path | None = None  # the file it came from

    def request_defaults(self) -> dict[str, Any]:
        """temperature, top_p, max_tokens, seed, stop: those it sets."""
        out = {k: getattr(self, k) for k in REQUEST_KEYS if getattr(self, k) is not None}
        if "stop" in out:
            out["stop"] = list(out["stop"])
        return out

    def extra(self) -> dict[str, Any]:
        """Its extra body fields (`options`), parsed as `-o` parses them."""
        from .request import parse_extra_options

        return parse_extra_options(self.options)

    def summary(self) -> str:
        """One line for `template list`."""
        bits = []
        if self.system:
            bits.append("system: " + " ".join(self.system.split()))
        if self.prompt:
            bits.append("prompt: " + " ".join(self.prompt.split()))
        sets = [f"{k}={getattr(self, k)}" for k in ("model", "temperature", "top_p", "max_tokens", "seed")]
        sets = [s for s in sets if not s.endswith("=None")]
        if self.options:
            sets.append(", ".join(self.options))
        if self.schema:
            sets.append("schema")
        if self.files:
            sets.append(f"{len(self.files)} file{'s' if len(self.files) > 1 else ''}")
        line = " · ".join([*bits, " ".join(sets)] if sets else bits) or "(empty)"
        return line if len(line) <= 90 else line[:89] + "…"

    def to_toml_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("name", "builtin", "path"):
                continue
            value = getattr(self, f.name)
            if value is None or value == [] or value == {} or value is False:
                continue
            data[f.name] = value
        return data


# --- presets ----------------------------------------------------------------------------------------

PRESETS: dict[str, Template] = {
    "precise": Template("precise", temperature=0.2, builtin=True),
    "balanced": Template("balanced", temperature=0.7, builtin=True),
    "creative": Template("creative", temperature=1.0, top_p=0.95, builtin=True),
    "code": Template(
        "code",
        system=(
            "You write code. Answer with the code only, in one fenced code block: no explanation before "
            "or after it, comments only where the code needs them."
        ),
        temperature=0.2,
        builtin=True,
    ),
    "json": Template(
        "json",
        system="Answer with one valid JSON value and nothing else: no prose, no code fences.",
        options=['response_format={"type":"json_object"}'],
        builtin=True,
    ),
}


# --- names and files --------------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"invalid template name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 64; not starting with '.' or '-')",
        )
    return name


def folder(config_dir: Path) -> Path:
    return config_dir / "templates"


def file_of(config_dir: Path, name: str) -> Path:
    return folder(config_dir) / f"{check_name(name)}.toml"


def _bad(where: str, problem: str) -> UsageError:
    return UsageError(f"template {where}: {problem}", hint="fix it with `llmcli template edit NAME`")


def from_toml(text: str, name: str, where: str) -> Template:
    """A template file's text → Template, every key and type checked (exit 2 naming the file)."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _bad(where, f"invalid TOML: {exc}") from None
    return from_data(data, name, where)


def from_data(data: dict[str, Any], name: str, where: str) -> Template:
    for key, value in data.items():
        if key not in _KEYS:
            raise _bad(where, f"unknown key {key!r} (known: {', '.join(_KEYS)})")
        want = _KEYS[key]
        if isinstance(want, tuple) and want[0] is list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            if key == "stop" and isinstance(value, str):
                data[key], ok = [value], True
            shown = "a list of strings"
        elif want is dict:
            ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
            shown = "a table of strings"
        else:
            types = want if isinstance(want, tuple) else (want,)
            ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
            if ok and isinstance(value, float) and not math.isfinite(value):
                ok = False
            shown = " or ".join(t.__name__ for t in types)
        if not ok:
            raise _bad(where, f"{key} must be {shown}, not {value!r}")
    if data.get("max_tokens") is not None and data["max_tokens"] < 1:
        raise _bad(where, "max_tokens must be at least 1")
    tpl = Template(name, **data)
    try:
        tpl.extra()
    except UsageError as exc:
        raise _bad(where, f"options: {exc.message}") from None
    return tpl


def to_toml(tpl: Template) -> str:
    import tomli_w  # small; only needed to write a template

    head = f"# llmcli template {tpl.name!r}: `llmcli ask -t {tpl.name} ...` (see docs/templates.md)\n"
    return head + tomli_w.dumps(tpl.to_toml_data(), multiline_strings=True)


def load(config_dir: Path, name: str) -> Template:
    """The template called `name`: the user's file, else the preset; UsageError (exit 2) when neither."""
    path = file_of(config_dir, name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if name in PRESETS:
            return PRESETS[name]
        known = ", ".join(n for n, _ in list_all(config_dir)) or "none"
        raise UsageError(
            f"no template named {name!r}",
            hint=f"templates: {known}; make one with `llmcli template save {name} ...`",
        ) from None
    except UnicodeDecodeError:
        raise _bad(str(path), "not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read template {path}: {exc.strerror or exc}") from None
    tpl = from_toml(text, name, str(path))
    tpl.path = path
    return tpl


def list_all(config_dir: Path) -> list[tuple[str, str]]:
    """(name, where): "file", "file (overrides a preset)" or "preset", sorted by name."""
    found: dict[str, str] = {}
    try:
        entries = sorted(folder(config_dir).iterdir())
    except FileNotFoundError:
        entries = []
    except OSError as exc:
        raise UsageError(f"cannot read {folder(config_dir)}: {exc.strerror or exc}") from None
    for p in entries:
        if p.suffix == ".toml" and _NAME.match(p.stem) and p.is_file():
            found[p.stem] = "file (overrides a preset)" if p.stem in PRESETS else "file"
    for name in PRESETS:
        found.setdefault(name, "preset")
    return sorted(found.items())


def refuse_overwrite(config_dir: Path, name: str, force: bool) -> None:
    """An existing template, or a preset, is replaced only with --force."""
    if force:
        return
    if file_of(config_dir, name).exists():
        raise UsageError(f"template {name!r} exists", hint="add --force to replace it")
    if name in PRESETS:
        raise UsageError(
            f"{name!r} is a built-in preset",
            hint="add --force to save your own template over it (`template rm` brings the preset back), or pick another name",
        )


def save(config_dir: Path, tpl: Template) -> Path:
    path = file_of(config_dir, tpl.name)
    ensure_private_dir(folder(config_dir))
    atomic_write(path, to_toml(tpl))
    return path


def remove(config_dir: Path, name: str) -> bool:
    """Delete a template's file; False when there is none."""
    try:
        os.unlink(file_of(config_dir, name))
        return True
    except FileNotFoundError:
        return False


# --- placeholders -----------------------------------------------------------------------------------


def placeholders(text: str | None) -> list[str]:
    """The placeholder names in `text`, in order of first use (escaped `{{name}}` not counted)."""
    out: list[str] = []
    for m in _PLACEHOLDER.finditer(text or ""):
        if m.group(2) and m.group(2) not in out:
            out.append(m.group(2))
    return out


def fill(text: str, values: dict[str, str], template: str) -> str:
    """Replace each `{name}` by its value in one pass (values are never filled again), `{{name}}` by
    `{name}`; a name without a value is a UsageError naming it."""

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return "{" + m.group(1) + "}"
        name = m.group(2)
        if name not in values:
            raise _missing(template, name)
        return values[name]

    return _PLACEHOLDER.sub(one, text)


def _missing(template: str, name: str) -> UsageError:
    if name == INPUT:
        return UsageError(
            f"template {template!r} needs {{input}}, and none was given",
            hint=f'give the text as arguments or on stdin: llmcli ask -t {template} "..."',
        )
    return UsageError(
        f"template {template!r} needs a value for {{{name}}}", hint=f"give it with -p {name} VALUE"
    )


def check_params(tpl: Template, params: dict[str, str]) -> None:
    """Every `-p` name must be a placeholder of the template (a typo would otherwise go unnoticed)."""
    used = set(placeholders(tpl.prompt)) | set(placeholders(tpl.system))
    unknown = [k for k in params if k not in used or k == INPUT]
    if unknown:
        have = ", ".join(sorted(used - {INPUT})) or "none"
        raise UsageError(
            f"template {tpl.name!r} has no placeholder {{{unknown[0]}}}",
            hint=f"its placeholders: {have}",
        )


def for_chat(tpl: Template, params: dict[str, str]) -> tuple[Template, dict[str, str]]:
    """A template for many messages (`chat -t`, `/template`): the `-p` values checked, its system prompt
    filled, and every placeholder of its prompt but {input} given a value now; returns the template
    (system filled) and the values to fill each message's prompt with."""
    check_params(tpl, params)
    values = {**tpl.defaults, **params}
    system = fill(tpl.system, values, tpl.name) if tpl.system else None
    if tpl.prompt:
        fill(tpl.prompt, {**values, INPUT: ""}, tpl.name)  # raises for a missing placeholder
    return replace(tpl, system=system, defaults=values), values


def apply(tpl: Template, input_text: str, params: dict[str, str]) -> tuple[str, str | None]:
    """The prompt and system prompt a template makes of the input and the `-p` values."""
    check_params(tpl, params)
    values = {**tpl.defaults, **params}
    if input_text:
        values[INPUT] = input_text
    system = fill(tpl.system, values, tpl.name) if tpl.system else None
    if not tpl.prompt:
        return input_text, system
    prompt = fill(tpl.prompt, values, tpl.name)
    if input_text and INPUT not in placeholders(tpl.prompt):
        prompt = f"{prompt}\n\n{input_text}"
    return prompt, system


def needs_input(tpl: Template | None) -> bool:
    """Whether a prompt must come from the command line: no template prompt, or one with {input}."""
    return tpl is None or not tpl.prompt or INPUT in placeholders(tpl.prompt)

"""The REPL's commands for what goes with a message: /file (attachments), /schema (structured output)
and /template (a saved prompt). The rules are core's (attachments, schema, templates)."""

from __future__ import annotations

import os
import shlex
from typing import Any

from ..errors import LlmcliError
from .commands import CommandError
from .session import REGISTRY


def _complete_path(s: Any, prefix: str) -> list[str]:
    folder, _, start = prefix.rpartition("/")
    where = os.path.expanduser(folder) if folder else "."
    try:
        names = sorted(os.listdir(where or "/"))
    except OSError:
        return []
    head = f"{folder}/" if folder or prefix.startswith("/") else ""
    out = []
    for name in names:
        if name.startswith(start) and (start.startswith(".") or not name.startswith(".")):
            full = head + name
            out.append(full + "/" if os.path.isdir(os.path.join(where or "/", name)) else full)
    return out[:50]


@REGISTRY.command(
    "file",
    "/file [PATH|URL]",
    "attach a file or image to the next message (/file lists them, /file - drops them)",
    complete=_complete_path,
)
def _file(s: Any, arg: str) -> None:
    from ..core import attachments as att

    if not arg:
        if not s.files:
            s.info("no files attached to the next message")
        else:
            s.info("attached to the next message: " + ", ".join(a.describe() for a in s.files))
        return
    if arg == "-":
        s.files.clear()
        s.info("llmcli: attachments dropped")
        return
    try:
        a = att.load(arg, max_bytes=s.max_file_bytes, detail=s.image_detail)
    except LlmcliError as exc:
        raise CommandError(exc.message + (f" — {exc.hint}" if exc.hint else "")) from None
    s.files.append(a)
    s.info(f"llmcli: attached {a.describe()}; it goes with your next message")


@REGISTRY.command("schema", "/schema [SCHEMA]", "ask for JSON matching SCHEMA from now on (/schema - stops)")
def _schema(s: Any, arg: str) -> None:
    import json

    from ..core import schema as sch

    if not arg:
        if s.schema is None:
            s.info("no schema")
        else:
            s.info("schema: " + json.dumps(s.schema.schema, ensure_ascii=False))
        return
    if arg == "-":
        s.schema = None
        s.params.pop("response_format", None)
        s.info("llmcli: schema removed")
        return
    try:
        schema = sch.Schema(sch.parse(arg), s.schema.strict if s.schema else False)
    except LlmcliError as exc:
        raise CommandError(exc.message) from None
    s.schema = schema
    s.params["response_format"] = schema.response_format()
    s.info("llmcli: answers must now match the schema (checked after each one)")


@REGISTRY.command(
    "template",
    "/template [NAME [KEY=VALUE ...]]",
    "use a template: its system prompt, settings, schema; its prompt wraps each message (/template - stops)",
)
def _template(s: Any, arg: str) -> None:
    from ..core import templates as t
    from ..core.settings import paths

    if not arg:
        if s.template is None:
            s.info("no template (llmcli template list shows them)")
        else:
            s.info(f"template: {s.template.name} · {s.template.summary()}")
        return
    if arg == "-":
        s.template = None
        s.template_params = {}
        s.info("llmcli: messages are sent as typed again (the template's settings stay; /set shows them)")
        return
    try:
        name, *pairs = shlex.split(arg)
    except ValueError as exc:
        raise CommandError(f"/template: {exc}") from None
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"/template wants KEY=VALUE after the name, not {pair!r}")
        params[key] = value
    try:
        tpl, values = t.for_chat(t.load(paths().config_dir, name), params)
        extra = tpl.extra()
        schema = None
        if tpl.schema:
            from ..core import schema as sch

            body = sch.parse(tpl.schema)
            schema = sch.Schema(sch.multi(body) if tpl.schema_multi else body, tpl.schema_strict)
        from ..core import attachments as att

        files = [att.load(f, max_bytes=s.max_file_bytes, detail=s.image_detail) for f in tpl.files]
    except LlmcliError as exc:
        raise CommandError(exc.message + (f" — {exc.hint}" if exc.hint else "")) from None
    if tpl.system is not None:
        s.system = tpl.system
    if tpl.model:
        s.model = tpl.model
    s.params.update(tpl.request_defaults())
    s.extra.update(extra)
    if schema is not None:
        s.schema = schema
        s.params["response_format"] = schema.response_format()
        s.extra.pop("response_format", None)
    s.files.extend(files)
    s.template = tpl if tpl.prompt else None
    s.template_params = values
    s.info(f"llmcli: using template {name}: {tpl.summary()}")

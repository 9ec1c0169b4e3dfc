"""What `ask` and `chat` share for attachments, schemas and templates: the options given → the prompt,
the attachments and the schema to send (`shape`), and a structured answer checked and printed
(`finish_schema`). The logic is in core (attachments, schema, templates); this only reads files and
stdin and writes the result."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any

from ..core import attachments as att
from ..core import schema as sch
from ..core import templates as tpl_mod
from ..core.settings import paths
from ..core.tty import isatty, stdout_is_tty
from ..errors import UsageError


@dataclass(slots=True)
class Shaped:
    prompt: str  # the user's text after the template (without the attachments)
    attachments: list[att.Attachment] = field(default_factory=list)
    schema: sch.Schema | None = None
    template: tpl_mod.Template | None = None  # with its system prompt's placeholders filled


def use_template(name: str | None, params: list[tuple[str, str]] | None) -> tpl_mod.Template | None:
    """The template `-t NAME` names (a file, or a preset); None without -t."""
    if name is None:
        if params:
            raise UsageError(
                "-p fills a template's placeholders", hint="give the template too: -t NAME -p KEY VALUE"
            )
        return None
    return tpl_mod.load(paths().config_dir, name)


def files_of(template: tpl_mod.Template | None, files: list[str] | None) -> list[str]:
    """The template's attachments first, then those given with -f."""
    return [*(template.files if template else ()), *(files or ())]


def prompt_required(template: tpl_mod.Template | None, files: list[str]) -> bool:
    """Must the command line give a prompt? Not when files or the template's own prompt make the message
    (a template whose prompt wants {input} says so itself, naming the template)."""
    return not files and (template is None or not template.prompt)


def max_bytes(text: str | None) -> int:
    return att.parse_size(text) if text is not None else att.DEFAULT_MAX_FILE_BYTES


def load_schema(
    text: str | None,
    template: tpl_mod.Template | None,
    *,
    strict: bool = False,
    multi: bool = False,
) -> sch.Schema | None:
    """--schema (or the template's schema) as the Schema to send; --schema-strict/-multi need one."""
    from_template = text is None and template is not None and template.schema is not None
    if from_template:
        assert template is not None
        text = template.schema
        strict = strict or template.schema_strict
        multi = multi or template.schema_multi
    if text is None:
        if strict or multi:
            flag = "--schema-strict" if strict else "--schema-multi"
            raise UsageError(f"{flag} goes with --schema", hint="add --schema SCHEMA")
        return None
    schema = sch.parse(text)
    return sch.Schema(sch.multi(schema) if multi else schema, strict)


def load_files(
    specs: list[str], max_file_bytes: str | None, image_detail: str | None
) -> tuple[list[att.Attachment], int]:
    """-f values read and checked (`-` is stdin when it is not a terminal), and the size limit used."""
    if image_detail is not None and image_detail not in att.DETAILS:
        raise UsageError(f"--image-detail must be low, high or auto, not {image_detail!r}")
    limit = max_bytes(max_file_bytes)
    piped = att.STDIN in specs and sys.stdin is not None and not isatty(sys.stdin)
    stdin = sys.stdin.buffer if piped else None
    return att.load_all(specs, max_bytes=limit, detail=image_detail, stdin=stdin), limit


def shape(
    text: str,
    template: tpl_mod.Template | None,
    params: list[tuple[str, str]] | None,
    *,
    files: list[str],
    max_file_bytes: str | None = None,
    image_detail: str | None = None,
    schema: str | None = None,
    schema_strict: bool = False,
    schema_multi: bool = False,
) -> Shaped:
    """Everything checked and read before anything is sent: a bad file, schema or placeholder is exit 2
    with no request."""
    system = None
    if template is not None:
        text, system = tpl_mod.apply(template, text, dict(params or ()))
        template = replace(template, system=system)
    attachments, _ = load_files(files, max_file_bytes, image_detail)
    shaped_schema = load_schema(schema, template, strict=schema_strict, multi=schema_multi)
    if not text.strip() and not attachments:
        raise UsageError("the prompt is empty", hint='give a prompt: llmcli ask "your question"')
    return Shaped(text, attachments, shaped_schema, template)


@dataclass(slots=True)
class ChatShaped:
    template: tpl_mod.Template | None  # system filled, -p values in its defaults
    attachments: list[att.Attachment]
    schema: sch.Schema | None
    max_file_bytes: int
    image_detail: str | None


def shape_chat(
    template: str | None,
    params: list[tuple[str, str]] | None,
    *,
    files: list[str] | None,
    max_file_bytes: str | None = None,
    image_detail: str | None = None,
    schema: str | None = None,
    schema_strict: bool = False,
    schema_multi: bool = False,
) -> ChatShaped:
    """`chat`'s -t/-p/-f/--schema, checked before the chat starts."""
    tpl = use_template(template, params)
    if tpl is not None:
        tpl, _ = tpl_mod.for_chat(tpl, dict(params or ()))
    specs = files_of(tpl, files)
    if att.STDIN in specs:
        raise UsageError(
            "chat reads its messages from stdin, so -f - cannot be used", hint="attach a file by its path"
        )
    attachments, limit = load_files(specs, max_file_bytes, image_detail)
    return ChatShaped(
        tpl,
        attachments,
        load_schema(schema, tpl, strict=schema_strict, multi=schema_multi),
        limit,
        image_detail,
    )


def into_session(session: Any, shaped: ChatShaped) -> None:
    session.files.extend(shaped.attachments)
    session.schema = shaped.schema
    session.template = shaped.template if shaped.template is not None and shaped.template.prompt else None
    session.max_file_bytes = shaped.max_file_bytes
    session.image_detail = shaped.image_detail


def records(attachments: list[att.Attachment]) -> list[dict[str, Any]]:
    """For `--format json`: what was attached, without the text of files or the bytes of images."""
    return [{k: v for k, v in a.to_record().items() if k != "text"} for a in attachments]


# --- a structured answer --------------------------------------------------------------------------


def buffered(schema: sch.Schema | None, fmt: str, *, plain: bool, markdown: bool, compact: bool) -> bool:
    """With a schema, is the answer printed whole at the end (indented on a terminal, one line with
    --compact) rather than streamed? Into a pipe it streams exactly as received unless --compact."""
    if schema is None or fmt != "text" or plain or markdown:
        return False
    return compact or stdout_is_tty()


def finish_schema(outcome: Any, schema: sch.Schema, *, printed_whole: bool, compact: bool) -> str | None:
    """Check the answer against the schema; with `printed_whole`, print it now (re-laid when valid, as
    received otherwise). A mismatch becomes the outcome's error (exit 7). Returns the problem, or None."""
    from ..errors import OutputClosed
    from ..render.sink import neutralise, write_out

    if isinstance(outcome.error, OutputClosed):
        return None
    problem = None
    if outcome.error is None:
        err = sch.mismatch(outcome.content, schema.schema, cut=outcome.status == "length")
        if err is not None:
            outcome.error = err
            problem = err.message
    if printed_whole and outcome.content:
        if outcome.error is None:
            text = sch.render(outcome.content, compact=compact)
        else:
            text = outcome.content
            if stdout_is_tty():
                text = neutralise(text) + ("" if text.endswith("\n") else "\n")
        write_out(sys.stdout.buffer, text.encode("utf-8", "surrogatepass"))
    return problem

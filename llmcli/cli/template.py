"""`llmcli template save|list|show|edit|rm`: prompts worth keeping (core/templates.py has the rules)."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core import templates as t
from ..core.settings import paths
from ..core.tty import isatty, stdout_is_tty
from ..errors import UsageError
from . import options as o
from .common import warn

app = typer.Typer(
    help="Saved prompts and presets: save, list, show, edit, rm.", no_args_is_help=True, add_completion=False
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The template's name.", show_default=False)]
Force = Annotated[
    bool, typer.Option("--force", help="Replace an existing template, or override a built-in preset.")
]


def _out(text: str) -> None:
    from ..render.sink import write_out

    write_out(sys.stdout.buffer, text.encode("utf-8", "surrogatepass"))


def _prompt_text(args: list[str] | None, option: str | None) -> str | None:
    if args and option is not None:
        raise UsageError("give the prompt as arguments or with --prompt, not both")
    if option is not None:
        return option
    if not args:
        return None
    if args == ["-"]:
        if isatty(sys.stdin):
            raise UsageError("`-` reads the prompt from stdin, but stdin is a terminal")
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise UsageError(f"stdin is not valid UTF-8 (byte offset {exc.start})") from None
    return " ".join(args)


def _files(specs: list[str] | None, max_file_bytes: str | None) -> list[str]:
    """Checked now (each must be something -f takes), kept as absolute paths or URLs."""
    from ..core import attachments as att
    from .shaping import max_bytes

    out = []
    limit = max_bytes(max_file_bytes)
    for spec in specs or ():
        if spec == att.STDIN:
            raise UsageError(
                "a template cannot keep stdin (-f -) as an attachment",
                hint="use {input} in the prompt for text from stdin",
            )
        if att.is_url(spec):
            out.append(spec)
            continue
        att.load(spec, max_bytes=limit)
        out.append(str(Path(spec).expanduser().resolve()))
    return out


@app.command()
def save(
    name: Name,
    prompt: Annotated[
        list[str] | None,
        typer.Argument(help="The prompt, with {placeholders}; `-` reads it from stdin.", show_default=False),
    ] = None,
    prompt_option: Annotated[
        str | None,
        typer.Option("--prompt", help="The prompt (instead of the arguments).", show_default=False),
    ] = None,
    model: o.Model = None,
    system: o.System = None,
    temperature: o.Temperature = None,
    top_p: o.TopP = None,
    max_tokens: o.MaxTokens = None,
    stop: o.Stop = None,
    seed: o.Seed = None,
    option: o.Option = None,
    schema: o.Schema = None,
    schema_strict: o.SchemaStrict = False,
    schema_multi: o.SchemaMulti = False,
    file: o.File = None,
    max_file_bytes: o.MaxFileBytes = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            click_type=o._ClickTuple([str, str]),
            metavar="NAME VALUE",
            help="A default value for the placeholder {NAME} (repeatable).",
            show_default=False,
        ),
    ] = None,
    force: Force = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Save a template from the parts `ask` takes (-s, -m, --temperature, -o, --schema, -f, ...)."""
    from ..core import schema as sch
    from ..core.request import parse_extra_options

    config_dir = paths().config_dir
    t.check_name(name)
    t.refuse_overwrite(config_dir, name, force)
    text = _prompt_text(prompt, prompt_option)
    for flag, value in (("--temperature", temperature), ("--top-p", top_p)):
        if value is not None and not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number, not {value}")
    if max_tokens is not None and max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    parse_extra_options(option)  # the same check as ask's -o
    schema_text = None
    if schema is not None:
        sch.parse(schema)  # a schema that is not one is refused now, not at use
        schema_text = Path(schema[1:]).expanduser().read_text("utf-8") if schema.startswith("@") else schema
    elif schema_strict or schema_multi:
        raise UsageError("--schema-strict and --schema-multi go with --schema")
    tpl = t.Template(
        name,
        system=system,
        prompt=text,
        model=model,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed=seed,
        stop=list(stop) if stop else None,
        options=list(option or ()),
        schema=schema_text,
        schema_strict=schema_strict,
        schema_multi=schema_multi,
        files=_files(file, max_file_bytes),
        defaults=dict(param or ()),
    )
    known = set(t.placeholders(tpl.prompt)) | set(t.placeholders(tpl.system))
    for key in tpl.defaults:
        if key not in known or key == t.INPUT:
            raise UsageError(
                f"-p {key}: the template has no placeholder {{{key}}}",
                hint=f"its placeholders: {', '.join(sorted(known - {t.INPUT})) or 'none'}",
            )
    if not tpl.to_toml_data():
        raise UsageError(
            "nothing to save",
            hint='give a prompt, -s, -m, --temperature, ...: llmcli template save NAME "..."',
        )
    path = t.save(config_dir, tpl)
    warn(f"saved template {name!r} to {path}")


@app.command("list")
def list_(
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="text (name per line in a pipe, a table on a terminal) or json."),
    ] = None,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Templates and built-in presets."""
    if fmt not in (None, "text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    config_dir = paths().config_dir
    rows = []
    for name, source in t.list_all(config_dir):
        try:
            rows.append((name, source, t.load(config_dir, name), None))
        except UsageError as exc:  # one broken file does not hide the others
            rows.append((name, source, None, exc.message))
    if fmt == "json":
        docs = [
            {"name": n, "source": s, **({"template": tpl.to_toml_data()} if tpl else {"error": e})}
            for n, s, tpl, e in rows
        ]
        _out(json.dumps(docs, ensure_ascii=False, indent=2) + "\n")
    elif stdout_is_tty():
        from ..render.sink import neutralise

        width = max(len(n) for n, *_ in rows)
        kinds = max(len(s) for _, s, *_ in rows)
        lines = [
            f"{n:<{width}}  {s:<{kinds}}  {neutralise(tpl.summary()) if tpl else 'error: ' + neutralise(e or '')}"
            for n, s, tpl, e in rows
        ]
        _out("\n".join(lines) + "\n")
    else:
        _out("".join(f"{n}\n" for n, *_ in rows))


@app.command()
def show(
    name: Name,
    fmt: Annotated[str, typer.Option("--format", help="toml (as stored) or json.")] = "toml",
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """A template as it is stored (a preset as it would be)."""
    if fmt not in ("toml", "json"):
        raise UsageError(f"--format must be toml or json, not {fmt!r}")
    tpl = t.load(paths().config_dir, name)
    if fmt == "json":
        source = "preset" if tpl.builtin else str(tpl.path)
        _out(
            json.dumps({"name": name, "source": source, **tpl.to_toml_data()}, ensure_ascii=False, indent=2)
            + "\n"
        )
    elif tpl.path is not None:
        _out(tpl.path.read_text("utf-8"))
    else:
        _out(t.to_toml(tpl))


SKELETON = """\
# llmcli template {name!r}. Every key is optional; see docs/templates.md.
# Placeholders: {{input}} is the text given to `ask`; {{NAME}} is filled with -p NAME VALUE.
#
# system = "You are a careful reviewer."
# prompt = '''
# Review this change: {{input}}
# '''
# model = "gpt-4o-mini"
# temperature = 0.2
# max_tokens = 500
# stop = ["###"]
# options = ['response_format={{"type":"json_object"}}']
# schema = "verdict, reasons list[str]"
# files = ["/path/to/CONTRIBUTING.md"]
# [defaults]
# lang = "English"
"""


@app.command()
def edit(
    name: Name,
    force: Force = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Open a template in $VISUAL / $EDITOR (a new one starts from a commented example)."""
    import shlex
    import subprocess
    import tempfile

    from ..core.files import atomic_write, ensure_private_dir

    config_dir = paths().config_dir
    path = t.file_of(config_dir, name)
    if path.exists():
        before = path.read_text("utf-8")
    elif name in t.PRESETS:
        if not force:
            raise UsageError(
                f"{name!r} is a built-in preset",
                hint="add --force to edit your own copy, which then overrides the preset (`template rm` brings it back)",
            )
        before = t.to_toml(t.PRESETS[name])
    else:
        before = SKELETON.format(name=name)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    folder = ensure_private_dir(t.folder(config_dir))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".toml", dir=folder)  # 0600
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(before)
    keep = False
    try:
        try:
            done = subprocess.run([*shlex.split(editor), tmp], check=False)
        except OSError as exc:
            raise UsageError(
                f"cannot run the editor {editor!r}: {exc.strerror or exc}", hint="set EDITOR"
            ) from None
        if done.returncode != 0:
            raise UsageError(f"the editor exited with status {done.returncode}; template {name!r} unchanged")
        after = Path(tmp).read_text("utf-8")
        if after == before or not after.strip():
            warn(
                f"no changes: template {name!r} not saved"
                if after == before
                else "the file is empty: nothing saved"
            )
            return
        try:
            t.from_toml(after, name, str(path))
        except UsageError as exc:
            keep = True
            raise UsageError(f"{exc.message}; nothing saved, your edit is kept in {tmp}") from None
        atomic_write(path, after)
        warn(f"saved template {name!r} to {path}")
    finally:
        if not keep:
            try:
                os.unlink(tmp)
            except OSError:
                pass


@app.command()
def rm(
    names: Annotated[
        list[str], typer.Argument(metavar="NAME...", help="Templates to delete.", show_default=False)
    ],
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
) -> None:
    """Delete templates (a preset's override goes, and the preset is back)."""
    config_dir = paths().config_dir
    for name in names:  # every name checked before anything is deleted
        if not t.file_of(config_dir, name).exists():
            if name in t.PRESETS:
                raise UsageError(f"{name!r} is a built-in preset and cannot be removed")
            raise UsageError(f"no template named {name!r}", hint="see them with: llmcli template list")
    for name in names:
        t.remove(config_dir, name)
        back = " (the built-in preset is back)" if name in t.PRESETS else ""
        warn(f"removed template {name!r}{back}")

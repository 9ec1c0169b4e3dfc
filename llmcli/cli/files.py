"""`llmcli files list|upload|show|download|rm`: the provider's Files API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from . import options as o
from .remote import (
    Force,
    Format,
    emit_json,
    emit_list,
    emit_rows,
    limit_value,
    output_format,
    remote,
    write_stdout,
)

app = typer.Typer(
    help="Files on the provider (the Files API): upload, list, show, download, remove.",
    no_args_is_help=True,
)

PURPOSES = ("batch", "fine-tune", "assistants", "vision", "user_data", "evals")
COLUMNS = ("id", "filename", "purpose", "bytes", "created", "status")


def _row(f: dict) -> list:
    from ..render.jobs import when

    return [
        f.get("id"),
        f.get("filename"),
        f.get("purpose"),
        f.get("bytes"),
        when(f.get("created_at")),
        f.get("status"),
    ]


def show_file(f: dict, fmt: str) -> None:
    if fmt == "json":
        emit_json(f)
    elif fmt == "text":
        emit_rows([_row(f)])
    else:
        from ..render.jobs import fields

        fields(list(zip(COLUMNS, _row(f), strict=True)))


@app.command("list")
def list_(
    purpose: Annotated[str | None, typer.Option("--purpose", help="Only files with this purpose.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many (0 = all).")] = 100,
    fmt: Format = None,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """List the files stored with the provider, newest first."""
    fmt = output_format(fmt)
    with remote() as r:
        found = r.client.list_files(purpose=purpose, limit=limit_value(limit))
    emit_list(found, fmt, columns=COLUMNS, row=_row, empty="no files")


@app.command()
def upload(
    path: Annotated[Path, typer.Argument(help="The local file to upload.", show_default=False)],
    purpose: Annotated[
        str, typer.Option("--purpose", help=f"What it is for: {', '.join(PURPOSES)}.", show_default=False)
    ],
    fmt: Format = None,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Upload a file; prints its id (--format json: the file object)."""
    fmt = output_format(fmt, ("text", "json"))
    if not path.is_file():
        raise UsageError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    if purpose not in PURPOSES:
        from .common import warn

        warn(
            f"note: purpose {purpose!r} is not one llmcli knows ({', '.join(PURPOSES)}); sending it as given"
        )
    with remote() as r:
        f = r.client.upload(path, purpose)
    if fmt == "json":
        emit_json(f)
    else:
        write_stdout(f"{f.get('id')}\n")


@app.command()
def show(
    file_id: Annotated[str, typer.Argument(metavar="ID", help="The file's id.", show_default=False)],
    fmt: Format = None,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Show one file's details."""
    fmt = output_format(fmt)
    with remote() as r:
        f = r.client.file(file_id)
    show_file(f, fmt)


@app.command()
def download(
    file_id: Annotated[str, typer.Argument(metavar="ID", help="The file's id.", show_default=False)],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where to write it (`-` = stdout).", show_default=False)
    ],
    force: Force = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Download a file's content: written whole or not at all, never over an existing file without --force."""
    import sys

    from ..core.files import AtomicOutput, refuse_existing

    with remote() as r:
        if output == "-":
            r.client.download(file_id, sys.stdout.buffer)
            sys.stdout.flush()
            return
        refuse_existing(Path(output), force=force)
        with AtomicOutput(output, force=force) as out:
            size = r.client.download(file_id, out)
    from .common import warn

    warn(f"wrote {output} ({size:,} bytes)")


@app.command()
def rm(
    file_ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="The files' ids.", show_default=False)
    ],
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: o.MaxRetries = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Delete files from the provider."""
    from .common import warn

    with remote() as r:
        for fid in file_ids:
            result = r.client.delete_file(fid)
            if result.get("deleted") is False:
                raise UsageError(f"{r.client.host} did not delete {fid}", hint="see `llmcli files show ID`")
            warn(f"deleted {fid}")

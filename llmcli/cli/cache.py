"""`llmcli cache stats|clear`: the response cache (docs/cache.md)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..core.settings import paths
from ..errors import UsageError
from .common import load_config_file, warn

app = typer.Typer(help="The response cache: stats, clear.", no_args_is_help=True, add_completion=False)


def _open(create: bool = False):
    from ..store.cache import DEFAULT_MAX_MB, CacheFile
    from ..store.db import StoreError

    mb = load_config_file().data.get("cache_max_mb", DEFAULT_MAX_MB)
    try:
        return CacheFile(paths().cache_db, max_bytes=int(float(mb) * 1024 * 1024), create=create, notice=warn)
    except StoreError as exc:
        raise UsageError(exc.message.removeprefix("history: "), hint=exc.hint) from None


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


@app.command()
def stats(
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """How many answers are cached, how much room they take, how often they were replayed."""
    from ..render.sink import write_out

    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    cache = _open()
    try:
        s = cache.stats()
    finally:
        cache.close()
    if fmt == "json":
        text = json.dumps(s.to_dict()) + "\n"
    else:
        text = (
            f"path: {s.path}\n"
            f"entries: {s.entries}\n"
            f"size: {_mb(s.bytes)} of answers, {_mb(s.file_bytes)} on disk (limit {_mb(s.max_bytes)})\n"
            f"replayed: {s.hits} times\n"
            f"oldest: {s.oldest or '-'}\nnewest: {s.newest or '-'}\n"
        )
    write_out(sys.stdout.buffer, text.encode("utf-8"))


@app.command()
def clear() -> None:
    """Forget every cached answer."""
    cache = _open()
    try:
        n = cache.clear()
    finally:
        cache.close()
    warn(f"cache cleared: {n} answer{'s' if n != 1 else ''} removed")

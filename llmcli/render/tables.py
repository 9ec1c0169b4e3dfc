"""Tables for a terminal (rich)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core.types import ModelInfo
from ..core.urls import display_url
from .sink import neutralise


def console() -> Console:
    return Console(highlight=False)


def models_table(models: list[ModelInfo], base_url: str) -> None:
    table = Table(
        title=Text(f"models at {neutralise(display_url(base_url))}"),
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    table.add_column("id", style="bold")
    table.add_column("owned by")
    table.add_column("created")
    for m in sorted(models, key=lambda m: m.id):
        created = datetime.fromtimestamp(m.created, UTC).strftime("%Y-%m-%d") if m.created else ""
        table.add_row(Text(neutralise(m.id)), Text(neutralise(m.owned_by or "")), created)
    out = console()
    if not models:
        out.print("the server lists no models")
        return
    out.print(table)


def settings_table(rows: list[tuple[str, str, str]]) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("setting", style="bold")
    table.add_column("value")
    table.add_column("from", style="dim")
    for name, value, source in rows:
        table.add_row(Text(name), Text(neutralise(value)), Text(source))
    console().print(table)

"""How stored conversations look: markdown text (pipes, export), rich tables and markdown (terminals).

rich is imported inside the functions that draw on a terminal; the text forms need nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .sink import neutralise

STATUS_NOTE = {
    "length": "the answer was cut at max_tokens",
    "interrupted": "the answer was interrupted",
    "error": "the answer ended with an error",
    "cut": "the answer was cut off (the stream ended early)",
    "filtered": "the provider stopped the answer",
}


def short_time(iso: str) -> str:
    """`2026-05-09T07:35:25.123Z` → `2026-05-09 07:35Z` (still UTC)."""
    return iso[:10] + " " + iso[11:16] + "Z" if len(iso) >= 16 else iso


def conversation_markdown(conv: Any, messages: Sequence[Any]) -> str:
    """A conversation as markdown: a heading, its facts, then one section per message."""
    facts = [f"- id: `{conv.id}`", f"- created: {conv.created} · updated: {conv.updated}"]
    where = [f"model: {conv.model}" if conv.model else "", f"profile: {conv.profile}" if conv.profile else ""]
    where.append(f"host: {conv.host}" if conv.host else "")
    if any(where):
        facts.append("- " + " · ".join(w for w in where if w))
    parts = [f"# {conv.title or '(untitled)'}", "\n".join(facts)]
    for m in messages:
        head = {"system": "System", "user": "User", "assistant": "Assistant"}.get(m.role, m.role)
        if m.role == "assistant" and m.model:
            head += f" · {m.model}"
        parts.append(f"## {head}")
        parts.extend(attachments_markdown(getattr(m, "attachments", None)))
        if m.content:
            parts.append(m.content.rstrip("\n"))
        elif m.role == "assistant":
            parts.append("*(no text)*")
        if m.status != "complete" and m.status in STATUS_NOTE:
            note = STATUS_NOTE[m.status]
            if m.status == "filtered" and m.finish_reason:
                note += f" (finish_reason: {m.finish_reason})"
            if m.error:
                note += f": {m.error}"
            parts.append(f"> *{note}*")
    return "\n\n".join(parts) + "\n"


def attachments_markdown(records: Sequence[dict[str, Any]] | None) -> list[str]:
    """What went with a user turn: a text file as the block that was sent (name and fenced text), an
    image as a line naming it (path or URL, type, size, the start of its sha256)."""
    from ..core.attachments import human_size, restore, text_block

    out = []
    for rec in records or ():
        if rec.get("type") == "image":
            where = rec.get("url") or rec.get("path") or rec.get("name")
            facts = [rec.get("mime") or "image URL"]
            if rec.get("size") is not None:
                facts.append(human_size(rec["size"]))
            if rec.get("sha256"):
                facts.append(f"sha256 {rec['sha256'][:12]}…")
            out.append(f"*Image:* `{where}` ({', '.join(facts)})")
        else:
            out.append(text_block(restore(rec)[0]))
    return out


def show_markdown(text: str) -> None:
    """Render markdown on the terminal (the text is the model's: controls made inert first)."""
    from rich.console import Console
    from rich.markdown import Markdown

    Console(highlight=False).print(Markdown(neutralise(text)))


def conversations_table(convs: Sequence[Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from .tables import console

    table = Table(box=None, pad_edge=False)
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("updated (UTC)", no_wrap=True)
    table.add_column("msgs", justify="right")
    table.add_column("model")
    table.add_column("title")
    for c in convs:
        table.add_row(
            c.id,
            short_time(c.updated),
            str(c.messages),
            Text(neutralise(c.model or "")),
            Text(neutralise(c.title)),
        )
    console().print(table)


def search_table(hits: Sequence[Any], start: str, end: str) -> None:
    from rich.text import Text

    from .tables import console

    out = console()
    for h in hits:
        head = Text()
        head.append(h.conversation_id, style="bold")
        head.append(f"  {h.role}  {short_time(h.created)}  ")
        head.append(neutralise(" ".join(h.title.split())), style="dim")
        out.print(head)
        line = Text("  ")
        snippet = " ".join(h.snippet.split())
        # matches are wrapped in start/end markers: bold them
        while snippet:
            i = snippet.find(start)
            if i < 0:
                line.append(neutralise(snippet))
                break
            line.append(neutralise(snippet[:i]))
            j = snippet.find(end, i + 1)
            j = len(snippet) if j < 0 else j
            line.append(neutralise(snippet[i + 1 : j]), style="bold reverse")
            snippet = snippet[j + 1 :]
        out.print(line)

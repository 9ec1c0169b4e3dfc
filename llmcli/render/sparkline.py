"""A row of block characters for a short history of numbers (standard library only)."""

from __future__ import annotations

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], width: int | None = None) -> str:
    """The last `width` values as blocks scaled from 0 to their maximum; a gap for a missing value."""
    if width is not None:
        values = values[-width:]
    known = [v for v in values if v is not None]
    top = max(known) if known else 0.0
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif top <= 0:
            out.append(BLOCKS[0])
        else:
            out.append(BLOCKS[min(len(BLOCKS) - 1, int(v / top * (len(BLOCKS) - 1) + 0.5))])
    return "".join(out)

"""Results in the input's order: a batch output (the provider's or the local runner's) rewritten so that its
lines follow the input file's custom_ids.

Bounded memory: the results file is indexed as custom_id → byte offsets (answers stay on disk), then
each line is copied in input order. Nothing is dropped: a result whose custom_id is not in the input
goes at the end, in its original order; several lines for one custom_id (a retried request) keep their
relative order. The caller writes to an AtomicOutput, so the rewrite replaces the file in one step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(slots=True)
class OrderStats:
    written: int = 0  # lines written in all
    unmatched: int = 0  # results whose custom_id is not in the input (written at the end)
    missing: int = 0  # input custom_ids with no result line


def _custom_id(raw: bytes) -> str | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    cid = obj.get("custom_id") if isinstance(obj, dict) else None
    return cid if isinstance(cid, str) else None


def index_results(path: Path) -> tuple[dict[str, list[tuple[int, int]]], list[tuple[int, int]]]:
    """custom_id → [(offset, size)] for every line, and the lines that have no custom_id."""
    by_id: dict[str, list[tuple[int, int]]] = {}
    orphans: list[tuple[int, int]] = []
    offset = 0
    with open(path, "rb") as fh:
        for raw in fh:
            size = len(raw)
            if raw.strip():
                cid = _custom_id(raw)
                (by_id.setdefault(cid, []) if cid is not None else orphans).append((offset, size))
            offset += size
    return by_id, orphans


def write_in_input_order(results: Path, input_ids: Iterable[str], out: BinaryIO) -> OrderStats:
    """Copy the lines of `results` to `out` in the order of `input_ids`, then whatever is left."""
    by_id, orphans = index_results(results)
    stats = OrderStats()
    with open(results, "rb") as src:

        def copy(spans: list[tuple[int, int]]) -> None:
            for offset, size in spans:
                src.seek(offset)
                data = src.read(size)
                out.write(data if data.endswith(b"\n") else data + b"\n")
                stats.written += 1

        for cid in input_ids:
            spans = by_id.pop(cid, None)
            if spans is None:
                stats.missing += 1
                continue
            copy(spans)
        rest = sorted([span for spans in by_id.values() for span in spans] + orphans)
        stats.unmatched = len(rest)
        copy(rest)
    return stats
